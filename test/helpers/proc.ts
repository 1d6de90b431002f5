/**
 * What a server process holds, read from Linux's /proc: resident memory, open file descriptors,
 * threads and CPU time. For leak and exhaustion tests on a server run as a child process (its
 * numbers are then its own, not mixed with the test runner's).
 */

import { readdirSync, readFileSync } from 'node:fs';
import { processCpuNs } from './cpu.js';

export { processCpuNs };

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
 * Share of one core `pid` used over the next `ms` milliseconds (1 = a whole core), from exact
 * per-thread CPU time (/proc/PID/task/TID/schedstat).
 */
export async function cpuShare(pid: number, ms: number): Promise<number> {
  const c0 = processCpuNs(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return (processCpuNs(pid) - c0) / 1e6 / (performance.now() - t0);
}

/** "12.3 MB" */
export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
