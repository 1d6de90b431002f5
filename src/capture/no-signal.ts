/**
 * The NO SIGNAL watchdog of a capture session: after `afterMs` without a good frame while viewers
 * watch (a failed, restarting or stalled driver), it publishes a generated NO SIGNAL frame
 * (no-signal-frame.ts) at the camera's last known size, so a frozen picture is not mistaken for a
 * live one. One timer per session, pushed back by every good frame with refresh(): no allocation
 * per frame.
 *
 * The frame is rendered ahead: the timer fires up to a second before the deadline, the frame is
 * drawn and encoded then (the first time also loads sharp, 0.5-1 s on a small machine), and it is
 * published at the deadline unless a good frame came in the meantime. So viewers see NO SIGNAL at
 * --no-signal-after, not a render later.
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
  /** A NO SIGNAL frame is being prepared, and no good frame has come since the timer fired. */
  private pending = false;
  /** How long before the deadline the timer fires to render the frame. */
  private readonly leadMs: number;

  /** @param afterMs 0 = never (viewers keep the last frame) */
  constructor(
    private readonly ring: FrameRing,
    private readonly stats: RingStats,
    private readonly afterMs: number,
    private readonly log: Logger,
  ) {
    this.leadMs = Math.min(1000, Math.floor(afterMs / 2));
  }

  /** A capture session starts (viewers are watching). */
  arm(): void {
    if (this.afterMs <= 0) return;
    this.shown = false;
    this.pending = false;
    this.timer = setTimeout(() => void this.show(), this.afterMs - this.leadMs);
    this.timer.unref();
  }

  /** The session ended. */
  disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.shown = false;
    this.pending = false;
  }

  /** A good frame was published: push the deadline back, and clear NO SIGNAL if shown. */
  frameArrived(): void {
    if (this.timer === null) return;
    this.timer.refresh();
    this.pending = false;
    if (this.shown) {
      this.shown = false;
      this.log.info('frames again: NO SIGNAL cleared');
    }
  }

  private async show(): Promise<void> {
    if (this.timer === null || this.shown) return;
    const due = performance.now() + this.leadMs;
    this.pending = true;
    const { width, height } = this.stats.sourceInfo();
    let jpeg: Uint8Array;
    try {
      this.frames ??= new NoSignalFrames();
      jpeg = await this.frames.frame(width, height);
    } catch (err) {
      this.log.warn(`cannot render the NO SIGNAL frame: ${describeError(err)}`);
      return;
    }
    const wait = due - performance.now();
    if (wait > 1) await new Promise<void>((resolve) => setTimeout(resolve, wait).unref());
    // A good frame may have arrived, or the session ended, while it was being prepared.
    if (!this.pending || this.timer === null) return;
    this.pending = false;
    this.shown = true;
    if (jpeg.byteLength > this.ring.slotBytes) return; // a huge frame size with tiny slots: keep the last frame
    this.ring.publish(jpeg, performance.timeOrigin + performance.now());
    this.log.warn(`no frame for ${(this.afterMs / 1000).toFixed(1)} s: showing NO SIGNAL`);
  }
}
