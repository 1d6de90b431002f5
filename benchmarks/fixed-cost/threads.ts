/**
 * A server's CPU split by thread group, from /proc/PID/task/TID/schedstat (exact nanoseconds
 * per thread). Threads are told apart by what the probe (probe.ts) recorded for them, by their
 * /proc name (libvips names its own threads) and by being the main thread (TID = PID):
 *
 *   main      the process's own thread: framering's HTTP thread 0 (front end, /metrics...)
 *   capture   capture workers (workers/capture.js)
 *   http      further HTTP threads (workers/http.js); none with --http-threads 1
 *   encoder   the synthetic camera's encoder pool (piscina workers) and the libvips threads
 *             sharp starts for them
 *   helpers   everything else: V8's platform workers (GC, compilation), libuv's threadpool,
 *             Node's delayed-task thread
 *
 * The camera tools and other child processes are separate processes: childrenCpuNs.
 */

import { readdirSync, readFileSync } from 'node:fs';

export const GROUPS = ['capture', 'encoder', 'main', 'http', 'helpers'] as const;
export type Group = (typeof GROUPS)[number];

/** One reading of every live thread: tid -> CPU ns, times it was scheduled in, group. */
export type ThreadSample = Map<number, { ns: number; runs: number; group: Group }>;

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** What the probe recorded in `file`: tid -> the script the thread runs. */
function probed(file: string | undefined): Map<number, string> {
  const map = new Map<number, string>();
  for (const line of (file ? (readOr(file) ?? '') : '').split('\n')) {
    if (!line) continue;
    const { tid, script } = JSON.parse(line) as { tid: number; script: string };
    map.set(tid, script);
  }
  return map;
}

function groupOf(pid: number, tid: number, script: string | undefined, comm: string): Group {
  if (tid === pid) return 'main';
  if (script?.endsWith('/workers/capture.js')) return 'capture';
  if (script?.endsWith('/workers/http.js')) return 'http';
  if (script?.includes('/piscina/') || comm.startsWith('libvips')) return 'encoder';
  return 'helpers';
}

/** Every live thread of `pid` now; `probeFile` is the probe's record (undefined for a server without it). */
export function sampleThreads(pid: number, probeFile: string | undefined): ThreadSample {
  const scripts = probed(probeFile);
  const sample: ThreadSample = new Map();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    throw new Error(`process ${pid} is gone`);
  }
  for (const t of tids) {
    const tid = Number(t);
    const stat = readOr(`/proc/${pid}/task/${t}/schedstat`);
    if (stat === undefined) continue; // exited between the listing and the read
    const comm = (readOr(`/proc/${pid}/task/${t}/comm`) ?? '').trim();
    // schedstat: ns on the CPU, ns waiting for it, times scheduled in (each wake-up is one)
    const [ns = 0, , runs = 0] = stat.split(' ').map(Number);
    sample.set(tid, { ns, runs, group: groupOf(pid, tid, scripts.get(tid), comm) });
  }
  return sample;
}

export interface GroupCpu {
  /** ns of CPU per group over the interval; a thread born meanwhile counts from 0, one that ended is lost. */
  ns: Record<Group, number>;
  total: number;
  /** Times the group's threads were scheduled in (wake-ups, and resumptions after preemption). */
  runs: Record<Group, number>;
  /** Threads alive at the end, per group. */
  threads: Record<Group, number>;
}

/** The CPU each group used between two samples. */
export function groupCpu(a: ThreadSample, b: ThreadSample): GroupCpu {
  const ns = Object.fromEntries(GROUPS.map((g) => [g, 0])) as Record<Group, number>;
  const runs = Object.fromEntries(GROUPS.map((g) => [g, 0])) as Record<Group, number>;
  const threads = Object.fromEntries(GROUPS.map((g) => [g, 0])) as Record<Group, number>;
  for (const [tid, end] of b) {
    ns[end.group] += end.ns - (a.get(tid)?.ns ?? 0);
    runs[end.group] += end.runs - (a.get(tid)?.runs ?? 0);
    threads[end.group]++;
  }
  return { ns, total: GROUPS.reduce((s, g) => s + ns[g], 0), runs, threads };
}

/** Pids of the live children of `pid` (camera tools), from /proc/*\/stat. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const stat = readOr(`/proc/${d}/stat`);
    if (!stat) continue;
    // the fields after the command name, which is in parentheses and may hold anything
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) out.push(Number(d));
  }
  return out;
}

/** CPU ns so far of every thread of each of `pids` (0 for one that is gone). */
export function processesCpuNs(pids: readonly number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const pid of pids) {
    let total = 0;
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      // gone
    }
    for (const t of tids) total += Number((readOr(`/proc/${pid}/task/${t}/schedstat`) ?? '0').split(' ')[0]);
    m.set(pid, total);
  }
  return m;
}
