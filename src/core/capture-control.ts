/**
 * Capture control: the part of a camera's shared buffer (ring-layout.ts) through which the HTTP
 * threads and the capture worker steer capture. DEMAND counts viewers over every HTTP thread; the
 * capture worker waits on it with Atomics.waitAsync to start the camera when it rises above 0
 * and to stop it after the idle timeout. STATE is the capture state the worker reports, readable
 * by every thread without a message.
 */

import { attachRing, kDemand, kState } from './ring-layout.js';

/** Capture states stored in STATE. */
export const CaptureState = {
  idle: 0,
  starting: 1,
  running: 2,
  error: 3,
  stopping: 4,
} as const;
export type CaptureStateName = keyof typeof CaptureState;
const stateNames = Object.keys(CaptureState) as CaptureStateName[];

export class CaptureControl {
  private readonly header: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.header = attachRing(buffer).header;
  }

  /** Adds (or with a negative delta removes) viewers and wakes the capture worker. */
  addDemand(delta: number): number {
    const now = Atomics.add(this.header, kDemand, delta) + delta;
    Atomics.notify(this.header, kDemand);
    return now;
  }

  /** Viewers wanting frames now, over every thread. */
  demand(): number {
    return Atomics.load(this.header, kDemand);
  }

  /**
   * Waits until DEMAND differs from `seen`, `timeoutMs` passes or someone calls `wake()`; null if
   * it differs already. Never blocks the event loop.
   */
  waitForDemandChange(seen: number, timeoutMs: number): Promise<unknown> | null {
    const r = Atomics.waitAsync(this.header, kDemand, seen, timeoutMs);
    return r.async ? r.value : null;
  }

  /**
   * Blocks this thread until DEMAND differs from `seen`, `timeoutMs` passes or someone calls
   * `wake()`; true if the time ran out. The thread's event loop stops meanwhile: only for the
   * capture worker's pacing of ready-made frames (capture/stills.ts), in slices short enough for
   * its messages and timers.
   */
  sleepWhileDemandIs(seen: number, timeoutMs: number): boolean {
    return Atomics.wait(this.header, kDemand, seen, timeoutMs) === 'timed-out';
  }

  /** Wakes every waiter on DEMAND without changing it, so they re-check their own conditions. */
  wake(): void {
    Atomics.notify(this.header, kDemand);
  }

  setState(state: CaptureStateName): void {
    Atomics.store(this.header, kState, CaptureState[state]);
  }

  state(): CaptureStateName {
    return stateNames[Atomics.load(this.header, kState)] ?? 'error';
  }
}
