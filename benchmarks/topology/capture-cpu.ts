/**
 * Part 1: the capture node's CPU as viewers are added to the edges. It serves one HTTP stream
 * (the HTTP edge's) and publishes one NATS stream whatever the number of viewers, so its CPU
 * should not grow with them.
 *
 * Steps, each measured over the same window: idle (nobody watches anywhere); watched (one
 * full-rate viewer on each of edge-http and edge-nats, so capture, the relay and the NATS path
 * run: the baseline); then each count in `counts` added, half on each edge, each viewer asking
 * `?fps=CAP` so that 2,000 viewers fit on 2 cores beside everything else. The watched viewers
 * stay through every step; each count's viewers come and go with their step.
 */

import { sleep } from '../../test/helpers/wait.js';
import { round } from '../lib/stats.js';
import {
  type CpuWindow,
  cpuOf,
  cpuWindow,
  type HostLoadgen,
  type LoadSummary,
  type Measured,
  startCappedViewersOnEdges,
  startLoadgens,
  summarizeLoad,
} from './measure.js';
import { type Bench, HTTP_PORT, status, waitStatus } from './setup.js';

export interface CaptureStep {
  /** 'idle', 'watched' (one viewer per edge), or the viewers added (half per edge). */
  step: string;
  /** Viewers on each edge, the watched ones included. */
  viewers: { edge_http: number; edge_nats: number };
  /** The added viewers' fps cap (null: none added). */
  viewer_fps_cap: number | null;
  capture_cpu_pct: number | null;
  /** capture_cpu_pct over the watched step's. */
  vs_watched: number | null;
  edge_http_cpu_pct: number | null;
  edge_nats_cpu_pct: number | null;
  nats_servers_cpu_pct: number;
  loadgen_cpu_pct: number;
  /** The capture node's /status after the window: camera state, its own measure of the rate, its HTTP viewers, NATS frames published and skipped in the window. */
  capture: { state: string; fps: number; http_viewers: number; nats_published: number | null; nats_skipped: number | null };
  /** The added viewers as loadgen saw them, per edge. */
  load: { edge_http: LoadSummary | null; edge_nats: LoadSummary | null };
  window: CpuWindow;
}

export interface CaptureOptions {
  counts: readonly number[];
  fpsCap: number;
  windowS: number;
  settleS: number;
  /** How long the watched viewers' loadgens may run: the whole part, with margin. */
  watchedLifetimeS: number;
}

const WATCHED_PATH = '/video_feed';

export async function measureCaptureCpu(b: Bench, o: CaptureOptions, log: (line: string) => void): Promise<CaptureStep[]> {
  const steps: CaptureStep[] = [];
  const natsNames = b.nats.map((s) => s.host.name);
  const window = async (step: string, viewers: CaptureStep['viewers'], load: HostLoadgen[]): Promise<CaptureStep> => {
    const procs: Measured[] = [...b.processes(), ...load.map((l, i) => ({ name: `loadgen${i}`, pid: l.proc.pid }))];
    const before = await status(b.capture.host);
    const w = await cpuWindow(procs, o.windowS * 1000);
    const after = await status(b.capture.host);
    const published = (s: typeof before) => s.publish?.cameras[0]?.framesPublished ?? null;
    const skipped = (s: typeof before) => s.publish?.cameras[0]?.framesSkipped ?? null;
    const delta = (a: number | null, z: number | null) => (a === null || z === null ? null : z - a);
    const row: CaptureStep = {
      step,
      viewers,
      viewer_fps_cap: null,
      capture_cpu_pct: w.cpu.capture ?? null,
      vs_watched: null,
      edge_http_cpu_pct: w.cpu['edge-http'] ?? null,
      edge_nats_cpu_pct: w.cpu['edge-nats'] ?? null,
      nats_servers_cpu_pct: round(cpuOf(w, natsNames), 3),
      loadgen_cpu_pct: round(
        cpuOf(
          w,
          procs.filter((p) => p.name.startsWith('loadgen')).map((p) => p.name),
        ),
        3,
      ),
      capture: {
        state: after.cameras[0]?.state ?? 'none',
        fps: after.cameras[0]?.fps ?? 0,
        http_viewers: after.cameras[0]?.viewers ?? 0,
        nats_published: delta(published(before), published(after)),
        nats_skipped: delta(skipped(before), skipped(after)),
      },
      load: { edge_http: null, edge_nats: null },
      window: w,
    };
    log(
      `part 1, ${step}: capture ${row.capture_cpu_pct?.toFixed(2)} % of a core (edge-http ${row.edge_http_cpu_pct?.toFixed(1)} %, ` +
        `edge-nats ${row.edge_nats_cpu_pct?.toFixed(1)} %, NATS servers ${row.nats_servers_cpu_pct.toFixed(1)} %, machine ${w.machine_busy_pct} %, other ${w.other_pct} %)`,
    );
    return row;
  };

  // Idle: nobody watches anywhere.
  await waitStatus(b.capture.host, (s) => s.cameras[0]?.state === 'idle', 'capture idle');
  steps.push(await window('idle', { edge_http: 0, edge_nats: 0 }, []));

  // Watched: one full-rate viewer on each edge, for the whole part.
  const watched = await startLoadgens(
    [b.edgeHttp, b.edgeNats].map((e) => ({
      host: e.host,
      o: { port: HTTP_PORT, path: WATCHED_PATH, clients: 1, warmup: o.settleS, duration: o.watchedLifetimeS, serverPid: e.proc.pid },
    })),
  );
  await waitStatus(
    b.capture.host,
    (s) => s.cameras[0]?.state === 'running' && s.cameras[0].viewers === 1 && s.publish?.cameras[0]?.watched === true,
    'capture running, serving the HTTP edge and publishing to NATS',
  );
  const base = await window('watched', { edge_http: 1, edge_nats: 1 }, watched);
  steps.push(base);

  for (const n of o.counts) {
    const half = [Math.ceil(n / 2), Math.floor(n / 2)] as const;
    log(`part 1: ${n} viewers at ?fps=${o.fpsCap}, ${half[0]} on edge-http and ${half[1]} on edge-nats`);
    const load = await startCappedViewersOnEdges([b.edgeHttp, b.edgeNats], n, {
      port: HTTP_PORT,
      fpsCap: o.fpsCap,
      settleS: o.settleS,
      windowS: o.windowS,
    });
    const row = await window(String(n), { edge_http: half[0] + 1, edge_nats: half[1] + 1 }, [...watched, ...load]);
    const [http, nats] = await Promise.all(load.map((l) => l.result()));
    row.viewer_fps_cap = o.fpsCap;
    row.load = { edge_http: summarizeLoad(http!), edge_nats: summarizeLoad(nats!) };
    steps.push(row);
    // The edges let go of the viewers before the next step.
    await sleep(1000);
  }
  await Promise.all(watched.map((l) => l.proc.kill()));
  for (const s of steps) {
    s.vs_watched = s.capture_cpu_pct !== null && base.capture_cpu_pct ? round(s.capture_cpu_pct / base.capture_cpu_pct, 2) : null;
  }
  return steps;
}
