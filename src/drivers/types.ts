/**
 * The camera driver contract. A driver only produces frames; the capture worker owns the
 * lifecycle (start on the first viewer, stop when idle, retry on failure).
 */

/** Options a driver may honour. */
export interface DriverOptions {
  source: string | undefined;
  /** Frames per second; undefined = the driver's default. */
  fps: number | undefined;
}

export interface CameraDriver {
  /**
   * Opens the camera and yields JPEG frames, paced by the source, until `signal` aborts; releases
   * the camera when the generator finishes (return, throw or abort). Called again for every
   * capture session. Returning without an abort means the source ended, which is a failure.
   */
  frames(signal: AbortSignal): AsyncGenerator<Uint8Array, void, undefined>;
}

/** What a driver module (src/drivers/NAME.ts, or a user's module) exports. */
export interface DriverModule {
  /**
   * Checks the options at start, in the main thread, before any worker runs. Throws a
   * ConfigError naming the bad option. Must not load native camera bindings.
   */
  validate?(options: DriverOptions): void | Promise<void>;
  /** Creates the driver in the capture worker (once per process). */
  createDriver(options: DriverOptions): CameraDriver | Promise<CameraDriver>;
}
