/**
 * The uWebSockets.js transport of one MJPEG viewer: the bytes half of the per-frame, per-client
 * hot path (the policy half is Viewer).
 *
 * Framing. The body is chunked (uWS's `write`), which every client reads: browsers, players,
 * python-requests' `iter_content`, urllib, wget. (A never-reached Content-Length, written with
 * `tryEnd`, costs one syscall less per frame, but Firefox shows a blank tab for /video_feed,
 * requests and urllib try to allocate the declared length and fail, and wget prints 8.0P.)
 *
 * Backpressure. `write` copies what the socket does not take at once into uWS's own buffer and
 * returns false; the part is then in flight until that buffer is empty. Once an onWritable
 * handler is registered, uWS no longer drains its buffer by itself: each writable event must
 * write something, and whatever it writes first pushes out the buffered tail. So each writable
 * event writes a few bytes of a header line the next part will carry, `X-Wait: 1111...` (the
 * first event opens the line, later ones lengthen it, and a long line is closed and another
 * opened); the next part then starts by closing the line. Clients see one extra header they
 * ignore, the tail never waits for the next frame, and `drained()` fires the moment it is out.
 */

import type { HttpResponse } from '@trufflesuite/uws-js-unofficial';
import type { StreamTransport } from '../../stream/viewer.js';

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

/** The header line the next part carries while a slow socket drains (clients ignore it). */
const WAIT_OPEN = Buffer.from('X-Wait: 1', 'latin1');
const WAIT_MORE = Buffer.from('1', 'latin1');
const WAIT_NEXT = Buffer.from('\r\nX-Wait: 1', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');
/** Longest X-Wait line, bytes: well below every parser's limit on a header line. */
const WAIT_LINE_MAX = 200;

export class UwsStreamTransport implements StreamTransport {
  private open = true;
  /** uWS holds the unsent tail of the last write: the part is still in flight. */
  private backlogged = false;
  /** Bytes of the open X-Wait line, 0 if none is open. */
  private waitLine = 0;
  /** Runs while a part is stuck in flight: see UWS_TIMEOUT_REARM_MS. */
  private rearmTimer: NodeJS.Timeout | null = null;
  /** The part `corkedSend` writes: a field, so the cork callback is one bound function rather than a closure per frame. */
  private pending: Buffer | null = null;
  private sentAll = false;
  private readonly corkedSend = (): void => {
    if (this.waitLine > 0) {
      this.res.write(CRLF); // closes the X-Wait line the slow socket's drain left open
      this.waitLine = 0;
    }
    this.sentAll = this.res.write(this.pending!);
    if (!this.sentAll) this.stuck();
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
    res.onWritable(() => this.writable());
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

  /** uWS: the socket can take more. Returns whether everything written so far is out. */
  private writable(): boolean {
    if (!this.open || !this.backlogged) return true;
    // Something must be written for uWS to push its buffered tail (see the top of this file).
    let filler = WAIT_MORE;
    if (this.waitLine === 0) filler = WAIT_OPEN;
    else if (this.waitLine >= WAIT_LINE_MAX) filler = WAIT_NEXT;
    this.waitLine = filler === WAIT_MORE ? this.waitLine + 1 : WAIT_OPEN.length;
    if (!this.res.write(filler)) return false;
    this.backlogged = false;
    this.stopRearming();
    this.onDrained(); // may send the next frame at once (we are inside a corked uWS callback)
    return !this.backlogged;
  }

  private stuck(): void {
    this.backlogged = true;
    this.rearmTimer ??= setInterval(this.rearmUwsTimeout, UWS_TIMEOUT_REARM_MS).unref();
  }

  private readonly rearmUwsTimeout = (): void => {
    if (!this.open || !this.backlogged) {
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
    this.backlogged = false;
    this.stopRearming();
    this.onGone();
  }
}
