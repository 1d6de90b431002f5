/**
 * Starting framering in tests, every way a test needs it:
 *
 * - in-process on 127.0.0.1, port 0 (createTestServer; startTestServer closes it when the test
 *   ends, withTestServer around a function), with its log lines captured and awaitable, and
 *   with the fake camera tools on PATH (startServerWithFakes);
 * - as the framering command in a child process, the way a user runs it: to completion
 *   (runCli, runProgram for any program) or as a server on a free port (startCli).
 *
 * Clients opened through a TestServer are closed before the server. Set FRAMERING_TEST_LOG=1 to
 * also print an in-process server's log lines to stderr.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import type { Camera } from '../../src/stream/camera.js';
import { parseConfig, type Config } from '../../src/app/config.js';
import { createLogger, type LogLevel } from '../../src/core/log.js';
import { startServer, type Server } from '../../src/app/main.js';
import { type FakeControls, type FakeToolName, type FakeTools, setUpFakeTools } from './fake-camera.js';
import { MjpegClient, type ClientOptions } from './mjpeg-client.js';
import { Waiters } from './wait.js';

const DEFAULT_WAIT_MS = 5000;

export interface TestServerOptions {
  /** Log level captured (default debug: state changes are logged at debug). */
  logLevel?: LogLevel;
  /** Passed to startServer. */
  backoffInitialMs?: number;
  /** Passed to startServer: how long /snapshot waits for a frame, ms. */
  snapshotTimeoutMs?: number;
}

export interface TestServer {
  readonly server: Server;
  readonly config: Config;
  readonly port: number;
  /** The server's only camera. */
  readonly camera: Camera;
  /** Log lines, newest last. */
  readonly logs: string[];
  /** Resolves with the first log line matching `pattern` (at once if one already did). */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves once `count` log lines match `pattern`. */
  waitForLogCount(pattern: RegExp, count: number, timeoutMs?: number): Promise<void>;
  /** Opens a client to this server (default path /video_feed); it is closed by close(). */
  connect(options?: Partial<ClientOptions>): Promise<MjpegClient>;
  /** Closes every client opened through connect(), then the server. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts a server with `--port 0 --host 127.0.0.1` plus `args` (framering's command-line
 * options). The environment is not read, so FRAMERING_* variables cannot change a test.
 */
export async function createTestServer(args: readonly string[], options: TestServerOptions = {}): Promise<TestServer> {
  // One HTTP thread unless a test asks for more: these tests look at the main thread's viewers
  // (server.frontEnd), which on a machine with 4+ cores would see only part of them by default.
  const threads = args.includes('--http-threads') ? [] : ['--http-threads', '1'];
  const parsed = parseConfig(['--port', '0', '--host', '127.0.0.1', ...threads, ...args], {});
  if (parsed.kind !== 'run') throw new Error(`test server arguments asked for ${parsed.kind}, not a run`);
  const config = parsed.config;
  const logs: string[] = [];
  const waiters = new Waiters();
  const echo = process.env.FRAMERING_TEST_LOG === '1';
  const log = createLogger(options.logLevel ?? 'debug', (line) => {
    logs.push(line.trimEnd());
    if (echo) process.stderr.write(line);
    waiters.notify();
  });
  const server = await startServer(config, {
    log,
    ...(options.backoffInitialMs !== undefined ? { backoffInitialMs: options.backoffInitialMs } : {}),
    ...(options.snapshotTimeoutMs !== undefined ? { snapshotTimeoutMs: options.snapshotTimeoutMs } : {}),
  });
  const camera = server.cameras[0];
  if (!camera) {
    await server.close();
    throw new Error('the server has no camera');
  }
  const clients = new Set<MjpegClient>();
  let closing: Promise<void> | null = null;
  return {
    server,
    config,
    port: server.port,
    camera,
    logs,
    waitForLog: (pattern, timeoutMs = DEFAULT_WAIT_MS) =>
      waiters.until(
        () => logs.find((l) => pattern.test(l)),
        `a log line matching ${pattern}`,
        timeoutMs,
        () => `log:\n${logs.join('\n')}`,
      ),
    waitForLogCount: (pattern, count, timeoutMs = DEFAULT_WAIT_MS) =>
      waiters
        .until(
          () => (logs.filter((l) => pattern.test(l)).length >= count ? true : undefined),
          `${count} log lines matching ${pattern}`,
          timeoutMs,
          () => `log:\n${logs.join('\n')}`,
        )
        .then(() => undefined),
    async connect(clientOptions = {}) {
      const client = await MjpegClient.connect({ path: '/video_feed', ...clientOptions, port: server.port, host: '127.0.0.1' });
      clients.add(client);
      return client;
    },
    close() {
      closing ??= (async () => {
        await Promise.all([...clients].map((c) => c.close()));
        await server.close();
      })();
      return closing;
    },
  };
}

/** createTestServer, closed when the test ends (t.after), pass or fail. */
export async function startTestServer(t: TestContext, args: readonly string[], options: TestServerOptions = {}): Promise<TestServer> {
  const ts = await createTestServer(args, options);
  t.after(() => ts.close());
  return ts;
}

/** Runs `fn` with a server and closes it afterwards, whatever happens. */
export async function withTestServer<T>(
  args: readonly string[],
  fn: (ts: TestServer) => Promise<T>,
  options: TestServerOptions = {},
): Promise<T> {
  const ts = await createTestServer(args, options);
  try {
    return await fn(ts);
  } finally {
    await ts.close();
  }
}

/** Resolves when the camera reports `state` (at once if it is in it already); rejects after `timeoutMs`. */
export function waitForState(camera: Camera, state: Camera['state'], timeoutMs = 5000): Promise<void> {
  if (camera.state === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`camera did not reach state "${state}" within ${timeoutMs} ms (state: ${camera.state})`));
    }, timeoutMs);
    const off = camera.onState((s) => {
      if (s !== state) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/**
 * useFakeTools (./fake-camera.js), then an in-process server (createTestServer) with `args`. When
 * the test ends the server is closed first, then the fakes are cleaned up (t.after hooks run in
 * the order added, so two separate hooks would remove the fakes under a running server).
 */
export async function startServerWithFakes(
  t: TestContext,
  tools: readonly FakeToolName[],
  controls: FakeControls,
  args: readonly string[],
  options: TestServerOptions = {},
): Promise<{ ts: TestServer; fakes: FakeTools }> {
  const { fakes, cleanup } = await setUpFakeTools(tools, controls);
  let ts: TestServer;
  try {
    ts = await createTestServer(args, options);
  } catch (err) {
    await cleanup();
    throw err;
  }
  t.after(async () => {
    await ts.close();
    await cleanup();
  });
  return { ts, fakes };
}

// The framering command as a child process.

/** The compiled command-line entry point. */
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
export function cleanEnv(): NodeJS.ProcessEnv {
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
      const m = /listening on https?:\/\/[^:]+:(\d+)\//.exec(stderr);
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
