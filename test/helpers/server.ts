/**
 * Starts an in-process framering server on 127.0.0.1, port 0, for one test, with its log lines
 * captured instead of printed, and guarantees it is closed: `startTestServer(t, ...)` registers
 * the teardown with `t.after`, `withTestServer(...)` uses try/finally. Clients opened through
 * the returned object are closed before the server.
 *
 * Set FRAMERING_TEST_LOG=1 to also print the server's log lines to stderr.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Camera } from '../../src/stream/camera.js';
import { parseConfig, type Config } from '../../src/app/config.js';
import { createLogger, type LogLevel } from '../../src/core/log.js';
import { startServer, type Server } from '../../src/app/main.js';
import { MjpegClient, type ClientOptions } from './mjpeg-client.js';

/** The repository root (tests run from dist/test/helpers/). */
export const REPO_ROOT = new URL('../../..', import.meta.url);
export const EMULATED_ASSETS = new URL('assets/emulated/', REPO_ROOT);

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
  const echo = process.env.FRAMERING_TEST_LOG === '1';
  const log = createLogger(options.logLevel ?? 'debug', (line) => {
    logs.push(line.trimEnd());
    if (echo) process.stderr.write(line);
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

/**
 * A JPEG-shaped buffer of `size` bytes: FF D8 FF E0, `fill` bytes, FF D9. The server and the
 * files driver only check the markers; no decoder ever sees it.
 */
export function fakeJpeg(size: number, fill: number): Buffer {
  const jpeg = Buffer.alloc(size, fill);
  jpeg.set([0xff, 0xd8, 0xff, 0xe0], 0);
  jpeg.set([0xff, 0xd9], size - 2);
  return jpeg;
}

/**
 * Writes `count` JPEG-shaped files of about `bytes` each into a new temporary folder, removed
 * when the test ends: FF D8 FF E0, filler, FF D9. That is all the files driver and the server
 * check (start and end markers); no decoder ever sees them. File i is `bytes + i * 1000` long
 * and its filler is byte (i + 1), so every frame is identifiable by its length and content.
 * Returns the folder and the files' contents in play order.
 */
export async function createJpegFolder(t: TestContext, count: number, bytes: number): Promise<{ dir: string; frames: Buffer[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const jpeg = fakeJpeg(bytes + i * 1000, i + 1);
    // Zero-padded names: play order is the natural sort order either way.
    await writeFile(join(dir, `frame${String(i).padStart(3, '0')}.jpg`), jpeg);
    frames.push(jpeg);
  }
  return { dir, frames };
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

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
