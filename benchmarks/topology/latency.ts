/**
 * Part 3: the latency each hop adds. One full-rate viewer (the viewer agent, in the client host,
 * across the bridge) on the origin itself, on edge-http, on edge-nats (a server other than the
 * publisher's: two NATS servers) and on edge-nats-same (the publisher's server: one). The
 * origin's X-Timestamp is the capture time; an edge's is when the edge received the frame. Each
 * frame an edge viewer receives is matched, byte for byte, to the frame the origin viewer
 * received with the same bytes (the camera plays distinct frames, so the same bytes recur only
 * once per loop of the folder), which gives its capture time:
 *
 *   hop = edge X-Timestamp - capture time       what the hop to the edge added
 *   end to end = arrival at the viewer - capture time
 *
 * Arrival times are the agent's clock (performance.timeOrigin + performance.now(), as framering
 * stamps frames), which every process of the machine shares. Run at light load, then again with
 * loadgen's capped viewers on both measured edges (part 1's largest step).
 */

import type { FrameRecord } from '../../test/helpers/viewer-agent.js';
import { sleep } from '../../test/helpers/wait.js';
import { percentile, round } from '../lib/stats.js';
import { type LoadSummary, startCappedViewersOnEdges, summarizeLoad } from './measure.js';
import { type Bench, HTTP_PORT, type Server } from './setup.js';

export const PATHS = ['origin', 'edge-http', 'edge-nats', 'edge-nats-same'] as const;
export type LatencyPath = (typeof PATHS)[number];

export interface Quantiles {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface PathLatency {
  path: LatencyPath;
  /** Which servers a frame crosses on the way: the relay, or the NATS servers. */
  via: string;
  /** Frames the viewer received in the window. */
  frames: number;
  /** Of them, matched to a capture time (the rest: the origin's viewer missed that frame, or it was not a camera frame). */
  matched: number;
  /** Edge X-Timestamp minus capture time, ms (null for the origin: its X-Timestamp is the capture time). */
  hop_ms: Quantiles | null;
  /** Arrival minus capture time, ms. */
  end_to_end_ms: Quantiles | null;
  /** Arrival minus this server's own X-Timestamp, ms: the last hop, server to viewer. */
  last_hop_ms: Quantiles | null;
}

export interface LatencyRun {
  condition: string;
  window_s: number;
  paths: PathLatency[];
  /** loadgen's viewers on each loaded edge, when loaded. */
  load: Record<string, LoadSummary> | null;
}

export interface LatencyOptions {
  windowS: number;
  settleS: number;
  /** The loaded run: this many viewers at ?fps=fpsCap, half on edge-http and half on edge-nats; 0 skips it. */
  loadViewers: number;
  fpsCap: number;
}

/** Frames more than this apart in capture time are never the same capture (the folder loops in 3 s). */
const MATCH_WITHIN_MS = 1000;

export async function measureLatency(b: Bench, o: LatencyOptions, log: (line: string) => void): Promise<LatencyRun[]> {
  const servers: Record<LatencyPath, Server> = {
    origin: b.capture,
    'edge-http': b.edgeHttp,
    'edge-nats': b.edgeNats,
    'edge-nats-same': b.edgeNatsSame,
  };
  for (const path of PATHS) {
    await b.agent.open(path, { host: servers[path].host.addr, port: HTTP_PORT, path: '/video_feed' });
  }
  try {
    await sleep(o.settleS * 1000);
    const [edgeOn, sameOn, publisherOn] = await Promise.all([
      b.natsServersOf(b.edgeNats.host),
      b.natsServersOf(b.edgeNatsSame.host),
      b.natsServersOf(b.capture.host),
    ]);
    const via: Record<LatencyPath, string> = {
      origin: 'none (the capture node itself)',
      'edge-http': 'the HTTP relay (edge-http is a viewer of the origin)',
      'edge-nats': `publisher on ${publisherOn.join(', ')}, edge on ${edgeOn.join(', ')}: ${crossings(publisherOn, edgeOn)}`,
      'edge-nats-same': `publisher on ${publisherOn.join(', ')}, edge on ${sameOn.join(', ')}: ${crossings(publisherOn, sameOn)}`,
    };
    const runs: LatencyRun[] = [];
    const measure = async (condition: string, load: LatencyRun['load']): Promise<LatencyRun> => {
      const from = Date.now();
      await sleep(o.windowS * 1000);
      const to = Date.now();
      const records = Object.fromEntries(
        await Promise.all(
          PATHS.map(async (p) => {
            const [report] = await b.agent.report(p, from);
            const frames = (report?.frames ?? []).filter((f) => f.at < to);
            return [p, frames] as const;
          }),
        ),
      ) as Record<LatencyPath, FrameRecord[]>;
      const run: LatencyRun = {
        condition,
        window_s: (to - from) / 1000,
        paths: PATHS.map((p) => pathLatency(p, via[p], records[p], records.origin)),
        load,
      };
      for (const p of run.paths) {
        log(
          `part 3, ${condition}, ${p.path}: ${p.matched}/${p.frames} frames matched; hop p50 ${p.hop_ms?.p50 ?? '–'} ms, ` +
            `end to end p50 ${p.end_to_end_ms?.p50 ?? '–'} p95 ${p.end_to_end_ms?.p95 ?? '–'} ms`,
        );
      }
      return run;
    };
    runs.push(await measure('light load: these 4 viewers only', null));

    if (o.loadViewers > 0) {
      log(`part 3: again with ${o.loadViewers} viewers at ?fps=${o.fpsCap} on edge-http and edge-nats`);
      const load = await startCappedViewersOnEdges([b.edgeHttp, b.edgeNats], o.loadViewers, {
        port: HTTP_PORT,
        fpsCap: o.fpsCap,
        settleS: o.settleS,
        windowS: o.windowS,
      });
      const run = await measure(`${o.loadViewers} more viewers at ?fps=${o.fpsCap} on edge-http and edge-nats`, {});
      const [http, nats] = await Promise.all(load.map((l) => l.result()));
      run.load = { 'edge-http': summarizeLoad(http!), 'edge-nats': summarizeLoad(nats!) };
      runs.push(run);
    }
    return runs;
  } finally {
    for (const path of PATHS) await b.agent.close(path);
  }
}

/** "one NATS server" or "two NATS servers", from where the publisher and the edge are connected. */
function crossings(publisher: readonly string[], edge: readonly string[]): string {
  if (publisher.length !== 1 || edge.length !== 1) return 'unknown (not one connection each)';
  return publisher[0] === edge[0] ? 'one NATS server' : 'two NATS servers (the cluster route between them)';
}

function quantiles(values: number[]): Quantiles | null {
  if (values.length === 0) return null;
  const sorted = values.sort((a, c) => a - c);
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 0.5), 2),
    p95: round(percentile(sorted, 0.95), 2),
    p99: round(percentile(sorted, 0.99), 2),
    max: round(sorted.at(-1)!, 2),
  };
}

/** A path's figures: each of its frames matched to the origin viewer's frame of the same bytes. */
export function pathLatency(path: LatencyPath, via: string, frames: readonly FrameRecord[], origin: readonly FrameRecord[]): PathLatency {
  // Capture times of each frame's bytes, as the origin's viewer received them.
  const captured = new Map<string, number[]>();
  for (const f of origin) {
    if (f.ts === null) continue;
    const list = captured.get(f.kind) ?? [];
    list.push(f.ts);
    captured.set(f.kind, list);
  }
  const hop: number[] = [];
  const e2e: number[] = [];
  const last: number[] = [];
  let matched = 0;
  for (const f of frames) {
    if (f.ts === null) continue;
    last.push(f.at - f.ts);
    let capture: number | undefined;
    if (path === 'origin') capture = f.ts;
    else {
      // The latest capture of the same bytes not after the edge's own stamp.
      for (const t of captured.get(f.kind) ?? []) {
        if (t <= f.ts + 0.001 && f.ts - t < MATCH_WITHIN_MS && (capture === undefined || t > capture)) capture = t;
      }
    }
    if (capture === undefined || f.kind === 'torn' || f.kind === 'unknown') continue;
    matched++;
    if (path !== 'origin') hop.push(f.ts - capture);
    e2e.push(f.at - capture);
  }
  return {
    path,
    via,
    frames: frames.length,
    matched,
    hop_ms: path === 'origin' ? null : quantiles(hop),
    end_to_end_ms: quantiles(e2e),
    last_hop_ms: quantiles(last),
  };
}
