/**
 * The emulated camera: three still images showing 1, 2 and 3, cycled at 1 frame per second by
 * default. Needs no hardware; it is the default driver, as in the original Flask design.
 */

import { readFile } from 'node:fs/promises';
import { ConfigError } from '../core/errors.js';
import { stillFrames } from './pacing.js';
import type { CameraDriver, DriverModule, DriverOptions, StillSource } from './types.js';

export const supports: DriverModule['supports'] = ['fps'];
export const DEFAULT_FPS = 1;
const IMAGES = ['1.jpg', '2.jpg', '3.jpg'];
/** The images ship with the package, beside `dist/` (this file runs as dist/src/drivers/emulated.js). */
export const ASSETS_DIR = new URL('../../../assets/emulated/', import.meta.url);

export function validate(options: DriverOptions): void {
  if (options.source !== undefined) throw new ConfigError('invalid --source: the emulated camera takes no source');
}

export async function createDriver(options: DriverOptions): Promise<CameraDriver> {
  const images = await Promise.all(IMAGES.map((name) => readFile(new URL(name, ASSETS_DIR))));
  const fps = options.fps ?? DEFAULT_FPS;
  const stills: StillSource = { fps, frame: (n) => images[n % images.length]! };
  return { stills: () => stills, frames: (signal) => stillFrames(stills, signal) };
}
