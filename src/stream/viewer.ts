/**
 * One viewer of an MJPEG stream: the per-frame, per-client policy, shared by every front end.
 *
 * - At most one frame in flight: while the transport is still sending one, new frames are
 *   skipped (counted); when it drains, the viewer gets the newest frame, never a backlog. A slow
 *   viewer therefore costs the others nothing and holds no queue.
 * - `?fps=N` caps this viewer's rate; frames above it are skipped without counting as lag.
 * - Keepalive: the feed re-offers its last frame when the camera stalls (`onRepeat`).
 *
 * The transport only moves bytes: `send(part)` writes one shared part buffer and says whether
 * it went out whole; if not, it calls `drained()` once the rest is out. Until then the viewer
 * holds the frame, so its pooled buffer is not reused under the transport.
 */

import type { Frame, FrameFeed, FrameSubscriber } from './frame-feed.js';

export interface StreamTransport {
  /**
   * Writes the whole part, or as much as the socket takes; true if all of it went out and the
   * transport keeps no reference to `part` (else it calls the viewer's drained() once it has
   * let go of it).
   */
  send(part: Buffer): boolean;
  /** Closes the connection (server side). */
  close(): void;
}

export interface ViewerInfo {
  /** Camera name. */
  camera: string;
  path: string;
  remoteAddress: string;
  /** Frames per second cap, or 0 for none. */
  maxFps: number;
  /** A frame in flight longer than this (ms) disconnects the viewer; 0 = never. */
  slowTimeoutMs: number;
  /**
   * The stream ends at this time, ms since the epoch (its signed link's expiry); 0 = never. It
   * ends between two parts, never inside one.
   */
  endsAt?: number;
}

/** A viewer's place under the server's client limit, given back once when the viewer finishes. */
export interface ViewerLease {
  release(): void;
}

const NO_LEASE: ViewerLease = { release() {} };

let nextId = 1;
const RATE_WINDOW_MS = 2000;

export class Viewer implements FrameSubscriber {
  readonly id = nextId++;
  readonly connectedAt = Date.now();
  framesSent = 0;
  bytesSent = 0;
  /** Frames skipped because the previous one was still in flight. */
  framesSkipped = 0;
  /** Frames skipped to honour the viewer's fps cap. */
  framesCapped = 0;
  /** Keepalive re-sends of the last frame. */
  framesRepeated = 0;
  /** The viewer was disconnected for not taking its frame within the slow-client timeout. */
  disconnectedSlow = false;
  /** The stream was ended because its signed link expired. */
  expired = false;
  /** performance.now() when the frame in flight was handed to the transport. */
  private busySince = 0;
  private open = true;
  private busy = false;
  /** The frame the transport is still sending, held (frame-feed.ts) until it drains. */
  private inflight: Frame | null = null;
  private lastSeq = 0;
  private readonly minIntervalMs: number;
  private nextDueMs = 0;
  // Delivered-rate window.
  private windowStart = performance.now();
  private windowCount = 0;
  private rate = 0;

  constructor(
    readonly info: ViewerInfo,
    private readonly feed: FrameFeed,
    private readonly transport: StreamTransport,
    private readonly onFinish: (viewer: Viewer) => void,
    private readonly lease: ViewerLease = NO_LEASE,
  ) {
    this.minIntervalMs = info.maxFps > 0 ? 1000 / info.maxFps : 0;
  }

  /** Subscribes to the feed and sends the current frame if capture is running. */
  start(): void {
    const current = this.feed.subscribe(this);
    if (current && this.open) this.offer(current, false);
  }

  onFrame(frame: Frame): void {
    // The feed timed this frame's arrival once for all its viewers.
    this.offer(frame, false, this.feed.lastFrameAt);
  }

  /** The feed re-offers its last frame because the camera stalled. */
  onRepeat(frame: Frame): void {
    this.offer(frame, true);
  }

  /** The transport finished sending the frame in flight. */
  drained(): void {
    this.busy = false;
    this.letGo();
    if (!this.open) return;
    if (this.pastEnd()) return;
    const latest = this.feed.latest;
    if (latest !== null && latest.seq !== this.lastSeq) this.offer(latest, false);
  }

  /** Delivered frames per second over the last couple of seconds. */
  deliveredFps(now = performance.now()): number {
    const age = now - this.windowStart;
    if (age > 2 * RATE_WINDOW_MS) return 0; // nothing sent for a while
    return age >= RATE_WINDOW_MS ? (this.windowCount * 1000) / age : this.rate;
  }

  /** Ends the stream from the server side (shutdown). */
  close(): void {
    if (!this.open) return;
    this.transport.close();
    this.finish();
  }

  /** The connection ended (client went away or close()). Idempotent. */
  finish(): void {
    if (!this.open) return;
    this.open = false;
    this.letGo(); // a transport that is gone reads nothing more
    this.feed.unsubscribe(this);
    this.lease.release();
    this.onFinish(this);
  }

  private offer(frame: Frame, repeat: boolean, now = performance.now()): void {
    // A frame handed over at subscribe time can also arrive through the feed: send it once.
    if (!this.open || (!repeat && frame.seq === this.lastSeq)) return;
    if (this.pastEnd()) return;
    if (this.busy) {
      if (!repeat) this.framesSkipped++;
      // Checked on each new frame and each keepalive (at least once a second): no timer per viewer.
      if (this.info.slowTimeoutMs > 0 && now - this.busySince > this.info.slowTimeoutMs) {
        this.disconnectedSlow = true;
        this.close();
      }
      return;
    }
    if (this.minIntervalMs > 0) {
      // Allow a frame up to 10% of an interval early, so source jitter doesn't halve the rate.
      if (now < this.nextDueMs - this.minIntervalMs * 0.1) {
        this.framesCapped++;
        return;
      }
      // The next frame is due one interval after this one was due, so a frame a little late
      // doesn't delay the next; but one sent more than 10% late (the viewer's first frame, or the
      // first after the source paused) restarts the schedule from now. Restarting it at `now`
      // itself, as this once did, let the very next frame through at once: two frames back to
      // back at the start of every stream, whatever N.
      this.nextDueMs = Math.max(this.nextDueMs + this.minIntervalMs, now + this.minIntervalMs * 0.9);
    }
    this.lastSeq = frame.seq;
    this.framesSent++;
    if (repeat) this.framesRepeated++;
    this.bytesSent += frame.part.length;
    if (now - this.windowStart >= RATE_WINDOW_MS) {
      this.rate = (this.windowCount * 1000) / (now - this.windowStart);
      this.windowStart = now;
      this.windowCount = 0;
    }
    this.windowCount++;
    this.busy = true;
    this.busySince = now;
    frame.retain();
    this.inflight = frame;
    if (this.transport.send(frame.part)) {
      this.busy = false;
      this.letGo();
    }
  }

  /**
   * Ends the stream once its link has expired, between parts: checked on each frame, keepalive
   * and drain (at least once a second), so no timer per viewer. A part still in flight finishes
   * first: while busy nothing new is sent anyway, and drained() checks again. True if it ended.
   */
  private pastEnd(): boolean {
    const endsAt = this.info.endsAt ?? 0;
    if (endsAt === 0 || this.busy || Date.now() < endsAt) return false;
    this.expired = true;
    this.close();
    return true;
  }

  private letGo(): void {
    const frame = this.inflight;
    this.inflight = null;
    frame?.release();
  }
}
