/**
 * Frame admission: the gate between a driver and the ring. Whatever a driver yields, viewers only
 * ever get whole JPEGs (SOI at the start, EOI at the end) that fit a slot; anything else is
 * dropped and counted. Drops are logged once per burst (the first frame and how many followed),
 * not once per frame, so a broken camera cannot flood the log at 30 lines a second.
 */

import { isCompleteJpeg } from '../core/jpeg.js';
import type { Logger } from '../core/log.js';
import type { FrameRing } from '../core/ring.js';
import type { RingStats } from '../core/ring-stats.js';
import type { RateMeter } from './rate-meter.js';

export class FrameAdmission {
  private oversizeBurst = 0;
  private corruptBurst = 0;

  constructor(
    private readonly ring: FrameRing,
    private readonly stats: RingStats,
    private readonly rate: RateMeter,
    private readonly log: Logger,
  ) {}

  /** Publishes `jpeg` if it is whole and fits; returns its sequence number, or 0 if dropped. */
  admit(jpeg: Uint8Array): number {
    if (!isCompleteJpeg(jpeg)) {
      this.stats.countDrop('corrupt');
      if (this.corruptBurst++ === 0) this.log.warn(`dropping frames that are not complete JPEGs (this one: ${jpeg.byteLength} bytes)`);
      return 0;
    }
    if (this.corruptBurst > 0) {
      this.log.warn(`dropped ${this.corruptBurst} broken frame(s) in a row`);
      this.corruptBurst = 0;
    }
    const now = performance.now();
    const seq = this.ring.publish(jpeg, performance.timeOrigin + now); // counts an oversize drop itself
    this.rate.frame(jpeg, now);
    if (seq === 0) {
      if (this.oversizeBurst++ === 0) {
        this.log.warn(
          `dropping frames larger than the ring's ${this.ring.slotBytes}-byte slots (this one: ${jpeg.byteLength} bytes); raise --max-frame-bytes`,
        );
      }
    } else if (this.oversizeBurst > 0) {
      this.log.warn(`dropped ${this.oversizeBurst} oversize frame(s) in a row`);
      this.oversizeBurst = 0;
    }
    return seq;
  }
}
