/**
 * Drivers by name, loaded lazily so a user of one driver never loads another driver's modules.
 * A value that looks like a path (contains a slash, or ends in .js/.mjs) names a user's own driver
 * module exporting `createDriver` (and optionally `validate`).
 */

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.js';
import type { DriverModule } from './types.js';

const builtin: Record<string, () => Promise<DriverModule>> = {
  emulated: () => import('./emulated.js'),
  files: () => import('./files.js'),
};

export const BUILTIN_DRIVERS = Object.freeze(Object.keys(builtin));

function isModulePath(name: string): boolean {
  return name.includes('/') || /\.m?js$/.test(name);
}

/** Loads the driver module for a `--camera` value. Throws ConfigError for an unknown name. */
export async function loadDriverModule(name: string): Promise<DriverModule> {
  const load = builtin[name];
  if (load) return load();
  if (!isModulePath(name)) {
    throw new ConfigError(`invalid --camera "${name}": expected one of ${BUILTIN_DRIVERS.join(', ')}, or a path to a driver module`);
  }
  const file = resolve(name);
  if (!existsSync(file)) throw new ConfigError(`invalid --camera "${name}": no such driver module ${file}`);
  const mod = (await import(pathToFileURL(file).href)) as Partial<DriverModule>;
  if (typeof mod.createDriver !== 'function') {
    throw new ConfigError(`invalid --camera "${name}": the module does not export a createDriver function`);
  }
  return mod as DriverModule;
}
