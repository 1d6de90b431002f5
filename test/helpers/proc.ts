/**
 * What a process holds and uses, read from Linux's /proc: resident memory, open file
 * descriptors, threads, CPU time; and the machine's CPU time from /proc/stat. For leak and
 * exhaustion tests on a server run as a child process (its numbers are then its own, not mixed
 * with the test runner's), and for the benchmarks' samples (benchmarks/ imports this module).
 *
 * Two kinds of reader: the plain ones (processCpuNs, rssBytes, snapshot...) throw when the
 * process is gone, which is what a test wants; the ...IfAlive ones return null instead, for a
 * sampler that must keep going when the process it watches dies.
 *
 * CPU time per process is exact: /proc/PID/task/TID/schedstat counts nanoseconds per thread.
 * /proc/stat counts in USER_HZ ticks and is sampled at the kernel tick, so it is only good for
 * "how busy was the machine over a second or more".
 */

import { readdirSync, readFileSync } from 'node:fs';

/** /proc/stat's unit on Linux, ticks per second, whatever the kernel's HZ. */
export const USER_HZ = 100;

/** CPU nanoseconds of the threads listed, of `pid`; a thread that exits meanwhile counts 0. */
function threadsCpuNs(pid: number, tids: readonly string[]): number {
  let total = 0;
  for (const tid of tids) {
    try {
      // The first field: time spent on the CPU, ns.
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return total;
}

/** Nanoseconds of CPU used so far by the live threads of `pid`; throws if it is gone. */
export function processCpuNs(pid: number): number {
  return threadsCpuNs(pid, readdirSync(`/proc/${pid}/task`));
}

/** processCpuNs, or null once the process is gone. */
export function processCpuNsIfAlive(pid: number): number | null {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  return threadsCpuNs(pid, tids);
}

/** A field of /proc/PID/status in kB (VmRSS, VmHWM...), as bytes. */
function statusKb(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Resident set size of `pid`, bytes (VmRSS). */
export function rssBytes(pid: number): number {
  return statusKb(pid, 'VmRSS');
}

/** Open file descriptors of `pid` (sockets, pipes, files, epoll and event fds). */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Threads of `pid`. */
export function threadCount(pid: number): number {
  return readdirSync(`/proc/${pid}/task`).length;
}

/** The soft limit on open files of `pid` ("Max open files" in /proc/PID/limits). */
export function fdLimit(pid: number): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  if (!m) throw new Error(`no "Max open files" in /proc/${pid}/limits`);
  return m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

export interface ProcSnapshot {
  /** Bytes. */
  rss: number;
  fds: number;
  threads: number;
}

/** RSS, open fds and threads of `pid`, read now. */
export function snapshot(pid: number): ProcSnapshot {
  return { rss: rssBytes(pid), fds: openFds(pid), threads: threadCount(pid) };
}

/**
 * snapshot, or null once the process is gone (a zombie, exited but not yet reaped, has no
 * VmRSS: null too).
 */
export function snapshotIfAlive(pid: number): ProcSnapshot | null {
  try {
    return snapshot(pid);
  } catch {
    return null;
  }
}

/**
 * Share of one core `pid` used over the next `ms` milliseconds (1 = a whole core), from exact
 * per-thread CPU time (/proc/PID/task/TID/schedstat).
 */
export async function cpuShare(pid: number, ms: number): Promise<number> {
  const c0 = processCpuNs(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return (processCpuNs(pid) - c0) / 1e6 / (performance.now() - t0);
}

/** The machine's CPU time so far, all cores, in USER_HZ ticks: /proc/stat's first line. */
export interface MachineTicks {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  /** Time this virtual machine was ready to run while the hypervisor ran something else. */
  steal: number;
}

export function machineTicks(): MachineTicks {
  const first = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = first
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return { user, nice, system, idle, iowait, irq, softirq, steal };
}

/** Ticks the machine's cores spent running something (steal and guest time not included: guest is already in user). */
export function busyTicks(t: MachineTicks): number {
  return t.user + t.nice + t.system + t.irq + t.softirq;
}

/** "12.3 MB" */
export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
