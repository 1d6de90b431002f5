/**
 * A chunked stream (uWS's `write`), for every client but browsers' <img> elements (see
 * stream-transport.ts for when it is used).
 *
 * Two properties of uWebSockets.js 20.30 shape it:
 * - Inside a corked callback, a write too large for uWS's 16 KB cork buffer first flushes the
 *   buffer, and if the socket cannot take that, the new data is dropped (uncork() returns without
 *   writing or buffering it): a chunk header without its data, a torn stream. So a part is
 *   written in pieces that always fit the cork buffer, each in a cork of its own, and never from
 *   inside a uWS callback, whose cork may already hold bytes: send() only queues the part and
 *   writes it on the next turn of the event loop. (Writes that find the socket backlogged are
 *   appended to uWS's own buffer in order, which is correct.)
 * - Once an onWritable handler is registered, uWS no longer drains its buffer by itself: each
 *   writable event must write something, and whatever it writes first pushes out the buffered
 *   tail. Each writable event writes a few bytes of a header line the next part will carry,
 *   `X-Wait: 1111...` (the first event opens the line, later ones lengthen it, a long line is
 *   closed and another opened); the next part then starts by closing the line. Clients see one
 *   extra header they ignore, and the tail never waits for the next frame.
 * This costs one syscall per 15 KB of a part, and an event-loop turn per frame, per viewer: fine
 * for the handful of players and tools that read a camera this way.
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
  private piece: Buffer | null = null;
  private pieceOut = false;
  private readonly corkedWrite = (): void => {
    this.pieceOut = this.res.write(this.piece!);
  };

  begin(headers: readonly (readonly [string, string])[], preamble: Buffer): void {
    this.res.writeStatus('200 OK');
    for (const [k, v] of headers) this.res.writeHeader(k, v);
    this.res.write(preamble); // small: it stays in the request handler's cork buffer
  }

  send(part: Buffer): boolean {
    if (!this.open) return true;
    this.queued = part;
    setImmediate(this.flush);
    return false; // in flight until flush() has written it all
  }

  protected get stuck(): boolean {
    return this.backlogged;
  }

  private readonly flush = (): void => {
    const part = this.queued;
    this.queued = null;
    if (!this.open || part === null) return;
    let out = true;
    if (this.waitLine > 0) {
      out = this.writePiece(CRLF); // closes the X-Wait line a slow socket's drain left open
      this.waitLine = 0;
    }
    for (let at = 0; at < part.length; at += PIECE_BYTES) {
      out = this.writePiece(part.subarray(at, Math.min(part.length, at + PIECE_BYTES))) && out;
    }
    if (out) {
      this.onDrained();
    } else {
      this.backlogged = true;
      this.holdTimeout();
    }
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
    setImmediate(this.onDrained); // not from inside this callback: see the top of this file
    return true;
  }

  protected override gone(): void {
    this.queued = null;
    this.backlogged = false;
    super.gone();
  }
}
