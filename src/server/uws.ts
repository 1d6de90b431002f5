/**
 * The uWebSockets.js HTTP front end. This is the only module that talks to uWebSockets.js;
 * routing and policy live in Router and Viewer, shared with the node:http front end.
 */

import type { HttpRequest, HttpResponse, us_listen_socket } from '@trufflesuite/uws-js-unofficial';
import { STREAM_PREAMBLE } from '../multipart.js';
import type { FrontEnd, FrontEndOptions } from './front-end.js';
import { Router, statusLine, type PlainResponse } from './router.js';
import { loadUws } from './uws-binary.js';
import { UwsStreamTransport } from './uws-stream.js';
import { Viewer } from './viewer.js';

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

export async function startUwsFrontEnd(options: FrontEndOptions): Promise<FrontEnd> {
  const uws = loadUws();
  const { log } = options;
  const viewers = new Set<Viewer>();
  const router = new Router({ ...options.router, viewers, frontEnd: 'uws' });

  const handle = (res: HttpResponse, req: HttpRequest): void => {
    const method = req.getMethod().toUpperCase();
    const path = req.getUrl();
    const route = router.route({ method, path, query: req.getQuery() ?? '', header: (name) => req.getHeader(name) || undefined });
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
        const transport: UwsStreamTransport = new UwsStreamTransport(
          res,
          () => viewer.drained(),
          () => viewer.finish(),
        );
        const viewer: Viewer = new Viewer({ camera: route.camera.name, path, remoteAddress, maxFps: route.maxFps, slowTimeoutMs: route.slowTimeoutMs }, route.camera.feed, transport, (v) => {
            viewers.delete(v);
            options.onViewerGone?.(v);
          });
        viewers.add(viewer);
        transport.begin(route.headers, STREAM_PREAMBLE);
        viewer.start();
        return;
      }
    }
  };

  const app = options.tls ? uws.SSLApp({ cert_file_name: options.tls.cert, key_file_name: options.tls.key }) : uws.App();
  app.any('/*', handle);

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(options.host, options.port, (token) => {
      if (token) resolve(token);
      else reject(new Error(`cannot listen on ${options.host}:${options.port} (address in use or not available)`));
    });
  });
  const port = uws.us_socket_local_port(listenSocket as never);
  log.info(`uWebSockets.js front end listening on ${options.tls ? 'https' : 'http'}://${options.host}:${port}/`);

  let closed = false;
  return {
    name: 'uws',
    port,
    viewers,
    close() {
      if (closed) return;
      closed = true;
      uws.us_listen_socket_close(listenSocket);
      for (const v of [...viewers]) v.close();
    },
  };
}
