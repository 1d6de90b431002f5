/**
 * Child processes with a bounded lifetime. Every process the benchmark starts is registered
 * here: it gets a SIGKILL deadline when spawned, and whatever is still alive when the runner
 * exits (normally, by an exception or by a signal) is killed.
 */

import { spawn, type ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();

/** What a benchmark process is, for CPU pinning: the server measured, or what loads it. */
export type CpuRole = 'server' | 'load';
let pins: Record<CpuRole, string> | null = null;

/**
 * Pins every process started from now on to a CPU list by role (`taskset -c`), e.g. the server
 * on CPU 0 and the load on CPU 1: closer to a busy Raspberry Pi than sharing both cores, and
 * less noisy. Threads inherit it, so the whole server stays on its CPUs. null: no pinning.
 */
export function pinProcesses(p: Record<CpuRole, string> | null): void {
  pins = p;
}

/** Parses `--pin SERVER,LOAD` (CPU lists as taskset takes them, e.g. `0,1` or `0-1:2-3`). */
export function parsePins(value: string): Record<CpuRole, string> {
  const parts = value.includes(':') ? value.split(':') : value.split(',');
  const cpuList = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;
  if (parts.length !== 2 || !parts.every((p) => cpuList.test(p))) {
    throw new Error(`invalid --pin "${value}": expected SERVER_CPU,LOAD_CPU (e.g. 0,1) or SERVER_CPUS:LOAD_CPUS (e.g. 0-1:2-3)`);
  }
  return { server: parts[0]!, load: parts[1]! };
}
const TAIL_CHARS = 16_384; // how much of a child's output is kept for error messages

export interface Exit {
  status: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  process: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited (at once if it has). */
  exited: Promise<Exit>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit. */
  stop(graceMs?: number): Promise<Exit>;
}

/** Spawns `file` with output captured (the last 16 KB of each stream) and a SIGKILL deadline. */
export function spawnBounded(
  file: string,
  args: readonly string[],
  lifetimeMs: number,
  env: NodeJS.ProcessEnv = process.env,
  role?: CpuRole,
): Child {
  // taskset execs the program: the pid is the program's own.
  const pin = role !== undefined && pins !== null ? pins[role] : null;
  const child =
    pin === null
      ? spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env })
      : spawn('taskset', ['-c', pin, file, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(-TAIL_CHARS)));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-TAIL_CHARS)));
  live.add(child);
  const deadline = setTimeout(() => child.kill('SIGKILL'), lifetimeMs);
  deadline.unref();
  let resolveExit: (exit: Exit) => void = () => {};
  const exited = new Promise<Exit>((resolve) => {
    resolveExit = resolve;
    // 'close' rather than 'exit': the output is complete by then. A spawn error (no such file)
    // emits 'error' and then 'close'.
    child.once('close', (status, signal) => {
      clearTimeout(deadline);
      live.delete(child);
      resolve({ status, signal });
    });
  });
  child.once('error', (e) => {
    err += `\nspawn ${file}: ${e.message}`;
    if (child.pid === undefined) {
      // it never ran: there may be no 'close' to wait for
      clearTimeout(deadline);
      live.delete(child);
      resolveExit({ status: null, signal: null });
    }
  });
  const stop = async (graceMs = 3000): Promise<Exit> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const exit = await exited;
      clearTimeout(t);
      return exit;
    }
    return exited;
  };
  return { process: child, pid: child.pid ?? -1, stdout: () => out, stderr: () => err, exited, stop };
}

/**
 * On SIGINT or SIGTERM: logs `why`, runs `cleanup`, kills every child and exits with the
 * signal's conventional status (130 or 143).
 */
export function exitOnSignals(log: (line: string) => void, why: string, cleanup: () => void = () => {}): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping; ${why}`);
      cleanup();
      killAll();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Kills every child still running (SIGKILL). Safe to call more than once. */
export function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
}

process.on('exit', killAll);
