/**
 * Wires a running server from a validated Config: cameras (ring + capture worker each), then the
 * HTTP front end; tears down in reverse order.
 */

import { readFileSync } from 'node:fs';
import { Camera } from './camera.js';
import type { CameraConfig, Config } from './config.js';
import { checkDriver } from './drivers/registry.js';
import type { DriverOptions } from './drivers/types.js';
import { ConfigError, UnavailableError } from './errors.js';
import type { Logger } from './log.js';
import { BasicAuth } from './server/auth.js';
import type { FrontEnd, FrontEndName, FrontEndOptions } from './server/front-end.js';
import { Metrics } from './server/metrics.js';
import { startNodeFrontEnd } from './server/node-http.js';
import { buildStatus } from './server/status.js';
import { loadUws } from './server/uws-binary.js';
import type { Viewer } from './server/viewer.js';

export interface Server {
  readonly port: number;
  readonly cameras: readonly Camera[];
  readonly frontEnd: FrontEnd;
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

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

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
      throw new ConfigError(`invalid --camera: only one ${driver} camera per process (its native binding may run in one thread only); run one framering per ${driver} camera`);
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

async function startFrontEnd(config: Config, options: FrontEndOptions, log: Logger): Promise<FrontEnd> {
  if (chooseFrontEnd(config.http, loadUws, log) === 'node') return startNodeFrontEnd(options);
  const { startUwsFrontEnd } = await import('./server/uws.js');
  return startUwsFrontEnd(options);
}

export async function startServer(config: Config, options: StartOptions): Promise<Server> {
  const { log } = options;
  await validateCameras(config);
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
  let frontEnd: FrontEnd | null = null;
  const viewers = (): Iterable<Viewer> => frontEnd?.viewers ?? [];
  const metrics = new Metrics({ cameras, viewers });
  try {
    frontEnd = await startFrontEnd(
      config,
      {
        host: config.host,
        port: config.port,
        tls: config.tlsCert && config.tlsKey ? { cert: config.tlsCert, key: config.tlsKey } : undefined,
        log,
        onViewerGone: (v) => metrics.viewerLeft(v),
        router: {
          cameras,
          auth: config.auth.length > 0 ? new BasicAuth(config.auth) : null,
          corsOrigin: config.corsOrigin,
          maxClients: config.maxClients,
          slowClientTimeoutMs: config.slowClientTimeout * 1000,
          version: VERSION,
          log,
          status: () => buildStatus({ cameras, viewers, frontEnd: () => frontEnd?.name ?? '', version: VERSION, startedAt, slowClientsDisconnected: () => metrics.slowDisconnects }),
          metrics: () => metrics.render(),
          snapshotTimeoutMs: options.snapshotTimeoutMs,
        },
      },
      log,
    );
  } catch (err) {
    await Promise.all(cameras.map((c) => c.close()));
    throw err;
  }
  const fe = frontEnd;
  let closing: Promise<void> | null = null;
  return {
    port: fe.port,
    cameras,
    frontEnd: fe,
    close() {
      closing ??= (async () => {
        fe.close();
        await Promise.all(cameras.map((c) => c.close()));
      })();
      return closing;
    },
  };
}
