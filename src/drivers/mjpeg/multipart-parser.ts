/**
 * An incremental parser for `multipart/x-mixed-replace` bodies (Motion-JPEG over HTTP) as
 * cameras really send them, fed chunk by chunk; the reading side of what src/multipart.ts writes.
 *
 * What it tolerates, because cameras and streamers in the field do it:
 * - the boundary quoted or not, and written in the Content-Type with the `--` that belongs only
 *   in the body (`boundary=--myboundary`, then `--myboundary` in the body): the delimiter
 *   searched for is `--` + the boundary without its leading `--`, which matches both the wrong
 *   and the correct (`----myboundary`) body;
 * - CRLF or bare LF line endings, header names in any case, a delimiter line with trailing
 *   padding or `--` (some cameras end every part with the close delimiter), a part with no
 *   headers or no blank line before the JPEG, no line break between a JPEG and the next delimiter;
 * - a preamble before the first boundary, parts that are not JPEGs, JPEGs cut short;
 * - parts with `Content-Length` (the fast path: the body is taken by count and delivered as soon
 *   as it is complete, without waiting for the next delimiter; a Content-Length that also counts
 *   the line break after the JPEG is forgiven; one larger than `maxFrameBytes` is refused at once,
 *   see below) and parts without one, whose frames are found by
 *   JPEG structure (JpegStreamSplitter), so a frame is delivered at its EOI marker rather than
 *   one frame late when the next delimiter arrives, and an EXIF thumbnail's own FF D9 does not
 *   cut it short; the delimiter still ends the part;
 * - no boundary at all (`multipart/x-mixed-replace` with no parameter): frames are found by JPEG
 *   structure alone. Bytes before the first delimiter are searched the same way, so a stream
 *   whose body never uses the announced boundary still yields its frames.
 *
 * Every byte is examined about once: delimiters are found with Buffer.indexOf (memmem), a body
 * is collected as views of the incoming chunks and joined once when complete, and only a
 * possible delimiter prefix at the end of a chunk (< boundary length + 2 bytes) and the current
 * header line are ever copied. Memory is bounded: one frame of at most `maxFrameBytes` plus one
 * header block of at most `maxHeaderBytes`; garbage between parts is skipped, not kept. The
 * relay passes the ring's slot size (--max-frame-bytes) as `maxFrameBytes`, since nothing larger
 * can reach viewers: a part whose Content-Length exceeds it is dropped as 'oversize' on its
 * headers and its bytes are skipped up to the next delimiter, never collected (one upstream
 * declaring 200 MB parts took 200 MB and more per relay camera when the limit was the largest
 * possible slot); a part without Content-Length whose JPEG grows past it is dropped by the
 * splitter at that size, and the rest of it skipped.
 *
 * A frame that is not a complete JPEG (FF D8 FF ... FF D9) is never delivered: it is reported
 * to `onDrop` and counted in `stats`.
 */

import { isCompleteJpeg } from '../../core/jpeg.js';
import { JpegStreamSplitter } from './jpeg-splitter.js';

/** Part headers, names lower-cased. */
export type PartHeaders = Readonly<Record<string, string>>;

/** Why a part or frame was not delivered: not a whole JPEG, or larger than maxFrameBytes. */
export type DropReason = 'corrupt' | 'oversize';

export interface MultipartParserOptions {
  /**
   * The boundary parameter of the Content-Type (see boundaryFromContentType); undefined: the
   * stream has none, and frames are found by JPEG structure alone.
   */
  boundary: string | undefined;
  /** Called for every complete JPEG, in stream order. The buffer may be a view of a pushed chunk. */
  onFrame(jpeg: Buffer, headers: PartHeaders): void;
  /** Called for every part or frame dropped; `detail` is one line, for logs. */
  onDrop?(reason: DropReason, detail: string): void;
  /** Largest frame, bytes (default 64 MB). A larger Content-Length is not trusted. */
  maxFrameBytes?: number;
  /** Largest header block of one part, bytes (default 16 KB). */
  maxHeaderBytes?: number;
}

export interface MultipartParserStats {
  /** Delimiters seen (parts started). */
  parts: number;
  /** Frames delivered. */
  frames: number;
  /** Parts or frames dropped for not being a complete JPEG (or for unreadable part headers). */
  corrupt: number;
  /** Frames dropped for exceeding maxFrameBytes. */
  oversize: number;
}

export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);
const NO_HEADERS: PartHeaders = Object.freeze({});

const enum State {
  /**
   * Looking for the next delimiter. The bytes before it are the preamble, the rest of the line
   * after a counted body, or the body of a part without a usable Content-Length.
   */
  Seek,
  /** After a delimiter: skipping the rest of its line (padding, a closing `--`). */
  DelimiterLine,
  /** Reading part header lines up to the blank line. */
  Headers,
  /** Reading `bodyRemaining` more bytes of a part with Content-Length. */
  Body,
}

/** What the bytes before the next delimiter are. */
const enum SeekMode {
  /** Skipped: the rest of a delimiter-to-delimiter stretch after a counted body, or junk. */
  Skip,
  /** Searched by JPEG structure: the preamble, or the body of a part without Content-Length. */
  Structure,
}

/**
 * Reads the boundary parameter of a multipart Content-Type, quoted or not, exactly as given
 * (a leading `--` included: the parser deals with it). Undefined if there is none.
 */
export function boundaryFromContentType(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const m = /;\s*boundary\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;,\s]+))/i.exec(contentType);
  const boundary = m?.[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m?.[2];
  return boundary === undefined || boundary === '' ? undefined : boundary;
}

/** True for a Content-Type of any multipart type (cameras say x-mixed-replace, some say mixed). */
export function isMultipartContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && /^\s*multipart\//i.test(contentType);
}

/** The delimiter searched for in the body: `--` + the boundary without a leading `--`. */
export function delimiterFor(boundary: string): Buffer {
  const core = boundary.startsWith('--') && boundary.length > 2 ? boundary.slice(2) : boundary;
  return Buffer.from(`--${core}`, 'latin1');
}

export class MultipartParser {
  readonly stats: MultipartParserStats = { parts: 0, frames: 0, corrupt: 0, oversize: 0 };
  private readonly delimiter: Buffer | null;
  private readonly maxFrameBytes: number;
  private readonly maxHeaderBytes: number;
  private readonly onFrameCb: MultipartParserOptions['onFrame'];
  private readonly onDropCb: MultipartParserOptions['onDrop'];
  /** Finds frames in the preamble, in parts without Content-Length, and in boundary-less streams. */
  private readonly splitter: JpegStreamSplitter;
  /** splitter.stats.corrupt and .oversize already reported. */
  private splitterCorrupt = 0;
  private splitterOversize = 0;

  private state = State.Seek;
  private seekMode = SeekMode.Structure; // the preamble
  /** The end of the last chunk, when it may be the start of a delimiter (Seek only). */
  private carry: Buffer = EMPTY;
  /** Bytes of the delimiter line skipped so far. */
  private lineBytes = 0;
  /** The header line being read, when it spans chunks. */
  private lineParts: Buffer[] = [];
  private headerBytes = 0;
  private headers: Record<string, string> = {};
  /** The body of a part with Content-Length, as views of the chunks it came in. */
  private bodyParts: Buffer[] = [];
  private bodyLength = 0;
  private bodyRemaining = 0;
  /** Frames and drops in the current structure-searched part. */
  private partFrames = 0;
  private partDrops = 0;
  /** The current structure-searched stretch is the preamble (finding nothing there is no drop). */
  private inPreamble = true;

  constructor(options: MultipartParserOptions) {
    this.delimiter = options.boundary === undefined ? null : delimiterFor(options.boundary);
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    this.onFrameCb = options.onFrame;
    this.onDropCb = options.onDrop;
    this.splitter = new JpegStreamSplitter((jpeg) => this.onStructureFrame(jpeg), this.maxFrameBytes);
  }

  /** Bytes held for a part not complete yet, a partial frame inside the JPEG splitter included. */
  get bufferedBytes(): number {
    let line = 0;
    for (const p of this.lineParts) line += p.length;
    return this.carry.length + line + (this.bodyLength - this.bodyRemaining) + this.splitter.bufferedBytes;
  }

  /** Feeds the next chunk of the body. Calls onFrame / onDrop for what it completes. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const d = this.delimiter;
    if (d === null) {
      this.feedStructure(chunk);
      return;
    }
    let start = 0;
    if (this.carry.length > 0) {
      // The previous chunk ended with what may be the start of a delimiter. Look for a
      // delimiter that starts in those bytes; one that starts later is found in `chunk` itself.
      const carry = this.carry;
      this.carry = EMPTY;
      if (chunk.length < d.length) {
        // Small pieces: join them (both are shorter than the delimiter) and go on as one chunk.
        this.run(Buffer.concat([carry, chunk]), 0);
        return;
      }
      const k = Buffer.concat([carry, chunk.subarray(0, d.length - 1)]).indexOf(d);
      if (k >= 0 && k < carry.length) {
        this.seekBytes(carry.subarray(0, k));
        this.onDelimiter();
        start = k + d.length - carry.length;
      } else {
        this.seekBytes(carry);
      }
    }
    this.run(chunk, start);
  }

  private run(buf: Buffer, i: number): void {
    const d = this.delimiter!;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case State.Seek: {
          const k = buf.indexOf(d, i);
          if (k >= 0) {
            this.seekBytes(buf.subarray(i, k));
            this.onDelimiter();
            i = k + d.length;
            break;
          }
          // Keep the longest tail that could be the start of a delimiter; the rest is settled.
          const keep = delimiterPrefixAtEnd(buf, i, d);
          this.seekBytes(buf.subarray(i, n - keep));
          if (keep > 0) this.carry = Buffer.from(buf.subarray(n - keep)); // a copy: a few bytes
          i = n;
          break;
        }
        case State.DelimiterLine: {
          const lf = buf.indexOf(LF, i);
          if (lf < 0) {
            this.lineBytes += n - i;
            i = n;
            if (this.lineBytes > this.maxHeaderBytes) this.dropPart('corrupt', 'a delimiter line that never ends');
          } else {
            i = lf + 1;
            this.state = State.Headers;
          }
          break;
        }
        case State.Headers:
          i = this.readHeaders(buf, i);
          break;
        case State.Body: {
          const take = Math.min(this.bodyRemaining, n - i);
          this.bodyParts.push(buf.subarray(i, i + take));
          this.bodyRemaining -= take;
          i += take;
          if (this.bodyRemaining === 0) this.finishCountedBody();
          break;
        }
      }
    }
  }

  /** Reads header lines from `i`; returns where it stopped. */
  private readHeaders(buf: Buffer, i: number): number {
    const n = buf.length;
    while (i < n && this.state === State.Headers) {
      if (this.lineParts.length === 0 && buf[i] === 0xff) {
        // A JPEG where a header line should start: the camera sent no blank line. (0xFF never
        // starts a header name.)
        this.startBody();
        return i;
      }
      const lf = buf.indexOf(LF, i);
      const end = lf < 0 ? n : lf;
      this.headerBytes += end - i + 1;
      if (this.headerBytes > this.maxHeaderBytes) {
        this.lineParts = [];
        this.dropPart('corrupt', `part headers longer than ${this.maxHeaderBytes} bytes`);
        return lf < 0 ? n : lf + 1;
      }
      if (lf < 0) {
        this.lineParts.push(buf.subarray(i, n));
        return n;
      }
      let line = buf.subarray(i, lf);
      if (this.lineParts.length > 0) {
        this.lineParts.push(line);
        line = Buffer.concat(this.lineParts);
        this.lineParts = [];
      }
      i = lf + 1;
      const text = line.toString('latin1').trim(); // also drops the CR of a CRLF
      if (text === '') {
        this.startBody();
      } else if (this.delimiter !== null && line.indexOf(this.delimiter) >= 0 && text.startsWith('--')) {
        // A delimiter inside the header block: the previous part's headers were cut short.
        this.report('corrupt', 'a part whose headers were cut short by the next delimiter');
        this.stats.parts++;
        this.headers = {};
        this.headerBytes = 0;
      } else {
        const colon = text.indexOf(':');
        if (colon > 0) {
          const name = text.slice(0, colon).trim().toLowerCase();
          const value = text.slice(colon + 1).trim();
          this.headers[name] = name in this.headers ? `${this.headers[name]}, ${value}` : value;
        }
      }
    }
    return i;
  }

  /** The header block ended: take the body by count, or find its end by structure and delimiter. */
  private startBody(): void {
    const raw = this.headers['content-length'];
    // Any number of digits: a 20-digit length is oversize (Number gives a huge value or
    // Infinity), not unreadable.
    const length = raw !== undefined && /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
    if (length > this.maxFrameBytes) {
      // Refused on its headers, nothing of it kept: collecting it to find out would cost what
      // the limit is there to bound. Skipping to the next delimiter rather than counting the
      // bytes off also recovers at once from a Content-Length that lies.
      const shown = raw!.length > 15 ? `${raw!.slice(0, 15)}... (${raw!.length} digits)` : raw;
      this.dropPart(
        'oversize',
        `part ${this.stats.parts} declares Content-Length ${shown}, more than the ${this.maxFrameBytes}-byte limit`,
      );
      return;
    }
    if (length > 0) {
      this.state = State.Body;
      this.bodyParts = [];
      this.bodyLength = length;
      this.bodyRemaining = length;
      return;
    }
    // No Content-Length, or an unreadable one: the JPEG structure finds the frame (the splitter
    // drops it, and skips the rest, if it grows past maxFrameBytes), the delimiter ends the part.
    this.state = State.Seek;
    this.seekMode = SeekMode.Structure;
    this.splitter.reset();
    this.partFrames = 0;
    this.partDrops = 0;
  }

  private finishCountedBody(): void {
    let body = this.bodyParts.length === 1 ? this.bodyParts[0]! : Buffer.concat(this.bodyParts, this.bodyLength);
    this.bodyParts = [];
    this.bodyLength = 0;
    this.state = State.Seek;
    this.seekMode = SeekMode.Skip;
    // Some cameras count the line break around the JPEG in Content-Length. A JPEG starts with
    // FF and ends with D9, so trimming CR / LF never cuts one.
    body = trimLineBreaks(body);
    if (isCompleteJpeg(body)) {
      this.emit(body);
    } else {
      const type = this.headers['content-type'];
      this.report('corrupt', `part ${this.stats.parts} (${body.length} bytes${type ? `, ${type}` : ''}) is not a complete JPEG`);
    }
  }

  /** Bytes before the next delimiter (or held back as a possible delimiter start, then released). */
  private seekBytes(bytes: Buffer): void {
    if (bytes.length > 0 && this.seekMode === SeekMode.Structure) this.feedStructure(bytes);
  }

  private onDelimiter(): void {
    if (this.seekMode === SeekMode.Structure) {
      // The part found by structure ends here; a JPEG begun and not finished is cut short.
      if (!this.inPreamble && this.partFrames === 0 && this.partDrops === 0) {
        const type = this.headers['content-type'];
        this.report('corrupt', `part ${this.stats.parts} (no Content-Length${type ? `, ${type}` : ''}) holds no complete JPEG`);
      }
      this.splitter.reset();
    }
    this.inPreamble = false;
    this.stats.parts++;
    this.state = State.DelimiterLine;
    this.seekMode = SeekMode.Skip;
    this.lineBytes = 0;
    this.lineParts = [];
    this.headerBytes = 0;
    this.headers = {};
  }

  /** Abandons the current part and resynchronises on the next delimiter. */
  private dropPart(reason: DropReason, detail: string): void {
    this.report(reason, detail);
    this.state = State.Seek;
    this.seekMode = SeekMode.Skip;
    this.bodyParts = [];
    this.bodyLength = 0;
    this.bodyRemaining = 0;
  }

  private feedStructure(bytes: Buffer): void {
    this.splitter.push(bytes);
    // The splitter counts its drops rather than calling back: report what this push added.
    const { corrupt, oversize } = this.splitter.stats;
    for (; this.splitterCorrupt < corrupt; this.splitterCorrupt++, this.partDrops++) {
      this.report('corrupt', 'a JPEG whose marker structure is broken');
    }
    for (; this.splitterOversize < oversize; this.splitterOversize++, this.partDrops++) {
      this.report('oversize', `a JPEG larger than ${this.maxFrameBytes} bytes`);
    }
  }

  private onStructureFrame(jpeg: Buffer): void {
    this.partFrames++;
    this.emit(jpeg);
  }

  private emit(jpeg: Buffer): void {
    this.stats.frames++;
    this.onFrameCb(jpeg, this.delimiter === null || this.inPreamble ? NO_HEADERS : this.headers);
  }

  private report(reason: DropReason, detail: string): void {
    this.stats[reason]++;
    this.onDropCb?.(reason, detail);
  }
}

/**
 * The length of the longest proper prefix of `d` that `buf[from..]` ends with (0 if none): the
 * bytes that must wait for the next chunk to tell whether a delimiter starts there.
 */
function delimiterPrefixAtEnd(buf: Buffer, from: number, d: Buffer): number {
  const n = buf.length;
  for (let p = Math.min(d.length - 1, n - from); p > 0; p--) {
    if (buf[n - p] === d[0] && buf.compare(d, 0, p, n - p, n) === 0) return p;
  }
  return 0;
}

function trimLineBreaks(b: Buffer): Buffer {
  let s = 0;
  let e = b.length;
  while (s < e && (b[s] === CR || b[s] === LF)) s++;
  while (e > s && (b[e - 1] === CR || b[e - 1] === LF)) e--;
  return s === 0 && e === b.length ? b : b.subarray(s, e);
}
