/**
 * The HTTP worker threads of --http-threads N, seen from the main thread: threads 1..N-1, each
 * running workers/http.ts, a front end on the same port over the same camera rings. The kernel
 * spreads new connections over every thread listening on the port (SO_REUSEPORT, which
 * uSockets sets on every non-zero port).
 *
 * The main thread owns everything that is one per process: it answers the workers' /status and
 * /metrics requests by gathering every thread's figures, and forwards camera errors (the capture
 * state itself is in each ring's header, which every thread reads).
 */

import { Worker } from 'node:worker_threads';
import type { CameraDescriptor, CameraError } from '../stream/camera-view.js';
import type { LogLevel, Logger } from '../core/log.js';
import type { HttpSettings } from './settings.js';
import type { ThreadStats } from './status.js';

/** workerData of workers/http.ts. */
export interface HttpWorkerData {
  thread: number;
  settings: HttpSettings;
  /** The port every thread shares (chosen by the main thread). */
  port: number;
  cameras: CameraDescriptor[];
  logLevel: LogLevel;
  /** Admission's shared count. */
  admission: SharedArrayBuffer;
}

export type ToHttpWorker =
  | { type: 'stats'; id: number }
  | { type: 'reply'; id: number; value: unknown; error?: string }
  | { type: 'camera'; name: string; lastError: { message: string; at: string } | null }
  | { type: 'close' };

export type FromHttpWorker =
  | { type: 'listening'; port: number }
  | { type: 'stats'; id: number; stats: ThreadStats }
  | { type: 'request'; id: number; what: 'status' | 'metrics' }
  | { type: 'log'; level: LogLevel; message: string }
  | { type: 'closed' };

export interface HttpWorkerHandlers {
  status(): Promise<unknown>;
  metrics(): Promise<{ contentType: string; body: string }>;
  log: Logger;
}

const WORKER_URL = new URL('../../workers/http.js', import.meta.url);
/** A thread that has not answered by then is left out of /status and /metrics. */
const STATS_TIMEOUT_MS = 2000;
const CLOSE_GRACE_MS = 1000;

class HttpWorker {
  readonly worker: Worker;
  private nextId = 1;
  private readonly pendingStats = new Map<number, (s: ThreadStats | null) => void>();
  readonly listening: Promise<number>;
  private closedResolve: (() => void) | null = null;

  constructor(
    readonly thread: number,
    data: HttpWorkerData,
    private readonly handlers: HttpWorkerHandlers,
  ) {
    this.worker = new Worker(WORKER_URL, { workerData: data, name: `http:${thread}` });
    this.listening = new Promise((resolve, reject) => {
      this.worker.on('message', (m: FromHttpWorker) => {
        if (m.type === 'listening') resolve(m.port);
        else this.onMessage(m);
      });
      this.worker.once('error', (err) => reject(new Error(`HTTP thread ${thread}: ${err.message}`)));
      this.worker.once('exit', (code) => {
        reject(new Error(`HTTP thread ${thread} exited with code ${code} before listening`));
        for (const done of this.pendingStats.values()) done(null);
        this.pendingStats.clear();
        this.closedResolve?.();
      });
    });
    // After start, an error in the thread is logged; the other threads keep serving.
    this.worker.on('error', (err) => handlers.log.error(`HTTP thread ${thread} failed: ${err.message}`));
  }

  post(m: ToHttpWorker): void {
    this.worker.postMessage(m);
  }

  stats(): Promise<ThreadStats | null> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pendingStats.delete(id);
        this.handlers.log.warn(`HTTP thread ${this.thread} did not report its figures within ${STATS_TIMEOUT_MS} ms`);
        resolve(null);
      }, STATS_TIMEOUT_MS);
      this.pendingStats.set(id, (s) => {
        clearTimeout(timer);
        resolve(s);
      });
      this.post({ type: 'stats', id });
    });
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      this.closedResolve = resolve;
      setTimeout(resolve, CLOSE_GRACE_MS).unref();
    });
    this.post({ type: 'close' });
    await closed;
    await this.worker.terminate();
  }

  private onMessage(m: FromHttpWorker): void {
    switch (m.type) {
      case 'stats': {
        const done = this.pendingStats.get(m.id);
        this.pendingStats.delete(m.id);
        done?.(m.stats);
        break;
      }
      case 'request': {
        const answer = m.what === 'status' ? this.handlers.status() : this.handlers.metrics();
        answer.then(
          (value) => this.post({ type: 'reply', id: m.id, value }),
          (err: unknown) => this.post({ type: 'reply', id: m.id, value: null, error: err instanceof Error ? err.message : String(err) }),
        );
        break;
      }
      case 'log':
        this.handlers.log[m.level](m.message);
        break;
      case 'closed':
        this.closedResolve?.();
        break;
      case 'listening':
        break;
    }
  }
}

export class HttpWorkers {
  private constructor(private readonly workers: readonly HttpWorker[]) {}

  /** Starts threads `first`..`first + count - 1`; resolves once every one listens. */
  static async start(
    first: number,
    count: number,
    data: Omit<HttpWorkerData, 'thread'>,
    handlers: HttpWorkerHandlers,
  ): Promise<HttpWorkers> {
    const workers = Array.from({ length: count }, (_, i) => new HttpWorker(first + i, { ...data, thread: first + i }, handlers));
    const started = new HttpWorkers(workers);
    try {
      await Promise.all(workers.map((w) => w.listening));
    } catch (err) {
      await started.close();
      throw err;
    }
    return started;
  }

  get size(): number {
    return this.workers.length;
  }

  /** Every worker thread's figures, in thread order; a thread that does not answer is left out. */
  async stats(): Promise<ThreadStats[]> {
    const all = await Promise.all(this.workers.map((w) => w.stats()));
    return all.filter((s): s is ThreadStats => s !== null);
  }

  /** Tells every thread a camera's last error (shown by /status and snapshot errors). */
  cameraChanged(name: string, lastError: CameraError | null): void {
    const m: ToHttpWorker = {
      type: 'camera',
      name,
      lastError: lastError && { message: lastError.message, at: lastError.at.toISOString() },
    };
    for (const w of this.workers) w.post(m);
  }

  /** Stops accepting and ends every stream in every worker thread, then ends the threads. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
