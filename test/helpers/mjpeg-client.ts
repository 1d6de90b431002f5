/**
 * A test client for Motion-JPEG streams over a raw node:net socket, so a test controls exactly
 * when bytes are read (pause() stops reading; the kernel buffers then fill and the server sees
 * backpressure) and sees every byte the server wrote, framing included.
 *
 * It knows nothing about framering's front ends: it speaks HTTP/1.1 and RFC 2046 multipart, so
 * the uWebSockets.js and node:http front ends are tested with the same client, over plain TCP or
 * TLS (`ca`). It is the only MJPEG reader in the tests: a test that already holds the bytes of a
 * multipart body (a raw exchange) cuts them into parts with `parseParts`, the same parser.
 *
 * Layers, each a small state machine fed with Buffers:
 *   socket bytes -> response head (status line + headers)
 *                -> body framing (Content-Length, chunked, or until close)
 *                -> multipart/x-mixed-replace parts (boundary from the Content-Type)
 *                   or, for any other type, the whole body collected.
 *
 * Every protocol violation (a part whose Content-Length disagrees with where the next boundary
 * starts, malformed headers or chunk sizes) is recorded in `errors`, stops parsing and rejects
 * every pending wait: a torn or truncated frame can never pass as a good one.
 */

import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { isCompleteJpeg } from './jpeg.js';

// Most callers check frames with isCompleteJpeg; it lives with the other JPEG helpers.
export { isCompleteJpeg };

/** One multipart part, as received. */
export interface MjpegFrame {
  /** 0-based position in this stream. */
  readonly index: number;
  /** Part headers, names lower-cased; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly contentType: string | undefined;
  /** The part's Content-Length header, parsed; undefined if absent. */
  readonly contentLength: number | undefined;
  /** X-Timestamp as sent (Unix seconds with a fraction), and parsed. */
  readonly rawTimestamp: string | undefined;
  readonly timestamp: number | undefined;
  /** Bytes of the part body (the JPEG); always set, even when `body` was released. */
  readonly bodyLength: number;
  /** The part body; an empty buffer once released (see ClientOptions.retainBodies). */
  body: Buffer;
  /** When the part's closing boundary arrived: performance.now() ms, and Unix epoch ms. */
  readonly receivedAt: number;
  readonly receivedAtEpochMs: number;
}

export interface ClientOptions {
  port: number;
  host?: string;
  path?: string;
  method?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Connect with TLS, trusting this CA certificate (PEM). */
  ca?: string;
  /** Connect from this local address (another 127.x.y.z is another client address; plain TCP only). */
  localAddress?: string;
  /** How long connect() waits for the response head, ms (default 5000). */
  headTimeoutMs?: number;
  /**
   * Keep the bodies of only the newest N frames (older ones get an empty `body`), so a long
   * stream of large frames does not hold hundreds of MB. Default: keep all.
   */
  retainBodies?: number;
  /** Called for every frame as it is parsed (before its body may be released). Must not throw. */
  onFrame?: (frame: MjpegFrame) => void;
  /** Largest part header block and largest part body accepted, bytes (defaults 16 KB, 64 MB). */
  maxHeaderBytes?: number;
  maxPartBytes?: number;
}

export interface WaitOptions {
  timeoutMs?: number;
  /** Described in the timeout error: "timed out after 2000 ms waiting for <what>". */
  what?: string;
}

const CRLF = Buffer.from('\r\n', 'latin1');
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
const DEFAULT_WAIT_MS = 5000;

/** Reads the boundary parameter of a multipart Content-Type, or undefined. */
export function boundaryOf(contentType: string | undefined): string | undefined {
  if (contentType === undefined || !/^\s*multipart\//i.test(contentType)) return undefined;
  const m = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m?.[1] ?? m?.[2];
}

/** Bytes received but not parsed yet; avoids concatenating a multi-MB body chunk by chunk. */
class ByteQueue {
  private chunks: Buffer[] = [];
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The first `n` bytes (or all) as one buffer, without consuming them. */
  peek(n = this.length): Buffer {
    n = Math.min(n, this.length);
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    const all = Buffer.concat(this.chunks, this.length);
    this.chunks = [all];
    return all.subarray(0, n);
  }

  take(n: number): Buffer {
    const out = this.peek(n);
    this.skip(out.length);
    return out;
  }

  skip(n: number): void {
    this.length -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      if (first.length <= n) {
        this.chunks.shift();
        n -= first.length;
      } else {
        this.chunks[0] = first.subarray(n);
        n = 0;
      }
    }
  }

  /** Index of `pattern` in the queued bytes, or -1. */
  indexOf(pattern: Buffer, from = 0): number {
    if (this.length < pattern.length) return -1;
    return this.peek().indexOf(pattern, from);
  }
}

class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

function parseHeaderBlock(block: string, where: string): { headers: Record<string, string>; raw: [string, string][] } {
  const headers: Record<string, string> = {};
  const raw: [string, string][] = [];
  if (block === '') return { headers, raw };
  for (const line of block.split('\r\n')) {
    const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (!m) throw new ProtocolError(`malformed ${where} header line ${JSON.stringify(line)}`);
    const name = m[1]!;
    const value = m[2]!;
    raw.push([name, value]);
    const key = name.toLowerCase();
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
  }
  return { headers, raw };
}

/** Decodes Transfer-Encoding: chunked incrementally. */
class ChunkedDecoder {
  private readonly queue = new ByteQueue();
  private state: 'size' | 'data' | 'data-crlf' | 'trailer' | 'done' = 'size';
  private remaining = 0;

  constructor(
    private readonly onData: (chunk: Buffer) => void,
    private readonly onEnd: () => void,
  ) {}

  push(bytes: Buffer): void {
    this.queue.push(bytes);
    for (;;) {
      switch (this.state) {
        case 'size': {
          const eol = this.queue.indexOf(CRLF);
          if (eol < 0) {
            if (this.queue.length > 1024) throw new ProtocolError('chunk size line longer than 1 KB');
            return;
          }
          const line = this.queue.take(eol).toString('latin1');
          this.queue.skip(2);
          const m = /^([0-9a-fA-F]+)[ \t]*(?:;.*)?$/.exec(line);
          if (!m) throw new ProtocolError(`malformed chunk size line ${JSON.stringify(line)}`);
          this.remaining = parseInt(m[1]!, 16);
          this.state = this.remaining === 0 ? 'trailer' : 'data';
          break;
        }
        case 'data': {
          if (this.queue.length === 0) return;
          const n = Math.min(this.remaining, this.queue.length);
          this.onData(this.queue.take(n));
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'data-crlf';
          break;
        }
        case 'data-crlf': {
          if (this.queue.length < 2) return;
          if (!this.queue.take(2).equals(CRLF)) throw new ProtocolError('chunk data not followed by CRLF (chunk size wrong?)');
          this.state = 'size';
          break;
        }
        case 'trailer': {
          // Trailer fields, then an empty line. Trailers are ignored.
          const eol = this.queue.indexOf(CRLF);
          if (eol < 0) return;
          this.queue.skip(eol + 2);
          if (eol === 0) {
            this.state = 'done';
            this.onEnd();
          }
          break;
        }
        case 'done':
          return;
      }
    }
  }
}

type PartState = 'preamble' | 'delimiter-tail' | 'headers' | 'body' | 'epilogue';

/**
 * Splits a multipart body into parts. Parts with a Content-Length are cut at exactly that many
 * bytes, and the bytes that follow must be CRLF + "--" + boundary; parts without one end at the
 * next delimiter.
 */
class MultipartParser {
  private readonly queue = new ByteQueue();
  private readonly dashBoundary: Buffer; // "--frame"
  private readonly delimiter: Buffer; // "\r\n--frame"
  private state: PartState = 'preamble';
  private partHeaders: Record<string, string> = {};
  private partLength: number | undefined;
  /** Bytes before the first boundary (RFC 2046 preamble); the server sends none. */
  preamble: Buffer = EMPTY;
  ended = false;

  constructor(
    boundary: string,
    private readonly maxHeaderBytes: number,
    private readonly maxPartBytes: number,
    private readonly onPart: (headers: Record<string, string>, body: Buffer) => void,
  ) {
    this.dashBoundary = Buffer.from(`--${boundary}`, 'latin1');
    this.delimiter = Buffer.concat([CRLF, this.dashBoundary]);
  }

  push(bytes: Buffer): void {
    this.queue.push(bytes);
    for (;;) {
      switch (this.state) {
        case 'preamble': {
          // The first boundary may open the body without a CRLF before it.
          const q = this.queue;
          if (q.length < this.dashBoundary.length) return;
          if (q.peek(this.dashBoundary.length).equals(this.dashBoundary) && this.preamble.length === 0) {
            q.skip(this.dashBoundary.length);
            this.state = 'delimiter-tail';
            break;
          }
          const at = q.indexOf(this.delimiter);
          if (at < 0) {
            if (q.length > this.maxHeaderBytes)
              throw new ProtocolError(`no boundary "${this.dashBoundary.toString('latin1')}" in the first ${q.length} body bytes`);
            return;
          }
          this.preamble = Buffer.concat([this.preamble, q.take(at)]);
          q.skip(this.delimiter.length);
          this.state = 'delimiter-tail';
          break;
        }
        case 'delimiter-tail': {
          // After "--boundary": "--" ends the body; otherwise optional whitespace, then CRLF.
          const q = this.queue;
          if (q.length < 2) return;
          const two = q.peek(2).toString('latin1');
          if (two === '--') {
            q.skip(2);
            this.state = 'epilogue';
            this.ended = true;
            break;
          }
          const eol = q.indexOf(CRLF);
          if (eol < 0) {
            if (q.length > 256) throw new ProtocolError('boundary line not ended by CRLF');
            return;
          }
          const padding = q.take(eol).toString('latin1');
          if (!/^[ \t]*$/.test(padding))
            throw new ProtocolError(`unexpected bytes after the boundary: ${JSON.stringify(padding.slice(0, 40))}`);
          q.skip(2);
          this.state = 'headers';
          break;
        }
        case 'headers': {
          const q = this.queue;
          let block: string;
          if (q.length >= 2 && q.peek(2).equals(CRLF)) {
            block = ''; // a part without headers
            q.skip(2);
          } else {
            const end = q.indexOf(HEAD_END);
            if (end < 0) {
              if (q.length > this.maxHeaderBytes) throw new ProtocolError(`part header block longer than ${this.maxHeaderBytes} bytes`);
              return;
            }
            block = q.take(end).toString('latin1');
            q.skip(HEAD_END.length);
          }
          this.partHeaders = parseHeaderBlock(block, 'part').headers;
          const cl = this.partHeaders['content-length'];
          if (cl !== undefined) {
            if (!/^[0-9]+$/.test(cl)) throw new ProtocolError(`part Content-Length ${JSON.stringify(cl)} is not a number`);
            this.partLength = Number(cl);
            if (this.partLength > this.maxPartBytes) throw new ProtocolError(`part Content-Length ${cl} exceeds ${this.maxPartBytes}`);
          } else {
            this.partLength = undefined;
          }
          this.state = 'body';
          break;
        }
        case 'body': {
          const q = this.queue;
          let body: Buffer;
          if (this.partLength !== undefined) {
            // Exactly Content-Length bytes, then the delimiter must follow at once.
            const need = this.partLength + this.delimiter.length;
            if (q.length < need) return;
            const after = q.peek(need).subarray(this.partLength);
            if (!after.equals(this.delimiter)) {
              const actual = q.indexOf(this.delimiter);
              throw new ProtocolError(
                `part Content-Length ${this.partLength} does not match its body: the bytes after it are not CRLF--boundary` +
                  (actual >= 0 ? ` (the next delimiter starts at body offset ${actual})` : ''),
              );
            }
            body = Buffer.from(q.take(this.partLength)); // own copy: the queue may hold a view into a shared chunk
          } else {
            const at = q.indexOf(this.delimiter);
            if (at < 0) {
              if (q.length > this.maxPartBytes) throw new ProtocolError(`part longer than ${this.maxPartBytes} bytes without a boundary`);
              return;
            }
            body = Buffer.from(q.take(at));
          }
          q.skip(this.delimiter.length);
          this.state = 'delimiter-tail';
          this.onPart(this.partHeaders, body);
          break;
        }
        case 'epilogue':
          this.queue.skip(this.queue.length);
          return;
      }
    }
  }

  /** Bytes received after the last complete part (a part cut off by the end of the stream). */
  get pendingBytes(): number {
    return this.queue.length;
  }
}

interface Waiter {
  check(): boolean;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * An HTTP client for one request on its own connection, made for MJPEG streams; see the top of
 * this file. Create with `MjpegClient.connect`.
 */
export class MjpegClient {
  status = 0;
  statusText = '';
  httpVersion = '';
  /** Response headers, names lower-cased; repeated headers joined with ", ". */
  headers: Readonly<Record<string, string>> = {};
  rawHeaders: readonly (readonly [string, string])[] = [];
  /** How the body is delimited. */
  bodyFraming: 'content-length' | 'chunked' | 'close' | 'none' = 'none';
  /** The first bytes of the decoded body (up to 256), to check how it opens. */
  bodyStart: Buffer = EMPTY;
  /** Decoded body bytes received so far. */
  bodyBytes = 0;
  /** Set for multipart responses. */
  boundary: string | undefined;
  readonly frames: MjpegFrame[] = [];
  /** Protocol errors and socket errors; any entry stops parsing. */
  readonly errors: Error[] = [];
  /** The socket closed (by either side). */
  closed = false;
  /** The body ended as its framing says (Content-Length reached, last chunk, close, or closing boundary). */
  bodyComplete = false;
  /** Bytes received after the last whole part: a part the end of the stream cut off (0 if none). */
  get partialBytes(): number {
    return this.multipart?.pendingBytes ?? 0;
  }

  /** For responses that are not multipart: the whole body so far. */
  get body(): Buffer {
    return Buffer.concat(this.plainBody);
  }

  private readonly socket: Socket;
  private readonly options: ClientOptions;
  private readonly head = new ByteQueue();
  private headDone = false;
  private bodyRemaining = Infinity;
  private chunked: ChunkedDecoder | null = null;
  private multipart: MultipartParser | null = null;
  private readonly plainBody: Buffer[] = [];
  private readonly waiters = new Set<Waiter>();
  private failed = false;
  private readonly closedPromise: Promise<void>;

  private constructor(options: ClientOptions) {
    this.options = options;
    const host = options.host ?? '127.0.0.1';
    this.socket =
      options.ca === undefined
        ? connect({ host, port: options.port, localAddress: options.localAddress })
        : tlsConnect({ host, port: options.port, ca: options.ca });
    this.socket.setNoDelay(true);
    this.closedPromise = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => {
      this.closed = true;
      if (this.headDone && this.bodyFraming === 'close') this.bodyComplete = true;
      this.settleWaiters();
    });
    const extra = Object.entries(options.headers ?? {})
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    this.socket.write(
      `${options.method ?? 'GET'} ${options.path ?? '/video_feed'} HTTP/1.1\r\nHost: ${host}:${options.port}\r\nUser-Agent: framering-test\r\nAccept: */*\r\n${extra}\r\n`,
    );
  }

  /** Connects, sends the request and resolves once the response head has arrived. */
  static async connect(options: ClientOptions): Promise<MjpegClient> {
    const client = new MjpegClient(options);
    try {
      await client.waitUntil(() => client.headDone, { timeoutMs: options.headTimeoutMs ?? DEFAULT_WAIT_MS, what: 'the response head' });
    } catch (err) {
      await client.close();
      throw err;
    }
    return client;
  }

  /** Stops reading from the socket; the kernel buffers fill and the server sees backpressure. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Closes the connection (idempotent); resolves once the socket is closed. */
  close(): Promise<void> {
    this.socket.destroy();
    return this.closedPromise;
  }

  /** Resolves when the socket has closed, whoever closed it. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  /**
   * Resolves once `condition()` holds (checked now and after every frame and socket event).
   * Rejects on a protocol error, when the connection closes first, or after the timeout.
   */
  waitUntil(condition: () => boolean, { timeoutMs = DEFAULT_WAIT_MS, what = 'a condition' }: WaitOptions = {}): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        check: condition,
        resolve: () => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          reject(err);
        },
      };
      timer = setTimeout(
        () => waiter.reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.describe()})`)),
        timeoutMs,
      );
      this.waiters.add(waiter);
      this.settle(waiter);
    });
  }

  /** Resolves with the frames once at least `count` have arrived in total. */
  async waitForFrames(count: number, options: WaitOptions = {}): Promise<MjpegFrame[]> {
    await this.waitUntil(() => this.frames.length >= count, { what: `${count} frames`, ...options });
    return this.frames;
  }

  /** Resolves with the next frame to arrive after this call. */
  async nextFrame(options: WaitOptions = {}): Promise<MjpegFrame> {
    const n = this.frames.length;
    await this.waitUntil(() => this.frames.length > n, { what: 'the next frame', ...options });
    return this.frames[n]!;
  }

  /** For a response that is not multipart: resolves with the whole body once it is complete. */
  async waitForBody(options: WaitOptions = {}): Promise<Buffer> {
    await this.waitUntil(() => this.bodyComplete, { what: 'the end of the body', ...options });
    return this.body;
  }

  /** One line for failure messages. */
  describe(): string {
    const err = this.errors[0] ? `, error: ${this.errors[0].message}` : '';
    return `status ${this.status || 'none'}, ${this.frames.length} frames, ${this.bodyBytes} body bytes, ${this.closed ? 'closed' : 'open'}${err}`;
  }

  private onBytes(chunk: Buffer): void {
    if (this.failed) return;
    try {
      if (!this.headDone) {
        this.head.push(chunk);
        const end = this.head.indexOf(HEAD_END);
        if (end < 0) {
          if (this.head.length > 64 * 1024) throw new ProtocolError('response head longer than 64 KB');
          return;
        }
        const headText = this.head.take(end).toString('latin1');
        this.head.skip(HEAD_END.length);
        this.parseHead(headText);
        const rest = this.head.take(this.head.length);
        if (rest.length > 0) this.onTransportBody(rest);
      } else {
        this.onTransportBody(chunk);
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
    this.settleWaiters();
  }

  private parseHead(text: string): void {
    const [statusLine = '', ...lines] = text.split('\r\n');
    const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(statusLine);
    if (!m) throw new ProtocolError(`malformed status line ${JSON.stringify(statusLine)}`);
    this.httpVersion = m[1]!;
    this.status = Number(m[2]);
    this.statusText = m[3] ?? '';
    const { headers, raw } = parseHeaderBlock(lines.join('\r\n'), 'response');
    this.headers = headers;
    this.rawHeaders = raw;
    this.headDone = true;

    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    const method = (this.options.method ?? 'GET').toUpperCase();
    if (method === 'HEAD' || this.status === 204 || this.status === 304 || (this.status >= 100 && this.status < 200)) {
      this.bodyFraming = 'none';
      this.bodyRemaining = 0;
    } else if (te !== undefined && /(?:^|,)\s*chunked\s*$/i.test(te)) {
      this.bodyFraming = 'chunked';
      this.chunked = new ChunkedDecoder(
        (data) => this.onBody(data),
        () => this.onBodyEnd(),
      );
    } else if (cl !== undefined) {
      if (!/^[0-9]+$/.test(cl)) throw new ProtocolError(`response Content-Length ${JSON.stringify(cl)} is not a number`);
      this.bodyFraming = 'content-length';
      this.bodyRemaining = Number(cl);
    } else {
      this.bodyFraming = 'close';
    }
    this.boundary = boundaryOf(headers['content-type']);
    if (this.boundary !== undefined) {
      this.multipart = new MultipartParser(
        this.boundary,
        this.options.maxHeaderBytes ?? 16 * 1024,
        this.options.maxPartBytes ?? 64 * 1024 * 1024,
        (h, body) => this.onPart(h, body),
      );
    }
    if (this.bodyRemaining === 0) this.onBodyEnd();
  }

  private onTransportBody(bytes: Buffer): void {
    if (this.chunked) {
      this.chunked.push(bytes);
      return;
    }
    if (this.bodyComplete) throw new ProtocolError(`${bytes.length} bytes after the end of the body`);
    if (bytes.length > this.bodyRemaining)
      throw new ProtocolError(`body longer than its Content-Length by ${bytes.length - this.bodyRemaining} bytes`);
    this.bodyRemaining -= bytes.length;
    this.onBody(bytes);
    if (this.bodyRemaining === 0) this.onBodyEnd();
  }

  private onBody(bytes: Buffer): void {
    if (this.bodyStart.length < 256) this.bodyStart = Buffer.concat([this.bodyStart, bytes.subarray(0, 256 - this.bodyStart.length)]);
    this.bodyBytes += bytes.length;
    if (this.multipart) this.multipart.push(bytes);
    else this.plainBody.push(Buffer.from(bytes));
  }

  private onBodyEnd(): void {
    this.bodyComplete = true;
  }

  private onPart(headers: Record<string, string>, body: Buffer): void {
    const rawTimestamp = headers['x-timestamp'];
    const cl = headers['content-length'];
    const frame: MjpegFrame = {
      index: this.frames.length,
      headers,
      contentType: headers['content-type'],
      contentLength: cl === undefined ? undefined : Number(cl),
      rawTimestamp,
      timestamp: rawTimestamp !== undefined && /^[0-9]+(?:\.[0-9]+)?$/.test(rawTimestamp) ? Number(rawTimestamp) : undefined,
      bodyLength: body.length,
      body,
      receivedAt: performance.now(),
      receivedAtEpochMs: Date.now(),
    };
    this.frames.push(frame);
    this.options.onFrame?.(frame);
    const keep = this.options.retainBodies;
    if (keep !== undefined) {
      const old = this.frames[this.frames.length - 1 - keep];
      if (old) old.body = EMPTY;
    }
    this.settleWaiters();
  }

  private fail(err: Error): void {
    this.errors.push(err);
    if (this.failed) return;
    this.failed = true;
    this.socket.destroy();
    this.settleWaiters();
  }

  private settleWaiters(): void {
    for (const w of [...this.waiters]) this.settle(w);
  }

  private settle(w: Waiter): void {
    let ok: boolean;
    try {
      ok = w.check();
    } catch (err) {
      w.reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (ok) w.resolve();
    else if (this.failed) w.reject(new Error(`stream failed: ${this.errors[0]?.message ?? 'unknown error'} (${this.describe()})`));
    else if (this.bodyComplete) w.reject(new Error(`the response body ended before the wait was satisfied (${this.describe()})`));
    else if (this.closed) w.reject(new Error(`connection closed before the wait was satisfied (${this.describe()})`));
  }
}

/** One part cut out of a multipart body by parseParts. */
export interface Part {
  /** Part headers, names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/**
 * The complete parts in `body`, a multipart body received so far (from its first byte), cut with
 * the same parser MjpegClient uses: a part whose Content-Length disagrees with where the next
 * delimiter starts throws. A part cut off at the end of `body` is not returned.
 */
export function parseParts(body: Buffer, boundary: string, { maxHeaderBytes = 16 * 1024, maxPartBytes = 64 * 1024 * 1024 } = {}): Part[] {
  const parts: Part[] = [];
  new MultipartParser(boundary, maxHeaderBytes, maxPartBytes, (headers, partBody) => parts.push({ headers, body: partBody })).push(body);
  return parts;
}
