/**
 * OpenCV driver (`--camera opencv`): USB/V4L2 cameras, video files (looped) and stream URLs
 * through `@u4/opencv4nodejs`, an optional module built against the system's OpenCV
 * (`npm run install:opencv`, which needs Debian's libopencv-dev).
 *
 * `--source`: a device index (`0`, the default, as in the original), a `/dev/video*` path, a
 * video file, or a stream URL; `OPENCV_CAMERA_SOURCE` is read too when `--source` is not given.
 *
 * JPEG passthrough: when the source already delivers JPEG (most USB webcams offer MJPEG; an
 * MJPEG AVI) and no option needs the pixels (rotate, flip, or a size different from the
 * source's), each JPEG is passed on as the source made it, with no decode and re-encode. Else
 * frames are decoded by OpenCV and encoded with `cv.imencode` at `--quality`.
 *
 * The binding must live in exactly one thread for the life of the process: loading it in a
 * second thread, or in a new thread after the first exited, crashes the process. It is loaded
 * only in `createDriver`, which runs in the camera's capture worker, and that thread is never
 * restarted; `validate` (main thread) only checks that the module can be resolved. It follows
 * that one process serves at most one OpenCV camera session host: starting a second server in
 * the same process (as an in-process test would) aborts it; tests run the command instead.
 */

import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ConfigError, UnavailableError } from '../core/errors.js';
import { isCompleteJpeg } from '../core/jpeg.js';
import { maskCredentials } from '../core/log.js';
import { ticks } from './pacing.js';
import type { CameraDriver, DriverContext, DriverModule, DriverOptions } from './types.js';

export const supports: DriverModule['supports'] = ['source', 'fps', 'width', 'height', 'quality', 'rotate', 'flip'];

const PACKAGE = '@u4/opencv4nodejs';
export const INSTALL_HINT =
  'install it with `npm run install:opencv` (needs `apt-get install libopencv-dev`, then about 6 minutes to compile)';
const DEFAULT_QUALITY = 80;
const DEFAULT_FILE_FPS = 30;

type Source =
  | { kind: 'device'; index: number }
  | { kind: 'device'; path: string }
  | { kind: 'file'; path: string }
  | { kind: 'url'; url: string };

export function parseSource(options: DriverOptions): Source {
  const raw = (options.source ?? process.env.OPENCV_CAMERA_SOURCE ?? '0').trim();
  if (/^[0-9]+$/.test(raw)) return { kind: 'device', index: Number(raw) };
  if (raw.startsWith('/dev/')) return { kind: 'device', path: raw };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) return { kind: 'url', url: raw };
  return { kind: 'file', path: raw };
}

function describeSource(s: Source): string {
  if (s.kind === 'url') return maskCredentials(s.url); // never log credentials (a password may hold '/')
  return s.kind === 'device' ? ('index' in s ? `camera ${s.index}` : s.path) : s.path;
}

export function validate(options: DriverOptions): void {
  try {
    createRequire(import.meta.url).resolve(PACKAGE);
  } catch {
    throw new UnavailableError(`--camera opencv needs the optional module ${PACKAGE}, which is not installed: ${INSTALL_HINT}`);
  }
  const source = parseSource(options);
  const flag = options.source === undefined ? 'OPENCV_CAMERA_SOURCE' : '--source';
  if (source.kind === 'file') {
    if (!existsSync(source.path)) throw new ConfigError(`invalid ${flag} "${source.path}": no such device index, device or video file`);
    if (!statSync(source.path).isFile()) throw new ConfigError(`invalid ${flag} "${source.path}": not a video file`);
  }
  if (source.kind === 'device' && 'path' in source && !existsSync(source.path)) {
    throw new ConfigError(`invalid ${flag} "${source.path}": no such device`);
  }
}

/** The subset of the binding this driver uses (its own typings need skipLibCheck and more). */
interface Mat {
  readonly empty: boolean;
  readonly rows: number;
  readonly cols: number;
  getData(): Buffer;
  rotate(code: number): Mat;
  flip(code: number): Mat;
  resize(rows: number, cols: number): Mat;
}
interface VideoCapture {
  get(prop: number): number;
  set(prop: number, value: number): boolean;
  readAsync(): Promise<Mat>;
  release(): void;
}
interface OpenCv {
  VideoCapture: new (source: string | number, api?: number) => VideoCapture;
  VideoWriter: { fourcc(code: string): number };
  imencodeAsync(ext: string, mat: Mat, params?: number[]): Promise<Buffer>;
  [constant: string]: unknown;
}

function loadOpenCv(): OpenCv {
  // The ESM entry point wants this at run time too; it also stops any attempt to build OpenCV.
  process.env.OPENCV4NODEJS_DISABLE_AUTOBUILD = '1';
  try {
    return createRequire(import.meta.url)(PACKAGE) as OpenCv;
  } catch (err) {
    throw new UnavailableError(
      `${PACKAGE} did not load (${String(err instanceof Error ? err.message : err).split('\n')[0]}): ${INSTALL_HINT}`,
    );
  }
}

function fourccString(code: number): string {
  return String.fromCharCode(code & 0xff, (code >> 8) & 0xff, (code >> 16) & 0xff, (code >> 24) & 0xff);
}

export function createDriver(options: DriverOptions, context: DriverContext): CameraDriver {
  const cv = loadOpenCv();
  const source = parseSource(options);
  const c = (name: string): number => cv[name] as number;
  const quality = options.quality ?? DEFAULT_QUALITY;
  const rotateCodes: Record<number, number> = { 90: c('ROTATE_90_CLOCKWISE'), 180: c('ROTATE_180'), 270: c('ROTATE_90_COUNTERCLOCKWISE') };
  const flipCodes: Record<string, number> = { h: 1, v: 0, both: -1 };
  const rotateCode = rotateCodes[options.rotate ?? 0];
  const flipCode = flipCodes[options.flip ?? 'none'];
  const needsPixels = rotateCode !== undefined || flipCode !== undefined;

  /** Opens the source and decides between passthrough and decode + encode. */
  function open(): { cap: VideoCapture; passthrough: boolean; fps: number | null } {
    let cap: VideoCapture;
    try {
      if (source.kind === 'device') {
        cap = new cv.VideoCapture('index' in source ? source.index : source.path, c('CAP_V4L2'));
      } else {
        cap = new cv.VideoCapture(source.kind === 'file' ? source.path : source.url, c('CAP_FFMPEG'));
      }
    } catch (err) {
      throw new Error(`cannot open ${describeSource(source)}: ${String(err instanceof Error ? err.message : err).split('\n')[0]}`);
    }
    if (source.kind === 'device') {
      // Order matters for V4L2: the format first, then the size, then ask for undecoded buffers.
      cap.set(c('CAP_PROP_FOURCC'), cv.VideoWriter.fourcc('MJPG'));
      if (options.width) cap.set(c('CAP_PROP_FRAME_WIDTH'), options.width);
      if (options.height) cap.set(c('CAP_PROP_FRAME_HEIGHT'), options.height);
      if (options.fps) cap.set(c('CAP_PROP_FPS'), options.fps);
      const mjpeg = fourccString(cap.get(c('CAP_PROP_FOURCC'))) === 'MJPG';
      const passthrough = mjpeg && !needsPixels && cap.set(c('CAP_PROP_CONVERT_RGB'), 0);
      return { cap, passthrough, fps: null }; // the camera paces itself
    }
    const sourceWidth = cap.get(c('CAP_PROP_FRAME_WIDTH'));
    const sourceHeight = cap.get(c('CAP_PROP_FRAME_HEIGHT'));
    if (sourceWidth <= 0 || sourceHeight <= 0) {
      cap.release();
      throw new Error(`cannot read video from ${describeSource(source)}`);
    }
    const resized =
      (options.width !== undefined && options.width !== sourceWidth) || (options.height !== undefined && options.height !== sourceHeight);
    const mjpeg = fourccString(cap.get(c('CAP_PROP_FOURCC'))).toUpperCase() === 'MJPG';
    // CAP_PROP_FORMAT -1 makes read() return each packet as the file stores it.
    const passthrough = mjpeg && !needsPixels && !resized && cap.set(c('CAP_PROP_FORMAT'), -1);
    const fileFps = cap.get(c('CAP_PROP_FPS'));
    // A file is paced here; a stream URL paces itself.
    const fps = source.kind === 'file' ? (options.fps ?? (fileFps > 0 && fileFps <= 1000 ? fileFps : DEFAULT_FILE_FPS)) : null;
    return { cap, passthrough, fps };
  }

  async function encode(mat: Mat): Promise<Buffer> {
    let m = mat;
    if ((options.width !== undefined && options.width !== m.cols) || (options.height !== undefined && options.height !== m.rows)) {
      m = m.resize(options.height ?? m.rows, options.width ?? m.cols);
    }
    if (rotateCode !== undefined) m = m.rotate(rotateCode);
    if (flipCode !== undefined) m = m.flip(flipCode);
    return cv.imencodeAsync('.jpg', m, [c('IMWRITE_JPEG_QUALITY'), quality]);
  }

  return {
    async *frames(signal) {
      let { cap, passthrough, fps } = open();
      context.log('info', `opened ${describeSource(source)}${passthrough ? ' (JPEG passthrough)' : ` (encoding at quality ${quality})`}`);
      const pace = fps === null ? null : ticks(fps, signal);
      try {
        for (;;) {
          if (pace) await pace.next();
          signal.throwIfAborted();
          const mat = await cap.readAsync();
          signal.throwIfAborted();
          if (mat.empty) {
            if (source.kind !== 'file') throw new Error(`${describeSource(source)} stopped delivering frames`);
            cap.release(); // end of the file: start it again
            ({ cap, passthrough, fps } = open());
            continue;
          }
          if (!passthrough) {
            yield await encode(mat);
            continue;
          }
          const jpeg = mat.getData();
          if (isCompleteJpeg(jpeg)) yield jpeg;
          else context.countDrop('corrupt');
        }
      } finally {
        cap.release();
        await pace?.return();
      }
    },
  };
}
