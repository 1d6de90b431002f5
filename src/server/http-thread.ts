/**
 * One HTTP thread's share of the server: a front end, its viewers, their metrics, and its part
 * of /status. The main thread runs thread 0; with --http-threads N, workers/http.ts runs threads
 * 1..N-1 the same way, on the same port and the same camera rings.
 */

import type { Logger } from '../core/log.js';
import type { CameraView } from '../stream/camera-view.js';
import type { Admission } from './admission.js';
import type { FrontEnd, FrontEndName } from './front-end.js';
import { ThreadMetrics } from './metrics.js';
import { startNodeFrontEnd } from './node/front-end.js';
import { Router } from './router.js';
import type { HttpSettings } from './settings.js';
import { type ThreadStats, viewerStatus } from './status.js';

export interface HttpThreadOptions {
  thread: number;
  frontEnd: FrontEndName;
  settings: HttpSettings;
  /** The port to listen on (settings.port, or the one every thread shares). */
  port: number;
  /** Several threads listen on this port. */
  sharedPort: boolean;
  cameras: readonly CameraView[];
  /** Viewers across every thread, for --max-clients. */
  admission: Admission;
  log: Logger;
  /** The whole server's /status document and /metrics text (the main thread gathers them). */
  status: () => Promise<unknown>;
  metrics: () => Promise<{ contentType: string; body: string }>;
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
  const router = new Router({
    cameras: o.cameras,
    settings: o.settings,
    admission: o.admission,
    log: o.log,
    status: o.status,
    metrics: o.metrics,
  });
  const metrics = new ThreadMetrics(
    o.thread,
    o.cameras,
    () => frontEnd?.viewers ?? [],
    router.lockout,
    () => router.refusedHosts,
  );
  const options = {
    settings: o.settings,
    port: o.port,
    sharedPort: o.sharedPort,
    router,
    log: o.log,
    onViewerGone: (v: Parameters<ThreadMetrics['viewerLeft']>[0]) => metrics.viewerLeft(v),
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
