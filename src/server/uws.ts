/**
 * The uWebSockets.js HTTP front end: the index page and the MJPEG streams.
 * This is the only module that talks to uWebSockets.js.
 */

import type { HttpRequest, HttpResponse, us_listen_socket } from '@trufflesuite/uws-js-unofficial';
import type { Camera } from '../camera.js';
import type { Logger } from '../log.js';
import { STREAM_CONTENT_TYPE } from '../multipart.js';
import { renderIndexPage } from './page.js';
import { loadUws } from './uws-binary.js';
import { UwsStreamClient } from './uws-stream.js';

export interface FrontEndOptions {
  host: string;
  port: number;
  cameras: readonly Camera[];
  log: Logger;
}

export interface FrontEnd {
  readonly name: string;
  /** The port actually listened on. */
  readonly port: number;
  /** Viewers connected now. */
  readonly clientCount: number;
  /** Stops accepting and ends every stream. */
  close(): void;
}

const COMMON_HEADERS = [['X-Content-Type-Options', 'nosniff']] as const;
const STREAM_HEADERS = [
  ['Content-Type', STREAM_CONTENT_TYPE],
  ['Cache-Control', 'no-store, no-cache, must-revalidate, max-age=0'],
  ['Pragma', 'no-cache'],
  ...COMMON_HEADERS,
] as const;

export async function startUwsFrontEnd(options: FrontEndOptions): Promise<FrontEnd> {
  const uws = loadUws();
  const { cameras, log } = options;
  const primary = cameras[0];
  if (!primary) throw new Error('no camera to serve');
  const clients = new Set<UwsStreamClient>();
  const page = renderIndexPage(cameras.map((c, i) => ({ name: c.name, streamPath: i === 0 ? '/video_feed' : `/cameras/${c.name}/video_feed` })));
  // Paths that exist, for telling 405 from 404.
  const routes = new Set(['/', '/video_feed']);

  const sendSimple = (res: HttpResponse, status: string, type: string, body: string, extra: readonly (readonly [string, string])[] = []): void => {
    res.writeStatus(status).writeHeader('Content-Type', type);
    for (const [k, v] of COMMON_HEADERS) res.writeHeader(k, v);
    for (const [k, v] of extra) res.writeHeader(k, v);
    res.end(body);
  };

  const serveStream = (res: HttpResponse, camera: Camera): void => {
    const client = new UwsStreamClient(res, camera.feed, (c) => clients.delete(c));
    clients.add(client);
    client.start(STREAM_HEADERS);
  };

  const app = uws
    .App()
    .get('/', (res) => sendSimple(res, '200 OK', 'text/html; charset=utf-8', page, [['Cache-Control', 'no-cache']]))
    .get('/video_feed', (res) => serveStream(res, primary))
    .any('/*', (res: HttpResponse, req: HttpRequest) => {
      const path = req.getUrl();
      if (routes.has(path)) {
        sendSimple(res, '405 Method Not Allowed', 'text/plain; charset=utf-8', `method ${req.getMethod().toUpperCase()} not allowed on ${path}\n`, [['Allow', 'GET']]);
      } else {
        sendSimple(res, '404 Not Found', 'text/plain; charset=utf-8', `not found: ${path}\n`);
      }
    });

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(options.host, options.port, (token) => {
      if (token) resolve(token);
      else reject(new Error(`cannot listen on ${options.host}:${options.port} (address in use or not available)`));
    });
  });
  const port = uws.us_socket_local_port(listenSocket as never);
  log.info(`uWebSockets.js front end listening on http://${options.host}:${port}/`);

  let closed = false;
  return {
    name: 'uws',
    port,
    get clientCount() {
      return clients.size;
    },
    close() {
      if (closed) return;
      closed = true;
      uws.us_listen_socket_close(listenSocket);
      for (const c of [...clients]) c.close();
    },
  };
}
