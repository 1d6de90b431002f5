/**
 * One cell of the matrix: a server, a frame set and a client count, measured as one attempt or,
 * when outside load or an error spoiled it, a few (bounded), into one RunResult.
 */

import { loadgenBudgetMs, type LoadgenRun } from '../../test/helpers/loadgen.js';
import type { FrameSet } from '../lib/frames.js';
import { waitForQuiet, type QuietResult } from '../lib/machine.js';
import type { Exit } from '../lib/processes.js';
import { runLoadgen } from '../lib/loadgen.js';
import { BROWSER_IMAGE_HEADERS, startServer, type ServerSpec } from '../lib/servers.js';
import { round } from '../lib/stats.js';
import { cli, type Options } from './cli.js';
import { RESULT_SCHEMA, type RunResult } from './results.js';

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
export function attemptEstimateS(o: Options, clients: number): number {
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
    run = await runLoadgen({
      port: server.port,
      clients,
      warmup: o.warmup,
      duration: o.duration,
      serverPid: server.child.pid,
      headers: spec.requestHeaders ?? BROWSER_IMAGE_HEADERS,
    });
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

/** Measures one cell, repeating a spoiled attempt up to o.retries times. */
export async function measure(
  o: Options,
  spec: ServerSpec,
  frames: FrameSet,
  clients: number,
  floor: RunResult | undefined,
): Promise<RunResult> {
  const retried: string[] = [];
  let a: Attempt;
  for (let n = 1; ; n++) {
    a = await attempt(o, spec, frames, clients);
    const why = spoiledBy(a, o);
    if (!why || n > o.retries) break;
    retried.push(`attempt ${n}: ${why}`);
    cli.log(`${spec.name} ${frames.resolution.name} ${clients} clients: ${why}; repeating`);
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

/** One progress line about a result. */
export function summary(r: RunResult): string {
  if (r.cpu_pct === null) return `${r.server} ${r.resolution} ${r.clients} clients: no figures (${r.error?.split('\n')[0] ?? 'unknown'})`;
  const f = (v: number | null, d: number): string => (v === null ? '-' : v.toFixed(d));
  return (
    `${r.server} ${r.resolution} ${r.clients} clients: fps p50 ${f(r.fps_p50, 1)} min ${f(r.fps_min, 1)}, ` +
    `CPU ${f(r.cpu_pct, 1)} % (${f(r.cpu_vs_floor, 2)}x floor), RSS ${f(r.rss_peak_mb, 0)} MB, ` +
    `latency ${f(r.latency_p50_ms, 2)}/${f(r.latency_p99_ms, 2)} ms, loadgen ${f(r.loadgen_cpu_pct, 0)} %, other ${f(r.other_cpu_pct, 0)} %` +
    (r.attempts > 1 ? `, ${r.attempts} attempts` : '')
  );
}
