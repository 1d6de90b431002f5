/**
 * One camera path: start its processes, measure the idle window (no viewer), connect the one
 * viewer, warm up, measure the viewer window, stop everything.
 *
 * At each end of a window the benchmark reads, in this order at the start and the reverse at
 * the end: the server's /metrics (frames published), the viewer's frame count, then the CPU of
 * every thread of the server and of its companions and the machine's busy time. So the scrape of
 * /metrics itself falls outside the CPU window, and the frame count spans the window plus two
 * scrapes (a few ms: under one frame at 30 fps).
 */

import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { busyTicks, machineTicks, USER_HZ } from '../../test/helpers/proc.js';
import { waitForQuiet } from '../lib/machine.js';
import { spawnBounded } from '../lib/processes.js';
import { round } from '../lib/stats.js';
import type { CameraSpec } from './cameras.js';
import { GROUPS, groupCpu, processesCpuNs, sampleThreads, type Group } from './threads.js';

const VIEWER = fileURLToPath(new URL('viewer.js', import.meta.url));
const FIRST_FRAME_TIMEOUT_MS = 15_000;

export interface MeasureOptions {
  warmup: number; // s
  /** Seconds from the server's start to the idle window (V8 collects garbage once, about 8 s after start). */
  settle: number;
  duration: number; // s
  fps: number;
  framesDir: string;
  quietIdle: number; // %
  quietWait: number; // s
}

export interface CameraResult {
  camera: string;
  label: string;
  reference: boolean;
  note: string | null;
  error: string | null;
  /** The machine's idleness (all cores, %) in the last second before the run, and whether it reached --quiet-idle. */
  machine_idle_before_pct: number | null;
  quiet: boolean | null;
  window_s: number | null;
  frames_published: number | null;
  /** Where frames_published comes from: the server's /metrics, or the viewer's count (servers without /metrics). */
  frames_source: 'metrics' | 'viewer' | null;
  fps_published: number | null;
  fps_delivered: number | null;
  /** ms of server CPU per published frame, all threads and per group. */
  cpu_ms_per_frame: ({ total: number } & Record<Group, number>) | null;
  /** Server CPU over the viewer window, % of one core. */
  cpu_pct: number | null;
  threads: Record<Group, number> | null;
  /** Times the server's threads were scheduled in per published frame (about its wake-ups), per group. */
  runs_per_frame: Record<Group, number> | null;
  /** Server CPU over the idle window (no viewer), % of one core, all threads and per group. */
  idle_cpu_pct: ({ total: number } & Record<Group, number>) | null;
  /** Processes that run for this path but are not the server (camera tool, relay source). */
  companions: { label: string; cpu_ms_per_frame: number; cpu_pct: number }[];
  viewer_cpu_pct: number | null;
  /** The machine's busy time over the viewer window minus server, companions and viewer, % of one core (tick-sampled). */
  other_cpu_pct: number | null;
}

const empty = (spec: CameraSpec, error: string | null): CameraResult => ({
  camera: spec.name,
  label: spec.label,
  reference: spec.reference,
  note: spec.note ?? null,
  error,
  machine_idle_before_pct: null,
  quiet: null,
  window_s: null,
  frames_published: null,
  frames_source: null,
  fps_published: null,
  fps_delivered: null,
  cpu_ms_per_frame: null,
  cpu_pct: null,
  threads: null,
  runs_per_frame: null,
  idle_cpu_pct: null,
  companions: [],
  viewer_cpu_pct: null,
  other_cpu_pct: null,
});

/** framering_frames_published_total summed over cameras, from /metrics. */
async function published(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let n = 0;
  let found = false;
  for (const m of text.matchAll(/^framering_frames_published_total(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e\+?\d+)?)$/gm)) {
    n += Number(m[1]);
    found = true;
  }
  if (!found) throw new Error('no framering_frames_published_total in /metrics');
  return n;
}

const sum = (m: Map<number, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

export async function measureCamera(spec: CameraSpec, o: MeasureOptions, log: (line: string) => void): Promise<CameraResult> {
  const quiet = await waitForQuiet(o.quietIdle, o.quietWait * 1000);
  const lifetimeMs = (o.settle + o.warmup * 2 + o.duration * 2 + 60) * 1000;
  const setup = await spec.start(o.framesDir, o.fps, lifetimeMs);
  const pid = setup.server.child.pid;
  const r = empty(spec, null);
  r.machine_idle_before_pct = quiet.idle_pct;
  r.quiet = quiet.quiet;
  let viewer: ReturnType<typeof spawnBounded> | undefined;
  try {
    // Idle: no viewer, the same window, once the start-up's garbage collection is past.
    await sleep(Math.max(o.settle, o.warmup) * 1000);
    const i0 = sampleThreads(pid, setup.probeFile);
    const it0 = performance.now();
    await sleep(o.duration * 1000);
    const idle = groupCpu(i0, sampleThreads(pid, setup.probeFile));
    const idleMs = performance.now() - it0;
    const pct = (ns: number): number => round((ns / 1e6 / idleMs) * 100, 3);
    r.idle_cpu_pct = { total: pct(idle.total), ...(Object.fromEntries(GROUPS.map((g) => [g, pct(idle.ns[g])])) as Record<Group, number>) };

    // One viewer.
    viewer = spawnBounded(process.execPath, [VIEWER, String(setup.server.port)], lifetimeMs, process.env, 'load');
    const count = (): number => Number(/(\d+)\n$/.exec(viewer!.stdout())?.[1] ?? 0);
    const firstBy = performance.now() + FIRST_FRAME_TIMEOUT_MS;
    while (count() === 0) {
      if (viewer.process.exitCode !== null || performance.now() > firstBy)
        throw new Error(`the viewer got no frame within ${FIRST_FRAME_TIMEOUT_MS / 1000} s: ${viewer.stderr().trim()}`);
      await sleep(50);
    }
    await sleep(o.warmup * 1000);

    const companions0 = setup.companions.map((c) => processesCpuNs(c.pids()));
    const m0 = setup.metrics ? await published(setup.server.port) : 0;
    const v0 = count();
    const s0 = sampleThreads(pid, setup.probeFile);
    const viewer0 = processesCpuNs([viewer.pid]);
    const ticks0 = machineTicks();
    const t0 = performance.now();
    await sleep(o.duration * 1000);
    const t1 = performance.now();
    const ticks1 = machineTicks();
    const viewer1 = processesCpuNs([viewer.pid]);
    const s1 = sampleThreads(pid, setup.probeFile);
    const v1 = count();
    const m1 = setup.metrics ? await published(setup.server.port) : 0;
    // A companion's pid set may change (a restarted tool): count what was alive at both ends.
    const companions1 = companions0.map((m) => processesCpuNs([...m.keys()]));

    const windowMs = t1 - t0;
    const frames = setup.metrics ? m1 - m0 : v1 - v0;
    if (frames <= 0) throw new Error('no frame was published during the window');
    const cpu = groupCpu(s0, s1);
    const perFrame = (ns: number): number => round(ns / 1e6 / frames, 4);
    const pctOf = (ns: number): number => round((ns / 1e6 / windowMs) * 100, 3);
    r.window_s = round(windowMs / 1000, 3);
    r.frames_published = frames;
    r.frames_source = setup.metrics ? 'metrics' : 'viewer';
    r.fps_published = round(frames / (windowMs / 1000), 2);
    r.fps_delivered = round((v1 - v0) / (windowMs / 1000), 2);
    r.cpu_ms_per_frame = {
      total: perFrame(cpu.total),
      ...(Object.fromEntries(GROUPS.map((g) => [g, perFrame(cpu.ns[g])])) as Record<Group, number>),
    };
    r.cpu_pct = pctOf(cpu.total);
    r.threads = cpu.threads;
    r.runs_per_frame = Object.fromEntries(GROUPS.map((g) => [g, round(cpu.runs[g] / frames, 2)])) as Record<Group, number>;
    let companionNs = 0;
    r.companions = setup.companions.map((c, k) => {
      const ns = sum(companions1[k]!) - sum(companions0[k]!);
      companionNs += ns;
      return { label: c.label, cpu_ms_per_frame: perFrame(ns), cpu_pct: pctOf(ns) };
    });
    const viewerNs = sum(viewer1) - sum(viewer0);
    r.viewer_cpu_pct = pctOf(viewerNs);
    const busyNs = ((busyTicks(ticks1) - busyTicks(ticks0)) / USER_HZ) * 1e9;
    r.other_cpu_pct = round(pctOf(busyNs - cpu.total - companionNs - viewerNs), 1);
    log(
      `${spec.label}: ${r.cpu_ms_per_frame.total} ms of CPU per frame (${r.cpu_pct} % of a core), ${r.fps_published} fps published, ${r.fps_delivered} delivered; idle ${r.idle_cpu_pct.total} %`,
    );
    return r;
  } finally {
    await viewer?.stop(1000);
    await setup.stop();
  }
}

export { empty as failedResult };
