/**
 * Splits a byte stream of back-to-back JPEG images (what `rpicam-vid --codec mjpeg -o -` and
 * similar tools write) into whole frames, chunk by chunk.
 *
 * It follows the JPEG marker structure rather than searching for FF D8 / FF D9 byte pairs:
 * segment lengths skip the contents of APPn, COM and table segments (an EXIF thumbnail carries
 * its own FF D8 ... FF D9), and inside entropy-coded data only FF followed by something other
 * than 00 (a stuffed byte), D0-D7 (restart markers) or FF (fill) is a marker. Each byte is
 * examined once (entropy data is scanned with indexOf, i.e. memchr), and a frame's bytes are
 * joined once, when it completes, instead of re-concatenating a growing buffer on every chunk.
 *
 * Garbage before a frame is skipped; a frame that breaks the marker structure or grows past
 * `maxFrameBytes` is dropped (counted) and the splitter resynchronises on the next SOI.
 */

const enum State {
  /** Looking for FF D8 (SOI). */
  SeekSoi,
  /** Saw FF while seeking SOI. */
  SeekSoiFf,
  /** Inside a frame, expecting FF that starts a marker. */
  Marker,
  /** Saw FF (possibly fill bytes), next byte is the marker code. */
  MarkerCode,
  /** Reading the high byte of a segment length. */
  LengthHigh,
  /** Reading the low byte of a segment length. */
  LengthLow,
  /** Skipping a segment's contents. */
  Skip,
  /** In entropy-coded data after SOS. */
  Entropy,
  /** In entropy-coded data, saw FF. */
  EntropyFf,
}

export interface SplitterStats {
  frames: number;
  /** Frames dropped for a broken marker structure. */
  corrupt: number;
  /** Frames dropped for exceeding maxFrameBytes. */
  oversize: number;
  /** Bytes skipped outside any frame. */
  skippedBytes: number;
}

export class JpegStreamSplitter {
  readonly stats: SplitterStats = { frames: 0, corrupt: 0, oversize: 0, skippedBytes: 0 };
  private state = State.SeekSoi;
  /** Pieces of the frame being assembled, from earlier chunks. */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private skip = 0;
  private lengthHigh = 0;
  /** The segment being measured is SOS: entropy-coded data follows it. */
  private afterSos = false;

  constructor(
    private readonly onFrame: (jpeg: Buffer) => void,
    private readonly maxFrameBytes = 16 * 1024 * 1024,
  ) {}

  /** Bytes of the partial frame held (views of earlier chunks), at most maxFrameBytes. */
  get bufferedBytes(): number {
    return this.partsBytes;
  }

  /** Feeds the next chunk of the stream. Calls onFrame for every frame it completes. */
  push(chunk: Buffer): void {
    let frameStart = this.state === State.SeekSoi || this.state === State.SeekSoiFf ? -1 : 0;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.state) {
        case State.SeekSoi: {
          const ff = chunk.indexOf(0xff, i);
          if (ff < 0) {
            this.stats.skippedBytes += n - i;
            i = n;
            break;
          }
          this.stats.skippedBytes += ff - i;
          i = ff + 1;
          this.state = State.SeekSoiFf;
          break;
        }
        case State.SeekSoiFf: {
          const b = chunk[i]!;
          if (b === 0xd8) {
            // The frame starts at the FF, which may have been the last byte of the previous chunk.
            if (i === 0) {
              this.parts.push(Buffer.from([0xff]));
              this.partsBytes = 1;
              frameStart = 0;
            } else {
              frameStart = i - 1;
            }
            this.state = State.Marker;
            i++;
          } else if (b !== 0xff) {
            this.stats.skippedBytes += 2;
            this.state = State.SeekSoi;
            i++;
          } else {
            this.stats.skippedBytes++;
            i++;
          }
          break;
        }
        case State.Marker:
          if (chunk[i] !== 0xff) {
            frameStart = this.drop('corrupt');
            break;
          }
          this.state = State.MarkerCode;
          i++;
          break;
        case State.MarkerCode: {
          const code = chunk[i++]!;
          if (code === 0xff) break; // fill byte
          if (code === 0xd9) {
            frameStart = this.complete(chunk, frameStart, i);
          } else if ((code >= 0xd0 && code <= 0xd7) || code === 0x01) {
            this.state = State.Marker; // standalone marker, no length
          } else if (code === 0xd8 || code === 0x00) {
            // A new SOI (or a stuffed byte) where a marker belongs: the frame was cut short.
            frameStart = this.drop('corrupt');
            i--; // re-read from this byte's FF in SeekSoi terms
            this.state = code === 0xd8 ? State.SeekSoiFf : State.SeekSoi;
          } else {
            this.afterSos = code === 0xda;
            this.state = State.LengthHigh;
          }
          break;
        }
        case State.LengthHigh:
          this.lengthHigh = chunk[i++]!;
          this.state = State.LengthLow;
          break;
        case State.LengthLow: {
          const length = (this.lengthHigh << 8) | chunk[i++]!;
          if (length < 2) {
            frameStart = this.drop('corrupt');
            break;
          }
          this.skip = length - 2;
          this.state = this.skip > 0 ? State.Skip : this.afterSos ? State.Entropy : State.Marker;
          break;
        }
        case State.Skip: {
          const take = Math.min(this.skip, n - i);
          this.skip -= take;
          i += take;
          if (this.skip === 0) this.state = this.afterSos ? State.Entropy : State.Marker;
          break;
        }
        case State.Entropy: {
          const ff = chunk.indexOf(0xff, i);
          if (ff < 0) {
            i = n;
          } else {
            i = ff + 1;
            this.state = State.EntropyFf;
          }
          break;
        }
        case State.EntropyFf: {
          const b = chunk[i]!;
          if (b === 0x00 || (b >= 0xd0 && b <= 0xd7)) {
            this.state = State.Entropy; // stuffed byte or restart marker: still data
            i++;
          } else if (b === 0xff) {
            i++; // fill byte
          } else {
            // A real marker inside the scan (EOI, or DHT/SOS of a progressive image).
            this.state = State.MarkerCode;
          }
          break;
        }
      }
      if (frameStart >= 0 && this.partsBytes + (i - frameStart) > this.maxFrameBytes) {
        frameStart = this.drop('oversize');
      }
    }
    if (frameStart >= 0 && frameStart < n) {
      // The frame continues in the next chunk: keep a view of this chunk's share (no copy yet).
      this.parts.push(chunk.subarray(frameStart));
      this.partsBytes += n - frameStart;
    }
  }

  /** Forgets any partial frame (e.g. when the source reconnects). */
  reset(): void {
    this.parts = [];
    this.partsBytes = 0;
    this.state = State.SeekSoi;
  }

  /** Emits the frame ending just before `end`; returns the new frameStart (-1: between frames). */
  private complete(chunk: Buffer, frameStart: number, end: number): number {
    const tail = chunk.subarray(frameStart, end);
    if (this.partsBytes + tail.length > this.maxFrameBytes) return this.drop('oversize');
    let frame: Buffer;
    if (this.parts.length === 0) {
      frame = tail;
    } else {
      this.parts.push(tail);
      frame = Buffer.concat(this.parts, this.partsBytes + tail.length);
    }
    this.parts = [];
    this.partsBytes = 0;
    this.state = State.SeekSoi;
    this.stats.frames++;
    this.onFrame(frame);
    return -1;
  }

  private drop(reason: 'corrupt' | 'oversize'): number {
    this.stats[reason]++;
    this.parts = [];
    this.partsBytes = 0;
    this.state = State.SeekSoi;
    return -1;
  }
}
