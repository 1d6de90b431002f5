/**
 * Runs native-bench/build/loadgen (C, epoll, one thread) against a server and returns its one
 * JSON line. The field names are loadgen's (schema 1, see native-bench/README.md).
 */

import { NATIVE_BUILD } from './servers.js';
import { spawnBounded } from './processes.js';

export const LOADGEN = `${NATIVE_BUILD}/loadgen`;
const CONNECT_RATE = 1; // new connections per ms (loadgen's default): 2000 clients in 2 s
const CONNECT_TIMEOUT = 10; // s for a client to get its response head

/** loadgen's result line, the fields the benchmark reads. */
export interface LoadgenResult {
  tool: 'loadgen';
  schema: number;
  clients: number;
  connected: number;
  failed: number;
  dropped: number;
  first_error: string | null;
  connect_s: number;
  window_s: number;
  window_clients: number;
  frames: number;
  fps: { min: number | null; p50: number | null; mean: number | null; max: number | null };
  latency_ms: { samples: number; p50: number | null; p99: number | null; mean: number | null; max: number | null; negative: number };
  window_bytes: number;
  window_mbit_s: number | null;
  server: {
    pid: number;
    cpu_pct: number | null; // % of one core, all threads, schedstat
    cpu_pct_ticks: number | null;
    threads: number;
    alive: boolean;
    vm_hwm_kb: number | null; // peak RSS
    vm_rss_kb: number | null;
  } | null;
  loadgen: { cpu_pct: number; vm_hwm_kb: number };
  system: { cpus: number; busy_pct: number | null; softirq_pct: number | null; steal_pct: number | null } | null;
}

export interface LoadgenOptions {
  port: number;
  clients: number;
  warmup: number; // s
  duration: number; // s
  serverPid: number;
}

export interface LoadgenRun {
  result: LoadgenResult;
  status: number | null;
  stderr: string;
}

/** The longest a loadgen run may take, ms: its own hard deadline plus a margin. */
export function loadgenBudgetMs(o: Pick<LoadgenOptions, 'clients' | 'warmup' | 'duration'>): number {
  return (o.clients / (CONNECT_RATE * 1000) + CONNECT_TIMEOUT + o.warmup + o.duration + 15) * 1000;
}

/** Runs loadgen to completion; throws when it prints no result line. */
export async function runLoadgen(o: LoadgenOptions): Promise<LoadgenRun> {
  const args = [
    '--url',
    `http://127.0.0.1:${o.port}/video_feed`,
    '--clients',
    String(o.clients),
    '--warmup',
    String(o.warmup),
    '--duration',
    String(o.duration),
    '--connect-rate',
    String(CONNECT_RATE),
    '--connect-timeout',
    String(CONNECT_TIMEOUT),
    '--server-pid',
    String(o.serverPid),
  ];
  const child = spawnBounded(LOADGEN, args, loadgenBudgetMs(o));
  try {
    const exit = await child.exited;
    const lines = child
      .stdout()
      .split('\n')
      .filter((l) => l.trim().length > 0);
    const last = lines.at(-1);
    if (lines.length !== 1 || !last) {
      throw new Error(
        `loadgen exited with ${exit.status ?? exit.signal} and printed ${lines.length} lines, not one:\n${child.stdout()}\n${child.stderr()}`,
      );
    }
    const result = JSON.parse(last) as LoadgenResult;
    if (result.tool !== 'loadgen' || result.schema !== 1) throw new Error(`unexpected loadgen output (schema ${result.schema}): ${last}`);
    return { result, status: exit.status, stderr: child.stderr() };
  } finally {
    await child.stop(1000);
  }
}
