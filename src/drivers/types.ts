import type { NatsAccess } from './nats-link.js';

/**
 * The camera driver contract. A driver only produces frames; the capture worker owns the
 * lifecycle (start on the first viewer, stop when idle, retry on failure).
 */

/** Degrees clockwise a driver may rotate the picture by. */
export const ROTATIONS = [0, 90, 180, 270] as const;
export type Rotation = (typeof ROTATIONS)[number];
/** Mirror axes: none, h (horizontal), v (vertical) or both. */
export const FLIPS = ['none', 'h', 'v', 'both'] as const;
export type Flip = (typeof FLIPS)[number];

/** Options a driver may honour; undefined = the driver's default. */
export interface DriverOptions {
  source: string | undefined;
  /** Frames per second. */
  fps: number | undefined;
  width: number | undefined;
  height: number | undefined;
  /** JPEG quality, 1-100. */
  quality: number | undefined;
  /** Degrees clockwise. */
  rotate: Rotation | undefined;
  flip: Flip | undefined;
  /** JPEG encoder threads. */
  encoders: number | undefined;
  /**
   * The NATS subject of the camera's frames: where the nats driver reads them, and where
   * `--publish` sends any camera's. Filled in from the camera's name when not given.
   */
  subject: string | undefined;
}

export type DriverOptionName = keyof DriverOptions;
export const DRIVER_OPTION_NAMES: readonly DriverOptionName[] = [
  'source',
  'fps',
  'width',
  'height',
  'quality',
  'rotate',
  'flip',
  'encoders',
  'subject',
];

/** What the capture worker offers a driver. */
export interface DriverContext {
  /** Counts frames the driver dropped before they reached the ring (shown in status and metrics). */
  countDrop(reason: 'encoder-busy' | 'corrupt' | 'oversize', frames?: number): void;
  /**
   * The largest frame the camera's ring holds (--max-frame-bytes), bytes. A driver that assembles
   * frames from a stream assembles none larger: it drops (counts as 'oversize') and skips what
   * exceeds it, so its memory stays bounded by about one frame whatever the source sends.
   * Undefined when no ring is behind the driver (a test harness): use the driver's own default.
   */
  readonly maxFrameBytes?: number | undefined;
  /** Logs a line attributed to the camera. */
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** The process's NATS credentials and TLS files (--nats-creds, --nats-ca, ...), for drivers that connect to NATS. */
  readonly nats?: NatsAccess | undefined;
}

/**
 * A driver's frames: an async generator, or any async iterator that also ends on `return()`
 * (pacing.ts's, which costs less per frame than a generator).
 */
export type FrameStream = AsyncIterable<Uint8Array> & AsyncIterator<Uint8Array, unknown, undefined>;

/** Frames ready in memory, played in a loop at a fixed rate (a folder of files, still images). */
export interface StillSource {
  fps: number;
  /** The n-th frame (n = 0, 1, 2 ...). */
  frame(n: number): Uint8Array;
}

export interface CameraDriver {
  /**
   * Opens the camera and yields JPEG frames, paced by the source, until `signal` aborts; releases
   * the camera when the iteration finishes (return, throw or abort). Called again for every
   * capture session. Returning without an abort means the source ended, which is a failure.
   */
  frames(signal: AbortSignal): FrameStream;
  /**
   * Optional, for sources whose frames are ready in memory: the same frames as `frames()`, which
   * the capture worker then paces itself, sleeping between frames without an event-loop turn
   * per frame (capture/stills.ts). Called at the start of every capture session.
   */
  stills?(): StillSource;
}

/** What a driver module (src/drivers/NAME.ts, or a user's module) exports. */
export interface DriverModule {
  /**
   * The options this driver honours. Any other option given by the user is refused at start
   * (rotate 0 and flip none are honoured by every driver: they change nothing).
   */
  supports: readonly DriverOptionName[];
  /**
   * Checks the options at start, in the main thread, before any worker runs. Throws a
   * ConfigError naming the bad option. Must not load native camera bindings.
   */
  validate?(options: DriverOptions): void | Promise<void>;
  /** Creates the driver in the capture worker (once per process). */
  createDriver(options: DriverOptions, context: DriverContext): CameraDriver | Promise<CameraDriver>;
}

/** Every driver option unset: a base to spread partial options over. */
export const UNSET_DRIVER_OPTIONS: Readonly<DriverOptions> = Object.freeze({
  source: undefined,
  fps: undefined,
  width: undefined,
  height: undefined,
  quality: undefined,
  rotate: undefined,
  flip: undefined,
  encoders: undefined,
  subject: undefined,
});
