/**
 * Frame admission: the gate between a driver and the ring. Whatever a driver yields, viewers only
 * ever get whole JPEGs (SOI at the start, EOI at the end) that fit a slot; anything else is
 * dropped and counted. Drops are logged once per burst (the first frame and how many followed),
 * not once per frame, so a broken camera cannot flood the log at 30 lines a second; and a burst
 * is announced at most once per BURST_LOG_INTERVAL_MS, so neither can a source that alternates a
 * bad frame with a good one (two lines per pair, each a message to the main thread, before).
 */

import { isCompleteJpeg } from '../core/jpeg.js';
import type { Logger } from '../core/log.js';
import type { FrameRing } from '../core/ring.js';
import type { RingStats } from '../core/ring-stats.js';
import type { RateMeter } from './rate-meter.js';

/** Least time between two announced bursts of one kind of drop, ms. */
export const BURST_LOG_INTERVAL_MS = 10_000;

/** One kind of drop: its current burst and when a burst of it was last announced. */
class Burst {
  /** Drops in the current burst (0: none). */
  private length = 0;
  private announced = false;
  /** Drops in no line yet: those of bursts begun less than the interval after the last line. */
  private unlogged = 0;
  private lastLineAt = -Infinity; // ms, performance.now()

  constructor(private readonly log: Logger) {}

  /** Counts a drop; `line` is called for the burst's announcement only. */
  drop(line: () => string): void {
    this.length++;
    if (this.announced) return;
    const now = performance.now();
    if (now - this.lastLineAt < BURST_LOG_INTERVAL_MS) {
      this.unlogged++;
      return;
    }
    const also = this.unlogged > 0 ? ` (and ${this.unlogged} more since the last report)` : '';
    this.log.warn(`${line()}${also}`);
    this.lastLineAt = now;
    this.unlogged = 0;
    this.announced = true;
  }

  /** A frame that was not dropped for this reason: an announced burst is summed up. */
  end(line: (length: number) => string): void {
    if (this.length === 0) return;
    if (this.announced) this.log.warn(line(this.length));
    this.length = 0;
    this.announced = false;
  }
}

export class FrameAdmission {
  private readonly oversize: Burst;
  private readonly corrupt: Burst;

  constructor(
    private readonly ring: FrameRing,
    private readonly stats: RingStats,
    private readonly rate: RateMeter,
    log: Logger,
  ) {
    this.oversize = new Burst(log);
    this.corrupt = new Burst(log);
  }

  /** Publishes `jpeg` if it is whole and fits; returns its sequence number, or 0 if dropped. */
  admit(jpeg: Uint8Array): number {
    if (!isCompleteJpeg(jpeg)) {
      this.stats.countDrop('corrupt');
      this.corrupt.drop(() => `dropping frames that are not complete JPEGs (this one: ${jpeg.byteLength} bytes)`);
      return 0;
    }
    this.corrupt.end((n) => `dropped ${n} broken frame(s) in a row`);
    const now = performance.now();
    const seq = this.ring.publish(jpeg, performance.timeOrigin + now); // counts an oversize drop itself
    this.rate.frame(jpeg, now);
    if (seq === 0) {
      this.oversize.drop(
        () =>
          `dropping frames larger than the ring's ${this.ring.slotBytes}-byte slots (this one: ${jpeg.byteLength} bytes); raise --max-frame-bytes`,
      );
    } else {
      this.oversize.end((n) => `dropped ${n} oversize frame(s) in a row`);
    }
    return seq;
  }
}
