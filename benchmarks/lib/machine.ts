/**
 * The machine the benchmark runs on: what it is (for the report), and how busy it is (to wait
 * for a quiet machine before each run). Linux only: everything comes from /proc.
 *
 * /proc/stat counts in USER_HZ ticks (100 per second) and is sampled at the kernel tick, so it
 * is only good for "how idle was the machine over a second or more"; per-process CPU comes from
 * /proc/PID/task/∗/schedstat (exact ns), which the load generator reads.
 */

import { readFileSync } from 'node:fs';
import { availableParallelism, release, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { machineTicks } from '../../test/helpers/proc.js';
import { round } from './stats.js';

export interface MachineInfo {
  cpu_model: string;
  cores: number;
  mem_gib: number;
  kernel: string;
  os: string;
  node: string;
}

/** What the report says about the machine. */
export function machineInfo(): MachineInfo {
  return {
    cpu_model: /^model name\s*:\s*(.+)$/m.exec(readOr('/proc/cpuinfo', ''))?.[1]?.trim() ?? 'unknown',
    cores: availableParallelism(),
    mem_gib: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    os: /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readOr('/etc/os-release', ''))?.[1] ?? process.platform,
    node: process.version,
  };
}

interface CpuTicks {
  idle: number; // idle + iowait
  total: number; // everything but guest time, which is already in user
}

function cpuTicks(): CpuTicks {
  const t = machineTicks();
  return { idle: t.idle + t.iowait, total: t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal };
}

/** Idle share of the whole machine (all cores) over `ms`, in percent. */
export async function idlePercent(ms = 1000): Promise<number> {
  const a = cpuTicks();
  await sleep(ms);
  const b = cpuTicks();
  const total = b.total - a.total;
  return total > 0 ? ((b.idle - a.idle) / total) * 100 : 100;
}

export interface QuietResult {
  quiet: boolean;
  /** The last one-second sample. */
  idle_pct: number;
  waited_s: number;
}

/**
 * Samples idleness one second at a time until a sample reaches `idlePct` or `maxWaitMs` has
 * passed (then it returns quiet: false and the run goes ahead, recorded as such).
 */
export async function waitForQuiet(idlePct: number, maxWaitMs: number): Promise<QuietResult> {
  const start = Date.now();
  for (;;) {
    const idle = await idlePercent(1000);
    const waited = (Date.now() - start) / 1000;
    if (idle >= idlePct) return { quiet: true, idle_pct: round(idle, 1), waited_s: round(waited, 1) };
    if (Date.now() - start >= maxWaitMs) return { quiet: false, idle_pct: round(idle, 1), waited_s: round(waited, 1) };
  }
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}
