/**
 * The multipart/x-mixed-replace wire format of a Motion-JPEG stream.
 *
 * Body:  "--frame\r\n"  then per frame one part:
 *        "Content-Type: image/jpeg\r\nContent-Length: N\r\nX-Timestamp: S.UUUUUU\r\n\r\n" JPEG "\r\n--frame\r\n"
 *
 * The boundary is written right after each frame rather than before the next one: a browser
 * shows a part only once it sees the boundary that ends it, so a leading boundary would make
 * every frame appear one frame interval late.
 *
 * Each part is laid out once per frame in one contiguous buffer shared by every viewer, so a
 * viewer costs one write per frame (separate writes for headers, JPEG and trailer cost several
 * times the CPU).
 */

import type { FrameDestination } from '../core/ring.js';

export const BOUNDARY = 'frame';
export const STREAM_CONTENT_TYPE = `multipart/x-mixed-replace; boundary=${BOUNDARY}`;
/**
 * The Content-Length declared on a stream a browser's <img> reads (2^53 - 1 bytes, 9 PB: never
 * reached): no chunk framing, so each part is one write as it is. Only browsers' images get it;
 * other clients misread it (src/server/uws/stream-transport.ts).
 */
export const STREAM_LENGTH = Number.MAX_SAFE_INTEGER;
/** Written once at the start of every stream body. */
export const STREAM_PREAMBLE = Buffer.from(`--${BOUNDARY}\r\n`, 'latin1');
const TRAILER = `\r\n--${BOUNDARY}\r\n`;

/** A part laid out for the wire: headers + JPEG + trailing boundary. */
export interface Part extends FrameDestination {
  bytes: Buffer;
  jpegOffset: number;
}

/** Formats a capture time (Unix epoch ms) as Unix seconds with a 6-digit fraction. */
export function formatTimestamp(captureTime: number): string {
  const us = Math.round(captureTime * 1000);
  const sec = Math.floor(us / 1_000_000);
  return `${sec}.${String(us - sec * 1_000_000).padStart(6, '0')}`;
}

/**
 * Lays out a part for a JPEG of `jpegLength` bytes in a buffer from `take(bytes)` (at least that
 * long; the part-pool's): writes its headers and trailer; the caller copies the JPEG in at
 * `jpegOffset`. `bytes` is the part alone, a view of the taken buffer's start.
 */
export function layoutPart(jpegLength: number, captureTime: number, take: (bytes: number) => Buffer): Part {
  const head = `Content-Type: image/jpeg\r\nContent-Length: ${jpegLength}\r\nX-Timestamp: ${formatTimestamp(captureTime)}\r\n\r\n`;
  const total = head.length + jpegLength + TRAILER.length;
  const bytes = take(total).subarray(0, total);
  bytes.write(head, 0, 'latin1');
  bytes.write(TRAILER, head.length + jpegLength, 'latin1');
  return { bytes, jpegOffset: head.length };
}

/** The JPEG inside a part (a view, no copy). */
export function partJpeg(part: Part, jpegLength: number): Buffer {
  return part.bytes.subarray(part.jpegOffset, part.jpegOffset + jpegLength);
}
