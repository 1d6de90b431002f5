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
 *   slow readers  --slow-readers viewers reading 10 KB/s (test/helpers/slow-reader.ts); each
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
 *
 * This file wires the run; its parts are in soak/: cli.ts (options), churn.ts, slow-readers.ts,
 * sampler.ts (the rows of soak.csv) and report.ts (figures, summary.md, soak.svg). The server's
 * output goes to server.log.
 */

import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LOADGEN, type LoadgenResult } from '../test/helpers/loadgen.js';
import { ensureFrames, resolutionByName } from './lib/frames.js';
import { startLoadgen } from './lib/loadgen.js';
import { machineInfo } from './lib/machine.js';
import { exitOnSignals, killAll, type Child } from './lib/processes.js';
import { REPO_ROOT, SERVERS, startServer } from './lib/servers.js';
import { fixed as fmt, round } from './lib/stats.js';
import { Churn } from './soak/churn.js';
import { cli, parseOptions, type Options } from './soak/cli.js';
import { soakChartSvg, soakFigures, summaryMarkdown, type SoakReport } from './soak/report.js';
import { getText, Sampler, type SoakSample, type StatusDoc } from './soak/sampler.js';
import { SlowReaders, sleep } from './soak/slow-readers.js';

const log = cli.log;

/** loadgen's warm-up: its connect phase and a few seconds of streaming before its window. */
const WARMUP_S = 5;
/** loadgen's window ends this long after the last sample (its connect phase varies a little). */
const LOADGEN_TAIL_S = 3;

interface LoadgenOutcome {
  status: number | null;
  result: LoadgenResult | null;
  error: string | null;
}

/**
 * Starts loadgen for the whole run, keeping the child at hand: the samples read its CPU, and
 * every way out of the soak must be able to kill it. The outcome never rejects.
 */
function soakLoadgen(port: number, clients: number, window: number, serverPid: number): { child: Child; result: Promise<LoadgenOutcome> } {
  const { child, run } = startLoadgen({ port, clients, warmup: WARMUP_S, duration: window, serverPid });
  const result = run.then(
    // Status 1 still carries a result: some viewers failed or dropped, which the summary shows.
    (r): LoadgenOutcome => ({
      status: r.status,
      result: r.result,
      error: r.status === 0 || r.status === 1 ? null : `loadgen exited with ${r.status ?? child.process.signalCode}`,
    }),
    (e: Error): LoadgenOutcome => ({ status: child.process.exitCode, result: null, error: e.message.slice(0, 4000) }),
  );
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
  if (!existsSync(LOADGEN)) cli.usageError(`${LOADGEN} is missing: run make -C native-bench`);
  const spec = SERVERS[o.http === 'uws' ? 'framering-uws' : 'framering-node'];
  const why = spec.unavailable();
  if (why) cli.usageError(why);
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
  const server = await startServer(spec, frames.dir, o.fps, hardDeadlineMs, o.traceGc ? ['--trace-gc'] : []);
  const serverCommand = ['node', ...spec.command(frames.dir, o.fps).args]
    .map((a) => (a.startsWith(REPO_ROOT) ? a.slice(REPO_ROOT.length) : a))
    .join(' ');
  cleanup.push(() => server.child.process.kill('SIGKILL'));
  // The server's output, whole, into server.log: its log lines, and the GC trace when
  // NODE_OPTIONS asks for one (--trace-gc prints every isolate's heap after each collection,
  // which tells which thread's heap grows).
  const serverLog = createWriteStream(resolve(o.out, 'server.log'));
  server.child.process.stdout!.on('data', (d: string) => serverLog.write(d));
  server.child.process.stderr!.on('data', (d: string) => serverLog.write(d));
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
  const loadgen = soakLoadgen(server.port, o.viewers, window, server.child.pid);
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
  serverLog.end();

  const steadyFrom = WARMUP_S + connectS;
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
    ...soakFigures(sampler.rows, steadyFrom, o.duration),
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

exitOnSignals(log, 'soak.csv holds the samples taken so far', () => {
  for (const f of cleanup) f();
});

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e: unknown) => {
    for (const f of cleanup) f();
    killAll();
    process.stderr.write(`soak: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
