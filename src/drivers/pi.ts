/**
 * Raspberry Pi cameras on the legacy camera stack (Raspberry Pi OS Buster, or Bullseye with the
 * legacy camera enabled in raspi-config): `raspivid --codec MJPEG` through pi-camera-connect
 * 0.3.4, which builds raspivid's command line from its StreamOptions and spawns it.
 *
 * From the library this driver takes the option mapping, the spawn and the raw stdout bytes
 * (createStream()). It does not use the library's 'frame' events: the library splits on the byte
 * sequence FF D8 FF DB 00 84 00 and emits a frame only when the next one starts (one frame late),
 * after concatenating every chunk into a growing buffer. The bytes go through the shared
 * marker-aware splitter instead, and the child process (the library's private `childProcess`,
 * which it neither exposes nor kills with more than one SIGTERM) is supervised like the libcamera
 * driver's: exit code and last stderr line in the error, SIGKILL after a grace period.
 *
 * Honours --width, --height, --fps (whole numbers: raspivid parses --framerate with "%u"),
 * --rotate 0/90/180/270 (raspivid rotates natively) and --flip. Not --quality: raspivid has no
 * JPEG quality for MJPEG (it has a bit rate; the library's default, 17 Mbit/s, is kept), nor
 * --source (the library has no camera-select option).
 */

import type { ChildProcess } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { StreamOptions } from 'pi-camera-connect';
import { ConfigError, UnavailableError } from '../core/errors.js';
import { findOnPath, killCameraToolsOnExit, mjpegFrames, SupervisedChild } from './mjpeg/child-process.js';
import type { CameraDriver, DriverContext, DriverModule, DriverOptions } from './types.js';

export const supports: DriverModule['supports'] = ['fps', 'width', 'height', 'rotate', 'flip'];

export const TOOL = 'raspivid';
const LIBRARY = 'pi-camera-connect';
/**
 * The library keeps every byte since the last FF D8 FF DB 00 84 00 it saw. If raspivid's frames
 * do not start that way, that buffer grows without bound (and is re-copied on every chunk). The
 * library's 'frame' events normally trail this driver's frames by one; when they trail by more
 * than this many, the session is stopped with an error rather than left to eat memory.
 */
const MAX_LIBRARY_LAG_FRAMES = 3;

type Library = typeof import('pi-camera-connect');

function missingTool(): UnavailableError {
  return new UnavailableError(
    `--camera pi needs raspivid, which is not on PATH: it comes with the legacy camera stack (Raspberry Pi OS Buster, or Bullseye with the legacy camera enabled); on Bookworm and later use --camera libcamera`,
  );
}

/** Our options as pi-camera-connect StreamOptions (validated). */
export function streamOptions(lib: Pick<Library, 'Codec' | 'Flip'>, options: DriverOptions): StreamOptions {
  const flips = { none: lib.Flip.None, h: lib.Flip.Horizontal, v: lib.Flip.Vertical, both: lib.Flip.Both } as const;
  const out: StreamOptions = { codec: lib.Codec.MJPEG };
  if (options.width !== undefined) out.width = options.width;
  if (options.height !== undefined) out.height = options.height;
  if (options.fps !== undefined) out.fps = options.fps;
  // The library's Rotation enum values are the degrees themselves.
  if (options.rotate !== undefined) out.rotation = options.rotate as unknown as NonNullable<StreamOptions['rotation']>;
  if (options.flip !== undefined) out.flip = flips[options.flip];
  return out;
}

export function validate(options: DriverOptions): void {
  if (options.fps !== undefined && !Number.isInteger(options.fps)) {
    throw new ConfigError(`invalid --fps ${options.fps}: raspivid takes a whole number of frames per second`);
  }
  if (!findOnPath(TOOL)) throw missingTool();
  try {
    createRequire(import.meta.url).resolve(LIBRARY); // found, not loaded
  } catch {
    throw new UnavailableError(`--camera pi needs the ${LIBRARY} package, which is not installed (npm install ${LIBRARY}@0.3.4)`);
  }
  killCameraToolsOnExit();
}

export function createDriver(options: DriverOptions, context: DriverContext): CameraDriver {
  let library: Promise<Library> | null = null;
  return {
    async *frames(signal) {
      if (!findOnPath(TOOL)) throw missingTool();
      // Loaded here, in the capture worker, on first use: no other driver ever loads it.
      library ??= (import(LIBRARY) as Promise<Library>).catch((err: unknown) => {
        library = null; // try again at the next start
        throw err;
      });
      const lib = await library;
      const camera = new lib.StreamCamera(streamOptions(lib, options));
      const bytes = camera.createStream();
      // The library re-emits every stderr chunk as an 'error' event, and an 'error' event with no
      // listener throws, here inside a stream callback: it would kill the capture worker.
      // SupervisedChild reads stderr itself.
      (camera as EventEmitter).on('error', () => {}); // (its typings declare only 'frame')
      let libraryFrames = 0;
      camera.on('frame', () => libraryFrames++);
      // Resolves on raspivid's first output, rejects if it cannot be spawned, and never settles if
      // raspivid exits first; the child's exit is what this driver waits on.
      camera.startCapture().catch(() => {});
      // startCapture() spawns synchronously, before its first await.
      const child = (camera as unknown as { childProcess?: ChildProcess }).childProcess;
      if (!child) throw new Error(`${LIBRARY} did not start ${TOOL} (is it version 0.3.4?)`);
      const proc = new SupervisedChild(child, TOOL, {
        onStderrLine: (line) => context.log('debug', `${TOOL}: ${line}`),
      });
      context.log('debug', `started ${TOOL} ${child.spawnargs.slice(1).join(' ')}`);
      try {
        let frames = 0;
        const stream = mjpegFrames(bytes, {
          signal,
          context,
          finished: proc.exited.then((exit) => new Error(proc.describeExit(exit))),
        });
        for await (const jpeg of stream) {
          if (++frames - libraryFrames > MAX_LIBRARY_LAG_FRAMES) {
            throw new Error(
              `${LIBRARY} does not recognise raspivid's frames (it expects each to start with FF D8 FF DB 00 84 00) and would buffer the stream without bound`,
            );
          }
          yield jpeg;
        }
      } finally {
        const exited = proc.stop();
        await camera.stopCapture(); // ends the library's streams (and sends SIGTERM once more)
        await exited;
      }
    },
  };
}
