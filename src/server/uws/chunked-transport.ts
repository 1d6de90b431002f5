/**
 * A chunked stream (uWS's `write`), for every client but browsers' <img> elements (see
 * stream-transport.ts for when it is used).
 *
 * Two properties of uWebSockets.js 20.30 shape it:
 * - Inside a corked callback, a write too large for uWS's 16 KB cork buffer first flushes the
 *   buffer, and if the socket cannot take that, the new data is dropped (uncork() returns without
 *   writing or buffering it): a chunk header without its data, a torn stream. So a part is
 *   written in pieces that always fit the cork buffer, each in a cork of its own, and never from
 *   inside a uWS callback, whose cork may already hold bytes: there send() queues the part and
 *   writes it on the next turn of the event loop. (Writes that find the socket backlogged are
 *   appended to uWS's own buffer in order, which is correct.)
 * - Once an onWritable handler is registered, uWS no longer drains its buffer by itself: each
 *   writable event must write something, and whatever it writes first pushes out the buffered
 *   tail. Each writable event writes a few bytes of a header line the next part will carry,
 *   `X-Wait: 1111...` (the first event opens the line, later ones lengthen it, a long line is
 *   closed and another opened); the next part then starts by closing the line. Clients see one
 *   extra header they ignore, and the tail never waits for the next frame.
 * This costs one syscall per 15 KB of a part per viewer: fine for the handful of players and
 * tools that read a camera this way.
 */

import { UwsTransport } from './stream-transport.js';

/** Largest piece written in one cork: the 16 KB cork buffer less room for chunk framing and filler. */
const PIECE_BYTES = 15 * 1024;
const WAIT_OPEN = Buffer.from('X-Wait: 1', 'latin1');
const WAIT_MORE = Buffer.from('1', 'latin1');
const WAIT_NEXT = Buffer.from('\r\nX-Wait: 1', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');
/** Longest X-Wait line, bytes: well below every parser's limit on a header line. */
const WAIT_LINE_MAX = 200;

export class ChunkedTransport extends UwsTransport {
  /** The part waiting for the next turn of the event loop. */
  private queued: Buffer | null = null;
  /** uWS holds the unsent tail of the last part: it is still in flight. */
  private backlogged = false;
  /** Bytes of the open X-Wait line, 0 if none is open. */
  private waitLine = 0;
  /**
   * Set while uWS may be in a corked callback of this socket (the request handler that began
   * the stream, until the next event-loop turn; a writable event): writes are deferred then.
   */
  private deferWrites = true;
  private piece: Buffer | null = null;
  private pieceOut = false;
  private readonly corkedWrite = (): void => {
    this.pieceOut = this.res.write(this.piece!);
  };

  begin(headers: readonly (readonly [string, string])[], preamble: Buffer): void {
    this.res.writeStatus('200 OK');
    for (const [k, v] of headers) this.res.writeHeader(k, v);
    this.res.write(preamble); // small: it stays in the request handler's cork buffer
    setImmediate(this.allowWrites); // the handler (and its cork) has returned by then
  }

  private readonly allowWrites = (): void => {
    this.deferWrites = false;
  };

  send(part: Buffer): boolean {
    if (!this.open) return true;
    this.queued = part;
    if (!this.deferWrites) return this.flush();
    setImmediate(this.flushDeferred);
    return false; // in flight until flushDeferred() has written it all
  }

  protected get stuck(): boolean {
    return this.backlogged;
  }

  /** Writes the queued part; true if all of it went out (else drained() follows once it has). */
  private readonly flush = (): boolean => {
    const part = this.queued;
    this.queued = null;
    if (!this.open || part === null) return true;
    let out = true;
    if (this.waitLine > 0) {
      out = this.writePiece(CRLF); // closes the X-Wait line a slow socket's drain left open
      this.waitLine = 0;
    }
    for (let at = 0; at < part.length; at += PIECE_BYTES) {
      out = this.writePiece(part.subarray(at, Math.min(part.length, at + PIECE_BYTES))) && out;
    }
    if (!out) {
      this.backlogged = true;
      this.holdTimeout();
    }
    return out;
  };

  /** A send() made inside a uWS callback: its caller was told the part is still in flight. */
  private readonly flushDeferred = (): void => {
    if (this.flush() && this.open) this.onDrained();
  };

  /** Writes in a cork of its own (flushed when the cork ends); true if nothing is left in uWS's buffer. */
  private writePiece(piece: Buffer): boolean {
    this.piece = piece;
    this.res.cork(this.corkedWrite);
    this.piece = null;
    return this.pieceOut;
  }

  protected writable(): boolean {
    if (!this.open || !this.backlogged) return true;
    // Something must be written for uWS to push its buffered tail (see the top of this file).
    let filler = WAIT_MORE;
    if (this.waitLine === 0) filler = WAIT_OPEN;
    else if (this.waitLine >= WAIT_LINE_MAX) filler = WAIT_NEXT;
    this.waitLine = filler === WAIT_MORE ? this.waitLine + 1 : WAIT_OPEN.length;
    if (!this.res.write(filler)) return false;
    this.backlogged = false;
    this.releaseTimeout();
    // Not from inside this callback (see the top of this file): the next send is deferred, and
    // drained() is called once it is out.
    this.deferWrites = true;
    setImmediate(this.drainedLater);
    return true;
  }

  private readonly drainedLater = (): void => {
    this.deferWrites = false;
    if (this.open) this.onDrained();
  };

  protected override gone(): void {
    this.queued = null;
    this.backlogged = false;
    super.gone();
  }
}
