/**
 * One viewer of an MJPEG stream on uWebSockets.js: the per-frame, per-client hot path.
 *
 * The response is written with `tryEnd` against a practically infinite Content-Length rather
 * than with `write`:
 * - `write` copies whatever the socket does not take at once into uWS's own buffer, and once an
 *   onWritable handler is registered uWS no longer drains that buffer by itself: it waits for
 *   the handler to write more. With nothing newer to send, the tail of a frame would sit there
 *   until the next frame arrives, showing every frame one interval late under backpressure.
 * - `tryEnd` sends what the socket takes and keeps nothing; this class keeps the part buffer it
 *   was sending (one shared buffer, no copy) and resumes from `getWriteOffset()` in onWritable,
 *   then moves on to the newest frame. It also avoids chunked encoding's per-write framing.
 * Browsers and HTTP clients read a multipart/x-mixed-replace body with a Content-Length as they
 * do a chunked or close-delimited one; the length is simply never reached.
 *
 * Policy: at most one frame in flight per viewer; while one is, new frames are skipped (counted),
 * and when it completes the viewer gets the newest frame, never a backlog.
 */

import type { HttpResponse } from '@trufflesuite/uws-js-unofficial';
import type { Frame, FrameFeed, FrameSubscriber } from '../frame-feed.js';
import { STREAM_PREAMBLE } from '../multipart.js';

/** Declared Content-Length of a stream: never reached (2^53 - 1 bytes is 9 PB). */
export const STREAM_LENGTH = Number.MAX_SAFE_INTEGER;

export class UwsStreamClient implements FrameSubscriber {
  /** Frames written (completely or partly) to this viewer. */
  framesSent = 0;
  /** Frames skipped because the previous one was still in flight. */
  framesSkipped = 0;
  readonly connectedAt = Date.now();
  private open = true;
  private lastSeq = 0;
  /** The part still being sent, and the write offset at which it started. */
  private inflight: Buffer | null = null;
  private inflightStart = 0;
  /** The frame `corkedSend` sends; a field so the cork callback is one bound function, not a closure per frame. */
  private next: Frame | null = null;
  private readonly corkedSend = (): void => this.send(this.next!);

  constructor(
    private readonly res: HttpResponse,
    private readonly feed: FrameFeed,
    private readonly onFinish: (client: UwsStreamClient) => void,
  ) {
    // Registered before anything can yield to the event loop (uWS requires it).
    res.onAborted(() => this.finish());
    res.onWritable((offset) => this.drain(offset));
  }

  /** Writes the response head and subscribes; call inside the request handler. */
  start(extraHeaders: readonly (readonly [string, string])[]): void {
    const res = this.res;
    res.writeStatus('200 OK');
    for (const [k, v] of extraHeaders) res.writeHeader(k, v);
    this.tryEnd(STREAM_PREAMBLE);
    const current = this.feed.subscribe(this);
    if (current && this.open && current.seq !== this.lastSeq) this.send(current);
  }

  /** From the frame feed, outside any uWS callback: writes must be corked. */
  onFrame(frame: Frame): void {
    // The frame handed over at subscribe time can also arrive through the feed: send it once.
    if (!this.open || frame.seq === this.lastSeq) return;
    if (this.inflight !== null) {
      this.framesSkipped++;
      return;
    }
    this.next = frame;
    this.res.cork(this.corkedSend);
    this.next = null;
  }

  /** Ends the stream from the server side (shutdown). */
  close(): void {
    if (!this.open) return;
    this.res.close(); // runs onAborted → finish()
    this.finish();
  }

  private send(frame: Frame): void {
    this.lastSeq = frame.seq;
    this.framesSent++;
    const start = this.res.getWriteOffset();
    if (!this.tryEnd(frame.part)) {
      this.inflight = frame.part;
      this.inflightStart = start;
    }
  }

  /** uWS: the socket can take more. Returns whether everything pending was written. */
  private drain(offset: number): boolean {
    if (!this.open) return true;
    const part = this.inflight;
    if (part !== null) {
      if (!this.tryEnd(part.subarray(offset - this.inflightStart))) return false;
      this.inflight = null;
    }
    const latest = this.feed.latest;
    if (latest !== null && latest.seq !== this.lastSeq) this.send(latest);
    return this.inflight === null;
  }

  /** tryEnd returns [ok, done]; ok = all of `chunk` was sent. */
  private tryEnd(chunk: Uint8Array): boolean {
    return this.res.tryEnd(chunk, STREAM_LENGTH)[0];
  }

  private finish(): void {
    if (!this.open) return;
    this.open = false;
    this.inflight = null;
    this.feed.unsubscribe(this);
    this.onFinish(this);
  }
}
