/**
 * The capture lifecycle, run inside a camera's capture worker: start the driver when the ring's
 * DEMAND (viewers, summed over every front-end thread) rises above 0, publish its frames, stop it
 * after `idleTimeout` with no viewer, and restart it with backoff when it fails while viewers
 * are connected. The driver is started and stopped in place; the thread itself lives as long as
 * the process (some native camera bindings crash when their thread is restarted).
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '../core/errors.js';
import { isCompleteJpeg, jpegDimensions } from '../core/jpeg.js';
import { NoSignalFrames } from './no-signal.js';
import type { FrameRing, CaptureStateName } from '../core/ring.js';
import type { CameraDriver, DriverContext } from '../drivers/types.js';

export interface CaptureEvents {
  state(state: CaptureStateName, error?: string): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
}

export interface CaptureLoopOptions {
  ring: FrameRing;
  /** Creates the driver; called once, on the first start. */
  createDriver: (context: DriverContext) => CameraDriver | Promise<CameraDriver>;
  idleTimeoutMs: number;
  events: CaptureEvents;
  /** First retry delay after a failure, doubled on every failure in a row. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /**
   * After this long without a good frame while viewers watch (a failed, restarting or stalled
   * driver), publish a generated "NO SIGNAL" frame; 0 = never (viewers keep the last frame).
   */
  noSignalAfterMs?: number;
}

class IdleStop extends Error {}

export class CaptureLoop {
  private readonly ring: FrameRing;
  private readonly opts: Required<CaptureLoopOptions>;
  private driver: CameraDriver | null = null;
  private readonly shutdown = new AbortController();
  private session: AbortController | null = null;
  private oversizeBurst = 0;
  private corruptBurst = 0;
  private rateWindowStart = 0; // performance.now() ms
  private rateCount = 0;
  private done: Promise<void> | null = null;
  private noSignalTimer: NodeJS.Timeout | null = null;
  /** A NO SIGNAL frame is (being) published and no good frame has come since. */
  private noSignalShown = false;
  private noSignalFrames: NoSignalFrames | null = null;
  private readonly driverContext: DriverContext = {
    countDrop: (reason, frames = 1) => this.ring.countDrop(reason, frames),
    log: (level, message) => this.opts.events.log(level, message),
  };

  constructor(options: CaptureLoopOptions) {
    // `??`, not a spread over defaults: the capture worker passes every field, unset ones as
    // undefined, and a spread let that undefined win (backoff NaN: a failing camera was
    // restarted in a tight loop, hundreds of times a second).
    this.opts = {
      ...options,
      backoffInitialMs: options.backoffInitialMs ?? 500,
      backoffMaxMs: options.backoffMaxMs ?? 10_000,
      noSignalAfterMs: options.noSignalAfterMs ?? 0,
    };
    this.ring = options.ring;
  }

  /** Runs until `stop()`. */
  run(): Promise<void> {
    this.done ??= this.main();
    return this.done;
  }

  /** Stops capture (releasing the camera) and ends `run()`. */
  async stop(): Promise<void> {
    this.shutdown.abort();
    this.session?.abort();
    this.ring.addDemand(0); // wake the demand waiters
    await this.done;
  }

  private async main(): Promise<void> {
    this.setState('idle');
    while (!this.shutdown.signal.aborted) {
      const demand = this.ring.demand();
      if (demand <= 0) {
        const wait = this.ring.waitForDemandChange(demand, Infinity);
        if (wait) await wait;
        continue;
      }
      this.armNoSignal();
      try {
        await this.captureSession();
      } finally {
        this.disarmNoSignal();
      }
    }
    this.setState('idle');
  }

  /** One stretch of capture: from the first viewer until idle, restarting the driver on failure. */
  private async captureSession(): Promise<void> {
    let backoff = this.opts.backoffInitialMs;
    while (!this.shutdown.signal.aborted) {
      const session = new AbortController();
      this.session = session;
      const idleWatch = this.watchIdle(session);
      let failure: unknown = null;
      let delivered = false;
      try {
        this.setState('starting');
        this.driver ??= await this.opts.createDriver(this.driverContext);
        for await (const jpeg of this.driver.frames(session.signal)) {
          if (session.signal.aborted) break;
          if (!delivered) {
            delivered = true;
            backoff = this.opts.backoffInitialMs;
            this.setState('running');
          }
          this.publish(jpeg);
        }
        if (!session.signal.aborted) failure = new Error('the driver stopped delivering frames');
      } catch (err) {
        if (!session.signal.aborted) failure = err;
      } finally {
        session.abort();
        this.session = null;
        this.ring.addDemand(0); // end the idle watcher's wait
        await idleWatch;
      }
      const idle = session.signal.reason instanceof IdleStop;
      if (failure === null) {
        if (idle) this.opts.events.log('info', 'capture stopped: no viewers');
        this.setState('idle');
        return;
      }
      const reason = describeError(failure);
      this.setState('error', reason);
      this.opts.events.log('error', `capture failed: ${reason}`);
      if (this.ring.demand() <= 0) return; // nobody is watching: don't retry until someone is
      this.opts.events.log('info', `restarting capture in ${(backoff / 1000).toFixed(1)} s`);
      try {
        await sleep(backoff, undefined, { signal: this.shutdown.signal });
      } catch {
        return; // shutting down
      }
      backoff = Math.min(backoff * 2, this.opts.backoffMaxMs);
    }
  }

  /** Aborts `session` once DEMAND has stayed at 0 for the idle timeout. */
  private async watchIdle(session: AbortController): Promise<void> {
    while (!session.signal.aborted) {
      const demand = this.ring.demand();
      if (demand > 0) {
        const wait = this.ring.waitForDemandChange(demand, Infinity);
        if (wait) await wait;
        continue;
      }
      const deadline = performance.now() + this.opts.idleTimeoutMs;
      let left: number;
      while (!session.signal.aborted && this.ring.demand() <= 0 && (left = deadline - performance.now()) > 0) {
        const wait = this.ring.waitForDemandChange(0, left);
        if (wait) await wait;
      }
      if (!session.signal.aborted && this.ring.demand() <= 0) {
        session.abort(new IdleStop('idle'));
        return;
      }
    }
  }

  private publish(jpeg: Uint8Array): void {
    // Whatever a driver yields, viewers only ever get whole JPEGs (SOI at the start, EOI at the end).
    if (!isCompleteJpeg(jpeg)) {
      this.ring.countDrop('corrupt');
      if (this.corruptBurst++ === 0)
        this.opts.events.log('warn', `dropping frames that are not complete JPEGs (this one: ${jpeg.byteLength} bytes)`);
      return;
    }
    if (this.corruptBurst > 0) {
      this.opts.events.log('warn', `dropped ${this.corruptBurst} broken frame(s) in a row`);
      this.corruptBurst = 0;
    }
    const now = performance.now();
    const seq = this.ring.publish(jpeg, performance.timeOrigin + now);
    this.measure(jpeg, now);
    if (seq !== 0 && this.noSignalTimer !== null) {
      // One timer for the whole session, pushed back by every good frame (no allocation).
      this.noSignalTimer.refresh();
      if (this.noSignalShown) {
        this.noSignalShown = false;
        this.opts.events.log('info', 'frames again: NO SIGNAL cleared');
      }
    }
    if (seq === 0) {
      if (this.oversizeBurst++ === 0) {
        this.opts.events.log(
          'warn',
          `dropping frames larger than the ring's ${this.ring.slotBytes}-byte slots (this one: ${jpeg.byteLength} bytes); raise --max-frame-bytes`,
        );
      }
    } else if (this.oversizeBurst > 0) {
      this.opts.events.log('warn', `dropped ${this.oversizeBurst} oversize frame(s) in a row`);
      this.oversizeBurst = 0;
    }
  }

  /** Starts the no-signal watchdog for a capture session (viewers are watching). */
  private armNoSignal(): void {
    const after = this.opts.noSignalAfterMs;
    if (after <= 0) return;
    this.noSignalShown = false;
    this.noSignalTimer = setTimeout(() => void this.showNoSignal(), after);
    this.noSignalTimer.unref();
  }

  private disarmNoSignal(): void {
    if (this.noSignalTimer !== null) clearTimeout(this.noSignalTimer);
    this.noSignalTimer = null;
    this.noSignalShown = false;
  }

  private async showNoSignal(): Promise<void> {
    if (this.noSignalTimer === null || this.shutdown.signal.aborted) return;
    this.noSignalShown = true;
    const { width, height } = this.ring.sourceInfo();
    let jpeg: Uint8Array;
    try {
      this.noSignalFrames ??= new NoSignalFrames();
      jpeg = await this.noSignalFrames.frame(width, height);
    } catch (err) {
      this.opts.events.log('warn', `cannot render the NO SIGNAL frame: ${describeError(err)}`);
      return;
    }
    // A good frame may have arrived, or the session ended, while it was being encoded.
    if (!this.noSignalShown || this.noSignalTimer === null) return;
    if (jpeg.byteLength > this.ring.slotBytes) return; // a huge frame size with tiny slots: keep the last frame
    this.ring.publish(jpeg, performance.timeOrigin + performance.now());
    this.opts.events.log('warn', `no frame for ${(this.opts.noSignalAfterMs / 1000).toFixed(1)} s: showing NO SIGNAL`);
  }

  /** Measures the capture rate over windows of about a second, and the frame size. */
  private measure(jpeg: Uint8Array, now: number): void {
    if (this.rateWindowStart === 0) this.rateWindowStart = now;
    this.rateCount++;
    const elapsed = now - this.rateWindowStart;
    if (elapsed >= 1000 || this.rateCount === 1) {
      const size = jpegDimensions(jpeg);
      const fps = this.rateCount > 1 ? ((this.rateCount - 1) * 1000) / elapsed : 0;
      if (this.rateCount > 1) {
        this.rateWindowStart = now;
        this.rateCount = 1;
      }
      this.ring.setSourceInfo(fps || this.ring.sourceInfo().fps, size?.width ?? 0, size?.height ?? 0);
    }
  }

  private setState(state: CaptureStateName, error?: string): void {
    if (state !== 'running') {
      this.rateWindowStart = 0;
      this.rateCount = 0;
      if (state === 'idle') this.ring.setSourceInfo(0, this.ring.sourceInfo().width, this.ring.sourceInfo().height);
    }
    this.ring.setState(state);
    this.opts.events.state(state, error);
  }
}
