/**
 * The uWebSockets.js transports of MJPEG viewers: the bytes half of the per-frame, per-client hot
 * path (the policy half is Viewer). Two body framings, chosen per request by the front end:
 *
 * - length (length-transport.ts): a Content-Length that is never reached, written with `tryEnd`.
 *   One syscall per frame, and a slow socket's tail is resumed from the shared part buffer
 *   without a copy. Browsers' <img> elements read it (the request says `Sec-Fetch-Dest: image`),
 *   and those are the viewers that come by the hundred.
 * - chunked (chunked-transport.ts): what every other client reads. Firefox shows a blank tab for
 *   a length-framed /video_feed, python-requests' `iter_content` and urllib try to allocate the
 *   declared length and fail, and wget prints "8.0P".
 *
 * Both leave the slow-client policy to Viewer; this base class keeps uWS from enforcing its own.
 */

import type { HttpResponse } from '@trufflesuite/uws-js-unofficial';
import type { StreamTransport } from '../../stream/viewer.js';

export type Framing = 'length' | 'chunked';

/**
 * How often a stream whose part is stuck in flight re-arms uWS's own HTTP timeout, ms.
 *
 * uWS arms a fixed 10 s timeout on an HTTP socket whenever a write falls short and closes the
 * socket when it expires, unless a writable event comes first. A viewer that stopped reading
 * gets no writable event: Linux reports one only once the send buffer has drained by a third,
 * minutes at a slow reader's pace. So uWS closed such viewers after about 10 s, whatever
 * --slow-client-timeout said (30 s by default; 0, never), and they were not counted as slow
 * disconnects. The slow-client policy belongs to Viewer, on both front ends: while a part is
 * stuck, `pause()` then `resume()` re-arms the timer from now (pause sets it to 0, resume to
 * 10 s) and leaves the socket polled as before. uSockets checks timeouts in 4 s ticks, so a 10 s
 * timeout can fire 8 s after it was set: every 3 s is always in time.
 */
const UWS_TIMEOUT_REARM_MS = 3000;

export abstract class UwsTransport implements StreamTransport {
  protected open = true;
  /** Runs while a part is stuck in flight: see UWS_TIMEOUT_REARM_MS. */
  private rearmTimer: NodeJS.Timeout | null = null;

  /**
   * @param onDrained called when a part that did not go out whole has been sent completely
   * @param onGone called once when the connection ends (client abort or close())
   */
  constructor(
    protected readonly res: HttpResponse,
    protected readonly onDrained: () => void,
    private readonly onGone: () => void,
  ) {
    // Registered before anything can yield to the event loop (uWS requires it).
    res.onAborted(() => this.gone());
    res.onWritable((offset) => this.writable(offset));
  }

  /** Writes the status line, headers and the stream preamble; call inside the request handler. */
  abstract begin(headers: readonly (readonly [string, string])[], preamble: Buffer): void;
  abstract send(part: Buffer): boolean;
  /** uWS: the socket can take more. Returns whether everything pending was written. */
  protected abstract writable(offset: number): boolean;
  /** Whether a part is still in flight. */
  protected abstract get stuck(): boolean;

  close(): void {
    if (!this.open) return;
    this.res.close(); // runs onAborted
    this.gone();
  }

  /** A part did not go out whole: keep uWS from timing the socket out meanwhile. */
  protected holdTimeout(): void {
    this.rearmTimer ??= setInterval(this.rearmUwsTimeout, UWS_TIMEOUT_REARM_MS).unref();
  }

  protected releaseTimeout(): void {
    if (this.rearmTimer === null) return;
    clearInterval(this.rearmTimer);
    this.rearmTimer = null;
  }

  private readonly rearmUwsTimeout = (): void => {
    if (!this.open || !this.stuck) {
      this.releaseTimeout();
      return;
    }
    this.res.pause();
    this.res.resume();
  };

  protected gone(): void {
    if (!this.open) return;
    this.open = false;
    this.releaseTimeout();
    this.onGone();
  }
}
