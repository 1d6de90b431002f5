/**
 * Helpers for the http driver's tests: a scriptable node:http (or https) MJPEG source on
 * 127.0.0.1, a free port, and a DriverContext that records what a driver reports. The relay
 * itself (framering with `--camera http`) is an ordinary test server: startTestServer in
 * ./server.js, whose log lines can be awaited.
 */

import { once } from 'node:events';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import type { DriverContext } from '../../src/drivers/types.js';
import { Waiters } from './wait.js';

const DEFAULT_WAIT_MS = 5000;

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
