/**
 * Wires a running server from a validated Config: cameras (ring + capture worker), then the
 * front end; tears down in reverse order.
 */

import { Camera } from './camera.js';
import type { Config } from './config.js';
import { checkDriver } from './drivers/registry.js';
import type { DriverOptions } from './drivers/types.js';
import type { Logger } from './log.js';
import { startUwsFrontEnd, type FrontEnd } from './server/uws.js';

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
}

/**
 * Checks the camera's driver options (throws ConfigError) without starting anything. Driver
 * modules only validate here; native camera bindings load in the capture worker alone.
 */
export async function validateCamera(config: Config): Promise<void> {
  await checkDriver(config.camera, driverOptions(config));
}

function driverOptions(config: Config): DriverOptions {
  const { source, fps, width, height, quality, rotate, flip, encoders } = config;
  return { source, fps, width, height, quality, rotate, flip, encoders };
}

export async function startServer(config: Config, options: StartOptions): Promise<Server> {
  const { log } = options;
  await validateCamera(config);
  const camera = new Camera({
    name: 'default',
    driver: config.camera,
    driverOptions: driverOptions(config),
    ringSlots: config.ringSlots,
    maxFrameBytes: config.maxFrameBytes,
    idleTimeoutMs: config.idleTimeout * 1000,
    backoffInitialMs: options.backoffInitialMs,
    log,
  });
  const cameras = [camera];
  let frontEnd: FrontEnd;
  try {
    frontEnd = await startUwsFrontEnd({ host: config.host, port: config.port, cameras, log });
  } catch (err) {
    await camera.close();
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    port: frontEnd.port,
    cameras,
    frontEnd,
    close() {
      closing ??= (async () => {
        frontEnd.close();
        await Promise.all(cameras.map((c) => c.close()));
      })();
      return closing;
    },
  };
}
