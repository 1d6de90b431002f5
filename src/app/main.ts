/**
 * Wires a running server from a validated Config, in the order of the frame's path: cameras (a
 * ring and a capture worker each), then the HTTP threads over their rings; and tears down in
 * exactly the reverse order. Every decision lives elsewhere (front-end-choice.ts, cameras.ts,
 * http-settings.ts); this file only connects the parts.
 */

import { hostname } from 'node:os';
import type { Logger } from '../core/log.js';
import { Admission } from '../server/admission.js';
import type { FrontEnd } from '../server/front-end.js';
import { type HttpThread, startHttpThread } from '../server/http-thread.js';
import { HttpWorkers } from '../server/http-workers.js';
import { ProcessMetrics } from '../server/metrics.js';
import { buildStatus, type ThreadStats } from '../server/status.js';
import { loadUws } from '../server/uws/binary.js';
import { Camera } from '../stream/camera.js';
import { driverOptions, validateCameras } from './cameras.js';
import type { Config } from './config.js';
import { chooseFrontEnd, resolveHttpThreads } from './front-end-choice.js';
import { httpSettings, openAccessWarning } from './http-settings.js';
import { sharedPort } from './port.js';
import { VERSION } from './version.js';

export interface Server {
  readonly port: number;
  readonly cameras: readonly Camera[];
  /** The main thread's front end (thread 0). */
  readonly frontEnd: FrontEnd;
  /** HTTP threads serving, the main thread included. */
  readonly httpThreads: number;
  /** Stops accepting, ends the streams, stops capture. Idempotent. */
  close(): Promise<void>;
}

export interface StartOptions {
  log: Logger;
  /** First restart delay after a driver failure, ms (default 500); tests shorten it. */
  backoffInitialMs?: number;
  /** How long /snapshot waits for a frame from an idle camera, ms (default 5000); tests shorten it. */
  snapshotTimeoutMs?: number;
}

export async function startServer(config: Config, options: StartOptions): Promise<Server> {
  const { log } = options;
  for (const warning of [...config.warnings, ...(await validateCameras(config))]) log.warn(warning);
  const frontEndName = chooseFrontEnd(config.http, loadUws, log);
  const threadCount = resolveHttpThreads(config, frontEndName, log);
  const settings = httpSettings(config, { version: VERSION, snapshotTimeoutMs: options.snapshotTimeoutMs });
  const openAccess = openAccessWarning(settings);
  if (openAccess !== null) log.warn(openAccess);
  const startedAt = Date.now();

  // 1. Cameras: ring + capture worker each (capture starts with the first viewer).
  const cameras = config.cameras.map(
    (c) =>
      new Camera({
        name: c.name,
        driver: c.driver,
        driverOptions: driverOptions(c),
        ringSlots: config.ringSlots,
        maxFrameBytes: config.maxFrameBytes,
        idleTimeoutMs: config.idleTimeoutMs,
        noSignalAfterMs: config.noSignalAfterMs,
        backoffInitialMs: options.backoffInitialMs,
        nats: config.nats,
        log,
      }),
  );
  // 1b. NATS: another reader of the rings, publishing while edges elsewhere watch.
  const publisher =
    config.publish === undefined
      ? null
      : new (await import('../stream/nats-publisher.js')).NatsPublisher(
          config.publish,
          config.nats,
          cameras.map((c, i) => ({ name: c.name, subject: config.cameras[i]!.subject!, feed: c.feed })),
          log,
        );

  // 2. HTTP threads over the cameras' rings: thread 0 here, 1..N-1 in workers.
  const processMetrics = new ProcessMetrics(cameras);
  let local: HttpThread | null = null;
  let workers: HttpWorkers | null = null;
  const threads = async (): Promise<ThreadStats[]> => [...(local ? [await local.stats()] : []), ...(workers ? await workers.stats() : [])];
  const status = async (): Promise<unknown> =>
    buildStatus({
      cameras,
      threads: await threads(),
      frontEnd: frontEndName,
      version: VERSION,
      startedAt,
      server: `${hostname()}:${local?.frontEnd.port ?? settings.port}`,
      publish: publisher?.status(),
    });
  const metrics = async (): Promise<{ contentType: string; body: string }> =>
    processMetrics.render((await threads()).map((t) => t.metrics));
  const admission = new Admission(settings.maxClients);
  try {
    const shared = threadCount > 1;
    const port = shared ? await sharedPort(settings.host, settings.port) : settings.port;
    local = await startHttpThread({
      thread: 0,
      frontEnd: frontEndName,
      settings,
      port,
      sharedPort: shared,
      cameras,
      admission,
      log,
      status,
      metrics,
    });
    if (shared) {
      const data = {
        settings,
        port: local.frontEnd.port,
        cameras: cameras.map((c) => c.descriptor()),
        logLevel: config.logLevel,
        admission: admission.buffer,
      };
      const w = await HttpWorkers.start(1, threadCount - 1, data, { status, metrics, log });
      workers = w;
      for (const c of cameras) c.onState(() => w.cameraChanged(c.name, c.lastError));
      log.info(`serving HTTP from ${threadCount} threads`);
    }
  } catch (err) {
    local?.close();
    await publisher?.close();
    await Promise.all(cameras.map((c) => c.close()));
    throw err;
  }

  const httpThread = local;
  const httpWorkers = workers;
  let closing: Promise<void> | null = null;
  return {
    port: httpThread.frontEnd.port,
    cameras,
    frontEnd: httpThread.frontEnd,
    httpThreads: threadCount,
    close() {
      // Reverse order: stop serving (every thread), then stop capture.
      closing ??= (async () => {
        httpThread.close();
        await httpWorkers?.close();
        await publisher?.close();
        await Promise.all(cameras.map((c) => c.close()));
      })();
      return closing;
    },
  };
}
