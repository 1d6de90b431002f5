/**
 * JPEG encoding benchmark: the synthetic camera and the encoder pool, on this machine.
 *
 *   npm run bench:encode                 (builds, then runs node dist/benchmarks/encode.js)
 *   node dist/benchmarks/encode.js --seconds 5 --width 1280 --height 720
 *
 * Two kinds of run, each for a bounded time after its threads are warm:
 *   paced      the synthetic camera's own calls at 30 fps, as in production: frames delivered
 *              per second, frames dropped (encoder-busy), CPU, and the delay from a frame's
 *              capture tick to its delivery in capture order (render + encode + waiting).
 *   unthrottled the encoder pool kept full (a new frame submitted as each one comes out):
 *              frames per second and CPU per frame, for 'synthetic' jobs (the pattern rendered
 *              in the encoder thread) and 'raw' jobs (a pre-rendered RGB frame copied into a fresh
 *              buffer on this thread and transferred in, as a camera driver's frames would be).
 *
 * CPU is the whole process (every thread: this one, the encoder threads, libuv's pool, where
 * sharp does its work), from /proc/self/task/∗/schedstat on Linux (exact ns) or
 * process.cpuUsage() elsewhere; "cores" = CPU seconds per second. Prints one JSON line per
 * configuration, then a human summary.
 */

import { availableParallelism, cpus, loadavg } from 'node:os';
import sharp from 'sharp';
import { ticks } from '../src/drivers/pacing.js';
import { PatternRenderer } from '../src/drivers/synthetic/pattern.js';
import { defaultEncoderThreads, EncoderPool, type EncodeJob } from '../src/drivers/synthetic/encoder-pool.js';
import { busyTicks, machineTicks, processCpuNs, USER_HZ } from '../test/helpers/proc.js';
import { Cli } from './lib/cli.js';
import { percentile, round } from './lib/stats.js';

const cli = new Cli(
  'encode',
  `usage: node dist/benchmarks/encode.js [options]
  --seconds S           measured time of each run (default 5)
  --width PX            frame width (default 1280)
  --height PX           frame height (default 720)
  --fps N               the paced runs' camera rate (default 30)
  --quality Q           JPEG quality, 1 to 100 (default 80)
`,
);
const string = { type: 'string' } as const;
const args = cli.parse(process.argv.slice(2), { seconds: string, width: string, height: string, fps: string, quality: string });
const SECONDS = args.number('seconds', 5, 0.1, 3600);
const WIDTH = args.number('width', 1280, 16, 8192, true);
const HEIGHT = args.number('height', 720, 16, 8192, true);
const FPS = args.number('fps', 30, 1, 240);
const QUALITY = args.number('quality', 80, 1, 100, true);

/** Process CPU time so far, ns: exact per thread on Linux, process.cpuUsage() elsewhere. */
function cpuNs(): number {
  if (process.platform === 'linux') return processCpuNs(process.pid);
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}
const CPU_SOURCE = process.platform === 'linux' ? 'schedstat' : 'cpuUsage';

/**
 * CPU busy on the whole machine so far, s (Linux; null elsewhere), from /proc/stat. Other
 * processes competing for the cores skew every figure here, so each run reports what the
 * machine did besides it; time stolen by the hypervisor counts as theirs.
 */
function machineBusySeconds(): number | null {
  if (process.platform !== 'linux') return null;
  const t = machineTicks();
  return (busyTicks(t) + t.steal) / USER_HZ;
}

/** Starts measuring CPU: this process exactly, and the machine as a whole. */
function cpuMeter(): () => { seconds: number; cpuCores: number; cpuSeconds: number; otherCpuCores: number | null } {
  const t0 = performance.now();
  const cpu0 = cpuNs();
  const busy0 = machineBusySeconds();
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const cpuSeconds = (cpuNs() - cpu0) / 1e9;
    const busy1 = machineBusySeconds();
    const other = busy0 === null || busy1 === null ? null : Math.max(0, busy1 - busy0 - cpuSeconds) / seconds;
    return { seconds, cpuSeconds, cpuCores: cpuSeconds / seconds, otherCpuCores: other === null ? null : round(other, 2) };
  };
}

interface Result {
  bench: 'paced' | 'unthrottled';
  job: 'synthetic' | 'raw';
  width: number;
  height: number;
  quality: number;
  encoders: number;
  /** Target rate (paced runs only). */
  targetFps: number | null;
  seconds: number;
  frames: number;
  fps: number;
  dropped: number;
  /** CPU seconds per second, whole process. */
  cpuCores: number;
  /** CPU seconds per second used by other processes on the machine meanwhile (Linux). */
  otherCpuCores: number | null;
  cpuMsPerFrame: number;
  meanJpegBytes: number;
  /** Capture tick to delivery in order, ms (paced runs). */
  latencyMs: { p50: number; p95: number; max: number } | null;
  /** Pool creation until every thread has encoded a first frame (paced runs), ms. */
  startupMs: number | null;
}

/**
 * The synthetic camera at its production pace, for SECONDS after a 1 s warm-up. Makes exactly
 * the synthetic driver's calls (ready(), then one synthetic job per tick of ticks(fps), frames
 * from results()), and also notes when each accepted frame was ticked, which the driver does
 * not expose: the pool keeps order, so the n-th frame out is the n-th accepted.
 */
async function paced(encoders: number): Promise<Result> {
  const pool = new EncoderPool({ threads: encoders, quality: QUALITY });
  const started = performance.now();
  await pool.ready();
  const startupMs = performance.now() - started;
  const stop = new AbortController();
  const tickedAt: number[] = []; // accepted frames' tick times, FIFO
  const producer = (async () => {
    try {
      for await (const index of ticks(FPS, stop.signal)) {
        const now = performance.now();
        if (pool.submit({ kind: 'synthetic', width: WIDTH, height: HEIGHT, index, timeMs: Date.now() })) tickedAt.push(now);
      }
    } catch {
      // aborted
    }
  })();
  const warmupMs = 1000;
  const t00 = performance.now();
  let t0 = 0;
  let meter: ReturnType<typeof cpuMeter> | null = null;
  let drops0 = 0;
  let frames = 0;
  let bytes = 0;
  const delays: number[] = [];
  for await (const jpeg of pool.results()) {
    const now = performance.now();
    const delay = now - tickedAt.shift()!;
    if (meter === null) {
      if (now - t00 < warmupMs) continue;
      meter = cpuMeter();
      t0 = now;
      drops0 = pool.stats.dropped;
      continue;
    }
    frames++;
    bytes += jpeg.byteLength;
    delays.push(delay);
    if (now - t0 >= SECONDS * 1000) break;
  }
  const { seconds, cpuSeconds: cpu, otherCpuCores } = meter!();
  const dropped = pool.stats.dropped - drops0;
  stop.abort();
  await producer;
  await pool.close();
  delays.sort((a, b) => a - b);
  return {
    bench: 'paced',
    job: 'synthetic',
    width: WIDTH,
    height: HEIGHT,
    quality: QUALITY,
    encoders,
    targetFps: FPS,
    seconds: round(seconds, 2),
    frames,
    fps: round(frames / seconds, 1),
    dropped,
    cpuCores: round(cpu / seconds, 3),
    otherCpuCores,
    cpuMsPerFrame: round((cpu * 1000) / frames, 2),
    meanJpegBytes: Math.round(bytes / frames),
    latencyMs: { p50: round(percentile(delays, 0.5), 1), p95: round(percentile(delays, 0.95), 1), max: round(delays.at(-1)!, 1) },
    startupMs: Math.round(startupMs),
  };
}

/** The pool kept full for SECONDS (after a 0.5 s warm-up). */
async function unthrottled(job: 'synthetic' | 'raw', encoders: number): Promise<Result> {
  const pool = new EncoderPool({ threads: encoders, quality: QUALITY });
  await pool.ready();
  const frame = job === 'raw' ? Buffer.from(new PatternRenderer(WIDTH, HEIGHT).render(0, Date.now())) : null;
  let index = 0;
  const next = (): EncodeJob => {
    index++;
    if (frame === null) return { kind: 'synthetic', width: WIDTH, height: HEIGHT, index, timeMs: Date.now() };
    // A fresh buffer per frame, as a camera delivers them: the transfer detaches it.
    const pixels = new Uint8Array(frame.length);
    pixels.set(frame);
    return { kind: 'raw', pixels, width: WIDTH, height: HEIGHT, channels: 3 };
  };
  while (pool.inFlight < pool.maxInFlight) pool.submit(next());
  const warmupMs = 500;
  const started = performance.now();
  let t0 = 0;
  let meter: ReturnType<typeof cpuMeter> | null = null;
  let frames = 0;
  let bytes = 0;
  for await (const jpeg of pool.results()) {
    const now = performance.now();
    if (meter === null) {
      if (now - started >= warmupMs) {
        meter = cpuMeter();
        t0 = now;
      }
    } else {
      frames++;
      bytes += jpeg.byteLength;
      if (now - t0 >= SECONDS * 1000) break;
    }
    pool.submit(next());
  }
  const { seconds, cpuSeconds: cpu, otherCpuCores } = meter!();
  const { dropped } = pool.stats;
  await pool.close();
  return {
    bench: 'unthrottled',
    job,
    width: WIDTH,
    height: HEIGHT,
    quality: QUALITY,
    encoders,
    targetFps: null,
    seconds: round(seconds, 2),
    frames,
    fps: round(frames / seconds, 1),
    dropped,
    cpuCores: round(cpu / seconds, 3),
    otherCpuCores,
    cpuMsPerFrame: round((cpu * 1000) / frames, 2),
    meanJpegBytes: Math.round(bytes / frames),
    latencyMs: null,
    startupMs: null,
  };
}

async function main(): Promise<void> {
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    node: process.version,
    sharp: sharp.versions.sharp,
    vips: sharp.versions.vips,
    uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
    cpuSource: CPU_SOURCE,
    loadAverage: loadavg().map((n) => round(n, 2)),
  };
  console.log(JSON.stringify({ machine }));
  const results: Result[] = [];
  const run = async (r: Promise<Result>): Promise<void> => {
    const result = await r;
    results.push(result);
    console.log(JSON.stringify(result));
  };
  const defaults = defaultEncoderThreads();
  for (const n of [...new Set([defaults, 1, 2])].sort()) await run(paced(n));
  for (const job of ['synthetic', 'raw'] as const) for (const n of [1, 2]) await run(unthrottled(job, n));

  const lines = [
    '',
    `encode benchmark: ${machine.cpu}, ${machine.cores} cores, Node.js ${machine.node}, sharp ${machine.sharp} (libvips ${machine.vips}), ${WIDTH}x${HEIGHT} q${QUALITY}, ${SECONDS} s per run`,
    '',
    "run          job        encoders    fps   dropped   CPU cores   CPU ms/frame   JPEG KB   others' CPU   latency p50/p95/max ms",
  ];
  for (const r of results) {
    const name = r.bench === 'paced' ? `paced ${r.targetFps}` : 'unthrottled';
    const latency = r.latencyMs ? `${r.latencyMs.p50} / ${r.latencyMs.p95} / ${r.latencyMs.max}` : '-';
    lines.push(
      `${name.padEnd(12)} ${r.job.padEnd(10)} ${String(r.encoders).padStart(8)} ${r.fps.toFixed(1).padStart(6)} ${String(r.dropped).padStart(9)} ${r.cpuCores.toFixed(2).padStart(11)} ${r.cpuMsPerFrame.toFixed(2).padStart(14)} ${(r.meanJpegBytes / 1024).toFixed(1).padStart(9)} ${(r.otherCpuCores === null ? '-' : r.otherCpuCores.toFixed(2)).padStart(13)}   ${latency}`,
    );
  }
  lines.push(
    '',
    `CPU cores: CPU seconds per second of this whole process (${CPU_SOURCE}); others' CPU: the rest of the machine meanwhile (/proc/stat).`,
    `sharp encodes on libuv's thread pool (UV_THREADPOOL_SIZE ${machine.uvThreadpoolSize}). Load average at start: ${machine.loadAverage.join(', ')}.`,
  );
  console.log(lines.join('\n'));
}

await main();
