/**
 * What the main thread and a camera's capture worker (workers/capture.ts) say to each other.
 * Frames never travel as messages: they go through the camera's shared ring. Messages carry the
 * start settings, state changes with their error text, and log lines.
 */

import type { CaptureStateName } from '../core/capture-control.js';
import type { LogLevel } from '../core/log.js';
import type { NatsAccess } from '../drivers/nats-link.js';
import type { DriverOptions } from '../drivers/types.js';

/** workerData of workers/capture.ts. */
export interface CaptureWorkerData {
  /** The camera's shared buffer (ring-layout.ts). */
  ring: SharedArrayBuffer;
  /** Driver name, or a path to a driver module. */
  driver: string;
  options: DriverOptions;
  idleTimeoutMs: number;
  /** First restart delay after a driver failure (ms); undefined = the capture loop's default. */
  backoffInitialMs: number | undefined;
  /** Without a frame this long (ms) while viewers watch, publish a NO SIGNAL frame; 0 = never. */
  noSignalAfterMs: number;
  /** NATS credentials and TLS files, for drivers that connect to NATS. */
  nats: NatsAccess;
  /**
   * The main thread's log level: lines below it are not posted at all. A message per line costs
   * the main thread, which serves every viewer, a structured clone and an event-loop turn even
   * when its logger then drops the line (a source sending empty parts at line rate made millions).
   * Undefined: post every line.
   */
  logLevel: LogLevel | undefined;
}

/** Messages from the capture worker. */
export type CaptureWorkerMessage =
  | { type: 'state'; state: CaptureStateName; error?: string | undefined }
  | { type: 'log'; level: LogLevel; message: string }
  | { type: 'stopped' };

/** The one message to the capture worker: release the camera and end. */
export const STOP_MESSAGE = 'stop';
