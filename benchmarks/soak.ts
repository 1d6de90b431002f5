/**
 * The soak run: framering under steady load for a long time, sampled at a fixed interval, to
 * show that nothing grows that should not (memory, descriptors, threads) and that viewers keep
 * receiving frames while others come and go and some read too slowly.
 *
 *   npm run soak                     builds, then 10 minutes with the defaults, into docs/soak/
 *   node dist/benchmarks/soak.js --duration 60 --viewers 200 --out /tmp/soak
 *   node dist/benchmarks/soak.js --help
 *
 * Load, all on 127.0.0.1, against one server process (the CLI, files camera at 30 fps):
 *   viewers       native-bench/build/loadgen holds --viewers streams for the whole run and
 *                 reports each one's frame rate over it at the end
 *   churn         --churn-rate times a second this process connects a viewer, reads its first
 *                 frame and drops the connection
 *   slow readers  --slow-readers viewers reading 10 KB/s (benchmarks/slow-reader.ts); each
 *                 reconnects every SLOW_SESSION_S, so the server's --slow-client-timeout (its
 *                 default, 30 s) disconnects slow viewers again and again over the run
 * Slow readers and churn use the camera's named path (/cameras/NAME/video_feed), loadgen uses
 * /video_feed, so /status tells loadgen's viewers apart.
 *
 * Every --sample-interval: the server's RSS, CPU over all its threads (exact, from
 * /proc/PID/task/∗/schedstat), open descriptors and threads; from /status the viewers, their
 * delivered fps and the slow-client disconnects; from /metrics the frames sent per second and
 * the V8 heap and external memory in use (which tell a JavaScript leak from native memory); the
 * CPU of loadgen, of this process and of the whole machine (/proc/stat), so that other work on
 * a shared machine shows. Each row is appended to soak.csv as it is taken. At the end: soak.svg
 * (RSS, descriptors and threads, CPU over time), summary.md (machine, method, min/max/final
 * figures), soak.json (the same figures and loadgen's result, for scripts); the summary is
 * printed too.
 *
 * Lifetime: the run ends by itself after --duration (loadgen's window ends a few seconds later,
 * and the server is then stopped with SIGTERM); SIGINT or SIGTERM, an error or a hard deadline
 * (the duration plus a margin) kill every child process and exit non-zero.
 * Progress goes to stderr.
 */

import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { ensureFrames, resolutionByName } from './frames.js';
import { LOADGEN, loadgenBudgetMs, type LoadgenResult } from './loadgen.js';
import { machineInfo, round, type MachineInfo } from './machine.js';
import { killAll, spawnBounded, type Child, type Exit } from './processes.js';
import { REPO_ROOT, SERVERS, startServer, type RunningServer } from './servers.js';
import { SlowReader } from './slow-reader.js';

/** Seconds a slow reader stays connected before it reconnects (twice the server's default timeout). */
const SLOW_SESSION_S = 60;
const SLOW_RATE = 10_000; // bytes per second
/** loadgen's warm-up: its connect phase and a few seconds of streaming before its window. */
const WARMUP_S = 5;
/** loadgen's window ends this long after the last sample (its connect phase varies a little). */
const LOADGEN_TAIL_S = 3;
/** A churn cycle that has not seen its first frame by then failed. */
const CHURN_TIMEOUT_MS = 10_000;
/** /status and /metrics answers slower than this count as a failed sample. */
const HTTP_TIMEOUT_MS = 10_000;

const HELP = `usage: node dist/benchmarks/soak.js [options]
  --duration S          length of the run, seconds (default 600)
  --viewers N           streams held by native-bench/build/loadgen for the whole run (default 500)
  --churn-rate R        connect / first frame / disconnect cycles per second (default 20; 0: none)
  --slow-readers N      viewers reading 10 KB/s, each reconnecting every ${SLOW_SESSION_S} s (default 5)
  --http IMPL           the server's front end: uws or node (default uws)
  --sample-interval S   seconds between samples (default 5)
  --out DIR             where soak.csv, soak.svg, summary.md and soak.json go (default docs/soak)
  --fps N               the camera's rate (default 30)
  --note TEXT           a sentence for the summary about the conditions (say, what else ran)
  --frames DIR          a folder of JPEGs to play (default: the benchmark's 640x480 set,
                        made with ffmpeg on first use; the emulated camera's images without ffmpeg)
`;

interface Options {
  duration: number; // s
  viewers: number;
  churnRate: number; // cycles per s
  slowReaders: number;
  http: 'uws' | 'node';
  interval: number; // s
  out: string;
  fps: number;
  frames: string | undefined;
  note: string | undefined;
}

function log(line: string): void {
  process.stderr.write(`soak: ${line}\n`);
}

function usageError(message: string): never {
  process.stderr.write(`soak: ${message}\n${HELP}`);
  process.exit(2);
}

function parseOptions(argv: string[]): Options {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        help: { type: 'boolean', default: false },
        duration: { type: 'string' },
        viewers: { type: 'string' },
        'churn-rate': { type: 'string' },
        'slow-readers': { type: 'string' },
        http: { type: 'string' },
        'sample-interval': { type: 'string' },
        out: { type: 'string' },
        fps: { type: 'string' },
        frames: { type: 'string' },
        note: { type: 'string' },
      },
    }).values;
  } catch (e) {
    usageError((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const number = (name: string, fallback: number, min: number, max: number, integer = false): number => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const v = Number(raw);
    if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      usageError(`--${name}: expected ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, got "${String(raw)}"`);
    }
    return v;
  };
  const http = values.http ?? 'uws';
  if (http !== 'uws' && http !== 'node') usageError(`--http: expected uws or node, got "${String(http)}"`);
  const o: Options = {
    // loadgen needs its warm-up and a window of a few seconds at least
    duration: number('duration', 600, 20, 7 * 24 * 3600),
    viewers: number('viewers', 500, 1, 10_000, true),
    churnRate: number('churn-rate', 20, 0, 1000),
    slowReaders: number('slow-readers', 5, 0, 1000, true),
    http,
    interval: number('sample-interval', 5, 0.5, 3600),
    out: resolve(typeof values.out === 'string' ? values.out : `${REPO_ROOT}docs/soak`),
    fps: number('fps', 30, 1, 240),
    frames: typeof values.frames === 'string' ? resolve(values.frames) : undefined,
    note: typeof values.note === 'string' && values.note.trim() !== '' ? values.note.trim() : undefined,
  };
  if (o.interval * 2 > o.duration) usageError('--sample-interval: at most half of --duration');
  return Object.freeze(o);
}

// ---------------------------------------------------------------------------------------------
// Reading a process from /proc

/** CPU nanoseconds of `pid`, summed exactly over its live threads; null if it is gone. */
function processCpuNs(pid: number): number | null {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  let total = 0;
  for (const tid of tids) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return total;
}

interface ProcFigures {
  rssKb: number;
  fds: number;
  threads: number;
}

function procFigures(pid: number): ProcFigures | null {
  try {
    const rss = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { rssKb: Number(rss?.[1] ?? NaN), fds: readdirSync(`/proc/${pid}/fd`).length, threads: readdirSync(`/proc/${pid}/task`).length };
  } catch {
    return null;
  }
}

/** The machine's busy time so far, in USER_HZ ticks, and the tick rate's divisor. */
function machineBusyTicks(): number {
  const first = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = first.trim().split(/\s+/).slice(1).map(Number);
  return user + nice + system + irq + softirq;
}
const USER_HZ = 100; // /proc/stat's unit on Linux, whatever the kernel's HZ

// ---------------------------------------------------------------------------------------------
// HTTP helpers

/** GET `path` on its own connection; resolves with the body, rejects on a non-200 or timeout. */
function getText(port: number, path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, agent: false, headers: { Connection: 'close' }, timeout: HTTP_TIMEOUT_MS },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) resolvePromise(body);
          else reject(new Error(`GET ${path}: ${res.statusCode} ${body.slice(0, 200)}`));
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within ${HTTP_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

interface StatusDoc {
  cameras: { name: string; state: string }[];
  slowClientsDisconnected: number;
  clients: { path: string; deliveredFps: number }[];
}

/** A counter's value in Prometheus text (summed over its label sets); null if absent. */
function metric(text: string, name: string): number | null {
  let sum: number | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) sum = (sum ?? 0) + Number(m[2]);
  }
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Churn: connect, read the first frame, drop the connection

interface ChurnStats {
  ok: number;
  failed: number;
  /** Cycles not started because too many were still in flight (the server is not keeping up). */
  skipped: number;
  firstFailure: string | null;
}

const DELIMITER = Buffer.from('\r\n--frame\r\n', 'latin1');

/** One cycle: resolves with null once the first whole frame arrived, or with why it failed. */
function churnCycle(port: number, path: string): Promise<string | null> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    let headEnd = -1;
    let settled = false;
    const finish = (failure: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      done(failure);
    };
    const timer = setTimeout(() => finish(`no frame within ${CHURN_TIMEOUT_MS} ms`), CHURN_TIMEOUT_MS);
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: framering-soak-churn\r\n\r\n`));
    socket.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      if (headEnd < 0) {
        headEnd = received.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const status = /^HTTP\/1\.1 (\d{3})/.exec(received.toString('latin1', 0, 20))?.[1];
        if (status !== '200') return finish(`status ${status ?? 'unreadable'}`);
      }
      // The first part ends with the delimiter after its JPEG (the body opens with the boundary
      // line alone, which has no CRLF before it).
      if (received.indexOf(DELIMITER, headEnd) >= 0) finish(null);
      else if (received.length > 4 * 1024 * 1024) finish('4 MB without a whole frame');
    });
    socket.on('error', (e: NodeJS.ErrnoException) => finish(`socket error ${e.code ?? e.message}`));
    socket.on('close', () => finish('closed before the first frame'));
  });
}

class Churn {
  readonly stats: ChurnStats = { ok: 0, failed: 0, skipped: 0, firstFailure: null };
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly maxInFlight: number;

  constructor(
    private readonly port: number,
    private readonly path: string,
    private readonly rate: number,
  ) {
    // Five seconds' worth: beyond that the server is not answering, and piling up more
    // connections would only measure the pile.
    this.maxInFlight = Math.max(10, Math.ceil(rate * 5));
  }

  start(): void {
    if (this.rate <= 0) return;
    const started = performance.now();
    let n = 0;
    // Paced against the clock rather than by a fixed interval, so timer lateness does not lower the rate.
    const tick = (): void => {
      const due = Math.floor(((performance.now() - started) / 1000) * this.rate);
      for (; n < due; n++) this.cycle();
      this.timer = setTimeout(tick, Math.max(1, 1000 / this.rate));
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private cycle(): void {
    if (this.inFlight >= this.maxInFlight) {
      this.stats.skipped++;
      return;
    }
    this.inFlight++;
    void churnCycle(this.port, this.path).then((failure) => {
      this.inFlight--;
      if (failure === null) this.stats.ok++;
      else {
        this.stats.failed++;
        this.stats.firstFailure ??= failure;
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Slow readers, each reconnecting every SLOW_SESSION_S

interface SlowStats {
  connections: number;
  frames: number;
  bytes: number;
  /** Connections that failed to open, or protocol errors: a torn frame would be one. */
  errors: number;
  firstError: string | null;
}

class SlowReaders {
  readonly stats: SlowStats = { connections: 0, frames: 0, bytes: 0, errors: 0, firstError: null };
  private readonly live = new Set<SlowReader>();
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private stopNow: () => void = () => {};
  /** Resolves when stop() is called: ends every wait at once. */
  private readonly stopped = new Promise<void>((resolve) => (this.stopNow = resolve));

  constructor(
    private readonly port: number,
    private readonly path: string,
    count: number,
  ) {
    // Staggered over one session, so the readers do not all reconnect at the same moment.
    for (let i = 0; i < count; i++) this.loops.push(this.loop((i * SLOW_SESSION_S * 1000) / Math.max(1, count) / 4));
  }

  /** Frames and bytes read so far, including the readers still connected. */
  totals(): { frames: number; bytes: number } {
    let frames = this.stats.frames;
    let bytes = this.stats.bytes;
    for (const r of this.live) {
      frames += r.frames;
      bytes += r.bytesRead;
    }
    return { frames, bytes };
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopNow();
    await Promise.all([...this.live].map((r) => r.close()));
    await Promise.all(this.loops);
  }

  private async loop(delayMs: number): Promise<void> {
    await Promise.race([sleep(delayMs), this.stopped]);
    while (this.running) {
      let reader: SlowReader | undefined;
      try {
        reader = await SlowReader.connect({ port: this.port, path: this.path, bytesPerSecond: SLOW_RATE });
      } catch (e) {
        this.error((e as Error).message);
        await Promise.race([sleep(1000), this.stopped]);
        continue;
      }
      this.stats.connections++;
      this.live.add(reader);
      // A session ends at its time or when the reader's connection ends, whichever is first.
      // (The server's disconnect reaches a slow reader only after it has read the megabytes
      // still in its socket buffers, minutes at 10 KB/s: the session time comes first.)
      await Promise.race([reader.whenClosed(), sleep(SLOW_SESSION_S * 1000), this.stopped]);
      await reader.close();
      this.live.delete(reader);
      this.stats.frames += reader.frames;
      this.stats.bytes += reader.bytesRead;
      if (reader.error !== undefined) this.error(reader.error);
    }
  }

  private error(message: string): void {
    if (!this.running) return;
    this.stats.errors++;
    this.stats.firstError ??= message;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Sampling

/** One row of soak.csv; null where a figure could not be read. */
interface SoakSample {
  elapsed_s: number;
  server_alive: 0 | 1;
  rss_mb: number | null;
  heap_used_mb: number | null; // V8 heap in use, from /metrics: tells JS objects from native memory
  external_mb: number | null; // Buffers and other memory held by JS objects outside the heap
  cpu_pct: number | null; // server, % of one core, over the interval
  fds: number | null;
  threads: number | null;
  clients: number | null; // every viewer in /status
  loadgen_clients: number | null; // viewers on /video_feed
  viewer_fps_p50: number | null; // over loadgen's viewers, /status deliveredFps
  viewer_fps_min: number | null;
  frames_sent_per_s: number | null; // all viewers, from /metrics
  slow_disconnects: number | null; // cumulative, /status
  churn_ok: number; // cumulative
  churn_failed: number;
  slow_frames: number; // cumulative, frames the slow readers received
  loadgen_cpu_pct: number | null;
  soak_cpu_pct: number | null; // this process
  machine_busy_pct: number | null; // all cores, in % of one core
  other_cpu_pct: number | null; // machine minus server, loadgen and this process
}

const CSV_COLUMNS: readonly (keyof SoakSample)[] = [
  'elapsed_s',
  'server_alive',
  'rss_mb',
  'heap_used_mb',
  'external_mb',
  'cpu_pct',
  'fds',
  'threads',
  'clients',
  'loadgen_clients',
  'viewer_fps_p50',
  'viewer_fps_min',
  'frames_sent_per_s',
  'slow_disconnects',
  'churn_ok',
  'churn_failed',
  'slow_frames',
  'loadgen_cpu_pct',
  'soak_cpu_pct',
  'machine_busy_pct',
  'other_cpu_pct',
];

class Sampler {
  private last: {
    at: number;
    serverNs: number | null;
    loadgenNs: number | null;
    ownUs: number;
    busyTicks: number;
    framesSent: number | null;
  };
  readonly rows: SoakSample[] = [];

  constructor(
    private readonly server: RunningServer,
    private readonly started: number,
    private readonly csv: string,
  ) {
    this.last = this.counters(null);
    writeFileSync(csv, `${CSV_COLUMNS.join(',')}\n`);
  }

  /** Set once the load runs; until then the load columns read 0 or empty. */
  loadgenPid: number | undefined;
  churn: Churn | undefined;
  slow: SlowReaders | undefined;

  private counters(framesSent: number | null): Sampler['last'] {
    const own = process.cpuUsage();
    return {
      at: performance.now(),
      serverNs: processCpuNs(this.server.child.pid),
      loadgenNs: this.loadgenPid === undefined ? null : processCpuNs(this.loadgenPid),
      ownUs: own.user + own.system,
      busyTicks: machineBusyTicks(),
      framesSent,
    };
  }

  async sample(): Promise<SoakSample> {
    const pid = this.server.child.pid;
    const [status, metrics] = await Promise.all([
      getText(this.server.port, '/status').then(
        (t) => JSON.parse(t) as StatusDoc,
        (e: Error) => (log(`sample: ${e.message}`), null),
      ),
      getText(this.server.port, '/metrics').catch((e: Error) => (log(`sample: ${e.message}`), null)),
    ]);
    const proc = procFigures(pid);
    const framesSent = metrics === null ? null : metric(metrics, 'framering_frames_sent_total');
    const prev = this.last;
    const now = this.counters(framesSent);
    this.last = now;
    const seconds = (now.at - prev.at) / 1000;
    // Rates need an interval: the first sample, taken as the server starts, has none.
    const timed = seconds >= 0.5;
    const pct = (ns: number | null, ns0: number | null): number | null =>
      ns !== null && ns0 !== null && timed ? round(((ns - ns0) / 1e9 / seconds) * 100, 2) : null;
    const mb = (bytes: number | null): number | null => (bytes === null ? null : round(bytes / 2 ** 20, 1));
    const cpu = pct(now.serverNs, prev.serverNs);
    const loadgenCpu = pct(now.loadgenNs, prev.loadgenNs);
    const ownCpu = timed ? round(((now.ownUs - prev.ownUs) / 1e6 / seconds) * 100, 2) : null;
    const busy = timed ? round(((now.busyTicks - prev.busyTicks) / USER_HZ / seconds) * 100, 1) : null;
    const fps =
      status?.clients
        .filter((c) => c.path === '/video_feed')
        .map((c) => c.deliveredFps)
        .sort((a, b) => a - b) ?? null;
    const slowFrames = this.slow?.totals().frames ?? 0;
    const alive = this.server.child.process.exitCode === null && this.server.child.process.signalCode === null && proc !== null;
    const row: SoakSample = {
      elapsed_s: round((now.at - this.started) / 1000, 1),
      server_alive: alive ? 1 : 0,
      rss_mb: proc ? round(proc.rssKb / 1024, 1) : null,
      heap_used_mb: mb(metrics === null ? null : metric(metrics, 'framering_nodejs_heap_size_used_bytes')),
      external_mb: mb(metrics === null ? null : metric(metrics, 'framering_nodejs_external_memory_bytes')),
      cpu_pct: cpu,
      fds: proc?.fds ?? null,
      threads: proc?.threads ?? null,
      clients: status?.clients.length ?? null,
      loadgen_clients: fps?.length ?? null,
      viewer_fps_p50: fps?.length ? fps[Math.floor((fps.length - 1) / 2)]! : null,
      viewer_fps_min: fps?.length ? fps[0]! : null,
      frames_sent_per_s:
        framesSent !== null && prev.framesSent !== null && timed ? round((framesSent - prev.framesSent) / seconds, 1) : null,
      slow_disconnects: status?.slowClientsDisconnected ?? null,
      churn_ok: this.churn?.stats.ok ?? 0,
      churn_failed: this.churn?.stats.failed ?? 0,
      slow_frames: slowFrames,
      loadgen_cpu_pct: loadgenCpu,
      soak_cpu_pct: ownCpu,
      machine_busy_pct: busy,
      other_cpu_pct: cpu !== null && busy !== null && ownCpu !== null ? round(busy - cpu - (loadgenCpu ?? 0) - ownCpu, 1) : null,
    };
    this.rows.push(row);
    appendFileSync(this.csv, `${CSV_COLUMNS.map((c) => (row[c] === null ? '' : String(row[c]))).join(',')}\n`);
    return row;
  }
}

// ---------------------------------------------------------------------------------------------
// Outputs

interface Range {
  min: number | null;
  max: number | null;
  first: number | null; // first sample after the warm-up
  final: number | null;
  mean: number | null;
}

function range(rows: readonly SoakSample[], key: keyof SoakSample): Range {
  const values = rows.map((r) => r[key]).filter((v): v is number => v !== null);
  if (!values.length) return { min: null, max: null, first: null, final: null, mean: null };
  return {
    min: Math.min(...values),
    max: Math.max(...values),
    first: values[0]!,
    final: values.at(-1)!,
    mean: round(values.reduce((a, b) => a + b, 0) / values.length, 2),
  };
}

/** Least-squares slope of `key` against time, per minute. */
function slopePerMin(rows: readonly SoakSample[], key: keyof SoakSample): number | null {
  const pts = rows.filter((r) => r[key] !== null).map((r) => [r.elapsed_s / 60, r[key] as number] as const);
  if (pts.length < 2) return null;
  const mx = pts.reduce((a, [x]) => a + x, 0) / pts.length;
  const my = pts.reduce((a, [, y]) => a + y, 0) / pts.length;
  const sxx = pts.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return sxx > 0 ? pts.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / sxx : null;
}

interface SoakReport {
  schema: 1;
  command: string;
  started_at: string;
  ended_at: string;
  machine: MachineInfo;
  options: Options;
  frames: string;
  /** The server's command line, paths relative to the repository. */
  server_command: string;
  warmup_s: number;
  /** Samples at or after this are past the warm-up (every viewer connected and streaming). */
  steady_from_s: number;
  samples: number;
  figures: Record<string, Range>;
  rss_second_half: {
    from_mb: number | null;
    to_mb: number | null;
    max_mb: number | null;
    growth_mb: number | null;
    slope_mb_per_min: number | null;
    /** The V8 heap in use over the same samples: flat while RSS grows means native memory. */
    heap_used_min_mb: number | null;
    heap_used_max_mb: number | null;
    heap_used_slope_mb_per_min: number | null;
  };
  loadgen: { status: number | null; result: LoadgenResult | null; error: string | null };
  churn: ChurnStats;
  slow_readers: SlowStats & { slow_disconnects: number | null };
  server: { died: boolean; exit: Exit | null; stderr_tail: string };
  ended_by: string;
}

const fmt = (v: number | null | undefined, d = 1): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));

function summaryMarkdown(r: SoakReport): string {
  const m = r.machine;
  const o = r.options;
  const row = (label: string, key: string, d = 1): string => {
    const f = r.figures[key]!;
    return `| ${label} | ${fmt(f.min, d)} | ${fmt(f.max, d)} | ${fmt(f.mean, d)} | ${fmt(f.first, d)} | ${fmt(f.final, d)} |`;
  };
  const lg = r.loadgen.result;
  const other = r.figures.other_cpu_pct!;
  const h = r.rss_second_half;
  return `# framering soak run

Generated by \`${r.command}\` on ${r.started_at} (ended ${r.ended_at}, ${r.ended_by}).

**Machine:** ${m.cpu_model}, ${m.cores} cores, ${m.mem_gib} GiB, ${m.os}, Linux ${m.kernel}, Node.js ${m.node.replace(/^v/, '')}.
Other processes used ${fmt(other.mean)} % of a core on average (${fmt(other.max)} % at most) during
the run, beside the server, the load generator and the soak process.${o.note ? ` ${o.note}` : ''}

**Load**, for ${o.duration} s on 127.0.0.1: framering playing ${r.frames} at ${o.fps} fps
(\`${r.server_command}\`, every other option at its default, such as \`--slow-client-timeout 30\`);
${o.viewers} viewers held by native-bench/build/loadgen for the whole run; ${o.churnRate} churn cycles per second (connect,
read the first frame, drop the connection); ${o.slowReaders} slow readers at ${SLOW_RATE / 1000} KB/s,
each reconnecting every ${SLOW_SESSION_S} s (benchmarks/slow-reader.ts).

**Method:** every ${o.interval} s the soak read the server's RSS (VmRSS), CPU over all its
threads (/proc/PID/task/∗/schedstat, exact), open descriptors and threads from /proc;
/status (viewers, each loadgen viewer's delivered fps over the last 2 s, slow-client
disconnects) and /metrics (frames sent). "other CPU" is the machine's busy time (/proc/stat)
minus the server, loadgen and the soak process. Figures below are over the ${r.samples} samples
from ${r.steady_from_s} s on (after loadgen's connect phase and warm-up). CPU in % of one core.

## Figures

| figure | min | max | mean | first | final |
| --- | --- | --- | --- | --- | --- |
${row('server RSS, MB', 'rss_mb')}
${row('V8 heap used, MB', 'heap_used_mb')}
${row('external memory (Buffers), MB', 'external_mb')}
${row('server CPU, %', 'cpu_pct')}
${row('open file descriptors', 'fds', 0)}
${row('threads', 'threads', 0)}
${row('viewers in /status', 'clients', 0)}
${row('delivered fps, median loadgen viewer', 'viewer_fps_p50', 2)}
${row('delivered fps, slowest loadgen viewer', 'viewer_fps_min', 2)}
${row('frames sent per second, all viewers', 'frames_sent_per_s', 0)}
${row('loadgen CPU, %', 'loadgen_cpu_pct')}
${row('soak process CPU, %', 'soak_cpu_pct')}
${row('other CPU, %', 'other_cpu_pct')}

Server RSS over the second half of the run: ${fmt(h.from_mb)} MB at its start, ${fmt(h.to_mb)} MB
at the end (${h.growth_mb !== null && h.growth_mb >= 0 ? '+' : ''}${fmt(h.growth_mb)} MB; highest ${fmt(h.max_mb)} MB; least-squares slope
${fmt(h.slope_mb_per_min, 2)} MB/min); the V8 heap in use over the same samples: ${fmt(h.heap_used_min_mb)} to
${fmt(h.heap_used_max_mb)} MB (slope ${fmt(h.heap_used_slope_mb_per_min, 2)} MB/min).

## Outcome

- **Viewers (loadgen):** ${lg ? `${lg.connected} of ${lg.clients} connected, ${lg.failed} failed, ${lg.dropped} lost their stream; per-viewer rate over its ${fmt(lg.window_s, 0)} s window min ${fmt(lg.fps.min, 2)}, median ${fmt(lg.fps.p50, 2)}, mean ${fmt(lg.fps.mean, 2)} fps; capture-to-receipt latency p50 ${fmt(lg.latency_ms.p50, 2)} ms, p99 ${fmt(lg.latency_ms.p99, 2)} ms; exit status ${r.loadgen.status}` : `no result (${r.loadgen.error ?? 'unknown'})`}.
- **Churn:** ${r.churn.ok} cycles completed, ${r.churn.failed} failed${r.churn.firstFailure ? ` (first: ${r.churn.firstFailure})` : ''}, ${r.churn.skipped} not started (too many in flight).
- **Slow readers:** ${r.slow_readers.connections} connections, ${r.slow_readers.frames} whole frames received, ${r.slow_readers.errors} errors${r.slow_readers.firstError ? ` (first: ${r.slow_readers.firstError})` : ''}; the server disconnected ${r.slow_readers.slow_disconnects ?? '–'} slow viewers.
- **Server:** ${r.server.died ? `**died during the run** (${r.server.exit ? (r.server.exit.signal ?? r.server.exit.status) : '?'})` : `ran throughout; stopped with SIGTERM at the end, exit ${r.server.exit ? (r.server.exit.signal ?? r.server.exit.status) : '?'}`}.

Files: soak.csv (one row per sample, from the start), soak.svg (the chart), soak.json (these figures and loadgen's result).
`;
}

/** Three panels over time: RSS; descriptors and threads; CPU. */
async function soakChartSvg(rows: readonly SoakSample[], durationS: number, subtitle: string): Promise<string> {
  const panels = [
    {
      name: 'rss',
      title: 'MB',
      series: [
        ['server RSS', 'rss_mb'],
        ['V8 heap used', 'heap_used_mb'],
        ['external (Buffers)', 'external_mb'],
      ],
    },
    {
      name: 'fds',
      title: 'count',
      series: [
        ['open descriptors', 'fds'],
        ['threads', 'threads'],
      ],
    },
    {
      name: 'cpu',
      title: 'CPU, % of one core',
      series: [
        ['server', 'cpu_pct'],
        ['loadgen', 'loadgen_cpu_pct'],
        ['other processes', 'other_cpu_pct'],
      ],
    },
  ] as const;
  const values = rows.flatMap((r) =>
    panels.flatMap((p) =>
      p.series
        .filter(([, key]) => r[key] !== null)
        .map(([series, key]) => ({ t: r.elapsed_s, panel: p.name, series, v: r[key] as number })),
    ),
  );
  const tMax = Math.max(durationS, ...rows.map((r) => r.elapsed_s));
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'framering soak run', subtitle, anchor: 'start' },
    background: 'white',
    data: { values },
    vconcat: panels.map((p) => ({
      width: 640,
      height: 150,
      transform: [{ filter: `datum.panel === '${p.name}'` }],
      mark: { type: 'line', point: rows.length <= 60, strokeWidth: 1.5 },
      encoding: {
        x: { field: 't', type: 'quantitative', title: 'seconds since the server started', scale: { domain: [0, tMax], nice: false } },
        y: { field: 'v', type: 'quantitative', title: p.title, scale: { zero: true } },
        color: {
          field: 'series',
          type: 'nominal',
          title: null,
          scale: { domain: p.series.map(([series]) => series) },
          legend: { orient: 'right', labelLimit: 240 },
        },
        tooltip: [{ field: 't' }, { field: 'series' }, { field: 'v' }],
      },
    })),
    resolve: { scale: { color: 'independent' } },
  };
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

// ---------------------------------------------------------------------------------------------
// The run

interface LoadgenOutcome {
  status: number | null;
  result: LoadgenResult | null;
  error: string | null;
}

/**
 * Starts loadgen for the whole run, as benchmarks/loadgen.ts's runLoadgen does, but keeping the
 * child at hand: the samples read its CPU, and every way out of the soak must be able to kill it.
 */
function startLoadgen(port: number, clients: number, window: number, serverPid: number): { child: Child; result: Promise<LoadgenOutcome> } {
  const args = [
    '--url',
    `http://127.0.0.1:${port}/video_feed`,
    '--clients',
    String(clients),
    '--warmup',
    String(WARMUP_S),
    '--duration',
    String(window),
    '--connect-rate',
    '1',
    '--connect-timeout',
    '10',
    '--server-pid',
    String(serverPid),
  ];
  const child = spawnBounded(LOADGEN, args, loadgenBudgetMs({ clients, warmup: WARMUP_S, duration: window }));
  const result = child.exited.then((exit): LoadgenOutcome => {
    const lines = child
      .stdout()
      .split('\n')
      .filter((l) => l.trim().length > 0);
    const why = `loadgen exited with ${exit.status ?? exit.signal}`;
    if (lines.length !== 1)
      return {
        status: exit.status,
        result: null,
        error: `${why} and printed ${lines.length} lines, not one:\n${child.stderr().slice(-2000)}`,
      };
    try {
      const r = JSON.parse(lines[0]!) as LoadgenResult;
      if (r.tool !== 'loadgen' || r.schema !== 1)
        return { status: exit.status, result: null, error: `${why}: unexpected output ${lines[0]}` };
      // Status 1 still carries a result: some viewers failed or dropped, which the summary shows.
      return { status: exit.status, result: r, error: exit.status === 0 || exit.status === 1 ? null : why };
    } catch {
      return { status: exit.status, result: null, error: `${why}: not JSON: ${lines[0]}` };
    }
  });
  return { child, result };
}

/** Everything that has to be stopped on the way out, whatever the way. */
const cleanup: (() => void)[] = [];

function framesFor(o: Options): { dir: string; note: string } {
  if (o.frames) return { dir: o.frames, note: `the JPEGs of ${o.frames}` };
  try {
    const set = ensureFrames(resolutionByName('640x480'), `${REPO_ROOT}benchmarks/.cache/frames`, log);
    return {
      dir: set.dir,
      note: `${set.count} frames of 640x480 (${(set.meanBytes / 1000).toFixed(1)} KB each on average, the benchmark's set)`,
    };
  } catch (e) {
    log(`cannot make the benchmark's frames (${(e as Error).message}); playing the emulated camera's images`);
    return { dir: `${REPO_ROOT}assets/emulated`, note: "the emulated camera's 3 images (12-14 KB)" };
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o = parseOptions(argv);
  if (!existsSync(LOADGEN)) usageError(`${LOADGEN} is missing: run make -C native-bench`);
  const spec = SERVERS[o.http === 'uws' ? 'framering-uws' : 'framering-node'];
  const why = spec.unavailable();
  if (why) usageError(why);
  // Quoted as a shell would need it, so the line in the summary can be run again as is.
  const quote = (arg: string): string => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);
  const command = `node dist/benchmarks/soak.js${argv.length ? ` ${argv.map(quote).join(' ')}` : ''}`;
  const machine = machineInfo();
  const startedAt = new Date();
  mkdirSync(o.out, { recursive: true });

  // The hard deadline: loadgen's connect phase and warm-up are inside the duration; the margin
  // covers the server's start, the last sample, the stop and the outputs.
  const hardDeadlineMs = (o.duration + 120 + o.viewers / 1000) * 1000;
  const hard = setTimeout(() => {
    log(`hard deadline (${Math.round(hardDeadlineMs / 1000)} s) reached: killing everything`);
    for (const f of cleanup) f();
    killAll();
    process.exit(3);
  }, hardDeadlineMs);

  const frames = framesFor(o);
  log(
    `${machine.cpu_model}, ${machine.cores} cores, Node.js ${machine.node}; ${o.duration} s, ${o.viewers} viewers, churn ${o.churnRate}/s, ${o.slowReaders} slow readers, --http ${o.http}; into ${o.out}`,
  );
  const server = await startServer(spec, frames.dir, o.fps, hardDeadlineMs);
  const serverCommand = ['node', ...spec.command(frames.dir, o.fps).args]
    .map((a) => (a.startsWith(REPO_ROOT) ? a.slice(REPO_ROOT.length) : a))
    .join(' ');
  cleanup.push(() => server.child.process.kill('SIGKILL'));
  const started = performance.now();
  // The pid and port first, on one line: a caller that must kill the soak outright can still
  // find the server.
  log(`server pid ${server.child.pid} on port ${server.port}`);

  const first = JSON.parse(await getText(server.port, '/status')) as StatusDoc;
  const camera = first.cameras[0]?.name;
  if (camera === undefined) throw new Error('the server has no camera');
  const sidePath = `/cameras/${encodeURIComponent(camera)}/video_feed`;

  const csv = resolve(o.out, 'soak.csv');
  const sampler = new Sampler(server, started, csv);
  const report = (row: SoakSample): void =>
    log(
      `${row.elapsed_s.toFixed(0)} s: RSS ${fmt(row.rss_mb)} MB, CPU ${fmt(row.cpu_pct)} %, fds ${row.fds ?? '–'}, threads ${row.threads ?? '–'}, ` +
        `viewers ${row.clients ?? '–'}, fps p50 ${fmt(row.viewer_fps_p50, 1)}, slow disconnects ${row.slow_disconnects ?? '–'}, churn ${row.churn_ok}/${row.churn_failed} failed, other CPU ${fmt(row.other_cpu_pct, 0)} %`,
    );
  // The first row: the server before any load, the baseline for memory, descriptors and threads.
  report(await sampler.sample());

  // loadgen for the whole run: its connect phase (1 viewer per ms) and warm-up, then a window
  // that ends a few seconds after the last sample, so every sample sees its viewers.
  const connectS = o.viewers / 1000 + 0.5;
  const window = Math.max(5, o.duration + LOADGEN_TAIL_S - WARMUP_S - connectS);
  const loadgen = startLoadgen(server.port, o.viewers, window, server.child.pid);
  cleanup.push(() => loadgen.child.process.kill('SIGKILL'));
  let loadgenDone = false;
  void loadgen.result.then(() => (loadgenDone = true));
  const churn = new Churn(server.port, sidePath, o.churnRate);
  const slow = new SlowReaders(server.port, sidePath, o.slowReaders);
  churn.start();
  cleanup.push(() => churn.stop());
  cleanup.push(() => void slow.stop());
  sampler.loadgenPid = loadgen.child.pid;
  sampler.churn = churn;
  sampler.slow = slow;

  let endedBy = 'the end of the run';
  const serverGone = (): boolean => server.child.process.exitCode !== null || server.child.process.signalCode !== null;
  let died = false;
  for (let k = 1; k * o.interval <= o.duration + 1e-6; k++) {
    const due = started + k * o.interval * 1000;
    await Promise.race([sleep(Math.max(0, due - performance.now())), server.child.exited]);
    if (serverGone()) {
      died = true;
      endedBy = `the server died at ${((performance.now() - started) / 1000).toFixed(0)} s`;
      log(`${endedBy}:\n${server.child.stderr().slice(-2000)}`);
      break;
    }
    const wasDone = loadgenDone;
    report(await sampler.sample());
    if (wasDone) {
      endedBy = `loadgen ended early, at ${((performance.now() - started) / 1000).toFixed(0)} s`;
      log(endedBy);
      break;
    }
  }

  // Stop the load, then the server, the way an operator does.
  churn.stop();
  await slow.stop();
  if (died) loadgen.child.process.kill('SIGKILL');
  const lg = await loadgen.result;
  if (lg.error && !died) endedBy = `loadgen failed: ${lg.error.split('\n')[0]}`;
  const exit = died ? await server.child.exited : await server.child.stop(5000);
  clearTimeout(hard);

  const steadyFrom = WARMUP_S + connectS;
  const steady = sampler.rows.filter((r) => r.elapsed_s >= steadyFrom);
  const figures: Record<string, Range> = {};
  for (const key of CSV_COLUMNS) if (key !== 'elapsed_s') figures[key] = range(steady, key);
  const half = sampler.rows.filter((r) => r.elapsed_s >= o.duration / 2 && r.rss_mb !== null);
  const result: SoakReport = {
    schema: 1,
    command,
    started_at: startedAt.toISOString().replace(/\.\d+Z$/, 'Z'),
    ended_at: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    machine,
    options: o,
    frames: frames.note,
    server_command: serverCommand,
    warmup_s: WARMUP_S,
    steady_from_s: round(steadyFrom, 1),
    samples: steady.length,
    figures,
    rss_second_half: {
      from_mb: half[0]?.rss_mb ?? null,
      to_mb: half.at(-1)?.rss_mb ?? null,
      max_mb: half.length ? Math.max(...half.map((r) => r.rss_mb!)) : null,
      growth_mb: half.length ? round(half.at(-1)!.rss_mb! - half[0]!.rss_mb!, 1) : null,
      slope_mb_per_min: half.length >= 2 ? round(slopePerMin(half, 'rss_mb')!, 3) : null,
      heap_used_min_mb: range(half, 'heap_used_mb').min,
      heap_used_max_mb: range(half, 'heap_used_mb').max,
      heap_used_slope_mb_per_min: ((v) => (v === null ? null : round(v, 3)))(slopePerMin(half, 'heap_used_mb')),
    },
    loadgen: { status: lg.status, result: lg.result, error: lg.error },
    churn: churn.stats,
    slow_readers: { ...slow.stats, slow_disconnects: sampler.rows.at(-1)?.slow_disconnects ?? null },
    server: { died, exit, stderr_tail: server.child.stderr().slice(-2000) },
    ended_by: endedBy,
  };
  const md = summaryMarkdown(result);
  writeFileSync(resolve(o.out, 'summary.md'), md);
  writeFileSync(resolve(o.out, 'soak.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(
    resolve(o.out, 'soak.svg'),
    await soakChartSvg(
      sampler.rows,
      o.duration,
      `${o.viewers} viewers, churn ${o.churnRate}/s, ${o.slowReaders} slow readers, --http ${o.http}, ${o.duration} s; ${machine.cpu_model}, ${machine.cores} cores`,
    ),
  );
  process.stdout.write(md);
  log(`wrote soak.csv, soak.svg, summary.md and soak.json to ${o.out}`);
  if (died || lg.error) process.exitCode = 1;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping; soak.csv holds the samples taken so far`);
    for (const f of cleanup) f();
    killAll();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e: unknown) => {
    for (const f of cleanup) f();
    killAll();
    process.stderr.write(`soak: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
