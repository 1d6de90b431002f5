/**
 * A stream written with `tryEnd` against a Content-Length that is never reached (2^53 - 1 bytes,
 * 9 PB), for browsers' <img> elements (see stream-transport.ts for when it is used).
 *
 * `tryEnd` sends what the socket takes and keeps nothing: under backpressure this class keeps the
 * part buffer it was sending (one buffer shared by every viewer, no copy) and resumes from
 * uWS's write offset in onWritable. One syscall per frame, no chunk framing.
 */

import { STREAM_LENGTH } from '../../stream/multipart.js';
import { UwsTransport } from './stream-transport.js';

export class LengthTransport extends UwsTransport {
  /**
   * Body bytes handed to uWS so far (what getWriteOffset() would say), tracked here rather than
   * asked of uWS before every write: one native call less per frame per viewer.
   */
  private offset = 0;
  /** The part still being sent, and the body offset at which it started. */
  private inflight: Buffer | null = null;
  private inflightStart = 0;
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
      this.holdTimeout();
    }
  };

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

  protected get stuck(): boolean {
    return this.inflight !== null;
  }

  protected writable(offset: number): boolean {
    const part = this.inflight;
    if (!this.open || part === null) return true;
    if (!this.res.tryEnd(part.subarray(offset - this.inflightStart), STREAM_LENGTH)[0]) return false;
    this.inflight = null;
    this.releaseTimeout();
    this.offset = this.inflightStart + part.length;
    this.onDrained(); // may send the next frame at once (we are inside a corked uWS callback)
    return this.inflight === null;
  }

  protected override gone(): void {
    this.inflight = null;
    super.gone();
  }
}
