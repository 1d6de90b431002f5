/**
 * A camera as the main thread sees it: its frame ring, its capture worker, its state, and the
 * main thread's frame feed. Front ends subscribe viewers to `feed`.
 */

import { Worker } from 'node:worker_threads';
import type { CaptureStateName } from '../core/capture-control.js';
import type { Logger } from '../core/log.js';
import { FrameRing } from '../core/ring.js';
import { RingStats } from '../core/ring-stats.js';
import { type CaptureWorkerData, type CaptureWorkerMessage, STOP_MESSAGE } from '../capture/protocol.js';
import { type NatsAccess, NO_NATS_ACCESS } from '../drivers/nats-link.js';
import type { DriverOptions } from '../drivers/types.js';
import type { CameraDescriptor, CameraView } from './camera-view.js';
import { FrameFeed } from './frame-feed.js';

export interface CameraOptions {
  name: string;
  driver: string;
  driverOptions: DriverOptions;
  ringSlots: number;
  maxFrameBytes: number;
  idleTimeoutMs: number;
  /** Without a frame this long (ms) while viewers watch, publish a NO SIGNAL frame; 0 = never. */
  noSignalAfterMs: number;
  /** First restart delay after a driver failure (ms); tests shorten it. */
  backoffInitialMs?: number;
  /** NATS credentials and TLS files (default: none). */
  nats?: NatsAccess;
  log: Logger;
}

const WORKER_URL = new URL('../../workers/capture.js', import.meta.url);
const STOP_GRACE_MS = 1500;

export class Camera implements CameraView {
  readonly name: string;
  readonly driver: string;
  readonly ring: FrameRing;
  readonly stats: RingStats;
  readonly feed: FrameFeed;
  /** Capture state as last reported by the worker. */
  state: CaptureStateName = 'idle';
  /** The last capture error, kept after recovery for status pages. */
  lastError: { message: string; at: Date } | null = null;
  private readonly worker: Worker;
  private readonly log: Logger;
  private readonly stateListeners = new Set<(state: CaptureStateName) => void>();
  private exited = false;

  constructor(options: CameraOptions) {
    this.name = options.name;
    this.driver = options.driver;
    this.log = options.log;
    this.ring = FrameRing.create({ slots: options.ringSlots, slotBytes: options.maxFrameBytes });
    this.stats = new RingStats(this.ring.buffer);
    this.feed = new FrameFeed(this.ring);
    const workerData: CaptureWorkerData = {
      ring: this.ring.buffer,
      driver: options.driver,
      options: options.driverOptions,
      idleTimeoutMs: options.idleTimeoutMs,
      noSignalAfterMs: options.noSignalAfterMs,
      backoffInitialMs: options.backoffInitialMs,
      nats: options.nats ?? NO_NATS_ACCESS,
      logLevel: options.log.level,
    };
    this.worker = new Worker(WORKER_URL, { workerData, name: `capture:${options.name}` });
    this.worker.on('message', (m: CaptureWorkerMessage) => this.onMessage(m));
    this.worker.on('error', (err) => {
      // An uncaught error in the worker: the driver escaped the capture loop's handling.
      this.state = 'error';
      this.lastError = { message: err.message, at: new Date() };
      this.log.error(`camera ${this.name}: capture worker failed: ${err.message}`);
    });
    this.worker.on('exit', () => {
      this.exited = true;
    });
    // The worker must not keep the process alive on its own; the server's sockets do that.
    this.worker.unref();
  }

  /** How an HTTP worker thread attaches to this camera (structured-clone safe). */
  descriptor(): CameraDescriptor {
    return { name: this.name, driver: this.driver, ring: this.ring.buffer };
  }

  /** Calls `listener` on every state change until the returned function is called. */
  onState(listener: (state: CaptureStateName) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Stops capture, releasing the camera, and ends the worker. Resolves within ~1.5 s. */
  async close(): Promise<void> {
    this.feed.close();
    if (this.exited) return;
    const stopped = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, STOP_GRACE_MS);
      this.worker.on('message', (m: CaptureWorkerMessage) => {
        if (m.type === 'stopped') {
          clearTimeout(timer);
          resolve();
        }
      });
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.worker.postMessage(STOP_MESSAGE);
    await stopped;
    await this.worker.terminate();
  }

  private onMessage(m: CaptureWorkerMessage): void {
    switch (m.type) {
      case 'state':
        this.state = m.state;
        if (m.state === 'error') this.lastError = { message: m.error ?? 'unknown error', at: new Date() };
        this.log.debug(`camera ${this.name}: ${m.state}${m.error ? ` (${m.error})` : ''}`);
        for (const l of this.stateListeners) l(m.state);
        break;
      case 'log':
        this.log[m.level](`camera ${this.name}: ${m.message}`);
        break;
      case 'stopped':
        break;
    }
  }
}
