/**
 * Drivers by name, loaded lazily so a user of one driver never loads another driver's modules.
 * A value with a slash (`./mine.js`) names a user's own driver
 * module exporting `createDriver` (and optionally `validate`).
 */

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { openToOthers } from '../core/file-safety.js';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../core/errors.js';
import { DRIVER_OPTION_NAMES, type DriverModule, type DriverOptions } from './types.js';

/** Built-in drivers: src/drivers/NAME.ts each. */
export const BUILTIN_DRIVERS: readonly string[] = Object.freeze([
  'emulated',
  'files',
  'opencv',
  'libcamera',
  'pi',
  'http',
  'nats',
  'synthetic',
]);

/** A path to a user's module: it has a slash (`./mine.js`, `/opt/cam/driver.js`). */
function isModulePath(name: string): boolean {
  return name.includes('/');
}

/**
 * Why a user's driver module could be someone else's code: the module or its folder can be
 * written by every user (a folder without the sticky bit lets anyone replace the file). Worth a
 * warning when the server runs as root, where such code would run as root too.
 */
export function driverModuleWarnings(name: string): string[] {
  if (!isModulePath(name) || process.getuid?.() !== 0) return [];
  const file = resolve(name);
  const open = openToOthers(file);
  const warnings: string[] = [];
  if (open?.writable) warnings.push(`driver module ${file} is writable by every user, and framering runs as root: chmod o-w it`);
  if (open?.replaceableIn)
    warnings.push(
      `driver module ${file} is in a folder every user can write to, and framering runs as root: anyone can replace the module`,
    );
  return warnings;
}

/** Loads the driver module for a `--camera` value. Throws ConfigError for an unknown name. */
export async function loadDriverModule(name: string): Promise<DriverModule> {
  if (BUILTIN_DRIVERS.includes(name)) return (await import(`./${name}.js`)) as DriverModule;
  if (!isModulePath(name)) {
    // A bare `mine.js` would be looked up in whatever folder the server was started from.
    const hint = /\.m?js$/.test(name) ? ` (a module is given by its path: ./${name})` : '';
    throw new ConfigError(`invalid --camera "${name}": expected one of ${BUILTIN_DRIVERS.join(', ')}, or a path to a driver module${hint}`);
  }
  const file = resolve(name);
  if (!existsSync(file)) throw new ConfigError(`invalid --camera "${name}": no such driver module ${file}`);
  const mod = (await import(pathToFileURL(file).href)) as Partial<DriverModule>;
  if (typeof mod.createDriver !== 'function') {
    throw new ConfigError(`invalid --camera "${name}": the module does not export a createDriver function`);
  }
  // A user's module that does not say what it supports is handed every option.
  return { supports: DRIVER_OPTION_NAMES, ...mod } as DriverModule;
}

/** True for option values that change nothing, which every driver honours. */
function isNeutral(name: keyof DriverOptions, value: unknown): boolean {
  // A subject is every camera's: the nats driver reads it, --publish sends any camera's frames on it.
  return (name === 'rotate' && value === 0) || (name === 'flip' && value === 'none') || name === 'subject';
}

/**
 * Loads the driver for `--camera`, refuses options it cannot honour and lets it check the rest.
 * Throws ConfigError naming the option. Runs in the main thread at start; driver modules load
 * native camera bindings only in `createDriver`, inside the capture worker.
 */
export async function checkDriver(name: string, options: DriverOptions): Promise<DriverModule> {
  const driver = await loadDriverModule(name);
  for (const option of DRIVER_OPTION_NAMES) {
    const value = options[option];
    if (value === undefined || isNeutral(option, value) || driver.supports.includes(option)) continue;
    const supported = driver.supports.map((o) => `--${o}`).join(', ') || 'none';
    throw new ConfigError(`invalid --${option}: the ${name} camera cannot honour it (it takes: ${supported})`);
  }
  await driver.validate?.(options);
  return driver;
}
