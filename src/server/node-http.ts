/**
 * The node:http front end: the same routes and behaviour as the uWebSockets.js one, on Node's own
 * http (or https) module. Used with `--http node`, and automatically where the uWebSockets.js
 * binary cannot load (Node.js 22 and later, musl, other platforms).
 */

import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { STREAM_PREAMBLE } from '../multipart.js';
import type { FrontEnd, FrontEndOptions } from './front-end.js';
import { Router, type Headers, type PlainResponse } from './router.js';
import { Viewer, type StreamTransport } from './viewer.js';

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

/**
 * Node's writable stream keeps a reference to each part (no copy) and writes it with writev;
 * `write` returning false means the socket's buffer is above its high-water mark: the part is
 * in flight until 'drain'.
 */
class NodeStreamTransport implements StreamTransport {
  constructor(
    private readonly res: ServerResponse,
    onDrained: () => void,
  ) {
    res.on('drain', onDrained);
  }

  send(part: Buffer): boolean {
    return this.res.write(part);
  }

  close(): void {
    this.res.destroy();
  }
}

export async function startNodeFrontEnd(options: FrontEndOptions): Promise<FrontEnd> {
  const { log } = options;
  const viewers = new Set<Viewer>();
  const router = new Router({ ...options.router, viewers, frontEnd: 'node' });

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const method = (req.method ?? 'GET').toUpperCase();
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
        req.socket.setNoDelay(true); // each part is one write; don't let Nagle hold its tail
        res.writeHead(200, headerObject(route.headers));
        const viewer: Viewer = new Viewer(
          { camera: route.camera.name, path, remoteAddress: req.socket.remoteAddress ?? '', maxFps: route.maxFps, slowTimeoutMs: route.slowTimeoutMs },
          route.camera.feed,
          new NodeStreamTransport(res, () => viewer.drained()),
          (v) => {
            viewers.delete(v);
            options.onViewerGone?.(v);
          },
        );
        viewers.add(viewer);
        res.on('close', () => viewer.finish());
        res.write(STREAM_PREAMBLE);
        viewer.start();
        return;
      }
    }
  };

  const server = options.tls
    ? https.createServer({ cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) }, handle)
    : http.createServer(handle);
  server.on('clientError', (_err, socket) => {
    // Malformed requests: answer 400 and close, never crash.
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${options.host}:${options.port} (${err.code ?? err.message})`)));
    server.listen(options.port, options.host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  log.info(`node:http front end listening on ${options.tls ? 'https' : 'http'}://${options.host}:${port}/`);

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
