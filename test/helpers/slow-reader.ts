/**
 * A slow MJPEG viewer: one connection that reads a stream at a fixed byte rate, as a viewer on a
 * poor link does, and checks every part it receives. Used by the slow-reader tests (beside the
 * native load generator's fast viewers) and by the soak run (benchmarks/soak/slow-readers.ts).
 *
 * Rate limiting is done where it matters to the server: in what the socket reads. Reads go into
 * one fixed buffer of `readBytes` (net's `onread`), so no read takes more than that, and a token
 * bucket refilled at `bytesPerSecond` pauses the socket (no more reads, the kernel's receive
 * buffer fills, the TCP window closes, the server's send buffer fills) until the bytes read are
 * paid for. Over any few seconds the reader takes `bytesPerSecond`, give or take one read.
 *
 * Parsing is strict, unlike the server's own relay parser (src/drivers/mjpeg/multipart-parser.ts),
 * which is built to forgive cameras: the response must be a 200 `multipart/x-mixed-replace` with
 * a boundary, its transfer framing (chunked, Content-Length or until close) must be right, and
 * every part must carry a Content-Length followed at once by the next delimiter. Anything else
 * is recorded in `error` and ends the connection, so a torn or truncated frame can never be
 * counted as a good one.
 */

import { connect, type Socket } from 'node:net';

export interface SlowReaderOptions {
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default /video_feed. */
  path?: string;
  /** Reading rate, bytes per second. */
  bytesPerSecond: number;
  /** The most one read takes, bytes (default 4096); also the token bucket's depth. */
  readBytes?: number;
  /** How long connect() waits for the response head, ms (default 10000). */
  headTimeoutMs?: number;
  /** Called with every complete part's body and headers (names lower-cased). Must not throw. */
  onFrame?: (jpeg: Buffer, headers: Readonly<Record<string, string>>) => void;
}

/** Largest response head or part header block accepted, bytes. */
const MAX_HEAD_BYTES = 16 * 1024;
/** Largest part accepted, bytes: framering's --max-frame-bytes tops out far below. */
const MAX_PART_BYTES = 64 * 1024 * 1024;
/** X-Timestamps kept (the newest), so a reader that runs for hours holds a bounded list. */
const MAX_TIMESTAMPS = 10_000;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');

class ProtocolError extends Error {}

/** Parses "Name: value" lines, names lower-cased. */
function parseHeaderLines(lines: readonly string[], what: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ProtocolError(`malformed ${what} header line ${JSON.stringify(line.slice(0, 100))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}

/** Strict multipart/x-mixed-replace body parser: every part sized by Content-Length. */
class PartParser {
  private buf: Buffer = Buffer.alloc(0);
  private state: 'preamble' | 'headers' | 'body' | 'after-delimiter' | 'epilogue' = 'preamble';
  private partHeaders: Record<string, string> = {};
  private partLength = 0;
  private readonly opening: Buffer; // "--boundary", the first line of the body
  private readonly delimiter: Buffer; // "\r\n--boundary", right after each part's body

  constructor(
    boundary: string,
    private readonly onPart: (body: Buffer, headers: Record<string, string>) => void,
  ) {
    this.opening = Buffer.from(`--${boundary}`, 'latin1');
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  }

  push(bytes: Buffer): void {
    this.buf = this.buf.length === 0 ? bytes : Buffer.concat([this.buf, bytes]);
    for (;;) {
      switch (this.state) {
        case 'preamble': {
          // framering opens the body with the boundary line itself: no preamble text.
          const need = this.opening.length + 2;
          if (this.buf.length < need) return;
          if (!this.buf.subarray(0, this.opening.length).equals(this.opening)) {
            throw new ProtocolError(`the body does not open with ${this.opening.toString('latin1')}`);
          }
          this.buf = this.buf.subarray(this.opening.length);
          this.state = 'after-delimiter';
          break;
        }
        case 'after-delimiter': {
          if (this.buf.length < 2) return;
          const two = this.buf.subarray(0, 2).toString('latin1');
          if (two === '--') {
            this.state = 'epilogue';
            break;
          }
          if (two !== '\r\n') throw new ProtocolError(`a delimiter followed by ${JSON.stringify(two)}, not CRLF or --`);
          this.buf = this.buf.subarray(2);
          this.state = 'headers';
          break;
        }
        case 'headers': {
          const end = this.buf.indexOf(HEAD_END);
          if (end < 0) {
            if (this.buf.length > MAX_HEAD_BYTES) throw new ProtocolError(`part header block longer than ${MAX_HEAD_BYTES} bytes`);
            return;
          }
          this.partHeaders = parseHeaderLines(this.buf.subarray(0, end).toString('latin1').split('\r\n'), 'part');
          this.buf = this.buf.subarray(end + HEAD_END.length);
          const cl = this.partHeaders['content-length'];
          if (cl === undefined || !/^[0-9]+$/.test(cl))
            throw new ProtocolError(`part Content-Length ${JSON.stringify(cl)} is missing or not a number`);
          this.partLength = Number(cl);
          if (this.partLength > MAX_PART_BYTES) throw new ProtocolError(`part Content-Length ${cl} is over ${MAX_PART_BYTES}`);
          this.state = 'body';
          break;
        }
        case 'body': {
          const need = this.partLength + this.delimiter.length;
          if (this.buf.length < need) return;
          if (!this.buf.subarray(this.partLength, need).equals(this.delimiter)) {
            throw new ProtocolError(
              `a part of Content-Length ${this.partLength} is not followed by the delimiter: a torn or mis-sized frame`,
            );
          }
          // Own copy: `buf` may be a view of a larger concatenation kept for the next part.
          const body = Buffer.from(this.buf.subarray(0, this.partLength));
          this.buf = this.buf.subarray(need);
          this.state = 'after-delimiter';
          this.onPart(body, this.partHeaders);
          break;
        }
        case 'epilogue':
          this.buf = Buffer.alloc(0);
          return;
      }
    }
  }
}

/** Transfer-Encoding: chunked, strictly. */
class ChunkedDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private remaining = 0; // bytes of the current chunk still to come
  private state: 'size' | 'data' | 'data-crlf' | 'trailer' | 'done' = 'size';

  constructor(private readonly onData: (bytes: Buffer) => void) {}

  push(bytes: Buffer): void {
    this.buf = this.buf.length === 0 ? bytes : Buffer.concat([this.buf, bytes]);
    for (;;) {
      if (this.state === 'size') {
        const end = this.buf.indexOf(CRLF);
        if (end < 0) {
          if (this.buf.length > 1024) throw new ProtocolError('chunk size line longer than 1 KB');
          return;
        }
        const line = this.buf.subarray(0, end).toString('latin1');
        const m = /^([0-9a-fA-F]+)(?:;.*)?$/.exec(line);
        if (!m) throw new ProtocolError(`malformed chunk size line ${JSON.stringify(line.slice(0, 100))}`);
        this.remaining = parseInt(m[1]!, 16);
        this.buf = this.buf.subarray(end + 2);
        // The last chunk: the server ended the stream on purpose; trailer lines follow.
        this.state = this.remaining === 0 ? 'trailer' : 'data';
      } else if (this.state === 'data') {
        if (this.buf.length === 0) return;
        const n = Math.min(this.remaining, this.buf.length);
        const data = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        this.remaining -= n;
        if (this.remaining === 0) this.state = 'data-crlf';
        this.onData(data);
      } else if (this.state === 'data-crlf') {
        if (this.buf.length < 2) return;
        if (!this.buf.subarray(0, 2).equals(CRLF)) throw new ProtocolError('a chunk is not followed by CRLF');
        this.buf = this.buf.subarray(2);
        this.state = 'size';
      } else if (this.state === 'trailer') {
        const end = this.buf.indexOf(CRLF);
        if (end < 0) {
          if (this.buf.length > MAX_HEAD_BYTES) throw new ProtocolError(`chunked trailer longer than ${MAX_HEAD_BYTES} bytes`);
          return;
        }
        this.buf = this.buf.subarray(end + 2);
        if (end === 0) this.state = 'done'; // the empty line that ends the message
      } else {
        if (this.buf.length > 0) throw new ProtocolError(`${this.buf.length} bytes after the end of the chunked body`);
        return;
      }
    }
  }
}

/**
 * One rate-limited MJPEG viewer. Create with `SlowReader.connect`; `close()` ends it. Every
 * figure is a plain field, read by the caller whenever it likes.
 */
export class SlowReader {
  status = 0;
  /** Response headers, names lower-cased. */
  headers: Readonly<Record<string, string>> = {};
  /** Complete, well-formed parts received. */
  frames = 0;
  /** Bytes read from the socket (head and framing included). */
  bytesRead = 0;
  /** Parsed X-Timestamp of the newest parts received (Unix seconds), oldest first. */
  readonly timestamps: number[] = [];
  /** The first protocol or socket error; parsing stops at it. */
  error: string | undefined;
  /** The socket closed, and who ended the connection. */
  closed = false;
  endedBy: 'server' | 'client' | 'error' | undefined;
  readonly connectedAt = performance.now();

  private readonly socket: Socket;
  private readonly rate: number; // bytes per ms
  private readonly depth: number; // bytes
  private tokens: number; // bytes; may go negative: the debt of the last read
  private refilledAt = performance.now();
  private resumeTimer: NodeJS.Timeout | undefined;
  private head: Buffer = Buffer.alloc(0);
  private headDone = false;
  private framing: 'chunked' | 'length' | 'close' = 'close';
  private lengthRemaining = Infinity;
  private chunked: ChunkedDecoder | null = null;
  private parts: PartParser | null = null;
  private readonly closedPromise: Promise<void>;
  private headWaiter: ((err?: Error) => void) | undefined;

  private constructor(private readonly options: SlowReaderOptions) {
    if (!(options.bytesPerSecond > 0)) throw new RangeError('bytesPerSecond must be more than 0');
    this.rate = options.bytesPerSecond / 1000;
    this.depth = options.readBytes ?? 4096;
    this.tokens = this.depth;
    const host = options.host ?? '127.0.0.1';
    this.socket = connect({
      host,
      port: options.port,
      // One fixed buffer: each read takes at most `depth` bytes, and nothing is buffered in
      // JavaScript beyond what the parser holds.
      onread: { buffer: Buffer.allocUnsafe(this.depth), callback: (n, buf) => this.onRead(n, buf) },
    });
    this.closedPromise = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.on('end', () => {
      this.endedBy ??= 'server';
      this.socket.destroy();
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset from the server (it closed with our bytes unread) is the server ending it.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') this.endedBy ??= 'server';
      else this.fail(`socket error: ${err.message}`);
    });
    this.socket.on('close', () => {
      this.closed = true;
      clearTimeout(this.resumeTimer);
      this.headWaiter?.(new Error(`the connection closed before the response head (${this.describe()})`));
    });
    this.socket.write(
      `GET ${options.path ?? '/video_feed'} HTTP/1.1\r\nHost: ${host}:${options.port}\r\nUser-Agent: framering-slow-reader\r\nAccept: */*\r\n\r\n`,
    );
  }

  /** Connects, sends the request and resolves once a 200 multipart response head has arrived. */
  static async connect(options: SlowReaderOptions): Promise<SlowReader> {
    const reader = new SlowReader(options);
    const timeoutMs = options.headTimeoutMs ?? 10_000;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no response head within ${timeoutMs} ms (${reader.describe()})`)), timeoutMs);
        reader.headWaiter = (err) => {
          clearTimeout(timer);
          reader.headWaiter = undefined;
          if (err) reject(err);
          else resolve();
        };
      });
    } catch (err) {
      await reader.close();
      throw err;
    }
    return reader;
  }

  /** Ends the connection from this side (idempotent); resolves once the socket is closed. */
  close(): Promise<void> {
    this.endedBy ??= 'client';
    clearTimeout(this.resumeTimer);
    this.socket.destroy();
    return this.closedPromise;
  }

  /** Resolves when the socket has closed, whoever closed it. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  /** One line for messages. */
  describe(): string {
    return `status ${this.status || 'none'}, ${this.frames} frames, ${this.bytesRead} bytes read, ${this.closed ? `closed by ${this.endedBy ?? '?'}` : 'open'}${this.error ? `, error: ${this.error}` : ''}`;
  }

  /** net's onread callback; returning false pauses the socket. */
  private onRead(n: number, buf: Uint8Array): boolean {
    this.bytesRead += n;
    if (this.error === undefined) {
      try {
        // A copy: `buf` is the fixed read buffer, overwritten by the next read.
        this.feed(Buffer.from(buf.subarray(0, n)));
      } catch (err) {
        this.fail(err instanceof Error ? err.message : String(err));
        return false;
      }
    }
    const now = performance.now();
    this.tokens = Math.min(this.depth, this.tokens + (now - this.refilledAt) * this.rate) - n;
    this.refilledAt = now;
    if (this.tokens > 0) return true;
    // Pay the debt, then read again: the socket stays paused meanwhile.
    clearTimeout(this.resumeTimer);
    this.resumeTimer = setTimeout(
      () => {
        if (!this.closed) this.socket.resume();
      },
      Math.ceil(-this.tokens / this.rate) + 1,
    );
    return false;
  }

  private feed(bytes: Buffer): void {
    if (!this.headDone) {
      this.head = Buffer.concat([this.head, bytes]);
      const end = this.head.indexOf(HEAD_END);
      if (end < 0) {
        if (this.head.length > MAX_HEAD_BYTES) throw new ProtocolError(`response head longer than ${MAX_HEAD_BYTES} bytes`);
        return;
      }
      this.parseHead(this.head.subarray(0, end).toString('latin1'));
      const rest = this.head.subarray(end + HEAD_END.length);
      this.head = Buffer.alloc(0);
      this.headDone = true;
      this.headWaiter?.();
      if (rest.length > 0) this.transport(rest);
      return;
    }
    this.transport(bytes);
  }

  private parseHead(text: string): void {
    const [statusLine = '', ...lines] = text.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!m) throw new ProtocolError(`malformed status line ${JSON.stringify(statusLine.slice(0, 100))}`);
    this.status = Number(m[1]);
    this.headers = parseHeaderLines(lines, 'response');
    if (this.status !== 200) throw new ProtocolError(`status ${this.status}, not 200`);
    const type = this.headers['content-type'] ?? '';
    const b = /^\s*multipart\/x-mixed-replace\s*;.*\bboundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(type);
    if (!b) throw new ProtocolError(`Content-Type ${JSON.stringify(type)} is not multipart/x-mixed-replace with a boundary`);
    this.parts = new PartParser(b[1] ?? b[2]!, (body, headers) => this.onPart(body, headers));
    const te = this.headers['transfer-encoding'];
    const cl = this.headers['content-length'];
    if (te !== undefined) {
      if (!/^chunked$/i.test(te)) throw new ProtocolError(`Transfer-Encoding ${JSON.stringify(te)} is not chunked`);
      this.framing = 'chunked';
      this.chunked = new ChunkedDecoder((data) => this.parts!.push(data));
    } else if (cl !== undefined) {
      if (!/^[0-9]+$/.test(cl)) throw new ProtocolError(`response Content-Length ${JSON.stringify(cl)} is not a number`);
      this.framing = 'length';
      this.lengthRemaining = Number(cl);
    }
  }

  private transport(bytes: Buffer): void {
    if (this.framing === 'chunked') {
      this.chunked!.push(bytes);
      return;
    }
    if (bytes.length > this.lengthRemaining) throw new ProtocolError('more body bytes than the response Content-Length');
    this.lengthRemaining -= bytes.length;
    this.parts!.push(bytes);
  }

  private onPart(body: Buffer, headers: Readonly<Record<string, string>>): void {
    this.frames++;
    const ts = headers['x-timestamp'];
    if (ts !== undefined && /^[0-9]+(?:\.[0-9]+)?$/.test(ts)) {
      this.timestamps.push(Number(ts));
      if (this.timestamps.length > MAX_TIMESTAMPS) this.timestamps.splice(0, this.timestamps.length - MAX_TIMESTAMPS);
    }
    this.options.onFrame?.(body, headers);
  }

  private fail(message: string): void {
    this.error ??= message;
    this.endedBy ??= 'error';
    this.headWaiter?.(new Error(message));
    this.socket.destroy();
  }
}
