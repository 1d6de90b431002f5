/**
 * Plain HTTP in tests: one request with any headers over http or https (fetchOnce), raw bytes
 * that node:http refuses to send (rawRequest, rawExchange), Basic credentials, and the
 * Prometheus text /metrics answers. Streams are read with ./mjpeg-client.js.
 */

import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { findUws } from '../../src/server/uws/binary.js';

/** Both front ends ('uws', 'node'); every HTTP surface test runs on each (`--http NAME`). */
export { FRONT_ENDS } from '../../src/server/front-end.js';

export interface FetchOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Use https, trusting this CA certificate (PEM). */
  ca?: string;
  /** A request body, sent as is. */
  body?: string | Buffer;
  timeoutMs?: number;
  /** Connect from this local address (another 127.x.y.z is another client address). */
  localAddress?: string;
}

export interface FetchResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

/**
 * One request on its own connection (no keep-alive pool, nothing left open), with any headers,
 * over http, or https when `ca` is given. Resolves with the whole body.
 */
export function fetchOnce(
  port: number,
  path: string,
  { method = 'GET', headers = {}, ca, body, timeoutMs = 5000, localAddress }: FetchOptions = {},
): Promise<FetchResponse> {
  return new Promise((resolve, reject) => {
    const options = {
      host: '127.0.0.1',
      localAddress,
      port,
      method,
      path,
      agent: false as const,
      headers: { Connection: 'close', ...headers },
      timeout: timeoutMs,
    };
    const onResponse = (res: import('node:http').IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
      });
      res.on('error', reject);
    };
    const req = ca === undefined ? httpRequest(options, onResponse) : httpsRequest({ ...options, ca }, onResponse);
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no response within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Parsed JSON body of a response, failing clearly if it is not JSON. */
export function json<T = Record<string, unknown>>(res: FetchResponse): T {
  try {
    return JSON.parse(res.text) as T;
  } catch {
    throw new Error(`expected a JSON body, got ${res.status}: ${res.text.slice(0, 200)}`);
  }
}

/** One sample of a Prometheus text exposition: metric name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text format (0.0.4): samples, and the TYPE of every metric family. */
export function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \S+)?$/.exec(line);
    if (!m) throw new Error(`malformed metrics line ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

/** The value of the sample `name` whose labels include `labels`; undefined if there is none. */
export function sampleValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/** `Basic` credentials header value. */
export const basic = (userPass: string): string => `Basic ${Buffer.from(userPass, 'utf8').toString('base64')}`;

/**
 * Sends `request` as raw bytes on a new connection and resolves with the response's status
 * code (0 if the server closed without one) and head, once the head has arrived or the
 * connection closed. For requests node:http refuses to send (bytes outside latin1 text,
 * headers without a value).
 */
export function rawRequest(port: number, request: Buffer | string, timeoutMs = 5000): Promise<{ status: number; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response head within ${timeoutMs} ms (got ${JSON.stringify(received.toString('latin1').slice(0, 200))})`));
    }, timeoutMs);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const end = received.indexOf('\r\n\r\n');
      const head = (end < 0 ? received : received.subarray(0, end)).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head });
    };
    socket.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      if (received.includes('\r\n\r\n')) finish();
    });
    socket.on('error', () => finish()); // a reset is an answer too: no crash is what is checked
    socket.on('close', finish);
    socket.write(request);
  });
}

/**
 * On one connection: sends `first`, waits for its response head, then sends `second` (which
 * should carry `Connection: close`) and resolves with every byte received until the server
 * closes the connection. Not pipelined: uWS closes a connection whose next request arrives
 * while a response is still pending. `first` must get a response without a body (a HEAD).
 */
export function rawExchange(port: number, first: string, second: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    let sentSecond = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`the exchange did not end within ${timeoutMs} ms; received ${JSON.stringify(received.toString('latin1').slice(0, 500))}`),
      );
    }, timeoutMs);
    socket.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      if (!sentSecond && received.includes('\r\n\r\n')) {
        sentSecond = true;
        socket.write(second);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received.toString('latin1'));
    });
    socket.write(first);
  });
}

/**
 * Whether the uWebSockets.js build this machine loads answers requests its parser refuses with
 * its own error page (400, 431, 505 and `Connection: close`; uNetworking's releases after
 * 20.30 do) rather than leaving them unanswered until its idle timeout (20.30 does). Which build
 * loads depends on Node.js and the C library (src/server/uws/binary.ts), so tests of bad input
 * expect one or the other.
 */
export const UWS_ANSWERS_BAD_REQUESTS: boolean = ((): boolean => {
  const version = findUws().picked?.version;
  const m = version ? /^(\d+)\.(\d+)/.exec(version) : null;
  return m !== null && (Number(m[1]) > 20 || (Number(m[1]) === 20 && Number(m[2]) > 30));
})();
