/**
 * Wires a running server from a validated Config: cameras (ring + capture worker each), then the
 * HTTP front end; tears down in reverse order.
 */

import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { Camera } from '../stream/camera.js';
import { defaultHttpThreads, type CameraConfig, type Config } from './config.js';
import { checkDriver } from '../drivers/registry.js';
import type { DriverOptions } from '../drivers/types.js';
import { ConfigError, UnavailableError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { FrontEnd, FrontEndName } from '../server/front-end.js';
import { startHttpThread, type HttpThread } from '../server/http-thread.js';
import { HttpWorkers } from '../server/http-workers.js';
import { ProcessMetrics } from '../server/metrics.js';
import { buildStatus, type ThreadStats } from '../server/status.js';
import { loadUws } from '../server/uws/binary.js';
import { ViewerCount } from '../server/admission.js';

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
  /** First restart delay after a driver failure, ms (default 500). */
  backoffInitialMs?: number;
  /** How long /snapshot waits for a frame from an idle camera, ms (default 5000). */
  snapshotTimeoutMs?: number;
}

/** Drivers whose native binding may live in only one thread per process. */
const ONE_PER_PROCESS = new Set(['opencv']);

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

function driverOptions(c: CameraConfig): DriverOptions {
  const { source, fps, width, height, quality, rotate, flip, encoders } = c;
  return { source, fps, width, height, quality, rotate, flip, encoders };
}

/**
 * Checks every camera's driver and options (throws ConfigError) without starting anything.
 * Driver modules only validate here; native camera bindings load in capture workers alone.
 */
export async function validateCameras(config: Config): Promise<void> {
  const seen = new Set<string>();
  for (const c of config.cameras) {
    if (seen.has(c.name)) throw new ConfigError(`invalid --camera: two cameras are named "${c.name}"`);
    seen.add(c.name);
    await checkDriver(c.driver, driverOptions(c));
  }
  for (const driver of ONE_PER_PROCESS) {
    if (config.cameras.filter((c) => c.driver === driver).length > 1) {
      throw new ConfigError(
        `invalid --camera: only one ${driver} camera per process (its native binding may run in one thread only); run one framering per ${driver} camera`,
      );
    }
  }
}

/**
 * Which front end to run: the one asked for, else uWebSockets.js where its binary loads, else
 * node:http with a one-line warning. An explicit `--http uws` that cannot load is an error.
 */
export function chooseFrontEnd(requested: FrontEndName | undefined, probeUws: () => unknown, log: Logger): FrontEndName {
  if (requested === 'node') return 'node';
  try {
    probeUws();
    return 'uws';
  } catch (err) {
    if (!(err instanceof UnavailableError) || requested === 'uws') throw err;
    log.warn(`${err.message}; using the node:http front end instead`);
    return 'node';
  }
}

/**
 * How many HTTP threads to run: --http-threads, else defaultHttpThreads(). The node:http front
 * end serves from the main thread only: asking for more with --http node is an error; where
 * node:http was chosen because uWebSockets.js cannot load, more threads are declined with a
 * warning.
 */
export function resolveHttpThreads(config: Pick<Config, 'http' | 'httpThreads'>, frontEnd: FrontEndName, log: Logger): number {
  const asked = config.httpThreads;
  if (frontEnd === 'uws') return asked ?? defaultHttpThreads();
  if (asked === undefined || asked === 1) return 1;
  if (config.http === 'node')
    throw new ConfigError(`invalid --http-threads ${asked}: the node front end serves from one thread; use --http uws for more`);
  log.warn(`--http-threads ${asked} ignored: the node:http front end serves from one thread`);
  return 1;
}

/**
 * The port several HTTP threads will share: `port` once it is checked free (the threads listen
 * with SO_REUSEPORT, which would let them join another server's port unnoticed), or a free one
 * for port 0 (each thread listening on port 0 would get its own).
 */
async function sharedPort(host: string, port: number): Promise<number> {
  const probe = createServer(); // node listens exclusively: it fails on any listener, SO_REUSEPORT or not
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${host}:${port} (${err.code ?? err.message})`)));
    probe.listen(port, host, resolve);
  });
  const { port: bound } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return bound;
}

export async function startServer(config: Config, options: StartOptions): Promise<Server> {
  const { log } = options;
  await validateCameras(config);
  const frontEndName = chooseFrontEnd(config.http, loadUws, log);
  const threadCount = resolveHttpThreads(config, frontEndName, log);
  const startedAt = Date.now();
  const cameras = config.cameras.map(
    (c) =>
      new Camera({
        name: c.name,
        driver: c.driver,
        driverOptions: driverOptions(c),
        ringSlots: config.ringSlots,
        maxFrameBytes: config.maxFrameBytes,
        idleTimeoutMs: config.idleTimeout * 1000,
        noSignalAfterMs: config.noSignalAfter * 1000,
        backoffInitialMs: options.backoffInitialMs,
        log,
      }),
  );
  const processMetrics = new ProcessMetrics(cameras);
  let local: HttpThread | null = null;
  let workers: HttpWorkers | null = null;
  const threads = async (): Promise<ThreadStats[]> => [...(local ? [await local.stats()] : []), ...(workers ? await workers.stats() : [])];
  const status = async (): Promise<unknown> =>
    buildStatus({ cameras, threads: await threads(), frontEnd: frontEndName, version: VERSION, startedAt });
  const metrics = async (): Promise<{ contentType: string; body: string }> =>
    processMetrics.render((await threads()).map((t) => t.metrics));
  const shared = {
    host: config.host,
    tls: config.tlsCert && config.tlsKey ? { cert: config.tlsCert, key: config.tlsKey } : undefined,
    auth: [...config.auth],
    corsOrigin: config.corsOrigin,
    maxClients: config.maxClients,
    slowClientTimeoutMs: config.slowClientTimeout * 1000,
    version: VERSION,
    snapshotTimeoutMs: options.snapshotTimeoutMs,
  };
  const viewerCount = new ViewerCount();
  try {
    const port = threadCount > 1 ? await sharedPort(config.host, config.port) : config.port;
    local = await startHttpThread({
      ...shared,
      thread: 0,
      frontEnd: frontEndName,
      port,
      sharedPort: threadCount > 1,
      cameras,
      log,
      viewerCount,
      status,
      metrics,
    });
    if (threadCount > 1) {
      workers = await HttpWorkers.start(
        1,
        threadCount - 1,
        {
          ...shared,
          port: local.frontEnd.port,
          cameras: cameras.map((c) => ({ name: c.name, driver: c.driver, ring: c.ring.buffer })),
          logLevel: config.logLevel,
          viewerCount: viewerCount.buffer,
        },
        { status, metrics, log },
      );
      const w = workers;
      for (const c of cameras) c.onState(() => w.cameraChanged(c.name, c.lastError));
      log.info(`serving HTTP from ${threadCount} threads`);
    }
  } catch (err) {
    local?.close();
    await Promise.all(cameras.map((c) => c.close()));
    throw err;
  }
  const fe = local.frontEnd;
  const httpThread = local;
  const httpWorkers = workers;
  let closing: Promise<void> | null = null;
  return {
    port: fe.port,
    cameras,
    frontEnd: fe,
    httpThreads: threadCount,
    close() {
      closing ??= (async () => {
        httpThread.close();
        await httpWorkers?.close();
        await Promise.all(cameras.map((c) => c.close()));
      })();
      return closing;
    },
  };
}
