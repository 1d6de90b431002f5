/**
 * Ring statistics: the counters in a camera's shared buffer (ring-layout.ts) that the capture
 * worker keeps and any thread reads for /status and /metrics: frames published and dropped by
 * reason, the measured capture rate and the frame size. Plain atomic loads at scrape time;
 * nothing on the per-viewer path touches them.
 */

import {
  attachRing,
  kDroppedCorrupt,
  kDroppedEncoderBusy,
  kDroppedOversize,
  kFpsMilli,
  kHeight,
  kPublished,
  kWidth,
} from './ring-layout.js';

/** Why a frame never reached viewers. */
export type DropReason = 'oversize' | 'encoder-busy' | 'corrupt';
export const DROP_REASONS: readonly DropReason[] = ['oversize', 'encoder-busy', 'corrupt'];
const dropFields: Record<DropReason, number> = {
  oversize: kDroppedOversize,
  'encoder-busy': kDroppedEncoderBusy,
  corrupt: kDroppedCorrupt,
};

export interface SourceInfo {
  /** Measured capture rate, frames per second; 0 when not capturing. */
  fps: number;
  /** Size of the newest frame in pixels; 0 when unknown. */
  width: number;
  height: number;
}

export class RingStats {
  private readonly header: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.header = attachRing(buffer).header;
  }

  /** Frames published so far. */
  published(): number {
    return Atomics.load(this.header, kPublished) >>> 0;
  }

  /** Counts frames dropped before they reached the ring. */
  countDrop(reason: DropReason, frames = 1): void {
    Atomics.add(this.header, dropFields[reason], frames);
  }

  /** Frames dropped for `reason` so far. */
  dropped(reason: DropReason): number {
    return Atomics.load(this.header, dropFields[reason]) >>> 0;
  }

  /** Records the measured capture rate and the frame size (capture worker). */
  setSourceInfo(fps: number, width: number, height: number): void {
    Atomics.store(this.header, kFpsMilli, Math.round(fps * 1000));
    Atomics.store(this.header, kWidth, width);
    Atomics.store(this.header, kHeight, height);
  }

  sourceInfo(): SourceInfo {
    return {
      fps: Atomics.load(this.header, kFpsMilli) / 1000,
      width: Atomics.load(this.header, kWidth),
      height: Atomics.load(this.header, kHeight),
    };
  }
}
