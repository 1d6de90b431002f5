/**
 * Helpers for the http driver's tests: a scriptable node:http (or https) MJPEG source on
 * 127.0.0.1, a relay server (framering with `--camera http`) whose log lines can be awaited,
 * and a DriverContext that records what a driver reports.
 */

import { once } from 'node:events';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import type { Camera } from '../../src/stream/camera.js';
import { parseConfig } from '../../src/app/config.js';
import type { DriverContext } from '../../src/drivers/types.js';
import { createLogger } from '../../src/core/log.js';
import { startServer, type Server } from '../../src/app/main.js';
import { MjpegClient } from './mjpeg-client.js';

const DEFAULT_WAIT_MS = 5000;

/** Runs `check` on every event until it returns a value; rejects after `timeoutMs`. */
class Waiters {
  private readonly waiting = new Set<() => void>();

  notify(): void {
    for (const w of [...this.waiting]) w();
  }

  until<T>(check: () => T | undefined, what: string, timeoutMs: number, describe: () => string): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const poll = (): void => {
        const value = check();
        if (value === undefined) return;
        clearTimeout(timer);
        this.waiting.delete(poll);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.waiting.delete(poll);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${describe()})`));
      }, timeoutMs);
      this.waiting.add(poll);
    });
  }
}

export interface SourceRequest {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

export type SourceHandler = (req: IncomingMessage, res: ServerResponse, index: number) => void;

/** A node:http(s) server on 127.0.0.1:0 that records every request and answers with `handler`. */
export class TestSource {
  readonly requests: SourceRequest[] = [];
  private readonly waiters = new Waiters();

  private constructor(
    private readonly server: http.Server | https.Server,
    readonly port: number,
    readonly scheme: 'http' | 'https',
  ) {}

  /** Starts a source; it is closed when the test ends. `tls` (cert and key): https. */
  static async start(t: TestContext, handler: SourceHandler, tls?: { cert: string; key: string }): Promise<TestSource> {
    let source: TestSource | null = null;
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      const s = source!;
      const index = s.requests.length;
      s.requests.push({ url: req.url ?? '', headers: req.headers });
      s.waiters.notify();
      handler(req, res, index);
    };
    const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, onRequest) : http.createServer(onRequest);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    source = new TestSource(server, (server.address() as AddressInfo).port, tls ? 'https' : 'http');
    t.after(() => source!.close());
    return source;
  }

  /** The URL of `path` on this source, with `userinfo` ("user:pass") if given. */
  url(path: string, userinfo?: string): string {
    return `${this.scheme}://${userinfo !== undefined ? `${userinfo}@` : ''}127.0.0.1:${this.port}${path}`;
  }

  /** Resolves once `count` requests have arrived in total. */
  waitForRequests(count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.waiters
      .until(
        () => (this.requests.length >= count ? true : undefined),
        `${count} requests`,
        timeoutMs,
        () => `${this.requests.length} so far`,
      )
      .then(() => undefined);
  }

  /** Stops listening and drops every open connection. Idempotent. */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = once(this.server, 'close');
    this.server.close();
    this.server.closeAllConnections();
    await closed;
  }
}

export interface MjpegResponseOptions {
  /** Time between frames, ms (default 50). */
  intervalMs?: number;
  /** Send Content-Length with each part (default true). */
  contentLength?: boolean;
  boundary?: string;
  /** Line ending inside the body (default CRLF). */
  eol?: string;
  /** Send Transfer-Encoding: chunked explicitly (node's default without Content-Length anyway). */
  chunked?: boolean;
  /** Stop after this many frames, leaving the response open (default: never stop). */
  count?: number;
}

/**
 * Answers `res` with a multipart/x-mixed-replace stream cycling through `frames` (each part led
 * by its delimiter, like mjpg-streamer), until the connection closes or `count` frames are sent.
 */
export function serveMjpeg(res: ServerResponse, frames: readonly Buffer[], options: MjpegResponseOptions = {}): void {
  const { intervalMs = 50, contentLength = true, boundary = 'testboundary', eol = '\r\n', chunked = false, count = Infinity } = options;
  res.writeHead(200, {
    'Content-Type': `multipart/x-mixed-replace; boundary=${boundary}`,
    'Cache-Control': 'no-store',
    ...(chunked ? { 'Transfer-Encoding': 'chunked' } : {}),
  });
  let n = 0;
  const send = (): void => {
    const jpeg = frames[n % frames.length]!;
    const head = `--${boundary}${eol}Content-Type: image/jpeg${eol}${contentLength ? `Content-Length: ${jpeg.length}${eol}` : ''}${eol}`;
    res.write(Buffer.concat([Buffer.from(head, 'latin1'), jpeg, Buffer.from(eol, 'latin1')]));
    if (++n >= count) clearInterval(timer);
  };
  const timer = setInterval(send, intervalMs);
  send();
  res.on('close', () => clearInterval(timer));
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 by node, then released;
 * no connection ever touched it, so nothing lingers in TIME_WAIT).
 */
export async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** A framering server relaying another stream, with its log lines captured and awaitable. */
export interface Relay {
  readonly server: Server;
  readonly port: number;
  readonly camera: Camera;
  /** Log lines, newest last. */
  readonly logs: string[];
  /** Resolves with the first log line matching `pattern` (at once if one already did). */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves once `count` log lines match `pattern`. */
  waitForLogCount(pattern: RegExp, count: number, timeoutMs?: number): Promise<void>;
  /** Opens a viewer of /video_feed (which starts capture); closed with the relay. */
  connect(): Promise<MjpegClient>;
  close(): Promise<void>;
}

/**
 * Starts framering on 127.0.0.1:0 with `args` (e.g. --camera http --source URL), closed when the
 * test ends. The environment is not read for options (the http driver's timeout variables are
 * read by the driver itself from process.env).
 */
export async function startRelay(t: TestContext, args: readonly string[], options: { backoffInitialMs?: number } = {}): Promise<Relay> {
  const parsed = parseConfig(['--port', '0', '--host', '127.0.0.1', ...args], {});
  if (parsed.kind !== 'run') throw new Error(`relay arguments asked for ${parsed.kind}, not a run`);
  const logs: string[] = [];
  const waiters = new Waiters();
  const echo = process.env.FRAMERING_TEST_LOG === '1';
  const log = createLogger('debug', (line) => {
    logs.push(line.trimEnd());
    if (echo) process.stderr.write(line);
    waiters.notify();
  });
  const server = await startServer(parsed.config, { log, backoffInitialMs: options.backoffInitialMs ?? 50 });
  const clients: MjpegClient[] = [];
  let closing: Promise<void> | null = null;
  const relay: Relay = {
    server,
    port: server.port,
    camera: server.cameras[0]!,
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
    async connect() {
      const client = await MjpegClient.connect({ port: server.port, host: '127.0.0.1', path: '/video_feed' });
      clients.push(client);
      return client;
    },
    close() {
      closing ??= (async () => {
        await Promise.all(clients.map((c) => c.close()));
        await server.close();
      })();
      return closing;
    },
  };
  t.after(() => relay.close());
  return relay;
}

/** A DriverContext that records log lines ("level message") and dropped frames. */
export function recordingContext(): { context: DriverContext; logs: string[]; drops: { reason: string; frames: number }[] } {
  const logs: string[] = [];
  const drops: { reason: string; frames: number }[] = [];
  return {
    logs,
    drops,
    context: {
      countDrop: (reason, frames = 1) => drops.push({ reason, frames }),
      log: (level, message) => logs.push(`${level} ${message}`),
    },
  };
}
