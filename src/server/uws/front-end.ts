/**
 * The uWebSockets.js HTTP front end. This is the only module that talks to uWebSockets.js;
 * routing and policy live in Router and Viewer, shared with the node:http front end.
 */

import type { HttpRequest, HttpResponse, us_listen_socket } from '@trufflesuite/uws-js-unofficial';
import { STREAM_PREAMBLE } from '../../stream/multipart.js';
import { limitSendQueue } from '../send-queue.js';
import { guardDescriptorHeadroom } from './fd-headroom.js';
import { listeningFds } from './listen-fds.js';
import type { FrontEnd, FrontEndOptions } from '../front-end.js';
import { type Headers, statusLine, type PlainResponse } from '../router.js';
import { TLS12_CIPHERS } from '../tls-policy.js';
import { loadUws } from './binary.js';
import { ChunkedTransport } from './chunked-transport.js';
import { LengthTransport } from './length-transport.js';
import { refusedFraming } from './request-framing.js';
import type { UwsTransport } from './stream-transport.js';
import { Viewer } from '../../stream/viewer.js';

function writePlain(res: HttpResponse, r: PlainResponse, head: boolean): void {
  res.writeStatus(statusLine(r.status));
  for (const [k, v] of r.headers) res.writeHeader(k, v);
  if (r.status === 204) {
    res.endWithoutBody(); // no Content-Length in a 204 (RFC 9110 8.6); end('') would write one
  } else if (head) {
    // The length is written by hand: in this uWS (20.30) endWithoutBody(n) with n > 0 leaves the
    // response waiting for n body bytes that a HEAD never sends, so uWS aborts the whole process
    // ("Returning from a request handler without responding...") or, from a deferred response,
    // leaves the connection hung. endWithoutBody() with no length writes no Content-Length.
    res.writeHeader('Content-Length', String(typeof r.body === 'string' ? Buffer.byteLength(r.body) : r.body.length));
    res.endWithoutBody();
  } else res.end(r.body);
}

/**
 * Answers a request refused for its framing (request-framing.ts) with a one-line 400 and closes
 * the connection, one event-loop turn later. Why not at once: uWS parses every request a read
 * brought before it returns to the loop, and `end(body, true)` closes the connection only after
 * that, so a request smuggled behind the refused one in the same bytes would be routed and
 * answered next (measured with 20.30). A request that arrives while the previous one is still
 * unanswered makes uWS close the connection instead (it denies "async pipelining",
 * HttpContext.h): the smuggled request is never run, and the client gets the close, not the 400.
 * Alone, the refused request gets its 400 and then the close.
 */
function refuseFraming(res: HttpResponse, reason: string, head: boolean, common: Headers): void {
  let aborted = false;
  res.onAborted(() => (aborted = true));
  setImmediate(() => {
    if (aborted) return;
    res.cork(() => {
      res.writeStatus(statusLine(400));
      res.writeHeader('Content-Type', 'text/plain; charset=utf-8');
      for (const [k, v] of common) res.writeHeader(k, v);
      // The `true`: uWS adds `Connection: close` and closes once the answer is sent. For a HEAD,
      // endWithoutBody(0) writes `Content-Length: 0` (no body waited for, unlike a length > 0).
      if (head) res.endWithoutBody(0, true);
      else res.end(`${reason}\n`, true);
    });
  });
}

/** uSockets' listen flags (ListenOptions in the typings, not exported as values). */
const LIBUS_LISTEN_DEFAULT = 0;
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;
interface UwsListen {
  listen(host: string, port: number, flags: number, cb: (token: us_listen_socket | false) => void): unknown;
}

export async function startUwsFrontEnd(options: FrontEndOptions): Promise<FrontEnd> {
  const uws = loadUws();
  // uWS writes `uWebSockets: 20` into every response (its "mark") unless its loop is silent, and
  // this undocumented key is the only switch JavaScript has (uWS.js addon.cpp, uWS_cfg; the mark
  // itself is HttpResponse::writeMark, removable otherwise only at compile time with
  // UWS_HTTPRESPONSE_NO_WRITEMARK). The header tells anyone which server and major version
  // answers, which helps nobody but someone looking for a known flaw. The loop is this thread's.
  if (typeof uws._cfg === 'function') uws._cfg('silent');
  const { log } = options;
  const viewers = new Set<Viewer>();
  const { router, settings } = options;

  const handle = (res: HttpResponse, req: HttpRequest): void => {
    const method = req.getMethod().toUpperCase();
    // Before anything else, auth included: a smuggled request must not run whoever sends it.
    const refusal = refusedFraming((cb) => req.forEach(cb));
    if (refusal !== undefined) {
      refuseFraming(res, refusal, method === 'HEAD', router.commonHeaders);
      return;
    }
    const path = req.getUrl();
    const route = router.route({
      method,
      path,
      query: req.getQuery() ?? '',
      header: (name) => req.getHeader(name) || undefined,
      remoteAddress: () => Buffer.from(res.getRemoteAddressAsText()).toString('latin1'),
    });
    switch (route.kind) {
      case 'plain':
        writePlain(res, route.response, method === 'HEAD');
        return;
      case 'deferred': {
        let aborted = false;
        res.onAborted(() => (aborted = true));
        route.response.then(
          (r) => !aborted && res.cork(() => writePlain(res, r, method === 'HEAD')),
          (err: unknown) => {
            log.error(`${path}: ${err instanceof Error ? err.message : String(err)}`);
            if (!aborted) res.cork(() => writePlain(res, { status: 500, headers: router.commonHeaders, body: 'internal error\n' }, false));
          },
        );
        return;
      }
      case 'stream': {
        const remoteAddress = Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
        // A browser's <img> reads a length-framed body; everything else gets chunks (stream-transport.ts).
        const Transport = req.getHeader('sec-fetch-dest') === 'image' ? LengthTransport : ChunkedTransport;
        const transport: UwsTransport = new Transport(
          res,
          () => viewer.drained(),
          () => viewer.finish(),
        );
        const viewer: Viewer = new Viewer(
          {
            camera: route.camera.name,
            path,
            remoteAddress,
            maxFps: route.maxFps,
            slowTimeoutMs: route.slowTimeoutMs,
            endsAt: route.endsAt,
          },
          route.camera.feed,
          transport,
          (v) => {
            viewers.delete(v);
            options.onViewerGone(v);
          },
          route.lease,
        );
        viewers.add(viewer);
        transport.begin(route.headers, STREAM_PREAMBLE);
        viewer.start();
        return;
      }
    }
  };

  // ssl_ciphers restricts TLS 1.2 to forward-secret AEAD suites (tls-policy.ts); uSockets passes
  // it to SSL_CTX_set_cipher_list. It cannot make the server's order win: uSockets never sets
  // SSL_OP_CIPHER_SERVER_PREFERENCE and AppOptions has no key for it, so BoringSSL takes the
  // client's favourite among these suites (all strong). TLS 1.3's suites are BoringSSL's fixed
  // three, all AEAD; uSockets refuses TLS before 1.2.
  const app = settings.tls
    ? uws.SSLApp({ cert_file_name: settings.tls.cert, key_file_name: settings.tls.key, ssl_ciphers: TLS12_CIPHERS })
    : uws.App();
  app.any('/*', handle);

  // uSockets sets SO_REUSEADDR only on a port it is given, and SO_REUSEPORT too unless told
  // LIBUS_LISTEN_EXCLUSIVE_PORT. Without SO_REUSEADDR, listening again after a pause for
  // descriptors (below) fails for as long as a connection accepted before it is open; with
  // SO_REUSEPORT, a second server could take the same port unnoticed. So port 0 only finds a free
  // port, which is then listened on exclusively, and a given port is listened on exclusively too
  // unless several HTTP threads share it (main.ts then checks first that no one else holds it).
  const exclusive = options.port === 0 || !options.sharedPort;
  const listen = (port: number, flags: number): us_listen_socket | null => {
    let token = null as us_listen_socket | null;
    // uWS.js takes listen(host, port, options, cb); its typings only have (port, options, cb).
    (app as unknown as UwsListen).listen(settings.host, port, flags, (t) => {
      token = t || null; // called back before listen() returns
    });
    return token;
  };
  let listenSocket = listen(options.port, exclusive && options.port !== 0 ? LIBUS_LISTEN_EXCLUSIVE_PORT : LIBUS_LISTEN_DEFAULT);
  if (listenSocket && options.port === 0) {
    const free = uws.us_socket_local_port(listenSocket as never);
    uws.us_listen_socket_close(listenSocket);
    listenSocket = listen(free, LIBUS_LISTEN_EXCLUSIVE_PORT);
  }
  if (!listenSocket) throw new Error(`cannot listen on ${settings.host}:${options.port} (address in use or not available)`);
  const port = uws.us_socket_local_port(listenSocket as never);
  log.info(`uWebSockets.js front end listening on ${settings.tls ? 'https' : 'http'}://${settings.host}:${port}/`);
  // Before the first accept: connections inherit the listening socket's limit (send-queue.ts).
  limitSendQueue(listeningFds(port), settings.sendQueueBytes, log);
  // uSockets spins on accept() at the descriptor limit: stop listening before it (fd-headroom.ts).
  const headroom = guardDescriptorHeadroom(
    {
      stop() {
        if (listenSocket) uws.us_listen_socket_close(listenSocket);
        listenSocket = null;
      },
      start() {
        listenSocket = listen(port, exclusive ? LIBUS_LISTEN_EXCLUSIVE_PORT : LIBUS_LISTEN_DEFAULT);
        if (listenSocket !== null) limitSendQueue(listeningFds(port), settings.sendQueueBytes, log);
        return listenSocket !== null;
      },
    },
    log,
  );

  // Whatever the guard or uWS closed, this thread's event loop must not run empty while the
  // server is meant to serve. uWS's sockets are the only handles it refs, and the guard's timer is
  // unref'd (it must not hold a server that is closing): with the listener closed at the
  // descriptor limit and uWS's idle timeout then dropping the connections that exhausted it,
  // node found nothing left to wait for and exited with status 0, silently, never to listen
  // again. This ref'd timer holds the loop until close(); the guard listens again
  // once descriptors are free. Its period is the longest node allows; it never does anything.
  const keepAlive = setInterval(() => {}, 2 ** 31 - 1);

  let closed = false;
  return {
    name: 'uws',
    port,
    viewers,
    close() {
      if (closed) return;
      closed = true;
      clearInterval(keepAlive);
      headroom.close();
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = null;
      for (const v of [...viewers]) v.close();
    },
  };
}
