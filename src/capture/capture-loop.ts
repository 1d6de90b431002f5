/**
 * The capture lifecycle, run inside a camera's capture worker: start the driver when the ring's
 * DEMAND (viewers, summed over every front-end thread) rises above 0, hand its frames to frame
 * admission, stop it after `idleTimeout` with no viewer, and restart it with backoff when it fails
 * while viewers are connected. The driver is started and stopped in place; the thread itself
 * lives as long as the process (some native camera bindings crash when their thread is
 * restarted). What happens to each frame is FrameAdmission's; NO SIGNAL is NoSignalWatch's.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { CaptureControl, type CaptureStateName } from '../core/capture-control.js';
import { describeError } from '../core/errors.js';
import type { Logger, LogLevel } from '../core/log.js';
import type { FrameRing } from '../core/ring.js';
import { RingStats } from '../core/ring-stats.js';
import type { CameraDriver, DriverContext } from '../drivers/types.js';
import { FrameAdmission } from './frame-admission.js';
import { NoSignalWatch } from './no-signal.js';
import { RateMeter } from './rate-meter.js';
import { playStills } from './stills.js';

export interface CaptureEvents {
  state(state: CaptureStateName, error?: string): void;
  log(level: LogLevel, message: string): void;
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
  private readonly opts: Required<CaptureLoopOptions>;
  private readonly control: CaptureControl;
  private readonly stats: RingStats;
  private readonly rate: RateMeter;
  private readonly admission: FrameAdmission;
  private readonly noSignal: NoSignalWatch;
  private driver: CameraDriver | null = null;
  private readonly shutdown = new AbortController();
  private session: AbortController | null = null;
  private done: Promise<void> | null = null;
  private readonly driverContext: DriverContext;

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
    const log = eventLogger(options.events);
    this.control = new CaptureControl(options.ring.buffer);
    this.stats = new RingStats(options.ring.buffer);
    this.rate = new RateMeter(this.stats);
    this.admission = new FrameAdmission(options.ring, this.stats, this.rate, log);
    this.noSignal = new NoSignalWatch(options.ring, this.stats, this.opts.noSignalAfterMs, log);
    this.driverContext = {
      countDrop: (reason, frames = 1) => this.stats.countDrop(reason, frames),
      log: (level, message) => options.events.log(level, message),
      // A frame larger than a slot can only be dropped: a driver that knows it drops it before
      // assembling it, instead of holding up to its own (far larger) default in memory.
      maxFrameBytes: options.ring.slotBytes,
    };
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
    this.control.wake(); // the loop and the idle watch wait on DEMAND
    await this.done;
  }

  private async main(): Promise<void> {
    this.setState('idle');
    while (!this.shutdown.signal.aborted) {
      const demand = this.control.demand();
      if (demand <= 0) {
        const wait = this.control.waitForDemandChange(demand, Infinity);
        if (wait) await wait;
        continue;
      }
      this.noSignal.arm();
      try {
        await this.captureSession();
      } finally {
        this.noSignal.disarm();
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
      const deliver = (jpeg: Uint8Array): void => {
        if (this.admission.admit(jpeg) === 0) return;
        this.noSignal.frameArrived();
        // 'running' only once this session's first frame is in the ring: a reader that sees
        // 'running' takes the ring's newest frame as this session's (FrameFeed.subscribe), and
        // before the publish that is still the previous session's last one.
        if (!delivered) {
          delivered = true;
          backoff = this.opts.backoffInitialMs;
          this.setState('running');
        }
      };
      try {
        this.setState('starting');
        this.driver ??= await this.opts.createDriver(this.driverContext);
        const stills = this.driver.stills?.();
        if (stills) {
          await playStills(stills, session.signal, this.control, deliver);
        } else {
          for await (const jpeg of this.driver.frames(session.signal)) {
            if (session.signal.aborted) break;
            deliver(jpeg);
          }
        }
        if (!session.signal.aborted) failure = new Error('the driver stopped delivering frames');
      } catch (err) {
        if (!session.signal.aborted) failure = err;
      } finally {
        session.abort();
        this.session = null;
        this.control.wake(); // end the idle watcher's wait
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
      if (this.control.demand() <= 0) return; // nobody is watching: don't retry until someone is
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
      const demand = this.control.demand();
      if (demand > 0) {
        const wait = this.control.waitForDemandChange(demand, Infinity);
        if (wait) await wait;
        continue;
      }
      const deadline = performance.now() + this.opts.idleTimeoutMs;
      while (!session.signal.aborted && this.control.demand() <= 0) {
        const left = deadline - performance.now();
        if (left <= 0) break;
        const wait = this.control.waitForDemandChange(0, left);
        if (wait) await wait;
      }
      if (!session.signal.aborted && this.control.demand() <= 0) {
        session.abort(new IdleStop('idle'));
        return;
      }
    }
  }

  private setState(state: CaptureStateName, error?: string): void {
    if (state === 'idle') this.rate.idle();
    else if (state !== 'running') this.rate.reset();
    this.control.setState(state);
    this.opts.events.state(state, error);
  }
}

/** The capture events' log as a Logger, for the parts of the loop that only log. */
function eventLogger(events: CaptureEvents): Logger {
  return {
    debug: (m) => events.log('debug', m),
    info: (m) => events.log('info', m),
    warn: (m) => events.log('warn', m),
    error: (m) => events.log('error', m),
  };
}
