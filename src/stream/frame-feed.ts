/**
 * One reader of a frame ring in one thread, fanning each new frame out to that thread's viewers.
 *
 * A single Atomics.waitAsync per ring per thread, rather than one per viewer: a wake-up costs a
 * few microseconds of event-loop time, a callback well under one, and every viewer of the thread
 * needs the same frame anyway. The feed copies each new frame out of the ring once, already laid
 * out as a multipart part (headers + JPEG + boundary), validates it, and hands that one buffer to
 * every subscriber.
 *
 * The feed also keeps the ring's DEMAND count: each subscriber is one unit of demand, which is
 * what starts and stops capture in the capture worker.
 */

import { layoutPart, partJpeg, type Part } from './multipart.js';
import { PartPool, PooledPart } from './part-pool.js';
import { CaptureControl } from '../core/capture-control.js';
import type { FrameRing } from '../core/ring.js';

/**
 * A frame as served: one part buffer shared by every viewer, in a pooled buffer (part-pool.ts).
 * Whoever keeps `part` or `jpeg` past the call that handed the frame over holds it with
 * retain() until release(), or copies the bytes.
 */
export interface Frame {
  seq: number;
  /** Capture time, Unix epoch milliseconds. */
  captureTime: number;
  /** Headers + JPEG + trailing boundary, ready to write. */
  part: Buffer;
  /** The JPEG alone (a view into `part`). */
  jpeg: Buffer;
  retain(): void;
  release(): void;
}

/** A frame in the feed's pool. */
class FeedFrame extends PooledPart implements Frame {
  constructor(
    readonly seq: number,
    readonly captureTime: number,
    readonly part: Buffer,
    readonly jpeg: Buffer,
    backing: Buffer,
    pool: PartPool,
  ) {
    super(backing, pool);
  }
}

export interface FrameSubscriber {
  /** Called for every new frame while subscribed. Must not throw. */
  onFrame(frame: Frame): void;
  /** Called with the last frame again when the camera has stalled (keepalive). Must not throw. */
  onRepeat?(frame: Frame): void;
}

/**
 * A stalled camera's last frame is re-sent this often, so proxies and browsers keep the
 * connection (µStreamer does the same). A camera slower than this is not stalled: the
 * keepalive waits for 1.5 of its recent frame intervals instead.
 */
export const KEEPALIVE_MS = 1000;

export class FrameFeed {
  /** The newest frame this feed has read, or null. */
  latest: Frame | null = null;
  /** Called once per new frame after it went to every subscriber (metrics). */
  onFanout: ((frame: Frame) => void) | null = null;
  private readonly subscribers = new Set<FrameSubscriber>();
  private looping = false;
  private closed = false;
  private keepalive: NodeJS.Timeout | null = null;
  /** The delay `keepalive` was set with. */
  private keepaliveMs = 0;
  /** performance.now() of the last new frame (read by viewers instead of asking the clock each), and the interval before it (ms). */
  lastFrameAt = 0;
  private frameIntervalMs = 0;

  private readonly control: CaptureControl;
  readonly pool = new PartPool();
  /** The buffer the ring read copies into: taken once per read, reused across its retries. */
  private backing: Buffer | null = null;
  private readonly take = (bytes: number): Buffer => {
    if (this.backing === null || this.backing.length < bytes) {
      if (this.backing !== null) this.pool.give(this.backing);
      this.backing = this.pool.take(bytes);
    }
    return this.backing;
  };
  private readonly prepare = (jpegLength: number, captureTime: number): Part => layoutPart(jpegLength, captureTime, this.take);

  constructor(readonly ring: FrameRing) {
    this.control = new CaptureControl(ring.buffer);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /**
   * Adds a viewer. Returns the current frame to send it first if capture is running (so a viewer
   * joining a live camera sees a picture at once), else null: the frame in the ring is then a
   * stale one from an earlier capture session, and the viewer waits for a fresh one.
   */
  subscribe(subscriber: FrameSubscriber): Frame | null {
    if (this.closed || this.subscribers.has(subscriber)) return null;
    this.subscribers.add(subscriber);
    this.control.addDemand(1);
    if (!this.looping) void this.loop();
    if (this.control.state() !== 'running') return null;
    const current = this.refresh();
    // Only a new frame arms the keepalive: a viewer joining a camera that has already stalled
    // (capture running, nobody else watching) would get this frame and then nothing, ever.
    if (current && !this.keepalive) this.armKeepalive();
    return current;
  }

  unsubscribe(subscriber: FrameSubscriber): void {
    if (this.subscribers.delete(subscriber)) this.control.addDemand(-1);
    if (this.subscribers.size === 0) {
      this.stopKeepalive();
      // The feed stops reading: the next frame it sees comes from a later capture session, and
      // the gap before it is idle time, not a frame interval (taken as one, it put the next
      // keepalive 1.5 idle gaps away).
      this.lastFrameAt = 0;
      this.frameIntervalMs = 0;
    }
  }

  /** Stops the feed: wakes its waiter so the loop ends; subscribers are dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subscribers) this.unsubscribe(s);
    this.stopKeepalive();
    this.ring.wakeReaders();
  }

  /** Reads the ring's newest frame into `latest` if it is newer than what the feed holds. */
  refresh(): Frame | null {
    const seq = this.ring.latestSeq();
    if (seq !== 0 && seq !== this.latest?.seq) {
      const r = this.ring.read<Part>(this.prepare);
      const backing = this.backing;
      this.backing = null;
      if (r && backing) {
        const frame = new FeedFrame(r.seq, r.captureTime, r.dest.bytes, partJpeg(r.dest, r.length), backing, this.pool);
        frame.retain(); // the feed's own hold on its newest frame
        this.latest?.release();
        this.latest = frame;
      } else if (backing) {
        this.pool.give(backing); // nothing valid was read into it
      }
    }
    return this.latest;
  }

  /**
   * Re-arms the keepalive timer after a new frame (per frame per thread, not per viewer). The
   * delay is the same frame after frame at any rate above 1.5 fps, so the one timer is pushed
   * back with refresh(), which allocates nothing; a new timer only when the delay changes.
   */
  private armKeepalive(): void {
    const ms = Math.max(KEEPALIVE_MS, Math.round(1.5 * this.frameIntervalMs));
    if (this.keepalive !== null && ms === this.keepaliveMs) {
      this.keepalive.refresh();
      return;
    }
    if (this.keepalive) clearTimeout(this.keepalive);
    this.keepaliveMs = ms;
    this.keepalive = setTimeout(this.repeat, ms);
  }

  private stopKeepalive(): void {
    if (this.keepalive) clearTimeout(this.keepalive);
    this.keepalive = null;
  }

  private readonly repeat = (): void => {
    this.keepalive = null;
    const frame = this.latest;
    if (this.closed || frame === null || this.subscribers.size === 0) return;
    for (const s of this.subscribers) s.onRepeat?.(frame);
    this.keepaliveMs = KEEPALIVE_MS;
    this.keepalive = setTimeout(this.repeat, KEEPALIVE_MS);
  };

  private async loop(): Promise<void> {
    this.looping = true;
    try {
      // Start from the ring's newest frame, not from `latest`: whatever the ring holds now was
      // either handed to the new subscriber by subscribe() (capture running) or is stale (a
      // frame from an earlier capture session) and must not be sent.
      let seen = this.ring.latestSeq();
      while (!this.closed && this.subscribers.size > 0) {
        const wait = this.ring.waitForNewer(seen);
        if (wait) await wait;
        if (this.closed || this.subscribers.size === 0) break;
        const frame = this.refresh();
        if (!frame || frame.seq === seen) {
          // Woken without a new frame (wakeReaders), or the writer overtook every read attempt: in
          // the latter case LATEST differs from `seen`, so yield to the event loop before retrying.
          if (this.ring.latestSeq() !== seen) await new Promise((r) => setImmediate(r));
          continue;
        }
        seen = frame.seq;
        const now = performance.now();
        if (this.lastFrameAt > 0) this.frameIntervalMs = now - this.lastFrameAt;
        this.lastFrameAt = now;
        this.armKeepalive();
        for (const s of this.subscribers) s.onFrame(frame);
        this.onFanout?.(frame);
      }
    } finally {
      this.looping = false;
    }
    // A viewer may have subscribed between the loop's last check and here.
    if (!this.closed && this.subscribers.size > 0) void this.loop();
  }
}
