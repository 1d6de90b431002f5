/**
 * One benchmark run's result: the JSON line written per run (stdout and results.jsonl).
 * Flat, with units in the names, so `jq` and spreadsheets read it as is. CPU is in percent of
 * one core (100 = one core busy for the whole window); null where it could not be measured.
 */

import type { ServerName } from '../lib/servers.js';

export const RESULT_SCHEMA = 1;

export interface RunResult {
  schema: number;
  server: ServerName;
  resolution: string; // "640x480"
  frame_bytes: number; // mean JPEG size of the frame set
  fps_target: number; // the camera rate every server plays the folder at
  clients: number;
  connected: number;
  failed: number; // never got a response head
  dropped: number; // lost their stream during the run
  /** Per client, frames received in the window / window length. */
  fps_min: number | null;
  fps_p50: number | null;
  fps_mean: number | null;
  /** The server process, all threads, from /proc/PID/task/∗/schedstat over the window. */
  cpu_pct: number | null;
  cpu_pct_per_client: number | null;
  cpu_us_per_frame: number | null; // server CPU per frame delivered to one client, µs
  /** cpu_pct / the floor's cpu_pct at the same resolution and client count, in this matrix. */
  cpu_vs_floor: number | null;
  threads: number | null;
  rss_peak_mb: number | null; // VmHWM at the end of the window: the process's peak
  /** Capture (X-Timestamp) to receipt by the load generator. */
  latency_p50_ms: number | null;
  latency_p99_ms: number | null;
  latency_max_ms: number | null;
  latency_p99_vs_floor: number | null;
  mbit_s: number | null; // all clients together
  loadgen_cpu_pct: number | null;
  /** The whole machine over the window (/proc/stat, all cores, tick-sampled). */
  machine_busy_pct: number | null;
  /** machine_busy_pct minus server and load generator: everything else that ran meanwhile. */
  other_cpu_pct: number | null;
  softirq_pct: number | null;
  steal_pct: number | null;
  /** The quiet-machine check before the kept attempt. */
  idle_before_pct: number;
  quiet_wait_s: number;
  quiet: boolean;
  /** Attempts made; each discarded one is described in retried_for. */
  attempts: number;
  retried_for: string[];
  /** True when the kept attempt still had outside load above the limit (retries exhausted). */
  spoiled: boolean;
  warmup_s: number;
  window_s: number | null;
  started_at: string; // ISO time of the kept attempt
  server_exit: string; // how the server ended when stopped: "0", "SIGKILL", ...
  error: string | null; // why the run has no figures, or a problem worth reading
}
