/**
 * The NO SIGNAL watchdog of a capture session: after `afterMs` without a good frame while viewers
 * watch (a failed, restarting or stalled driver), it publishes a generated NO SIGNAL frame
 * (no-signal-frame.ts) at the camera's last known size, so a frozen picture is not mistaken for a
 * live one. One timer per session, pushed back by every good frame with refresh(): no allocation
 * per frame.
 */

import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { FrameRing } from '../core/ring.js';
import type { RingStats } from '../core/ring-stats.js';
import { NoSignalFrames } from './no-signal-frame.js';

export class NoSignalWatch {
  private timer: NodeJS.Timeout | null = null;
  /** A NO SIGNAL frame is (being) published and no good frame has come since. */
  private shown = false;
  private frames: NoSignalFrames | null = null;

  /** @param afterMs 0 = never (viewers keep the last frame) */
  constructor(
    private readonly ring: FrameRing,
    private readonly stats: RingStats,
    private readonly afterMs: number,
    private readonly log: Logger,
  ) {}

  /** A capture session starts (viewers are watching). */
  arm(): void {
    if (this.afterMs <= 0) return;
    this.shown = false;
    this.timer = setTimeout(() => void this.show(), this.afterMs);
    this.timer.unref();
  }

  /** The session ended. */
  disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.shown = false;
  }

  /** A good frame was published: push the deadline back, and clear NO SIGNAL if shown. */
  frameArrived(): void {
    if (this.timer === null) return;
    this.timer.refresh();
    if (this.shown) {
      this.shown = false;
      this.log.info('frames again: NO SIGNAL cleared');
    }
  }

  private async show(): Promise<void> {
    if (this.timer === null) return;
    this.shown = true;
    const { width, height } = this.stats.sourceInfo();
    let jpeg: Uint8Array;
    try {
      this.frames ??= new NoSignalFrames();
      jpeg = await this.frames.frame(width, height);
    } catch (err) {
      this.log.warn(`cannot render the NO SIGNAL frame: ${describeError(err)}`);
      return;
    }
    // A good frame may have arrived, or the session ended, while it was being encoded.
    if (!this.shown || this.timer === null) return;
    if (jpeg.byteLength > this.ring.slotBytes) return; // a huge frame size with tiny slots: keep the last frame
    this.ring.publish(jpeg, performance.timeOrigin + performance.now());
    this.log.warn(`no frame for ${(this.afterMs / 1000).toFixed(1)} s: showing NO SIGNAL`);
  }
}
