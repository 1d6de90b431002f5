/**
 * A folder of JPEG files played in a loop: every *.jpg / *.jpeg in `--source`, in natural sort
 * order (frame2 before frame10), at `--fps` (default 30). The benchmarks serve frames this way.
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { isCompleteJpeg } from '../core/jpeg.js';
import { stillFrames } from './pacing.js';
import type { CameraDriver, DriverModule, DriverOptions, StillSource } from './types.js';

export const supports: DriverModule['supports'] = ['source', 'fps'];
export const DEFAULT_FPS = 30;

function listFrames(source: string | undefined): string[] {
  if (source === undefined) throw new ConfigError('missing --source: the files camera needs a folder of *.jpg frames');
  let names: string[];
  try {
    if (!statSync(source).isDirectory()) throw new ConfigError(`invalid --source "${source}": not a folder`);
    names = readdirSync(source);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`invalid --source "${source}": cannot read the folder (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const frames = names
    .filter((n) => /\.jpe?g$/i.test(n))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((n) => join(source, n));
  if (frames.length === 0) throw new ConfigError(`invalid --source "${source}": the folder has no *.jpg files`);
  return frames;
}

function loadFrames(source: string | undefined): Buffer[] {
  return listFrames(source).map((file) => {
    const bytes = readFileSync(file);
    if (!isCompleteJpeg(bytes)) throw new ConfigError(`invalid frame ${file}: not a complete JPEG (no FFD8 start or FFD9 end)`);
    return bytes;
  });
}

export function validate(options: DriverOptions): void {
  loadFrames(options.source);
}

export function createDriver(options: DriverOptions): CameraDriver {
  const fps = options.fps ?? DEFAULT_FPS;
  // Read the folder at every start, so frames changed while idle are picked up.
  const stills = (): StillSource => {
    const frames = loadFrames(options.source);
    return { fps, frame: (n) => frames[n % frames.length]! };
  };
  return { stills, frames: (signal) => stillFrames(stills(), signal) };
}
