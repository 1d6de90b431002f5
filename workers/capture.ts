/**
 * The capture worker: one per camera, alive for the whole process. It runs the camera's driver
 * (loaded by name, in this thread only) and publishes frames into the camera's ring; the main
 * thread talks to it through the ring's DEMAND field and a few messages.
 *
 * workerData: CaptureWorkerData. Messages out: CaptureWorkerMessage. Message in: 'stop'.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { CaptureLoop } from '../src/capture/capture-loop.js';
import { loadDriverModule } from '../src/drivers/registry.js';
import { logLevelEnabled } from '../src/core/log.js';
import { FrameRing } from '../src/core/ring.js';
import { type CaptureWorkerData, type CaptureWorkerMessage, STOP_MESSAGE } from '../src/capture/protocol.js';

const data = workerData as CaptureWorkerData;
const port = parentPort!;
const post = (m: CaptureWorkerMessage): void => port.postMessage(m);

const loop = new CaptureLoop({
  ring: new FrameRing(data.ring),
  idleTimeoutMs: data.idleTimeoutMs,
  backoffInitialMs: data.backoffInitialMs,
  noSignalAfterMs: data.noSignalAfterMs,
  createDriver: async (context) => (await loadDriverModule(data.driver)).createDriver(data.options, { ...context, nats: data.nats }),
  events: {
    state: (state, error) => post({ type: 'state', state, error }),
    // A line below the main thread's level would only be dropped there, after costing it a
    // message (clone, event-loop turn) like any other: not posted at all.
    log: (level, message) => {
      if (logLevelEnabled(data.logLevel, level)) post({ type: 'log', level, message });
    },
  },
});

port.on('message', (m: unknown) => {
  if (m === STOP_MESSAGE) {
    void loop.stop().then(() => {
      post({ type: 'stopped' });
      port.close();
    });
  }
});

void loop.run();
