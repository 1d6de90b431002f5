/**
 * native-bench/build/loadgen (C, epoll, one thread): its command line and its one JSON line of
 * results. The field names are loadgen's (schema 1, see native-bench/README.md).
 *
 * runLoadgen runs it to completion for a test, with a SIGKILL deadline. The benchmarks start it
 * with loadgenArgs and read it with parseLoadgenOutput themselves (benchmarks/lib/loadgen.ts):
 * they keep the child in their own process registry, so that every way out of a benchmark
 * kills it.
 */

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** This file runs as dist/test/helpers/loadgen.js. */
export const LOADGEN = fileURLToPath(new URL('../../../native-bench/build/loadgen', import.meta.url));
const CONNECT_RATE = 1; // new connections per ms (loadgen's default): 2000 clients in 2 s
const CONNECT_TIMEOUT = 10; // s for a client to get its response head
const OUTPUT_BYTES = 16 * 1024 * 1024; // most output kept from a run; loadgen prints one line

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
  /** Default /video_feed. */
  path?: string;
  /** Extra request headers, 'Name: value' each. */
  headers?: readonly string[];
}

export interface LoadgenRun {
  result: LoadgenResult;
  status: number | null;
  stderr: string;
}

/** loadgen's command line for `o`. */
export function loadgenArgs(o: LoadgenOptions): string[] {
  return [
    '--url',
    `http://127.0.0.1:${o.port}${o.path ?? '/video_feed'}`,
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
    ...(o.headers ?? []).flatMap((h) => ['--header', h]),
  ];
}

/** The longest a loadgen run may take, ms: its own hard deadline plus a margin. */
export function loadgenBudgetMs(o: Pick<LoadgenOptions, 'clients' | 'warmup' | 'duration'>): number {
  return (o.clients / (CONNECT_RATE * 1000) + CONNECT_TIMEOUT + o.warmup + o.duration + 15) * 1000;
}

/**
 * The result line of a finished run; throws, with the output, when there is not exactly one
 * line of loadgen's JSON. `how` says how it ended: "exited with 1", "exited with SIGKILL".
 */
export function parseLoadgenOutput(stdout: string, stderr: string, how: string): LoadgenResult {
  const lines = stdout.split('\n').filter((l) => l.trim().length > 0);
  if (lines.length !== 1) throw new Error(`loadgen ${how} and printed ${lines.length} lines, not one:\n${stdout}\n${stderr}`);
  let result: LoadgenResult;
  try {
    result = JSON.parse(lines[0]!) as LoadgenResult;
  } catch {
    throw new Error(`loadgen ${how}: not JSON: ${lines[0]}`);
  }
  if (result.tool !== 'loadgen' || result.schema !== 1) throw new Error(`unexpected loadgen output (schema ${result.schema}): ${lines[0]}`);
  return result;
}

/**
 * Runs loadgen to completion (SIGKILLed after loadgenBudgetMs); throws when it prints no result
 * line. Status 1 still carries a result: some clients failed or dropped.
 */
export function runLoadgen(o: LoadgenOptions): Promise<LoadgenRun> {
  return new Promise((resolve, reject) => {
    const opts = { encoding: 'utf8', timeout: loadgenBudgetMs(o), killSignal: 'SIGKILL', maxBuffer: OUTPUT_BYTES } as const;
    execFile(LOADGEN, loadgenArgs(o), opts, (err, stdout, stderr) => {
      // execFile reports a non-zero exit as an error; loadgen's status 1 still has a result.
      const e = err as (Error & { code?: number | string; signal?: NodeJS.Signals | null }) | null;
      const status = e === null ? 0 : typeof e.code === 'number' ? e.code : null;
      if (e !== null && status === null && !e.signal) return reject(new Error(`loadgen could not run: ${e.message}`));
      try {
        const how = `exited with ${status ?? e?.signal}`;
        resolve({ result: parseLoadgenOutput(stdout, stderr, how), status, stderr });
      } catch (parseError) {
        reject(parseError as Error);
      }
    });
  });
}
