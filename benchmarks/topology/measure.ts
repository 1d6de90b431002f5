/**
 * What the topology benchmark measures with: a CPU window over every process of the topology
 * (exact per-thread nanoseconds from /proc/PID/task/TID/schedstat, as the other benchmarks), the
 * machine's busy time over the same window (/proc/stat), and native-bench's loadgen run inside a
 * test host.
 *
 * loadgen refuses any address but loopback (native-bench/README.md: it never looks a name up),
 * so its viewers run in the namespace of the server they watch and connect to 127.0.0.1 there:
 * the same client method for an edge and for a single server, and the same as the viewer
 * benchmark's (docs/benchmarks.md). Only the hops between hosts (origin to HTTP edge, capture
 * node to NATS to NATS edge) cross the veth links of the topology.
 */

import {
  LOADGEN,
  loadgenArgs,
  loadgenBudgetMs,
  type LoadgenOptions,
  type LoadgenResult,
  parseLoadgenOutput,
} from '../../test/helpers/loadgen.js';
import { busyTicks, machineTicks, processCpuNsIfAlive, USER_HZ } from '../../test/helpers/proc.js';
import type { Host, HostProcess } from '../../test/helpers/topology.js';
import { sleep } from '../../test/helpers/wait.js';
import { BROWSER_IMAGE_HEADERS } from '../lib/servers.js';
import { round } from '../lib/stats.js';

/** A process whose CPU a window measures, by the name the tables use. */
export interface Measured {
  name: string;
  pid: number;
}

export interface CpuWindow {
  /** The window's length, s. */
  seconds: number;
  /** Each process's CPU over the window, % of one core (null: it was gone). */
  cpu: Record<string, number | null>;
  /** The machine's busy time over the window, % of one core (2 cores: up to 200). */
  machine_busy_pct: number;
  /** Busy time not spent by any process listed: other work on the machine, the kernel's softirqs charged to no one listed. */
  other_pct: number;
}

/** Measures every process of `procs` over the next `ms`. */
export async function cpuWindow(procs: readonly Measured[], ms: number): Promise<CpuWindow> {
  const c0 = procs.map((p) => processCpuNsIfAlive(p.pid));
  const m0 = busyTicks(machineTicks());
  const t0 = performance.now();
  await sleep(ms);
  const c1 = procs.map((p) => processCpuNsIfAlive(p.pid));
  const m1 = busyTicks(machineTicks());
  const seconds = (performance.now() - t0) / 1000;
  const cpu: Record<string, number | null> = {};
  let sum = 0;
  for (const [i, p] of procs.entries()) {
    const a = c0[i];
    const b = c1[i];
    const pct = a === null || a === undefined || b === null || b === undefined ? null : (b - a) / 1e7 / seconds;
    cpu[p.name] = pct === null ? null : round(pct, 3);
    sum += pct ?? 0;
  }
  const busy = ((m1 - m0) / USER_HZ / seconds) * 100;
  return { seconds: round(seconds, 3), cpu, machine_busy_pct: round(busy, 1), other_pct: round(busy - sum, 1) };
}

/** Sum of the named processes' CPU in `w` (a missing one counts 0). */
export function cpuOf(w: CpuWindow, names: readonly string[]): number {
  return names.reduce((s, n) => s + (w.cpu[n] ?? 0), 0);
}

/** The parts of loadgen's result line the tables and the JSON keep. */
export interface LoadSummary {
  clients: number;
  connected: number;
  failed: number;
  dropped: number;
  first_error: string | null;
  fps_min: number | null;
  fps_p50: number | null;
  /** X-Timestamp of the server watched to arrival, ms: at an edge, from the edge's receipt. */
  latency_p50_ms: number | null;
  latency_p99_ms: number | null;
  /** loadgen's own CPU, % of one core. */
  loadgen_cpu_pct: number;
}

export function summarizeLoad(r: LoadgenResult): LoadSummary {
  return {
    clients: r.clients,
    connected: r.connected,
    failed: r.failed,
    dropped: r.dropped,
    first_error: r.first_error,
    fps_min: r.fps.min,
    fps_p50: r.fps.p50,
    latency_p50_ms: r.latency_ms.p50,
    latency_p99_ms: r.latency_ms.p99,
    loadgen_cpu_pct: r.loadgen.cpu_pct,
  };
}

/** loadgen running in a host; `started` is when its measured window began. */
export interface HostLoadgen {
  readonly proc: HostProcess;
  readonly host: Host;
  /** Waits for it to exit and reads its result line; throws, with its output, without one. */
  result(): Promise<LoadgenResult>;
}

const MEASURING = /loadgen: measuring \S+ s with \d+ streaming clients/;

/**
 * Starts loadgen in `host` against the server on that host's loopback (`o.port`), asking as a
 * browser's <img> does (the viewer benchmark's headers); resolves once its window has begun
 * (every client connected or failed, then `o.warmup` s). Rejects, with its output, if no client
 * streams. It exits by itself at the end of its window (or is killed with the host's processes).
 */
export async function startLoadgen(host: Host, o: Omit<LoadgenOptions, 'headers'>): Promise<HostLoadgen> {
  const options: LoadgenOptions = { ...o, headers: BROWSER_IMAGE_HEADERS };
  const proc = await host.spawn(LOADGEN, loadgenArgs(options), {
    ready: MEASURING,
    readyTimeoutMs: loadgenBudgetMs({ ...options, duration: 0 }),
  });
  return {
    proc,
    host,
    async result() {
      await proc.exited();
      const out = proc.output();
      const line = out.split('\n').find((l) => l.startsWith('{"tool":"loadgen"')) ?? '';
      return parseLoadgenOutput(line, out, `on ${host.name} exited with ${proc.child.exitCode ?? proc.child.signalCode}`);
    },
  };
}

/**
 * `n` capped viewers (`?fps=fpsCap`) split over the HTTP edge and the NATS edge (the odd one on
 * the HTTP edge), each edge's loadgen run on its own host; the window starts after `settleS` and
 * lasts a second more than `windowS`, so the window never sees loadgen closing its connections.
 */
export function startCappedViewersOnEdges(
  edges: readonly { host: Host; proc: HostProcess }[],
  n: number,
  o: { port: number; fpsCap: number; settleS: number; windowS: number },
): Promise<HostLoadgen[]> {
  const half = [Math.ceil(n / 2), Math.floor(n / 2)] as const;
  return startLoadgens(
    edges.map((e, i) => ({
      host: e.host,
      o: {
        port: o.port,
        path: `/video_feed?fps=${o.fpsCap}`,
        clients: half[i]!,
        warmup: o.settleS,
        duration: o.windowS + 1,
        serverPid: e.proc.pid,
      },
    })),
  );
}

/** Starts loadgens in several hosts at once; resolves once every one's window has begun. */
export async function startLoadgens(runs: readonly { host: Host; o: Omit<LoadgenOptions, 'headers'> }[]): Promise<HostLoadgen[]> {
  return Promise.all(runs.map((r) => startLoadgen(r.host, r.o)));
}
