/**
 * One HTTP thread's share of the server: a front end, its viewers, their metrics, and its part
 * of /status. The main thread runs thread 0; with --http-threads N, workers/http.ts runs threads
 * 1..N-1 the same way, on the same port and the same camera rings.
 */

import type { CameraView } from '../stream/camera-view.js';
import type { Logger } from '../core/log.js';
import { BasicAuth, type Credentials } from './auth.js';
import type { FrontEnd, FrontEndName, TlsFiles } from './front-end.js';
import { ThreadMetrics } from './metrics.js';
import { startNodeFrontEnd } from './node/front-end.js';
import { viewerStatus, type ThreadStats } from './status.js';
import type { ViewerCount } from './admission.js';

export interface HttpThreadOptions {
  thread: number;
  frontEnd: FrontEndName;
  host: string;
  port: number;
  tls: TlsFiles | undefined;
  /** Several threads listen on this port. */
  sharedPort: boolean;
  cameras: readonly CameraView[];
  auth: readonly Credentials[];
  corsOrigin: string | undefined;
  maxClients: number;
  slowClientTimeoutMs: number;
  version: string;
  log: Logger;
  /** Viewers across every thread, for --max-clients. */
  viewerCount: ViewerCount;
  /** The whole server's /status document and /metrics text (the main thread gathers them). */
  status: () => Promise<unknown>;
  metrics: () => Promise<{ contentType: string; body: string }>;
  snapshotTimeoutMs?: number | undefined;
}

export interface HttpThread {
  readonly frontEnd: FrontEnd;
  /** This thread's viewers and metrics, for /status and /metrics. */
  stats(): Promise<ThreadStats>;
  /** Stops accepting and ends this thread's streams. */
  close(): void;
}

export async function startHttpThread(o: HttpThreadOptions): Promise<HttpThread> {
  let frontEnd: FrontEnd | null = null;
  const metrics = new ThreadMetrics(o.thread, o.cameras, () => frontEnd?.viewers ?? []);
  const options = {
    host: o.host,
    port: o.port,
    tls: o.tls,
    sharedPort: o.sharedPort,
    log: o.log,
    onViewerGone: (v: Parameters<ThreadMetrics['viewerLeft']>[0]) => {
      o.viewerCount.remove();
      metrics.viewerLeft(v);
    },
    router: {
      cameras: o.cameras,
      auth: o.auth.length > 0 ? new BasicAuth(o.auth) : null,
      corsOrigin: o.corsOrigin,
      maxClients: o.maxClients,
      viewerCount: o.viewerCount,
      slowClientTimeoutMs: o.slowClientTimeoutMs,
      version: o.version,
      log: o.log,
      status: o.status,
      metrics: o.metrics,
      snapshotTimeoutMs: o.snapshotTimeoutMs,
    },
  };
  if (o.frontEnd === 'node') {
    frontEnd = await startNodeFrontEnd(options);
  } else {
    // Loaded only when used: the node front end must work where the uWS binary cannot load.
    const { startUwsFrontEnd } = await import('./uws/front-end.js');
    frontEnd = await startUwsFrontEnd(options);
  }
  const fe = frontEnd;
  return {
    frontEnd: fe,
    async stats() {
      const now = performance.now();
      return {
        thread: o.thread,
        clients: [...fe.viewers].map((v) => viewerStatus(v, o.thread, now)),
        slowClientsDisconnected: metrics.slowDisconnects,
        metrics: await metrics.json(),
      };
    },
    close: () => fe.close(),
  };
}
