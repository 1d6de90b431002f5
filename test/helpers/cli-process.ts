/** Runs the framering command as a child process, the way a user does. */

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export const CLI = new URL('../../src/app/cli.js', import.meta.url).pathname;

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to completion without blocking the event loop (an in-process server may need
 * to keep serving meanwhile); SIGKILL after `timeoutMs`.
 */
export async function runProgram(
  file: string,
  args: readonly string[],
  { env, timeoutMs = 10_000 }: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  const child = spawn(file, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [status, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { status, signal, stdout, stderr };
}

/** Runs the CLI to completion (killed after `timeoutMs`). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 10_000): Promise<CliResult> {
  return runProgram(process.execPath, [CLI, ...args], { env: { ...cleanEnv(), ...env }, timeoutMs });
}

/** The environment without framering's own variables, so the host's settings don't leak in. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('FRAMERING_') || k === 'CAMERA') delete env[k];
  return env;
}

export interface RunningServer {
  child: ChildProcess;
  port: number;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit status once the process has exited. */
  exited: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
  /** Kills the process if it is still running. */
  kill(): void;
}

/** Starts the server on a free port and resolves once it is listening. */
export async function startCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 10_000): Promise<RunningServer> {
  const child = spawn(process.execPath, [CLI, '--host', '127.0.0.1', '--port', '0', ...args], {
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = once(child, 'exit').then(([status, signal]) => ({
    status: status as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const m = /listening on http:\/\/[^:]+:(\d+)\//.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    void exited.then(({ status }) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${status} before listening:\n${stderr}`));
    });
  });
  return {
    child,
    port,
    stderr: () => stderr,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
