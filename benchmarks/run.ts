/**
 * The streaming benchmark: server CPU, memory, frame rate and latency per MJPEG client, for
 * framering (uWebSockets.js and node:http front ends), the original Flask + gevent design and a
 * C floor server, from 1 to 2000 clients on loopback.
 *
 *   npm run bench            builds, then the whole matrix into docs/bench/ (15-25 min)
 *   npm run bench:quick      a subset in under a minute, into benchmarks/.cache/quick/
 *   node dist/benchmarks/run.js --help
 *
 * Per run: a fresh server process on 127.0.0.1 playing the same frame folder at 30 fps; a
 * quiet-machine check; native-bench/build/loadgen opening the clients, warming up and measuring
 * a window; the server stopped. A run spoiled by outside load is repeated (bounded). One JSON
 * line per run on stdout (see results.ts); at the end results.jsonl, results.md and
 * cpu-vs-clients.svg in --out. Progress goes to stderr.
 *
 * The JPEG encode path (the synthetic camera) is measured separately by benchmarks/encode.ts
 * (npm run bench:encode): here every server only moves ready-made JPEGs.
 */

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureFrames, RESOLUTIONS, resolutionByName, type FrameSet, type Resolution } from './frames.js';
import { LOADGEN, loadgenBudgetMs, runLoadgen, type LoadgenRun } from './loadgen.js';
import { machineInfo, round, waitForQuiet, type QuietResult } from './machine.js';
import { killAll, type Exit } from './processes.js';
import { cpuChartSvg, markdownReport, resultsTable } from './report.js';
import { RESULT_SCHEMA, type RunResult } from './results.js';
import { REPO_ROOT, SERVER_NAMES, SERVERS, startServer, type ServerSpec } from './servers.js';

const HELP = `usage: node dist/benchmarks/run.js [options]
  --quick               a subset (640x480, 500 clients, every server, 1 s warm-up, 3 s window)
  --servers LIST        comma-separated, from ${SERVER_NAMES.join(', ')} (default: all)
  --clients LIST        client counts for every resolution (default: 1,10,100,500,1000,2000 at
                        640x480 and 100,1000 at 1280x720)
  --resolutions LIST    from ${RESOLUTIONS.map((r) => r.name).join(', ')} (default: both)
  --out DIR             where results.jsonl, results.md and cpu-vs-clients.svg go
                        (default docs/bench, with --quick benchmarks/.cache/quick)
  --warmup S            seconds between connecting and measuring (default 3, quick 1)
  --duration S          measured window, seconds (default 10, quick 3)
  --fps N               the camera rate every server plays the frames at (default 30)
  --retries N           repeats of a run spoiled by outside load or an error (default 2, quick 1)
  --quiet-idle PCT      a run waits for a 1 s sample with the machine this idle (default 85)
  --quiet-wait S        ... for at most S seconds, then runs anyway (default 60, quick 5)
  --max-other PCT       outside load, % of one core, above which a run is repeated (default 10)
  --time-limit MIN      runs that would end after this are skipped (default 45, quick 0.75)
  --flask-max N         most clients flask-gevent is run with (default 500)
  --cache DIR           frame sets (default benchmarks/.cache/frames)
`;

/** Client counts of the full matrix, per resolution (the 720p frames are more than twice the bytes). */
const DEFAULT_CLIENTS: Readonly<Record<string, readonly number[]>> = Object.freeze({
  '640x480': [1, 10, 100, 500, 1000, 2000],
  '1280x720': [100, 1000],
});

interface Options {
  quick: boolean;
  servers: ServerSpec[];
  resolutions: Resolution[];
  clients: number[] | undefined; // undefined: DEFAULT_CLIENTS
  out: string;
  warmup: number; // s
  duration: number; // s
  fps: number;
  retries: number;
  quietIdle: number; // %
  quietWait: number; // s
  maxOther: number; // % of one core
  timeLimit: number; // min
  flaskMax: number;
  cache: string;
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n${HELP}`);
  process.exit(2);
}

function parseOptions(argv: string[]): Options {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
        servers: { type: 'string' },
        clients: { type: 'string' },
        resolutions: { type: 'string' },
        out: { type: 'string' },
        warmup: { type: 'string' },
        duration: { type: 'string' },
        fps: { type: 'string' },
        retries: { type: 'string' },
        'quiet-idle': { type: 'string' },
        'quiet-wait': { type: 'string' },
        'max-other': { type: 'string' },
        'time-limit': { type: 'string' },
        'flask-max': { type: 'string' },
        cache: { type: 'string' },
      },
    }).values;
  } catch (e) {
    usageError((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const quick = values.quick === true;
  const number = (name: string, fallback: number, min: number, max: number, integer = false): number => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const v = Number(raw);
    if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      usageError(`--${name}: expected ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, got "${String(raw)}"`);
    }
    return v;
  };
  const list = (name: string): string[] | undefined => {
    const raw = values[name];
    if (typeof raw !== 'string') return undefined;
    const items = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (!items.length) usageError(`--${name}: expected a comma-separated list`);
    return items;
  };

  const serverNames = list('servers') ?? [...SERVER_NAMES];
  for (const s of serverNames)
    if (!(SERVER_NAMES as readonly string[]).includes(s)) usageError(`--servers: unknown server ${s} (known: ${SERVER_NAMES.join(', ')})`);
  const resolutionNames = list('resolutions') ?? (quick ? ['640x480'] : RESOLUTIONS.map((r) => r.name));
  const resolutions = resolutionNames.map((n) => {
    try {
      return resolutionByName(n);
    } catch (e) {
      return usageError(`--resolutions: ${(e as Error).message}`);
    }
  });
  const clientItems = list('clients') ?? (quick ? ['500'] : undefined);
  const clients = clientItems?.map((c) => {
    const v = Number(c);
    if (!Number.isInteger(v) || v < 1 || v > 10_000) usageError(`--clients: expected whole numbers from 1 to 10000, got "${c}"`);
    return v;
  });
  return {
    quick,
    // the floor first: the others' ratios need its figures from the same client count
    servers: SERVER_NAMES.filter((n) => serverNames.includes(n)).map((n) => SERVERS[n]),
    resolutions,
    clients,
    out: resolve(typeof values.out === 'string' ? values.out : quick ? `${REPO_ROOT}benchmarks/.cache/quick` : `${REPO_ROOT}docs/bench`),
    warmup: number('warmup', quick ? 1 : 3, 0, 600),
    duration: number('duration', quick ? 3 : 10, 0.5, 600),
    fps: number('fps', 30, 1, 240),
    retries: number('retries', quick ? 1 : 2, 0, 10, true),
    quietIdle: number('quiet-idle', 85, 0, 100),
    quietWait: number('quiet-wait', quick ? 5 : 60, 0, 3600),
    maxOther: number('max-other', 10, 0, 10_000),
    timeLimit: number('time-limit', quick ? 0.75 : 45, 0.1, 24 * 60),
    flaskMax: number('flask-max', SERVERS['flask-gevent'].maxClients ?? 500, 1, 100_000, true),
    cache: resolve(typeof values.cache === 'string' ? values.cache : `${REPO_ROOT}benchmarks/.cache/frames`),
  };
}

interface Attempt {
  quiet: QuietResult;
  startedAt: string;
  run: LoadgenRun | undefined;
  exit: Exit | undefined;
  error: string | undefined;
}

/** The longest one attempt may take, ms (server start, loadgen's own bound, stop). */
function attemptBudgetMs(o: Options, clients: number): number {
  return 15_000 + loadgenBudgetMs({ clients, warmup: o.warmup, duration: o.duration }) + 5_000;
}

/** A rough length of one attempt, for the time limit, s. */
function attemptEstimateS(o: Options, clients: number): number {
  return 1 + 1 + clients / 1000 + o.warmup + o.duration + 1;
}

async function attempt(o: Options, spec: ServerSpec, frames: FrameSet, clients: number): Promise<Attempt> {
  const quiet = await waitForQuiet(o.quietIdle, o.quietWait * 1000);
  const startedAt = new Date().toISOString();
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let run: LoadgenRun | undefined;
  let exit: Exit | undefined;
  let error: string | undefined;
  try {
    server = await startServer(spec, frames.dir, o.fps, attemptBudgetMs(o, clients));
    run = await runLoadgen({ port: server.port, clients, warmup: o.warmup, duration: o.duration, serverPid: server.child.pid });
    if (run.result.server && !run.result.server.alive) error = `the server died during the run:\n${server.child.stderr()}`;
  } catch (e) {
    error = (e as Error).message;
  } finally {
    if (server) exit = await server.child.stop(3000);
  }
  return { quiet, startedAt, run, exit, error };
}

/** Why an attempt's figures cannot be trusted, or undefined. */
function spoiledBy(a: Attempt, o: Options): string | undefined {
  if (a.error) return `error: ${a.error.split('\n')[0]}`;
  const r = a.run?.result;
  const other = r ? otherCpu(r) : null;
  if (other !== null && other > o.maxOther) return `other processes used ${other.toFixed(0)} % of a core`;
  const steal = r?.system?.steal_pct ?? null;
  if (steal !== null && steal > o.maxOther) return `the hypervisor stole ${steal.toFixed(0)} % of a core`;
  return undefined;
}

function otherCpu(r: LoadgenRun['result']): number | null {
  const busy = r.system?.busy_pct ?? null;
  const server = r.server?.cpu_pct ?? null;
  if (busy === null || server === null) return null;
  return round(busy - server - r.loadgen.cpu_pct, 1);
}

async function measure(o: Options, spec: ServerSpec, frames: FrameSet, clients: number, floor: RunResult | undefined): Promise<RunResult> {
  const retried: string[] = [];
  let a: Attempt;
  for (let n = 1; ; n++) {
    a = await attempt(o, spec, frames, clients);
    const why = spoiledBy(a, o);
    if (!why || n > o.retries) break;
    retried.push(`attempt ${n}: ${why}`);
    log(`${spec.name} ${frames.resolution.name} ${clients} clients: ${why}; repeating`);
  }
  const r = a.run?.result;
  const s = r?.server ?? null;
  const cpu = s?.cpu_pct ?? null;
  const windowS = r?.window_s ?? null;
  const other = r ? otherCpu(r) : null;
  const ratio = (x: number | null | undefined, y: number | null | undefined): number | null =>
    x != null && y != null && y > 0 ? round(x / y, 3) : null;
  let error = a.error ?? null;
  if (!error && r && r.failed + r.dropped > 0) error = `${r.failed} failed, ${r.dropped} dropped; first error: ${r.first_error ?? 'none'}`;
  return {
    schema: RESULT_SCHEMA,
    server: spec.name,
    resolution: frames.resolution.name,
    frame_bytes: frames.meanBytes,
    fps_target: o.fps,
    clients,
    connected: r?.connected ?? 0,
    failed: r?.failed ?? 0,
    dropped: r?.dropped ?? 0,
    fps_min: r?.fps.min ?? null,
    fps_p50: r?.fps.p50 ?? null,
    fps_mean: r?.fps.mean ?? null,
    cpu_pct: cpu,
    cpu_pct_per_client: cpu !== null ? round(cpu / clients, 5) : null,
    cpu_us_per_frame: cpu !== null && windowS && r && r.frames > 0 ? round(((cpu / 100) * windowS * 1e6) / r.frames, 2) : null,
    cpu_vs_floor: spec.name === 'floor' ? (cpu !== null ? 1 : null) : ratio(cpu, floor?.cpu_pct),
    threads: s?.threads ?? null,
    rss_peak_mb: s?.vm_hwm_kb != null ? round(s.vm_hwm_kb / 1024, 1) : null,
    latency_p50_ms: r?.latency_ms.p50 ?? null,
    latency_p99_ms: r?.latency_ms.p99 ?? null,
    latency_max_ms: r?.latency_ms.max ?? null,
    latency_p99_vs_floor: spec.name === 'floor' ? (r?.latency_ms.p99 != null ? 1 : null) : ratio(r?.latency_ms.p99, floor?.latency_p99_ms),
    mbit_s: r?.window_mbit_s ?? null,
    loadgen_cpu_pct: r?.loadgen.cpu_pct ?? null,
    machine_busy_pct: r?.system?.busy_pct ?? null,
    other_cpu_pct: other,
    softirq_pct: r?.system?.softirq_pct ?? null,
    steal_pct: r?.system?.steal_pct ?? null,
    idle_before_pct: a.quiet.idle_pct,
    quiet_wait_s: a.quiet.waited_s,
    quiet: a.quiet.quiet,
    attempts: retried.length + 1,
    retried_for: retried,
    spoiled: !a.error && spoiledBy(a, o) !== undefined,
    warmup_s: o.warmup,
    window_s: windowS,
    started_at: a.startedAt,
    server_exit: a.exit ? (a.exit.signal ?? String(a.exit.status)) : 'not started',
    error,
  };
}

function summary(r: RunResult): string {
  if (r.cpu_pct === null) return `${r.server} ${r.resolution} ${r.clients} clients: no figures (${r.error?.split('\n')[0] ?? 'unknown'})`;
  const f = (v: number | null, d: number): string => (v === null ? '-' : v.toFixed(d));
  return (
    `${r.server} ${r.resolution} ${r.clients} clients: fps p50 ${f(r.fps_p50, 1)} min ${f(r.fps_min, 1)}, ` +
    `CPU ${f(r.cpu_pct, 1)} % (${f(r.cpu_vs_floor, 2)}x floor), RSS ${f(r.rss_peak_mb, 0)} MB, ` +
    `latency ${f(r.latency_p50_ms, 2)}/${f(r.latency_p99_ms, 2)} ms, loadgen ${f(r.loadgen_cpu_pct, 0)} %, other ${f(r.other_cpu_pct, 0)} %` +
    (r.attempts > 1 ? `, ${r.attempts} attempts` : '')
  );
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o = parseOptions(argv);
  if (!existsSync(LOADGEN)) usageError(`${LOADGEN} is missing: run make -C native-bench`);
  const started = Date.now();
  const deadline = started + o.timeLimit * 60_000;
  const machine = machineInfo();
  log(`${machine.cpu_model}, ${machine.cores} cores, Linux ${machine.kernel}, Node.js ${machine.node}; results into ${o.out}`);

  const skipped: string[] = [];
  const servers: ServerSpec[] = [];
  for (const spec of o.servers) {
    const why = spec.unavailable();
    if (why) {
      skipped.push(`${spec.name}: ${why}`);
      log(`skipping ${spec.name}: ${why}`);
    } else servers.push(spec);
  }
  const cap = (spec: ServerSpec): number => (spec.name === 'flask-gevent' ? o.flaskMax : (spec.maxClients ?? Infinity));
  for (const spec of servers) {
    const over = o.resolutions.flatMap((res) =>
      (o.clients ?? DEFAULT_CLIENTS[res.name] ?? []).filter((c) => c > cap(spec)).map((c) => `${res.name} ${c}`),
    );
    if (over.length) skipped.push(`${spec.name} above ${cap(spec)} clients (${over.join(', ')}): ${spec.capReason ?? 'capped'}`);
    if (spec.onlyClients) skipped.push(`${spec.name} runs only at ${spec.onlyClients.join(', ')} clients: ${spec.onlyReason ?? ''}`);
  }

  const results: RunResult[] = [];
  const frameNotes: string[] = [];
  for (const res of o.resolutions) {
    const frames = ensureFrames(res, o.cache, log);
    frameNotes.push(
      `${res.name}: ${frames.count} frames of ffmpeg's testsrc2 pattern, ${(frames.meanBytes / 1000).toFixed(1)} KB each on average (mjpeg q ${frames.q})`,
    );
    for (const clients of o.clients ?? DEFAULT_CLIENTS[res.name] ?? []) {
      let floor: RunResult | undefined;
      for (const spec of servers) {
        if (clients > cap(spec) || (spec.onlyClients && !spec.onlyClients.includes(clients))) continue;
        if (Date.now() + attemptEstimateS(o, clients) * 1000 > deadline) {
          skipped.push(`${spec.name} ${res.name} ${clients} clients: past the ${o.timeLimit} min time limit`);
          log(`skipping ${spec.name} ${res.name} ${clients} clients: past the time limit`);
          continue;
        }
        const r = await measure(o, spec, frames, clients, floor);
        if (spec.name === 'floor') floor = r;
        results.push(r);
        process.stdout.write(`${JSON.stringify(r)}\n`);
        log(summary(r));
      }
    }
  }

  mkdirSync(o.out, { recursive: true });
  const command = `node dist/benchmarks/run.js${argv.length ? ` ${argv.join(' ')}` : ''}`;
  writeFileSync(resolve(o.out, 'results.jsonl'), results.map((r) => `${JSON.stringify(r)}\n`).join(''));
  writeFileSync(
    resolve(o.out, 'results.md'),
    markdownReport(results, {
      machine,
      date: new Date(started).toISOString().replace(/\.\d+Z$/, 'Z'),
      command,
      warmup: o.warmup,
      duration: o.duration,
      fps: o.fps,
      quietIdlePct: o.quietIdle,
      maxOtherPct: o.maxOther,
      retries: o.retries,
      skipped,
      frames: frameNotes,
    }),
  );
  writeFileSync(
    resolve(o.out, 'cpu-vs-clients.svg'),
    await cpuChartSvg(
      results,
      `${machine.cpu_model}, ${machine.cores} cores, Node.js ${machine.node}; server and load generator on the same cores, over loopback`,
    ),
  );
  process.stderr.write(`\n${resultsTable(results)}\n\n`);
  log(
    `${results.length} runs in ${((Date.now() - started) / 60_000).toFixed(1)} min; wrote results.jsonl, results.md and cpu-vs-clients.svg to ${o.out}`,
  );
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping; nothing written`);
    killAll();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    killAll();
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
