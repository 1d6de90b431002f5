/**
 * The synthetic camera: a generated, moving test pattern of any size, encoded to JPEG by a pool
 * of encoder threads. Needs no hardware and no image files; it shows at a glance whether the
 * stream moves (a bar sweeps across every 2 s), whether frames are skipped (a frame counter and a
 * ticker that lights one of ten cells per frame) and how late they are (the capture time as a
 * clock, HH:MM:SS.mmm, to compare with a clock beside the screen).
 *
 *   ┌────────────────────────────────────────┐
 *   │▀▀ ▀ ▀▀▀  ▀ ▀▀ ▀  (frame index, 16 bits)│  for machines: white = 1, most significant left
 *   │ white yellow cyan green magenta red blue│  colour bars (75 %), the sweep bar moving over
 *   │ grey ramp, black to white              │  them and the ramp
 *   │           12:34:56.789                 │  capture time, local clock
 *   │              000123                    │  frame counter (per capture session)
 *   │ ▪ ▪ ▪ █ ▪ ▪ ▪ ▪ ▪ ▪                    │  ticker: cell (counter mod 10) lit
 *   └────────────────────────────────────────┘
 *
 * The pattern is rendered inside the encoder threads (see EncoderPool's 'synthetic' jobs), not
 * here: rendering is a few ms per 1280x720 frame, so on the capture thread it would cap the frame
 * rate on one core, and every frame would need a fresh buffer (a transferred buffer is detached).
 * In the encoder thread it scales with --encoders and reuses one buffer per thread; the capture
 * thread only sends a frame number and a time. Text is drawn with a built-in 7-segment font.
 */

import { ConfigError } from '../core/errors.js';
import type { EncoderPool } from './synthetic/encoder-pool.js';

import { ticks } from './pacing.js';
import type { CameraDriver, DriverContext, DriverModule, DriverOptions } from './types.js';

export const supports: DriverModule['supports'] = ['fps', 'width', 'height', 'quality', 'rotate', 'flip', 'encoders'];
export const DEFAULTS = Object.freeze({ width: 1280, height: 720, fps: 30, quality: 80 });

export function validate(options: DriverOptions): void {
  if (options.source !== undefined) throw new ConfigError('invalid --source: the synthetic camera takes no source');
}

export function createDriver(options: DriverOptions, context: DriverContext): CameraDriver {
  const width = options.width ?? DEFAULTS.width;
  const height = options.height ?? DEFAULTS.height;
  const fps = options.fps ?? DEFAULTS.fps;
  return {
    async *frames(signal) {
      // Loaded here, in the capture worker, so validate() in the main thread loads neither
      // piscina nor sharp.
      const { EncoderPool } = await import('./synthetic/encoder-pool.js');
      // One pool per capture session: no encoder threads while nobody watches.
      const pool = new EncoderPool({
        ...(options.encoders !== undefined ? { threads: options.encoders } : {}),
        quality: options.quality ?? DEFAULTS.quality,
        rotate: options.rotate ?? 0,
        flip: options.flip ?? 'none',
        onDrop: () => context.countDrop('encoder-busy'),
      });
      // Stops the producer when the session ends or when the consumer stops early.
      const stop = new AbortController();
      const onAbort = (): void => stop.abort(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      let producer: Promise<void> | null = null;
      try {
        // The first tick waits for warm threads, so a session does not open with drops.
        await Promise.race([pool.ready(), aborted(stop.signal)]);
        producer = produce(pool, width, height, fps, stop.signal);
        yield* pool.results();
      } finally {
        signal.removeEventListener('abort', onAbort);
        stop.abort();
        try {
          await producer; // rethrows a producer failure (not an abort) as the session's failure
        } finally {
          await pool.close();
        }
      }
    },
  };
}

/** Resolves when `signal` aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/**
 * Submits one frame per tick until `signal` aborts, then closes the pool (which ends its
 * results()). A frame the pool refuses (encoders busy) is dropped and counted by the pool; the
 * counter in the picture then skips a number.
 */
async function produce(pool: EncoderPool, width: number, height: number, fps: number, signal: AbortSignal): Promise<void> {
  try {
    for await (const index of ticks(fps, signal)) {
      pool.submit({ kind: 'synthetic', width, height, index, timeMs: Date.now() });
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  } finally {
    void pool.close();
  }
}
