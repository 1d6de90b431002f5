/**
 * A pool of JPEG encoder threads (piscina workers running workers/encode.ts with sharp), shared
 * by every driver that gets raw pixels: the synthetic test pattern today, the OpenCV camera later.
 *
 *   capture thread                          encoder threads (piscina, N = --encoders)
 *   submit(frame) ──▶ pending FIFO ──task──▶ encode(task): [render pattern] → sharp → JPEG
 *   results()     ◀── head of FIFO ◀─moved── (the JPEG bytes are transferred back, not copied)
 *
 * Order: frames leave `results()` in submission order. Each submission takes a place at the tail
 * of a FIFO; `results()` only ever yields the head, so a frame that finishes early waits for the
 * ones captured before it.
 *
 * Back-pressure: at most `maxInFlight` frames (default 2 per thread: one encoding, one queued
 * behind it, so a thread never idles between tasks) are between `submit()` and the consumer of
 * `results()`. When the FIFO is full, `submit()` drops the NEW frame before any work is done on
 * it, calls `onDrop` and returns false. Nothing queues without bound, whether the encoders or the
 * consumer are the slow side, and the frames that are shown stay recent.
 *
 * Lifetime: the threads start with the pool (all of them, so the first frames don't wait for
 * sharp to load) and `close()` ends them. Drivers create one pool per capture session: capture
 * runs only while someone watches, and idle encoder threads would each keep a V8 isolate and
 * libvips' buffers (tens of MB) for nothing. Restarting them is safe (pure JS + sharp; unlike
 * OpenCV, sharp may be loaded by many threads, and again after one exited as long as this
 * thread keeps it loaded: see the import below) and costs 0.1-0.2 s at the start of a session,
 * before its first frame (ready()).
 */

import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
// sharp is loaded here, in the long-lived thread that owns the pool, and not only in the
// encoder threads: on glibc, libvips' shared libraries are unloaded when the last thread that
// loaded them exits, and loading them again in a later thread can fail or crash
// (https://github.com/lovell/sharp/issues/2263; sharp's docs say to require it in the main
// thread). Holding a reference here keeps them loaded across pool restarts.
import 'sharp';
import type { Flip, Rotation } from '../types.js';

/** Raw pixels to encode. `pixels` is row-major, `channels` bytes per pixel, no row padding. */
export interface RawFrame {
  kind: 'raw';
  pixels: Uint8Array;
  /** px */
  width: number;
  /** px */
  height: number;
  /** 3 = RGB, 4 = RGBA or RGBX (the fourth byte is ignored: JPEG has no alpha). */
  channels: 3 | 4;
}

/** A synthetic test-pattern frame, rendered by the encoder thread itself (src/drivers/synthetic.ts). */
export interface SyntheticFrame {
  kind: 'synthetic';
  /** px */
  width: number;
  /** px */
  height: number;
  /** Frame counter drawn into the picture. */
  index: number;
  /** Capture time drawn into the picture as a clock, Unix ms. */
  timeMs: number;
}

export type EncodeJob = RawFrame | SyntheticFrame;

/** How every frame of a pool is encoded. */
export interface EncodeSettings {
  /** JPEG quality, 1-100. */
  quality: number;
  /** Degrees clockwise, applied after `flip`. */
  rotate: Rotation;
  flip: Flip;
}

/** What an encoder thread receives: one job plus the pool's settings. */
export type EncodeTask = EncodeJob & EncodeSettings;

export interface EncoderPoolOptions extends Partial<EncodeSettings> {
  /** Encoder threads (default: defaultEncoderThreads()). */
  threads?: number;
  /** Frames allowed between submit() and the consumer of results() (default 2 per thread). */
  maxInFlight?: number;
  /** Called once for every frame submit() drops because the pool is full. */
  onDrop?: () => void;
  /** The task module (default workers/encode.js). Tests substitute a gated wrapper of it. */
  workerUrl?: URL;
}

export interface EncoderPoolStats {
  /** Frames accepted by submit(). */
  submitted: number;
  /** Frames submit() refused because the pool was full. */
  dropped: number;
  /** Frames back from the encoder threads, delivered or waiting for the frames before them. */
  encoded: number;
  /** Frames yielded by results(). */
  delivered: number;
  /** The most frames that were ever in flight at once (never above maxInFlight). */
  peakInFlight: number;
}

export const ENCODE_DEFAULTS = Object.freeze({ quality: 80, rotate: 0 as Rotation, flip: 'none' as Flip, inFlightPerThread: 2 });

const ENCODE_WORKER_URL = new URL('../../../workers/encode.js', import.meta.url);
/** How long close() lets running encodes finish before terminating threads anyway, ms. */
const CLOSE_TIMEOUT_MS = 5000;

/** The default number of encoder threads: one per core, less one for capture and serving, at least 1. */
export function defaultEncoderThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

interface Pending {
  settled: boolean;
  jpeg: Uint8Array | null;
  error: unknown;
}

export class EncoderPool {
  readonly threads: number;
  readonly maxInFlight: number;
  readonly settings: Readonly<EncodeSettings>;
  private readonly pool: Piscina<EncodeTask, Uint8Array>;
  private readonly onDrop: (() => void) | undefined;
  /** Frames in submission order, from submit() until results() yields them. */
  private readonly pending: Pending[] = [];
  private readonly counters: EncoderPoolStats = { submitted: 0, dropped: 0, encoded: 0, delivered: 0, peakInFlight: 0 };
  /** Wakes the consumer of results() (at most one). */
  private wake: (() => void) | null = null;
  private consuming = false;
  private closing: Promise<void> | null = null;
  private warmUp: Promise<void> | null = null;
  /** A thread failure outside any task (piscina reports it as an 'error' event). */
  private failure: unknown = null;

  constructor(options: EncoderPoolOptions = {}) {
    const threads = options.threads ?? defaultEncoderThreads();
    if (!Number.isSafeInteger(threads) || threads < 1) throw new RangeError('options.threads must be a positive integer');
    const maxInFlight = options.maxInFlight ?? threads * ENCODE_DEFAULTS.inFlightPerThread;
    if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1) throw new RangeError('options.maxInFlight must be a positive integer');
    const quality = options.quality ?? ENCODE_DEFAULTS.quality;
    if (!Number.isSafeInteger(quality) || quality < 1 || quality > 100)
      throw new RangeError('options.quality must be an integer from 1 to 100');
    this.threads = threads;
    this.maxInFlight = maxInFlight;
    this.settings = Object.freeze({
      quality,
      rotate: options.rotate ?? ENCODE_DEFAULTS.rotate,
      flip: options.flip ?? ENCODE_DEFAULTS.flip,
    });
    this.onDrop = options.onDrop;
    this.pool = new Piscina<EncodeTask, Uint8Array>({
      filename: fileURLToPath(options.workerUrl ?? ENCODE_WORKER_URL),
      name: 'default',
      // All threads start now and stay until close(): no thread start-up inside a session.
      minThreads: threads,
      maxThreads: threads,
      // One task per thread at a time: the thread reuses its render buffer between tasks.
      concurrentTasksPerWorker: 1,
      // Belt and braces: submit() never lets more than maxInFlight frames in anyway.
      maxQueue: maxInFlight,
      closeTimeout: CLOSE_TIMEOUT_MS,
      recordTiming: false,
    });
    // Without a listener, an 'error' event (a thread that died between tasks, a close timeout)
    // would be thrown in the capture thread. Fail the stream instead; the capture loop restarts it.
    this.pool.on('error', (err: unknown) => {
      this.failure ??= err;
      this.notify();
    });
  }

  /**
   * Queues one frame for encoding, or drops it (returns false, calls onDrop) when maxInFlight
   * frames are already in flight. A raw frame's `pixels.buffer` is transferred to the encoder
   * thread when accepted (it is detached here afterwards; a view over part of a larger buffer is
   * copied first instead); a dropped frame's buffer is untouched and can be reused. Returns false
   * without counting a drop once the pool is closing.
   */
  submit(job: EncodeJob): boolean {
    if (job.kind === 'raw') {
      const expected = job.width * job.height * job.channels;
      if (job.pixels.byteLength !== expected) {
        throw new RangeError(
          `raw frame has ${job.pixels.byteLength} bytes, expected ${job.width}x${job.height}x${job.channels} = ${expected}`,
        );
      }
    }
    if (this.closing) return false;
    if (this.pending.length >= this.maxInFlight) {
      this.counters.dropped++;
      this.onDrop?.();
      return false;
    }
    let task: EncodeTask;
    let transferList: ArrayBuffer[] | undefined;
    if (job.kind === 'raw') {
      const pixels = ownsWholeBuffer(job.pixels) ? job.pixels : job.pixels.slice();
      task = { kind: 'raw', pixels, width: job.width, height: job.height, channels: job.channels, ...this.settings };
      transferList = [pixels.buffer as ArrayBuffer];
    } else {
      task = { ...job, ...this.settings };
    }
    const entry: Pending = { settled: false, jpeg: null, error: null };
    this.pending.push(entry);
    this.counters.submitted++;
    if (this.pending.length > this.counters.peakInFlight) this.counters.peakInFlight = this.pending.length;
    this.pool.run(task, transferList ? { transferList } : {}).then(
      (jpeg) => {
        this.counters.encoded++;
        entry.jpeg = jpeg;
        entry.settled = true;
        if (entry === this.pending[0]) this.notify();
      },
      (err: unknown) => {
        entry.error = err ?? new Error('encoding failed');
        entry.settled = true;
        if (entry === this.pending[0]) this.notify();
      },
    );
    return true;
  }

  /**
   * The encoded frames, in submission order, as they become ready; ends when the pool closes.
   * Throws the error of a frame that failed to encode (in that frame's place) or of a thread
   * that died. One consumer at a time.
   */
  async *results(): AsyncGenerator<Buffer, void, undefined> {
    if (this.consuming) throw new Error('EncoderPool.results() already has a consumer');
    this.consuming = true;
    try {
      for (;;) {
        if (this.closing) return;
        if (this.failure !== null) throw this.failure;
        const head = this.pending[0];
        if (head?.settled) {
          this.pending.shift();
          if (head.jpeg === null) throw head.error;
          this.counters.delivered++;
          const jpeg = head.jpeg;
          // A view over the transferred memory: no copy.
          yield Buffer.from(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
          continue;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      this.consuming = false;
    }
  }

  /**
   * Resolves once every thread has encoded a first (tiny, discarded) frame: sharp loaded and its
   * first-call costs paid. Frames submitted before that are not lost, but while the threads start
   * (a few hundred ms) the pool fills and drops frames that a warm pool would have taken.
   */
  ready(): Promise<void> {
    this.warmUp ??= Promise.all(
      Array.from({ length: this.threads }, () =>
        this.pool.run({ kind: 'synthetic', width: 16, height: 16, index: 0, timeMs: 0, ...this.settings }),
      ),
    ).then(() => undefined);
    return this.warmUp;
  }

  /** Frames between submit() and the consumer of results(). */
  get inFlight(): number {
    return this.pending.length;
  }

  get stats(): Readonly<EncoderPoolStats> {
    return { ...this.counters };
  }

  /** The pool's live threads (empty after close()); for diagnostics and tests. */
  get workers(): readonly Worker[] {
    return this.pool.threads;
  }

  /**
   * Stops accepting frames, ends results(), lets the encodes already running finish (at most
   * maxInFlight; terminating a thread inside a libvips call can crash the process) and
   * terminates every thread. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.notify();
      await this.pool.close();
      this.pending.length = 0;
    })();
    return this.closing;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

/** True if `view` spans its whole, transferable ArrayBuffer (so transferring it moves nothing else). */
function ownsWholeBuffer(view: Uint8Array): boolean {
  return view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
}
