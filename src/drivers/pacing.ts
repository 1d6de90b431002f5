/**
 * Frame pacing for drivers whose source has no clock of its own (still images, folders).
 *
 * This runs once per frame in the capture worker, where it was the largest part of a ready-made
 * frame's cost: a `timers/promises` sleep with an AbortSignal (an abort listener added and
 * removed per frame) inside an async generator, often inside the driver's own async generator.
 * So it is a plain async iterator instead: per frame one timer and one promise, resolved from the
 * timer callback with the value itself, and one abort listener for the whole run.
 */

import type { StillSource } from './types.js';

/**
 * Yields `map(0)` at once, then `map(n)` every 1/fps seconds on a fixed schedule (no drift),
 * until the signal aborts (a pending or later `next()` then rejects with the signal's reason, an
 * AbortError). If the consumer falls more than one interval behind, the schedule restarts from
 * now instead of bursting to catch up.
 */
export function paced<T>(fps: number, signal: AbortSignal, map: (n: number) => T): PacedIterator<T> {
  return new Pacer(fps, signal, map);
}

/** A still source's frames as a driver's `frames()` stream, paced at its rate. */
export function stillFrames(stills: StillSource, signal: AbortSignal): PacedIterator<Uint8Array> {
  return new Pacer(stills.fps, signal, stills.frame);
}

/** The tick numbers 0, 1, 2 ... paced at `fps` (see `paced`). */
export function ticks(fps: number, signal: AbortSignal): PacedIterator<number> {
  return new Pacer(fps, signal, (n) => n);
}

/** An async iterator that ends (and stops its timer) on return(). */
export interface PacedIterator<T> extends AsyncIterable<T> {
  next(): Promise<IteratorResult<T, undefined>>;
  return(): Promise<IteratorResult<T, undefined>>;
}

class Pacer<T> implements PacedIterator<T> {
  private readonly interval: number;
  private next_ = performance.now();
  private n = 0;
  private timer: NodeJS.Timeout | null = null;
  private resolve: ((r: IteratorResult<T, undefined>) => void) | null = null;
  private reject: ((err: unknown) => void) | null = null;
  private finished = false;

  constructor(
    fps: number,
    private readonly signal: AbortSignal,
    private readonly map: (n: number) => T,
  ) {
    this.interval = 1000 / fps; // ms
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.signal.aborted) return Promise.reject(this.abortReason());
    if (this.finished) return Promise.resolve({ done: true, value: undefined });
    const wait = this.next_ - performance.now();
    if (wait <= 1) return Promise.resolve(this.tick());
    return new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.timer = setTimeout(this.fire, wait);
    });
  }

  /** A consumer's `break` (or an exception in its loop body) ends the iteration. */
  return(): Promise<IteratorResult<T, undefined>> {
    this.finish();
    return Promise.resolve({ done: true, value: undefined });
  }

  private tick(): IteratorResult<T, undefined> {
    const value = this.map(this.n++);
    this.next_ += this.interval;
    const now = performance.now();
    // More than an interval behind: the next value is due an interval from now (a value right
    // away would make two back to back).
    if (now - this.next_ > this.interval) this.next_ = now + this.interval;
    return { done: false, value };
  }

  private readonly fire = (): void => {
    const resolve = this.resolve;
    const reject = this.reject;
    this.timer = null;
    this.resolve = this.reject = null;
    if (resolve === null || reject === null) return;
    try {
      resolve(this.tick());
    } catch (err) {
      reject(err);
    }
  };

  private readonly onAbort = (): void => {
    const reject = this.reject;
    this.finish();
    reject?.(this.abortReason());
  };

  private abortReason(): unknown {
    return this.signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
  }

  private finish(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.resolve = this.reject = null;
    if (this.finished) return;
    this.finished = true;
    this.signal.removeEventListener('abort', this.onAbort);
  }
}
