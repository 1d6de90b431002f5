/**
 * Measures a camera's capture rate over windows of about a second, and the size of its frames,
 * into the ring's statistics (shown by /status and /metrics). The size is parsed from a JPEG
 * header once per window, not per frame.
 */

import { jpegDimensions } from '../core/jpeg.js';
import type { RingStats } from '../core/ring-stats.js';

const WINDOW_MS = 1000;

export class RateMeter {
  private windowStart = 0; // performance.now() ms
  private count = 0;

  constructor(private readonly stats: RingStats) {}

  /** Counts a published frame captured at `now` (performance.now() ms). */
  frame(jpeg: Uint8Array, now: number): void {
    if (this.windowStart === 0) this.windowStart = now;
    this.count++;
    const elapsed = now - this.windowStart;
    if (elapsed < WINDOW_MS && this.count !== 1) return;
    const size = jpegDimensions(jpeg);
    const fps = this.count > 1 ? ((this.count - 1) * 1000) / elapsed : 0;
    if (this.count > 1) {
      this.windowStart = now;
      this.count = 1;
    }
    this.stats.setSourceInfo(fps || this.stats.sourceInfo().fps, size?.width ?? 0, size?.height ?? 0);
  }

  /** Capture stopped or restarts: the next frame opens a new window. */
  reset(): void {
    this.windowStart = 0;
    this.count = 0;
  }

  /** Capture is idle: the rate is 0; the last frame size stays known (NO SIGNAL frames use it). */
  idle(): void {
    this.reset();
    const { width, height } = this.stats.sourceInfo();
    this.stats.setSourceInfo(0, width, height);
  }
}
