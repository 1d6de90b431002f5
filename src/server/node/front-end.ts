/**
 * The node:http front end: the same routes and behaviour as the uWebSockets.js one, on Node's own
 * http (or https) module. Used with `--http node`, and automatically where the uWebSockets.js
 * binary cannot load (Node.js 22 and later, musl, other platforms).
 */

import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { Socket, type AddressInfo } from 'node:net';
import type { Duplex, Writable } from 'node:stream';
import { STREAM_LENGTH, STREAM_PREAMBLE } from '../../stream/multipart.js';
import type { FrontEnd, FrontEndOptions } from '../front-end.js';
import type { Headers, PlainResponse } from '../router.js';
import { limitSendQueue } from '../send-queue.js';
import { TLS12_CIPHERS } from '../tls-policy.js';
import { Viewer, type StreamTransport } from '../../stream/viewer.js';

function headerObject(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of headers) out[k] = v;
  return out;
}

function writePlain(res: ServerResponse, r: PlainResponse, head: boolean): void {
  const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
  // No Content-Length in a 204 (RFC 9110 8.6): node:http would send one as given.
  res.writeHead(r.status, { ...headerObject(r.headers), ...(r.status === 204 ? {} : { 'Content-Length': String(body.length) }) });
  res.end(head ? undefined : body);
}

/** What a transport writes to: the response (chunked framing) or, for a browser image, its socket. */
type PartSink = Pick<Writable, 'write' | 'writableLength' | 'destroy'>;

/**
 * Node's writable stream keeps a reference to each part (no copy) until the socket has taken it
 * all, and the part's buffer goes back to the feed's pool once nobody holds it (part-pool.ts).
 * So a part is in flight not until 'drain' (node's buffer below its high-water mark) but until
 * node has let go of it: `send` is done at once only if the kernel took the whole part during
 * the write (nothing is left in node's buffer), else when the write's callback runs. Chunked
 * framing and corking make node write on the next tick at times: that part is then in flight
 * for one tick.
 *
 * The sink is the response for chunked streams; for a browser's <img> it is the socket itself
 * (see lengthFramedSocket): no chunk framing, no cork and next-tick uncork, no ServerResponse
 * bookkeeping, one write of the part as it is.
 */
class NodeStreamTransport implements StreamTransport {
  /** A part is in node's buffer: the next write callback that finds the buffer empty drains it. */
  private waiting = false;
  private readonly written = (): void => {
    // Callbacks run in write order; the one that finds nothing buffered is the last part's.
    if (!this.waiting || this.sink.writableLength > 0) return;
    this.waiting = false;
    this.onDrained();
  };

  constructor(
    private readonly sink: PartSink,
    private readonly onDrained: () => void,
  ) {}

  send(part: Buffer): boolean {
    this.sink.write(part, this.written);
    if (this.sink.writableLength === 0) return true;
    this.waiting = true;
    return false;
  }

  close(): void {
    this.sink.destroy();
  }
}

/**
 * Starts a browser image's stream on the socket itself and returns the socket, or returns null
 * where the response must be written through node:http (chunked): a client other than a
 * browser's <img> (they misread a length that is never reached, stream-transport.ts), HTTP/1.0
 * (its body ends with the connection anyway), or a request pipelined behind another whose
 * response has not yet finished (its response has no socket yet; node:http orders the bytes).
 *
 * The head goes out through node:http (flushHeaders, with `Content-Length` never reached), so
 * node's bookkeeping of the response stays right; the body is then written to the socket.
 */
function lengthFramedSocket(req: IncomingMessage, res: ServerResponse, headers: Headers): Socket | null {
  const socket = req.socket;
  if (req.headers['sec-fetch-dest'] !== 'image' || req.httpVersionMinor !== 1 || res.socket !== socket) return null;
  res.writeHead(200, { ...headerObject(headers), 'Content-Length': String(STREAM_LENGTH) });
  res.flushHeaders();
  return socket;
}

/**
 * Why node:http's parser let through a request HTTP/1.1 does not allow, or undefined: llhttp
 * reads a request line without a version ("GET /") as HTTP/0.9 and accepts any other major
 * version, and a 1.1 request must name its Host (RFC 9112 3.2).
 */
function invalidRequest(req: IncomingMessage): string | undefined {
  if (req.httpVersionMajor !== 1) return `unsupported HTTP version ${JSON.stringify(req.httpVersion)}`;
  if (req.httpVersionMinor === 1 && req.headers.host === undefined) return 'missing Host header';
  return undefined;
}

/**
 * A connection gets 10 s to send its whole request head, then a 408 and a close: the same bound
 * as uWebSockets.js's idle timeout. Node's defaults (60 s, checked every 30 s) let an idle or
 * stalled connection hold its descriptor for up to 90 s. A stream's request is complete once
 * its head is, so streams are not affected.
 */
const REQUEST_TIMEOUTS = { headersTimeout: 10_000, requestTimeout: 10_000, connectionsCheckingInterval: 1000 };

/**
 * An https connection gets as long to finish its TLS handshake as a plain one gets for its request
 * head. Node's default is 120 s, and the request timeouts above only start once the handshake is
 * done, so 5,000 connections that never sent a ClientHello held 5,000 descriptors (and 70 MB)
 * for minutes. The timer is not reset by a ClientHello trickled in byte by byte.
 */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * An error answer (400, 408, 431) is followed by a FIN, and the socket is destroyed as soon as
 * both are with the kernel, which delivers them on its own. Ending alone is not enough: node
 * keeps a half-closed socket, and its descriptor, until the peer closes its side, so 2,000
 * timed-out connections whose clients never closed held 2,000 descriptors for as long as the
 * clients wished. The answer is a few hundred bytes and is handed over at once; this deadline
 * (ms) destroys the socket anyway when even that cannot leave (a peer that reads nothing).
 */
const ANSWER_DEADLINE_MS = 2000;

/**
 * TLS for https: TLS 1.2 with forward-secret AEAD suites only (tls-policy.ts), and TLS 1.3 with
 * node's default suites (all of them AEAD and forward secret: node sets TLS 1.3 suites only from
 * `TLS_` names, and this list has none). Node's default TLS 1.2 list also offers static-RSA key
 * exchange (AES128-GCM-SHA256: a stolen key decrypts every recorded session) and CBC with SHA-1
 * (AES128-SHA). The server's order wins, so a client that lists a weaker suite first still gets
 * the strongest both support.
 */
const TLS_POLICY = { minVersion: 'TLSv1.2', ciphers: TLS12_CIPHERS, honorCipherOrder: true } as const;

export async function startNodeFrontEnd(options: FrontEndOptions): Promise<FrontEnd> {
  const { log } = options;
  const viewers = new Set<Viewer>();
  const { router, settings } = options;

  // The newest response on each connection, so a parse error arriving while it is still being
  // written (a stream, then garbage on the same connection) never splices a 400 into its body.
  const responses = new WeakMap<Socket, ServerResponse>();
  // Connections that carry a stream (being sent, or queued behind a pending answer). A stream
  // never ends by itself, so nothing pipelined behind it can ever be answered in order; node:http
  // would still parse every such request and call `handle`, and 1,000 pipelined GET /video_feed
  // on one connection registered 1,000 viewers (filling --max-clients) of which only the first
  // could ever get a byte. A request arriving behind a stream closes the connection, stream
  // included, before it is routed: what uWebSockets.js does with any request that arrives while
  // a response is pending ("denying async pipelining", HttpContext.h), and what HTTP allows a
  // client to expect (RFC 9112 9.3.2: a client that pipelines must be ready to retry requests
  // left unanswered when the connection closes). Keeping the stream and leaving the requests
  // unanswered was the alternative; but node would go on parsing and queueing every pipelined
  // request (about 1,600 in one 64 KB read), with no public way to stop its parser, and no
  // client or proxy sends a request behind an endless response expecting an answer.
  const streaming = new WeakSet<Socket>();

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (streaming.has(req.socket)) {
      // Further requests parsed from the same read call here again after the destroy: ignored.
      req.socket.destroy();
      return;
    }
    responses.set(req.socket, res);
    const method = (req.method ?? 'GET').toUpperCase();
    const invalid = invalidRequest(req);
    if (invalid !== undefined) {
      writePlain(
        res,
        {
          status: 400,
          headers: [['Content-Type', 'text/plain; charset=utf-8'], ['Connection', 'close'], ...router.commonHeaders],
          body: `${invalid}\n`,
        },
        method === 'HEAD',
      );
      return;
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const route = router.route({
      method,
      path,
      query: q < 0 ? '' : url.slice(q + 1),
      header: (name) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v.join(', ') : v;
      },
      remoteAddress: () => req.socket.remoteAddress ?? '',
    });
    switch (route.kind) {
      case 'plain':
        writePlain(res, route.response, method === 'HEAD');
        return;
      case 'deferred':
        route.response.then(
          (r) => !res.destroyed && writePlain(res, r, method === 'HEAD'),
          (err: unknown) => {
            log.error(`${path}: ${err instanceof Error ? err.message : String(err)}`);
            if (!res.destroyed) writePlain(res, { status: 500, headers: router.commonHeaders, body: 'internal error\n' }, false);
          },
        );
        return;
      case 'stream': {
        streaming.add(req.socket);
        req.socket.setNoDelay(true); // each part is one write; don't let Nagle hold its tail
        const socket = lengthFramedSocket(req, res, route.headers);
        if (socket === null) res.writeHead(200, headerObject(route.headers));
        const sink: PartSink = socket ?? res;
        const viewer: Viewer = new Viewer(
          {
            camera: route.camera.name,
            path,
            remoteAddress: req.socket.remoteAddress ?? '',
            maxFps: route.maxFps,
            slowTimeoutMs: route.slowTimeoutMs,
            endsAt: route.endsAt,
          },
          route.camera.feed,
          new NodeStreamTransport(sink, () => viewer.drained()),
          (v) => {
            viewers.delete(v);
            options.onViewerGone(v);
          },
          route.lease,
        );
        viewers.add(viewer);
        res.on('close', () => viewer.finish());
        // A stream pipelined behind a pending answer (GET /snapshot, then GET /video_feed on one
        // connection) waits in node's queue with no socket of its own: if the connection closes
        // first, that response never emits 'close', and the viewer would stay until the slow-
        // client timeout (forever with --slow-client-timeout 0), holding a --max-clients place.
        req.socket.once('close', () => viewer.finish());
        sink.write(STREAM_PREAMBLE);
        viewer.start();
        return;
      }
    }
  };

  // requireHostHeader: false, because node's own 400 for a request without Host would bypass
  // the router's common headers (nosniff); invalidRequest() answers it instead.
  const server = settings.tls
    ? https.createServer(
        {
          cert: readFileSync(settings.tls.cert),
          key: readFileSync(settings.tls.key),
          requireHostHeader: false,
          ...REQUEST_TIMEOUTS,
          handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
          ...TLS_POLICY,
        },
        handle,
      )
    : http.createServer({ requireHostHeader: false, ...REQUEST_TIMEOUTS }, handle);
  if (settings.tls) {
    // A TLS error (handshake timed out, not TLS, no common suite or version) comes before any
    // HTTP: there is nothing to answer, so the socket goes at once. https.Server's own listener
    // passes it on to 'clientError', whose HTTP answer would be written into a TLS session that
    // never started and its end() never complete: the connection stayed open until the client
    // closed it.
    server.removeAllListeners('tlsClientError');
    server.on('tlsClientError', (_err: Error, socket: Duplex) => socket.destroy());
  }
  // An Expect other than 100-continue: node's own 417 would lack the common headers too.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const body = `unsupported Expect: ${JSON.stringify(req.headers.expect ?? '')}\n`;
    writePlain(
      res,
      { status: 417, headers: [['Content-Type', 'text/plain; charset=utf-8'], ...router.commonHeaders], body },
      req.method === 'HEAD',
    );
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // Malformed requests: a one-line 4xx with the common headers, then close; never a crash.
    // Not while a response is still being written on this connection: the 400 would land in
    // the middle of its body. Node's default handler holds back the same way.
    const current = socket instanceof Socket ? responses.get(socket) : undefined;
    if (!socket.writable || (current !== undefined && !current.writableFinished)) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = `${(http.STATUS_CODES[status] ?? 'bad request').toLowerCase()}\n`;
    const headers = [
      ['Content-Type', 'text/plain; charset=utf-8'],
      ...router.commonHeaders,
      ['Connection', 'close'],
      ['Content-Length', String(body.length)],
    ];
    const answer = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`;
    // Destroyed once the answer and the FIN are with the kernel (see ANSWER_DEADLINE_MS).
    socket.end(answer, () => socket.destroy());
    // unref: a safety net, never a reason for the process to stay up at shutdown.
    const deadline = setTimeout(() => socket.destroy(), ANSWER_DEADLINE_MS).unref();
    socket.once('close', () => clearTimeout(deadline));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`cannot listen on ${settings.host}:${options.port} (${err.code ?? err.message})`)),
    );
    server.listen(options.port, settings.host, resolve);
  });
  // An error after listening (an accept() failure libuv does not absorb) is logged, never thrown:
  // without a listener, an 'error' event would end the process and every stream with it.
  server.on('error', (err: NodeJS.ErrnoException) => log.error(`HTTP server: ${err.code ?? err.message}`));
  // Connections inherit the listening socket's limit on unsent bytes (send-queue.ts).
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd !== undefined && fd >= 0) limitSendQueue([fd], settings.sendQueueBytes, log);
  const port = (server.address() as AddressInfo).port;
  log.info(`node:http front end listening on ${settings.tls ? 'https' : 'http'}://${settings.host}:${port}/`);

  let closed = false;
  return {
    name: 'node',
    port,
    viewers,
    close() {
      if (closed) return;
      closed = true;
      server.close();
      for (const v of [...viewers]) v.close();
      server.closeAllConnections();
    },
  };
}
