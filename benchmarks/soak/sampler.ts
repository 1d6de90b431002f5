/**
 * The soak's samples: every --sample-interval, one row of figures about the server (from /proc,
 * /status and /metrics), the load and the machine, appended to soak.csv as it is taken.
 */

import { appendFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { busyTicks, machineTicks, processCpuNsIfAlive, snapshotIfAlive, USER_HZ } from '../../test/helpers/proc.js';
import type { RunningServer } from '../lib/servers.js';
import { round } from '../lib/stats.js';
import type { Churn } from './churn.js';
import { cli } from './cli.js';
import type { SlowReaders } from './slow-readers.js';

/** /status and /metrics answers slower than this count as a failed sample. */
const HTTP_TIMEOUT_MS = 10_000;

/** GET `path` on its own connection; resolves with the body, rejects on a non-200 or timeout. */
export function getText(port: number, path: string): Promise<string> {
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

export interface StatusDoc {
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

/** One row of soak.csv; null where a figure could not be read. */
export interface SoakSample {
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

export const CSV_COLUMNS: readonly (keyof SoakSample)[] = [
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

/** Counters read at each sample; rates are their differences over the interval. */
interface Counters {
  at: number; // performance.now() ms
  serverNs: number | null;
  loadgenNs: number | null;
  ownUs: number;
  busyTicks: number;
  framesSent: number | null;
}

export class Sampler {
  private last: Counters;
  readonly rows: SoakSample[] = [];

  /** Set once the load runs; until then the load columns read 0 or empty. */
  loadgenPid: number | undefined;
  churn: Churn | undefined;
  slow: SlowReaders | undefined;

  /** Writes soak.csv's header line to `csv` (a new file). */
  constructor(
    private readonly server: RunningServer,
    private readonly started: number,
    private readonly csv: string,
  ) {
    this.last = this.counters(null);
    writeFileSync(csv, `${CSV_COLUMNS.join(',')}\n`);
  }

  private counters(framesSent: number | null): Counters {
    const own = process.cpuUsage();
    return {
      at: performance.now(),
      serverNs: processCpuNsIfAlive(this.server.child.pid),
      loadgenNs: this.loadgenPid === undefined ? null : processCpuNsIfAlive(this.loadgenPid),
      ownUs: own.user + own.system,
      busyTicks: busyTicks(machineTicks()),
      framesSent,
    };
  }

  /** Takes a sample now: appends it to `rows` and to soak.csv, and returns it. */
  async sample(): Promise<SoakSample> {
    const failed = (e: Error): null => {
      cli.log(`sample: ${e.message}`);
      return null;
    };
    const [status, metrics] = await Promise.all([
      getText(this.server.port, '/status?clients=all').then((t) => JSON.parse(t) as StatusDoc, failed),
      getText(this.server.port, '/metrics').catch(failed),
    ]);
    const proc = snapshotIfAlive(this.server.child.pid);
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
    const exited = this.server.child.process.exitCode !== null || this.server.child.process.signalCode !== null;
    const row: SoakSample = {
      elapsed_s: round((now.at - this.started) / 1000, 1),
      server_alive: !exited && proc !== null ? 1 : 0,
      rss_mb: mb(proc?.rss ?? null),
      heap_used_mb: mb(metrics === null ? null : metric(metrics, 'framering_nodejs_heap_size_used_bytes')),
      external_mb: mb(metrics === null ? null : metric(metrics, 'framering_nodejs_external_memory_bytes')),
      cpu_pct: cpu,
      fds: proc?.fds ?? null,
      threads: proc?.threads ?? null,
      clients: status?.clients.length ?? null,
      loadgen_clients: fps?.length ?? null,
      // the lower median: the viewer in the middle, or the slower of the middle two
      viewer_fps_p50: fps?.length ? fps[Math.floor((fps.length - 1) / 2)]! : null,
      viewer_fps_min: fps?.length ? fps[0]! : null,
      frames_sent_per_s:
        framesSent !== null && prev.framesSent !== null && timed ? round((framesSent - prev.framesSent) / seconds, 1) : null,
      slow_disconnects: status?.slowClientsDisconnected ?? null,
      churn_ok: this.churn?.stats.ok ?? 0,
      churn_failed: this.churn?.stats.failed ?? 0,
      slow_frames: this.slow?.totals().frames ?? 0,
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
