/**
 * Raspberry Pi cameras on the libcamera stack (Raspberry Pi OS Bookworm and later; Bullseye's
 * default stack too): runs `rpicam-vid`, or `libcamera-vid` (its name until late 2023)
 * where rpicam-vid is not installed, and splits the MJPEG stream it writes to stdout into frames.
 *
 *   rpicam-vid --codec mjpeg -t 0 -n --flush -o - [--camera N] [--width W] [--height H]
 *              [--framerate F] [--quality Q] [--hflip] [--vflip]
 *
 * Flags as defined in rpicam-apps core/options.cpp and core/video_options.hpp. `--flush` makes
 * it fflush stdout after every frame (output/file_output.cpp): without it, stdout to a pipe is
 * block-buffered and the tail of each frame, EOI included, waits for the next frame.
 *
 * `--source` is the camera index (`--camera N`; `rpicam-hello --list-cameras` lists them).
 * libcamera transforms are the sensor's flips only, so `--rotate` takes 0 or 180 (180 = both
 * flips); 90 and 270 are refused at start.
 */

import { spawn } from 'node:child_process';
import { ConfigError, UnavailableError } from '../core/errors.js';
import { findOnPath, killCameraToolsOnExit, mjpegFrames, SupervisedChild } from './mjpeg/child-process.js';
import type { CameraDriver, DriverContext, DriverModule, DriverOptions } from './types.js';

export const supports: DriverModule['supports'] = ['source', 'fps', 'width', 'height', 'quality', 'rotate', 'flip'];

/** In order of preference: rpicam-apps renamed the tools in late 2023 and kept the old names as links for a while. */
export const TOOLS = ['rpicam-vid', 'libcamera-vid'] as const;
const MAX_CAMERA_INDEX = 15;

/** The first of TOOLS on PATH, or undefined. */
export function findTool(path = process.env.PATH ?? ''): { name: (typeof TOOLS)[number]; file: string } | undefined {
  for (const name of TOOLS) {
    const file = findOnPath(name, path);
    if (file) return { name, file };
  }
  return undefined;
}

function missingTool(): UnavailableError {
  return new UnavailableError(
    '--camera libcamera needs rpicam-vid or libcamera-vid, and neither is on PATH: install the rpicam-apps package (sudo apt install rpicam-apps)',
  );
}

/** The tool's arguments for these options (validated). */
export function commandLine(options: DriverOptions): string[] {
  const args = ['--codec', 'mjpeg', '-t', '0', '-n', '--flush', '-o', '-'];
  if (options.source !== undefined) args.push('--camera', options.source.trim());
  if (options.width !== undefined) args.push('--width', String(options.width));
  if (options.height !== undefined) args.push('--height', String(options.height));
  if (options.fps !== undefined) args.push('--framerate', String(options.fps));
  if (options.quality !== undefined) args.push('--quality', String(options.quality));
  // Rotating by 180 is flipping both ways; combined with --flip, each axis flips if exactly one
  // of the two asks for it. Passing the net flips (never --rotation) keeps one canonical form.
  const half = options.rotate === 180;
  const flip = options.flip ?? 'none';
  if (half !== (flip === 'h' || flip === 'both')) args.push('--hflip');
  if (half !== (flip === 'v' || flip === 'both')) args.push('--vflip');
  return args;
}

export function validate(options: DriverOptions): void {
  if (options.rotate === 90 || options.rotate === 270) {
    throw new ConfigError(
      `invalid --rotate ${options.rotate}: libcamera rotates only by 0 or 180 (its transforms are the sensor's flips; it cannot turn the picture a quarter turn)`,
    );
  }
  if (options.source !== undefined) {
    const s = options.source.trim();
    if (!/^[0-9]{1,2}$/.test(s) || Number(s) > MAX_CAMERA_INDEX) {
      throw new ConfigError(
        `invalid --source "${options.source}": the libcamera camera takes a camera index from 0 to ${MAX_CAMERA_INDEX} (rpicam-hello --list-cameras lists them)`,
      );
    }
  }
  if (!findTool()) throw missingTool();
  killCameraToolsOnExit();
}

export function createDriver(options: DriverOptions, context: DriverContext): CameraDriver {
  const args = commandLine(options);
  return {
    async *frames(signal) {
      // Looked up at every start: the package may have been installed or upgraded meanwhile.
      const tool = findTool();
      if (!tool) throw missingTool();
      context.log('debug', `starting ${tool.file} ${args.join(' ')}`);
      const child = spawn(tool.file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const proc = new SupervisedChild(child, tool.name, {
        onStderrLine: (line) => context.log('debug', `${tool.name}: ${line}`),
      });
      try {
        yield* mjpegFrames(child.stdout, {
          signal,
          context,
          finished: proc.exited.then((exit) => new Error(proc.describeExit(exit))),
        });
      } finally {
        await proc.stop();
      }
    },
  };
}
