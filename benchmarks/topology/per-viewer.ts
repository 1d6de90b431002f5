/**
 * Part 2: what a viewer costs an edge against a single server. For each viewer count, each of
 * single (a plain framering playing the frames from files), edge-http (relaying the capture
 * node over HTTP) and edge-nats (reading them from NATS) gets that many full-rate viewers from
 * loadgen on its own loopback, one server at a time, with everything else idle; the same
 * window measures the server, and what its frames cost upstream (the capture node, the NATS
 * servers), which is not the edge's own and is reported apart.
 */

import { round } from '../lib/stats.js';
import { type CpuWindow, cpuOf, cpuWindow, type LoadSummary, startLoadgen, summarizeLoad } from './measure.js';
import { type Bench, FPS, HTTP_PORT, type Server, waitAllIdle } from './setup.js';

export const TARGETS = ['single', 'edge-http', 'edge-nats'] as const;
export type Target = (typeof TARGETS)[number];

export interface PerViewerRun {
  target: Target;
  viewers: number;
  cpu_pct: number | null;
  /** cpu_pct / viewers, % of one core per viewer. */
  per_viewer_pct: number | null;
  /** The same window's CPU upstream of this server: the capture node and the NATS servers (0 for single). */
  upstream_cpu_pct: number;
  load: LoadSummary;
  /** Whether capture and every edge were idle before it started (nothing left from the run before). */
  started_idle: boolean;
  window: CpuWindow;
}

export interface PerViewerSummary {
  target: Target;
  /** CPU % at each count, as measured. */
  cpu_pct: Record<string, number | null>;
  /** Per viewer at each count, % of one core. */
  per_viewer_pct: Record<string, number | null>;
  /** (CPU at the highest count - at the lowest) / the viewers between: what one more viewer costs, % of a core. */
  marginal_per_viewer_pct: number | null;
  /** The same as µs of CPU per frame sent to a viewer, at the camera's rate. */
  marginal_us_per_frame: number | null;
  /** This target over single, at each count and for the marginal cost. */
  vs_single: Record<string, number | null>;
}

export interface PerViewerOptions {
  counts: readonly number[];
  windowS: number;
  settleS: number;
}

export async function measurePerViewer(
  b: Bench,
  o: PerViewerOptions,
  log: (line: string) => void,
): Promise<{ runs: PerViewerRun[]; summary: PerViewerSummary[] }> {
  const servers: Record<Target, Server> = { single: b.single, 'edge-http': b.edgeHttp, 'edge-nats': b.edgeNats };
  const upstream = ['capture', ...b.nats.map((s) => s.host.name)];
  const runs: PerViewerRun[] = [];
  for (const viewers of o.counts) {
    for (const target of TARGETS) {
      const server = servers[target];
      const startedIdle = await waitAllIdle(b);
      const load = await startLoadgen(server.host, {
        port: HTTP_PORT,
        clients: viewers,
        warmup: o.settleS,
        duration: o.windowS + 1,
        serverPid: server.proc.pid,
      });
      const w = await cpuWindow([...b.processes(), { name: 'loadgen', pid: load.proc.pid }], o.windowS * 1000);
      const result = summarizeLoad(await load.result());
      const cpu = w.cpu[target] ?? null;
      const run: PerViewerRun = {
        target,
        viewers,
        cpu_pct: cpu,
        per_viewer_pct: cpu === null ? null : round(cpu / viewers, 5),
        upstream_cpu_pct: target === 'single' ? 0 : round(cpuOf(w, upstream), 3),
        load: result,
        started_idle: startedIdle,
        window: w,
      };
      runs.push(run);
      log(
        `part 2, ${target} with ${viewers} viewers: ${cpu?.toFixed(2)} % of a core, ${run.per_viewer_pct} % per viewer; ` +
          `upstream ${run.upstream_cpu_pct} %; fps min ${result.fps_min} p50 ${result.fps_p50}; machine ${w.machine_busy_pct} %, other ${w.other_pct} %`,
      );
    }
  }
  return { runs, summary: summarize(runs, o.counts) };
}

function summarize(runs: readonly PerViewerRun[], counts: readonly number[]): PerViewerSummary[] {
  const lo = Math.min(...counts);
  const hi = Math.max(...counts);
  const cpuAt = (t: Target, n: number) => runs.find((r) => r.target === t && r.viewers === n)?.cpu_pct ?? null;
  const marginal = (t: Target): number | null => {
    const a = cpuAt(t, lo);
    const z = cpuAt(t, hi);
    return a === null || z === null || hi === lo ? null : (z - a) / (hi - lo);
  };
  const ratio = (a: number | null, z: number | null) => (a === null || z === null || z <= 0 ? null : round(a / z, 2));
  return TARGETS.map((target) => {
    const m = marginal(target);
    const vs: Record<string, number | null> = {};
    for (const n of counts) vs[String(n)] = ratio(cpuAt(target, n), cpuAt('single', n));
    if (counts.length > 1) vs.marginal = ratio(m, marginal('single'));
    return {
      target,
      cpu_pct: Object.fromEntries(counts.map((n) => [String(n), cpuAt(target, n)])),
      per_viewer_pct: Object.fromEntries(counts.map((n) => [String(n), ((c) => (c === null ? null : round(c / n, 5)))(cpuAt(target, n))])),
      marginal_per_viewer_pct: m === null ? null : round(m, 5),
      // % of a core per viewer = 10^4 µs of CPU per second per viewer; over FPS frames a second.
      marginal_us_per_frame: m === null ? null : round((m * 1e4) / FPS, 2),
      vs_single: vs,
    };
  });
}
