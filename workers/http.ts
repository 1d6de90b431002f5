/**
 * An HTTP worker thread of --http-threads N (threads 1..N-1; the main thread is thread 0): a
 * front end on the shared port, serving the cameras from their shared rings with this thread's
 * own feeds, viewers and metrics. /status and /metrics are answered by the main thread, which
 * gathers every thread's figures. See src/server/http-workers.ts for the messages.
 *
 * workerData: HttpWorkerData.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { RemoteCamera } from '../src/stream/camera-view.js';
import type { Logger, LogLevel } from '../src/core/log.js';
import { startHttpThread } from '../src/server/http-thread.js';
import type { FromHttpWorker, HttpWorkerData, ToHttpWorker } from '../src/server/http-workers.js';
import { Admission } from '../src/server/admission.js';

const data = workerData as HttpWorkerData;
const port = parentPort!;
const post = (m: FromHttpWorker): void => port.postMessage(m);

const prefix = `HTTP thread ${data.thread}: `;
const forward = (level: LogLevel) => (message: string) => post({ type: 'log', level, message: prefix + message });
// The main thread's logger filters by level and writes the line.
const log: Logger = { debug: forward('debug'), info: forward('info'), warn: forward('warn'), error: forward('error') };

const cameras = data.cameras.map((d) => new RemoteCamera(d));
let nextRequest = 1;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
function ask<T>(what: 'status' | 'metrics'): Promise<T> {
  const id = nextRequest++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    post({ type: 'request', id, what });
  });
}

const thread = await startHttpThread({
  thread: data.thread,
  frontEnd: 'uws',
  settings: data.settings,
  port: data.port,
  sharedPort: true,
  cameras,
  admission: new Admission(data.settings.maxClients, data.admission),
  log,
  status: () => ask('status'),
  metrics: () => ask('metrics'),
});

port.on('message', (m: ToHttpWorker) => {
  switch (m.type) {
    case 'stats':
      void thread.stats().then((stats) => post({ type: 'stats', id: m.id, stats }));
      break;
    case 'reply': {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.error !== undefined) p?.reject(new Error(m.error));
      else p?.resolve(m.value);
      break;
    }
    case 'camera': {
      const camera = cameras.find((c) => c.name === m.name);
      if (camera) camera.lastError = m.lastError && { message: m.lastError.message, at: new Date(m.lastError.at) };
      break;
    }
    case 'close':
      thread.close();
      for (const c of cameras) c.feed.close();
      post({ type: 'closed' });
      break;
  }
});

post({ type: 'listening', port: thread.frontEnd.port });
