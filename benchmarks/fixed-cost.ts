/**
 * The fixed-cost benchmark: the server's CPU per published frame with exactly one viewer, split
 * by thread (capture worker, encoder threads, main thread, V8 / libuv helpers), for each camera
 * path (files, libcamera through a fake rpicam-vid, HTTP relay, synthetic), plus its CPU with no
 * viewer; the C floor server and, where it is installed, the Flask + gevent design on the same
 * frames as reference lines. It shows the per-frame work that does not depend on the number of
 * viewers, and where it goes.
 *
 *   npm run bench:fixed                 builds, then every path, 10 s windows (about 3 minutes)
 *   node dist/benchmarks/fixed-cost.js --cameras files,floor --duration 5
 *   node dist/benchmarks/fixed-cost.js --help
 *
 * Prints the Markdown table (or, with --json, the results as JSON) on stdout and writes
 * results.md and results.json to --out. Progress goes to stderr. Its parts are in fixed-cost/:
 * cameras.ts (what each path starts), measure.ts (one path's windows), threads.ts (CPU per
 * thread group), probe.ts (loaded into framering to name its threads), viewer.ts (the viewer
 * process) and report.ts (the Markdown).
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Cli } from './lib/cli.js';
import { ensureFrames, resolutionByName } from './lib/frames.js';
import { machineInfo } from './lib/machine.js';
import { exitOnSignals, killAll, parsePins, pinProcesses } from './lib/processes.js';
import { REPO_ROOT } from './lib/servers.js';
import { CAMERA_NAMES, cameraSpecs, type CameraName, type CameraSpec } from './fixed-cost/cameras.js';
import { failedResult, measureCamera, type CameraResult } from './fixed-cost/measure.js';
import { markdownReport, resultsTable } from './fixed-cost/report.js';
import { childrenOf } from './fixed-cost/threads.js';

const FPS = 30;
/** The fake camera tool exits by itself after 60 s: a window must end well before. */
const MAX_WARMUP_PLUS_DURATION = 50;

const HELP = `usage: node dist/benchmarks/fixed-cost.js [options]
  --cameras LIST     comma-separated, from ${CAMERA_NAMES.join(', ')} (default: all;
                     flask-gevent is skipped where Flask and gevent are not installed)
  --duration S       each measured window, seconds (default 10)
  --warmup S         seconds from the first frame to the viewer window (default 2)
  --settle S         seconds from a server's start to its idle window (default 12: Node.js
                     collects garbage once about 8 s after start, in every thread)
  --out DIR          where results.md and results.json go (default benchmarks/.cache/fixed-cost)
  --json             print the results as JSON instead of the Markdown table
  --cache DIR        frame sets (default benchmarks/.cache/frames)
  --quiet-idle PCT   each path waits for a 1 s sample with the machine this idle (default 85)
  --quiet-wait S     ... for at most S seconds, then runs anyway (default 30)
  --pin S,L          pin the server to CPU S and the viewer to CPU L (taskset); default unpinned
  --help             this text
Per path: idle window (no viewer), then one viewer and the viewer window; frames 640x480
(about 21 KB) at ${FPS} fps. Warm-up plus duration at most ${MAX_WARMUP_PLUS_DURATION} s.
`;

const cli = new Cli('bench:fixed', HELP);
const log = cli.log;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const string = { type: 'string' } as const;
  const args = cli.parse(argv, {
    cameras: string,
    duration: string,
    warmup: string,
    settle: string,
    out: string,
    json: { type: 'boolean' },
    cache: string,
    'quiet-idle': string,
    'quiet-wait': string,
    pin: string,
  });
  const names = args.list('cameras') ?? [...CAMERA_NAMES];
  for (const n of names) if (!(CAMERA_NAMES as readonly string[]).includes(n)) cli.usageError(`--cameras: unknown camera ${n}`);
  const duration = args.number('duration', 10, 0.5, 45);
  const warmup = args.number('warmup', 2, 0, 20);
  const settle = args.number('settle', 12, 0, 60);
  if (warmup + duration > MAX_WARMUP_PLUS_DURATION) cli.usageError(`--warmup plus --duration: at most ${MAX_WARMUP_PLUS_DURATION} s`);
  const out = resolve(args.string('out') ?? `${REPO_ROOT}benchmarks/.cache/fixed-cost`);
  const cache = resolve(args.string('cache') ?? `${REPO_ROOT}benchmarks/.cache/frames`);
  const quietIdle = args.number('quiet-idle', 85, 0, 100);
  const quietWait = args.number('quiet-wait', 30, 0, 600);
  const pin = args.string('pin');
  if (pin !== undefined) {
    try {
      pinProcesses(parsePins(pin));
    } catch (e) {
      cli.usageError((e as Error).message);
    }
  }

  const started = new Date();
  const machine = machineInfo();
  log(`${machine.cpu_model}, ${machine.cores} cores, Linux ${machine.kernel}, Node.js ${machine.node}; results into ${out}`);
  const frames = ensureFrames(resolutionByName('640x480'), cache, log);
  const framesNote = `${frames.count} JPEGs of ffmpeg's testsrc2 pattern, 640x480, ${(frames.meanBytes / 1000).toFixed(1)} KB each on average (the viewer benchmark's set)`;

  const specs = cameraSpecs(childrenOf);
  const skipped: string[] = [];
  const results: CameraResult[] = [];
  for (const name of names as CameraName[]) {
    const spec: CameraSpec = specs[name];
    const why = spec.unavailable();
    if (why) {
      skipped.push(`${spec.label}: ${why}`);
      log(`skipping ${spec.label}: ${why}`);
      continue;
    }
    log(`${spec.label}: idle ${duration} s, then one viewer ${duration} s`);
    try {
      results.push(await measureCamera(spec, { warmup, settle, duration, fps: FPS, framesDir: frames.dir, quietIdle, quietWait }, log));
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      log(`${spec.label} failed: ${message}`);
      results.push(failedResult(spec, message));
    }
  }

  const quote = (arg: string): string => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);
  const command = `node dist/benchmarks/fixed-cost.js${argv.length ? ` ${argv.map(quote).join(' ')}` : ''}`;
  const report = {
    schema: 1,
    date: started.toISOString().replace(/\.\d+Z$/, 'Z'),
    command,
    machine,
    fps: FPS,
    warmup_s: warmup,
    settle_s: settle,
    duration_s: duration,
    frames: framesNote,
    skipped,
    results,
  };
  mkdirSync(out, { recursive: true });
  writeFileSync(resolve(out, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(
    resolve(out, 'results.md'),
    markdownReport(results, { machine, date: report.date, command, warmup, settle, duration, fps: FPS, frames: framesNote, skipped }),
  );
  process.stdout.write(args.flag('json') ? `${JSON.stringify(report, null, 2)}\n` : `${resultsTable(results)}\n`);
  log(`wrote results.md and results.json to ${out}`);
  if (results.some((r) => r.error)) process.exitCode = 1;
}

exitOnSignals(log, 'nothing written');

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e: unknown) => {
    killAll();
    process.stderr.write(`bench:fixed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
