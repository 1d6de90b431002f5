/**
 * The configured cameras, checked before anything starts: unique names, a driver that exists and
 * honours the options given, and the per-process limits of native bindings. Used by the server at
 * start and by `framering doctor`.
 */

import { ConfigError } from '../core/errors.js';
import { checkDriver, driverModuleWarnings } from '../drivers/registry.js';
import type { DriverOptions } from '../drivers/types.js';
import type { CameraConfig, Config } from './config.js';
import { CAMERA_OPTIONS } from './options.js';

/** Drivers whose native binding may live in only one thread per process. */
const ONE_PER_PROCESS = new Set(['opencv']);

/** A camera's driver options (what its capture worker is given). */
export function driverOptions(c: CameraConfig): DriverOptions {
  return Object.fromEntries(CAMERA_OPTIONS.map((k) => [k, c[k]])) as unknown as DriverOptions;
}

/**
 * Checks every camera's driver and options (throws ConfigError) without starting anything, and
 * returns warnings worth a line at start (a driver module others could replace).
 * Driver modules only validate here; native camera bindings load in capture workers alone.
 */
export async function validateCameras(config: Pick<Config, 'cameras'>): Promise<string[]> {
  const warnings: string[] = [];
  const seen = new Set<string>();
  const subjects = new Map<string, string>();
  for (const c of config.cameras) {
    if (seen.has(c.name)) throw new ConfigError(`invalid --camera: two cameras are named "${c.name}"`);
    seen.add(c.name);
    const other = c.subject === undefined ? undefined : subjects.get(c.subject);
    if (other !== undefined)
      throw new ConfigError(
        `invalid subject "${c.subject}": cameras "${other}" and "${c.name}" would share it; give each camera its own (subject=...)`,
      );
    if (c.subject !== undefined) subjects.set(c.subject, c.name);
    await checkDriver(c.driver, driverOptions(c));
    warnings.push(...driverModuleWarnings(c.driver));
  }
  for (const driver of ONE_PER_PROCESS) {
    if (config.cameras.filter((c) => c.driver === driver).length > 1) {
      throw new ConfigError(
        `invalid --camera: only one ${driver} camera per process (its native binding may run in one thread only); run one framering per ${driver} camera`,
      );
    }
  }
  return warnings;
}
