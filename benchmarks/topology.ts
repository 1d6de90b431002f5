/**
 * framering past one machine (docs/scaling.md): a capture node, a three-server NATS cluster, an
 * HTTP edge and NATS edges, and a plain single server, each on a test host of its own (network
 * namespaces on one bridge: test/helpers/topology.ts). Three parts:
 *
 *   1. the capture node's CPU with nobody watching, with one viewer on each edge, and with 200
 *      and 2,000 more on the edges: it should not grow with the viewers;
 *   2. an edge's CPU per viewer (HTTP relay, NATS) against a single framering serving the same
 *      frames from files, at 100 and 500 viewers;
 *   3. the latency each hop adds: frames matched by content between a viewer of the origin and
 *      viewers of each edge, X-Timestamp against capture time, HTTP relay against NATS through
 *      one and through two NATS servers; at light load, then under part 1's largest load.
 *
 *   npm run bench:topology                 builds, then all three parts (about 4.5 minutes)
 *   node dist/benchmarks/topology.js --quick   shorter windows (about 2.5 minutes)
 *   node dist/benchmarks/topology.js --help
 *
 * Prints the tables (Markdown) on stdout and writes them with every figure as JSON to --out
 * (results.json, and results.md beside it). Progress goes to stderr. It never asserts on the
 * figures; it exits non-zero only when the setup breaks. Every process and namespace it made is
 * removed at the end, on an error, on SIGINT or SIGTERM and at the time limit. Linux, root,
 * iproute2, util-linux, nats-server, ffmpeg and native-bench's loadgen (make -C native-bench).
 *
 * Its parts are in topology/: setup.ts (hosts and processes), measure.ts (CPU windows, loadgen
 * in a host), capture-cpu.ts, per-viewer.ts, latency.ts (one part each) and report.ts.
 */

import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { LOADGEN } from '../test/helpers/loadgen.js';
import { NATS_SERVER } from '../test/helpers/nats.js';
import { hasCommand, missing } from '../test/helpers/requirements.js';
import { CLI } from '../test/helpers/server.js';
import { Cleanup } from '../test/helpers/topology.js';
import { sleep } from '../test/helpers/wait.js';
import { Cli } from './lib/cli.js';
import { ensureFrames, resolutionByName } from './lib/frames.js';
import { machineInfo, waitForQuiet } from './lib/machine.js';
import { REPO_ROOT } from './lib/servers.js';
import { type CaptureStep, measureCaptureCpu } from './topology/capture-cpu.js';
import { type LatencyRun, measureLatency } from './topology/latency.js';
import { measurePerViewer, type PerViewerRun, type PerViewerSummary } from './topology/per-viewer.js';
import { type LoadNote, markdownReport } from './topology/report.js';
import { FPS, IDLE_TIMEOUT_S, setUp, waitAllIdle } from './topology/setup.js';

const HELP = `usage: node dist/benchmarks/topology.js [options]
  --quick             shorter windows and waits (about 2.5 minutes instead of 4.5)
  --parts LIST        which parts, from 1 (capture CPU), 2 (per-viewer CPU), 3 (latency); default all
  --viewers LIST      part 1: viewers added to the edges, half on each (default 200,2000)
  --fps-cap N         part 1 and the loaded latency run: those viewers ask ?fps=N (default 5; the camera stays at ${FPS})
  --edge-viewers LIST part 2: viewers per server (default 100,500), at the full ${FPS} fps
  --window S          each CPU window, seconds (default 10, quick 4)
  --settle S          from the viewers' connection to a window, seconds (default 3, quick 2)
  --start-settle S    from the processes' start to the first window (default 12: Node.js collects
                      garbage once about 8 s after start; quick 10)
  --latency-window S  part 3: each latency window, seconds (default 20, quick 8)
  --latency-load N    part 3: viewers on the edges for the loaded run (default part 1's largest; 0 skips it)
  --quiet-wait S      before each part, wait up to S s for a 1 s sample with the machine 85 % idle (default 20, quick 5)
  --out FILE          the JSON results (default benchmarks/.cache/topology/results.json; results.md beside it)
  --cache DIR         frame sets (default benchmarks/.cache/frames)
  --time-limit MIN    stop, clean up and exit 1 after this long (default 10, quick 4)
  --help              this text
Needs Linux, root, iproute2, util-linux, nats-server, ffmpeg and native-bench's loadgen.
`;

const cli = new Cli('bench:topology', HELP);
const log = cli.log;
const cleanup = new Cleanup();
let cleaning: Promise<void> | null = null;
/** Stops and removes everything once, however many ways out are taken at once. */
const cleanUp = (): Promise<void> => {
  cleaning ??= cleanup.run().catch((e: unknown) => log(`cleanup: ${e instanceof Error ? e.message : String(e)}`));
  return cleaning;
};

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const string = { type: 'string' } as const;
  const args = cli.parse(argv, {
    quick: { type: 'boolean' },
    parts: string,
    viewers: string,
    'fps-cap': string,
    'edge-viewers': string,
    window: string,
    settle: string,
    'start-settle': string,
    'latency-window': string,
    'latency-load': string,
    'quiet-wait': string,
    out: string,
    cache: string,
    'time-limit': string,
  });
  const quick = args.flag('quick');
  const counts = (name: string, fallback: number[], max: number): number[] => {
    const list = args.list(name)?.map(Number) ?? fallback;
    if (list.some((n) => !Number.isInteger(n) || n < 1 || n > max)) cli.usageError(`--${name}: whole numbers from 1 to ${max}`);
    return list;
  };
  const parts = new Set(args.list('parts') ?? ['1', '2', '3']);
  for (const p of parts) if (!['1', '2', '3'].includes(p)) cli.usageError(`--parts: unknown part ${p} (1, 2, 3)`);
  const viewers = counts('viewers', [200, 2000], 5000);
  const edgeViewers = counts('edge-viewers', [100, 500], 2000);
  const fpsCap = args.number('fps-cap', 5, 1, FPS, true);
  const windowS = args.number('window', quick ? 4 : 10, 1, 60);
  const settleS = args.number('settle', quick ? 2 : 3, 0, 30);
  const startSettleS = args.number('start-settle', quick ? 10 : 12, 0, 60);
  const latencyWindowS = args.number('latency-window', quick ? 8 : 20, 2, 120);
  const latencyLoad = args.number('latency-load', Math.max(...viewers), 0, 5000, true);
  const quietWaitS = args.number('quiet-wait', quick ? 5 : 20, 0, 600);
  const timeLimitMin = args.number('time-limit', quick ? 4 : 10, 1, 60);
  const out = resolve(args.string('out') ?? `${REPO_ROOT}benchmarks/.cache/topology/results.json`);
  const cache = resolve(args.string('cache') ?? `${REPO_ROOT}benchmarks/.cache/frames`);

  const why =
    process.platform !== 'linux'
      ? 'network namespaces are Linux only'
      : missing({
          'root, for network namespaces': process.getuid?.() === 0,
          'iproute2 (ip, tc)': hasCommand('ip', ['-V']) && hasCommand('tc', ['-V']),
          'util-linux (setpriv, unshare)': hasCommand('setpriv', ['--version']) && hasCommand('unshare', ['--version']),
          'nats-server': hasCommand(NATS_SERVER, ['--version']),
          'ffmpeg (the frames)': hasCommand('ffmpeg'),
          [`${LOADGEN} (make -C native-bench)`]: existsSync(LOADGEN),
          [`${CLI} (npm run build)`]: existsSync(CLI),
        });
  if (why) {
    log(`cannot run: ${why}`);
    process.exit(1);
  }

  const deadline = setTimeout(() => {
    log(`time limit of ${timeLimitMin} min reached: stopping`);
    void cleanUp().then(() => process.exit(1));
  }, timeLimitMin * 60_000);
  const started = new Date();
  const machine = machineInfo();
  const load: LoadNote[] = [];
  const noteLoad = (when: string) => {
    load.push({ when, loadavg: loadavg().map((v) => Math.round(v * 100) / 100) });
    log(`load average ${when}: ${load.at(-1)!.loadavg.join(', ')}`);
  };
  log(`${machine.cpu_model}, ${machine.cores} cores, Linux ${machine.kernel}, Node.js ${machine.node}`);
  noteLoad('at the start');

  const frames = ensureFrames(resolutionByName('640x480'), cache, log);
  const frameNames = readdirSync(frames.dir)
    .filter((f) => /\.jpe?g$/i.test(f))
    .sort();
  const framesNote = `${frames.count} distinct JPEGs of ffmpeg's testsrc2 pattern, 640x480, ${(frames.meanBytes / 1000).toFixed(1)} KB each on average (the viewer benchmark's set), played at ${FPS} fps: the same bytes recur every ${(frames.count / FPS).toFixed(0)} s`;

  const b = await setUp(cleanup, frames, frameNames, log);
  const quiet = async (part: string) => {
    const q = await waitForQuiet(85, quietWaitS * 1000);
    log(`${part}: machine ${q.idle_pct} % idle after ${q.waited_s} s${q.quiet ? '' : ' (not quiet: measuring anyway)'}`);
    noteLoad(`before ${part}`);
    return q;
  };
  const notes: string[] = [];
  const settleLeft = startSettleS * 1000 - (performance.now() - b.readyAt);
  if (settleLeft > 0) await sleep(settleLeft);

  let capture: CaptureStep[] | null = null;
  let perViewer: { runs: PerViewerRun[]; summary: PerViewerSummary[] } | null = null;
  let latency: LatencyRun[] | null = null;
  if (parts.has('1')) {
    await quiet('part 1');
    const steps = viewers.length + 2;
    capture = await measureCaptureCpu(
      b,
      { counts: viewers, fpsCap, windowS, settleS, watchedLifetimeS: steps * (windowS + settleS + 15) + 30 },
      log,
    );
    if (!(await waitAllIdle(b))) notes.push('after part 1, not everything was idle within 15 s');
  }
  if (parts.has('2')) {
    await quiet('part 2');
    perViewer = await measurePerViewer(b, { counts: edgeViewers, windowS, settleS }, log);
    if (perViewer.runs.some((r) => !r.started_idle))
      notes.push('part 2: some runs started before everything was idle (see started_idle in the JSON)');
  }
  if (parts.has('3')) {
    await quiet('part 3');
    latency = await measureLatency(b, { windowS: latencyWindowS, settleS: Math.max(settleS, 3), loadViewers: latencyLoad, fpsCap }, log);
  }
  noteLoad('at the end');

  const quote = (arg: string): string => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);
  const command = `node dist/benchmarks/topology.js${argv.length ? ` ${argv.map(quote).join(' ')}` : ''}`;
  const method = [
    `Hosts: network namespaces on one bridge (veth pairs), all on this machine's ${machine.cores} cores: capture (files camera at ${FPS} fps, --publish to the three NATS servers), nats1-3 (deploy/nats/cluster.conf), edge-http (--camera http from the capture node), edge-nats (--camera nats, given a server other than the one the publisher connected to), edge-nats-same (given the publisher's server), single (a plain framering, files camera, the same frames), client (the viewer agent). Every framering: --http-threads 1, --idle-timeout ${IDLE_TIMEOUT_S}, uWebSockets.js front end. No HAProxy: viewers go to the edges directly.`,
    "Viewers in parts 1 and 2: native-bench/build/loadgen (C, epoll) run in the host of the server it watches, on that host's loopback (loadgen refuses any other address), asking as a browser's <img> does; so the viewers' own traffic does not cross the bridge, while the hops between hosts (origin to edge-http, capture to NATS to the NATS edges) do.",
    `CPU: exact per-thread nanoseconds (/proc/PID/task/TID/schedstat) of every process over the same ${windowS} s window, in % of one core; machine busy time from /proc/stat over the window (% of one core, ${machine.cores} cores = ${machine.cores * 100} %); "other" is the machine's busy time that none of the listed processes accounts for (other work on the machine, softirqs charged to no process listed). Windows start ${settleS} s after the viewers connected, and the first ${startSettleS} s after the processes started.`,
    `Part 1: idle (nobody watches); watched (one full-rate loadgen viewer on edge-http and one on edge-nats, kept through the part: the baseline); then ${viewers.join(' and ')} viewers added, half on each edge, each asking ?fps=${fpsCap} (the per-viewer cap) so that the edges' work stays within the machine while the camera and both upstream streams stay at ${FPS} fps.`,
    `Part 2: for ${edgeViewers.join(' and ')} full-rate viewers, single, edge-http and edge-nats in turn, each alone (everything idle before each run); "upstream" is what the capture node and the NATS servers spent in the same window, not counted in the edge's figure. "Per extra viewer" is (CPU at ${Math.max(...edgeViewers)} − CPU at ${Math.min(...edgeViewers)}) / ${Math.max(...edgeViewers) - Math.min(...edgeViewers)} viewers, as µs of CPU per frame sent.`,
    `Part 3: one full-rate viewer each on the capture node, edge-http, edge-nats and edge-nats-same, in the client host (across the bridge), through test/helpers/viewer-agent.ts; each edge frame matched byte for byte to the origin viewer's frame of the same bytes within 1 s of capture time; ${latencyWindowS} s windows, at light load and then with ${latencyLoad} viewers at ?fps=${fpsCap} on edge-http and edge-nats. Arrival times: performance.timeOrigin + performance.now() in the agent, the clock framering stamps X-Timestamp with.`,
  ];
  const ctx = { machine, date: started.toISOString().replace(/\.\d+Z$/, 'Z'), command, frames: framesNote, method, load, notes };
  const report = {
    schema: 1,
    ...ctx,
    options: {
      parts: [...parts],
      viewers,
      fps_cap: fpsCap,
      edge_viewers: edgeViewers,
      window_s: windowS,
      settle_s: settleS,
      start_settle_s: startSettleS,
      latency_window_s: latencyWindowS,
      latency_load: latencyLoad,
    },
    topology: {
      subnet: b.topo.subnet,
      publisher_server: b.publisherServer.host.name,
      hosts: Object.fromEntries([...b.topo.hosts.values()].map((h) => [h.name, h.addr])),
    },
    capture_cpu: capture,
    per_viewer: perViewer,
    latency,
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  const md = markdownReport(ctx, { capture, perViewer, latency });
  writeFileSync(resolve(dirname(out), 'results.md'), md);
  process.stdout.write(`${md}\n`);
  clearTimeout(deadline);
  log(`done in ${((Date.now() - started.getTime()) / 60_000).toFixed(1)} min; wrote ${out} and results.md beside it`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping, removing the hosts; nothing written`);
    void cleanUp().then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

main().then(
  () => cleanUp().then(() => process.exit(0)),
  (e: unknown) => {
    log(e instanceof Error ? (e.stack ?? e.message) : String(e));
    void cleanUp().then(() => process.exit(1));
  },
);
