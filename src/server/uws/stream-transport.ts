/**
 * The uWebSockets.js transport of one MJPEG viewer: the bytes half of the per-frame, per-client
 * hot path (the policy half is Viewer).
 *
 * The response is written with `tryEnd` against a practically infinite Content-Length rather
 * than with `write`:
 * - `write` copies whatever the socket does not take at once into uWS's own buffer, and once an
 *   onWritable handler is registered uWS no longer drains that buffer by itself: it waits for
 *   the handler to write more. With nothing newer to send, the tail of a frame would sit there
 *   until the next frame arrives, showing every frame one interval late under backpressure.
 * - `tryEnd` sends what the socket takes and keeps nothing; this class keeps the part buffer it
 *   was sending (one shared buffer, no copy) and resumes from `getWriteOffset()` in onWritable.
 *   It also avoids chunked encoding's per-write framing.
 * Browsers and HTTP clients read a multipart/x-mixed-replace body with a Content-Length as they
 * do a chunked or close-delimited one; the length is simply never reached.
 */

import type { HttpResponse } from '@trufflesuite/uws-js-unofficial';
import type { StreamTransport } from '../../stream/viewer.js';

/** Declared Content-Length of a stream: never reached (2^53 - 1 bytes is 9 PB). */
export const STREAM_LENGTH = Number.MAX_SAFE_INTEGER;

/**
 * How often a stream whose part is stuck in flight re-arms uWS's own HTTP timeout, ms.
 *
 * uWS arms a fixed 10 s timeout on an HTTP socket whenever a write falls short and closes the
 * socket when it expires, unless a writable event comes first. A viewer that stopped reading
 * gets no writable event: Linux reports one only once the send buffer (up to 4 MB on loopback)
 * has drained by a third, minutes at a slow reader's pace. So uWS closed such viewers after
 * about 10 s, whatever --slow-client-timeout said (30 s by default; 0, never), and they were
 * not counted as slow disconnects. The slow-client policy belongs to Viewer, on both front ends:
 * while a part is stuck, `pause()` then `resume()` re-arms the timer from now (pause sets it to
 * 0, resume to 10 s) and leaves the socket polled as before. uSockets checks timeouts in 4 s
 * ticks, so a 10 s timeout can fire 8 s after it was set: every 3 s is always in time.
 */
const UWS_TIMEOUT_REARM_MS = 3000;

export class UwsStreamTransport implements StreamTransport {
  /**
   * Body bytes handed to uWS so far (what getWriteOffset() would say), tracked here rather than
   * asked of uWS before every write: one native call less per frame per viewer.
   */
  private offset = 0;
  /** The part still being sent, and the body offset at which it started. */
  private inflight: Buffer | null = null;
  private inflightStart = 0;
  private open = true;
  /** Runs while a part is stuck in flight: see UWS_TIMEOUT_REARM_MS. */
  private rearmTimer: NodeJS.Timeout | null = null;
  /** The part `corkedSend` writes: a field, so the cork callback is one bound function rather than a closure per frame. */
  private pending: Buffer | null = null;
  private sentAll = false;
  private readonly corkedSend = (): void => {
    const part = this.pending!;
    this.sentAll = this.res.tryEnd(part, STREAM_LENGTH)[0];
    if (this.sentAll) {
      this.offset += part.length;
    } else {
      this.inflight = part;
      this.inflightStart = this.offset;
      this.rearmTimer ??= setInterval(this.rearmUwsTimeout, UWS_TIMEOUT_REARM_MS).unref();
    }
  };

  /**
   * @param onDrained called when a part that did not go out whole has been sent completely
   * @param onGone called once when the connection ends (client abort or close())
   */
  constructor(
    private readonly res: HttpResponse,
    private readonly onDrained: () => void,
    private readonly onGone: () => void,
  ) {
    // Registered before anything can yield to the event loop (uWS requires it).
    res.onAborted(() => this.gone());
    res.onWritable((offset) => this.writable(offset));
  }

  /** Writes the status line, headers and the stream preamble; call inside the request handler. */
  begin(headers: readonly (readonly [string, string])[], preamble: Buffer): void {
    this.res.writeStatus('200 OK');
    for (const [k, v] of headers) this.res.writeHeader(k, v);
    this.pending = preamble;
    this.corkedSend(); // already corked: we are inside the request handler
    this.pending = null;
  }

  send(part: Buffer): boolean {
    if (!this.open) return true;
    this.pending = part;
    // Corked: outside uWS callbacks (frame feed, timers) an uncorked write costs a syscall per
    // call and uWS warns; inside a callback cork is already on and this is a plain call.
    this.res.cork(this.corkedSend);
    this.pending = null;
    return this.sentAll;
  }

  close(): void {
    if (!this.open) return;
    this.res.close(); // runs onAborted
    this.gone();
  }

  /** uWS: the socket can take more. Returns whether everything pending was written. */
  private writable(offset: number): boolean {
    const part = this.inflight;
    if (!this.open || part === null) return true;
    if (!this.res.tryEnd(part.subarray(offset - this.inflightStart), STREAM_LENGTH)[0]) return false;
    this.inflight = null;
    this.stopRearming();
    this.offset = this.inflightStart + part.length;
    this.onDrained(); // may send the next frame at once (we are inside a corked uWS callback)
    return this.inflight === null;
  }

  private readonly rearmUwsTimeout = (): void => {
    if (!this.open || this.inflight === null) {
      this.stopRearming();
      return;
    }
    this.res.pause();
    this.res.resume();
  };

  private stopRearming(): void {
    if (this.rearmTimer === null) return;
    clearInterval(this.rearmTimer);
    this.rearmTimer = null;
  }

  private gone(): void {
    if (!this.open) return;
    this.open = false;
    this.inflight = null;
    this.stopRearming();
    this.onGone();
  }
}
