/**
 * Relays a Motion-JPEG stream served over HTTP(S): another framering, an IP camera,
 * mjpg-streamer, µStreamer. `--camera http --source http://[user:password@]host[:port]/path`.
 *
 * One GET per capture session, over node's http / https client (no connection pool: every
 * session opens its own connection and destroys it when it ends). The body is parsed by
 * src/multipart-parser.ts as it arrives; node's client has already removed any chunked
 * transfer encoding.
 *
 * Pacing: the source paces. The socket is always read at once, and frames go to a one-frame
 * slot that the generator empties: a frame is yielded as soon as it arrives, and if the capture
 * loop is slower, a newer frame replaces the waiting one (newest wins, nothing queues).
 * `--fps` caps the relayed rate by dropping frames that arrive too soon after the last one.
 *
 * Failures are thrown from frames(), one line each, so the capture loop logs them and reconnects
 * with backoff: a refused or timed-out connection, a status other than 200, a body that is not
 * multipart, a source that sends nothing for the stall timeout, and a stream that ends or breaks.
 *
 * Credentials in the URL are sent as HTTP Basic auth (on every request, not after a 401) and
 * never appear in a log line or error: every message names the source by its redacted form
 * (`http://***@host/path`, with password-like query values masked too).
 *
 * Memory is bounded by the camera's ring slot (context.maxFrameBytes, from --max-frame-bytes):
 * the parser refuses and skips any part larger than that without collecting it. Dropped parts
 * are counted one by one but logged once per burst (drop-log.ts): a source sending empty parts
 * at line rate must not turn each into a message to the main thread.
 */

import http from 'node:http';
import https from 'node:https';
import { ConfigError, describeError, FrameringError } from '../core/errors.js';
import { maskUrl, SECRET_PARAM } from '../core/log.js';
import { DropLog } from './mjpeg/drop-log.js';
import { boundaryFromContentType, DEFAULT_MAX_FRAME_BYTES, isMultipartContentType, MultipartParser } from './mjpeg/multipart-parser.js';
import type { CameraDriver, DriverContext, DriverModule, DriverOptions } from './types.js';

/** `--source` is the URL; `--fps` caps the relayed rate (default: the source's rate). */
export const supports: DriverModule['supports'] = ['source', 'fps'];

/** Seconds to get the response head (DNS, TCP, TLS and the source's answer). */
export const DEFAULT_CONNECT_TIMEOUT = 10;
/** Seconds without a single byte from the source before the stream counts as dead. */
export const DEFAULT_STALL_TIMEOUT = 10;
export const CONNECT_TIMEOUT_ENV = 'FRAMERING_HTTP_CONNECT_TIMEOUT';
export const STALL_TIMEOUT_ENV = 'FRAMERING_HTTP_STALL_TIMEOUT';

/** How the driver talks to the source; createDriver reads them from the environment. */
export interface HttpDriverSettings {
  connectTimeoutMs: number;
  stallTimeoutMs: number;
  /** Extra CA certificates to trust for https (PEM). Undefined: the system's, plus NODE_EXTRA_CA_CERTS. */
  ca?: string | Buffer | undefined;
}

/** A parsed `--source`: the URL to request, without credentials, and how to name it in messages. */
export interface HttpSource {
  /** The URL requested: no user info, no fragment. */
  url: URL;
  /** `Basic ...`, or undefined without credentials. */
  authorization: string | undefined;
  /** The URL as logs and errors show it: credentials and password-like query values masked. */
  display: string;
  /** Secret strings that must never appear in a message (see scrub()). */
  secrets: readonly string[];
}

/**
 * Parses and checks `--source`. Throws a one-line ConfigError naming the option; the message
 * never contains the credentials.
 */
export function parseSource(source: string | undefined): HttpSource {
  if (source === undefined || source.trim() === '') {
    throw new ConfigError('missing --source: the http camera needs the URL of an MJPEG stream (e.g. http://camera.local:8080/video_feed)');
  }
  let url: URL;
  try {
    url = new URL(source.trim());
  } catch {
    throw new ConfigError(`invalid --source "${maskUrl(source)}": not a URL (expected http://host[:port]/path or https://...)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(
      `invalid --source "${maskUrl(source)}": expected an http:// or https:// URL, not ${url.protocol.slice(0, -1)}://`,
    );
  }
  if (url.hostname === '') throw new ConfigError(`invalid --source "${maskUrl(source)}": the URL has no host`);
  if (url.username === '' && url.password === '' && /@/.test(`${url.pathname}${url.search}${url.hash}`)) {
    // `http://admin:1234/pw@cam/x` is host "admin", port 1234, path "/pw@cam/x": a password
    // holding '/', '?' or '#' ends the host early. Taken as written, the password would go in
    // clear in a request line to the wrong host, and show in every message naming the source.
    throw new ConfigError(
      `invalid --source "${maskUrl(source)}": an '@' after the host is ambiguous; write '/', '?' and '#' in a user or password as %2F, %3F and %23, and an '@' in the path or query as %40`,
    );
  }
  let user: string;
  let password: string;
  try {
    user = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    throw new ConfigError(`invalid --source "${maskUrl(source)}": malformed %-escape in the user or password`);
  }
  const hasCredentials = url.username !== '' || url.password !== '';
  const secrets = [url.username, url.password, user, password].filter((s) => s.length >= 4);
  let authorization: string | undefined;
  if (hasCredentials) {
    const token = Buffer.from(`${user}:${password}`, 'utf8').toString('base64');
    authorization = `Basic ${token}`;
    secrets.push(token);
  }
  url.username = '';
  url.password = '';
  url.hash = '';

  let search = '';
  if (url.search !== '') {
    const params: string[] = [];
    for (const [name, value] of url.searchParams) {
      if (SECRET_PARAM.test(name) && value !== '') {
        params.push(`${encodeURIComponent(name)}=***`);
        if (value.length >= 4) secrets.push(value, encodeURIComponent(value));
      } else {
        params.push(value === '' ? encodeURIComponent(name) : `${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
      }
    }
    search = `?${params.join('&')}`;
  }
  const display = `${url.protocol}//${hasCredentials ? '***@' : ''}${url.host}${url.pathname}${search}`;
  return { url, authorization, display, secrets: [...new Set(secrets)] };
}

/** Removes any secret of `source` from `message` (a guard for messages built from node's errors). */
function scrub(message: string, source: HttpSource): string {
  let out = message;
  for (const s of source.secrets) out = out.split(s).join('***');
  return out;
}

function timeoutFromEnv(name: string, fallback: number, env: NodeJS.ProcessEnv): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const s = raw.trim();
  const n = /^[0-9]*\.?[0-9]+$/.test(s) ? Number(s) : NaN;
  if (!(n > 0 && n <= 3600)) throw new ConfigError(`invalid ${name} "${raw}": expected seconds, a number more than 0 and at most 3600`);
  return n;
}

/** The settings for this process: timeouts from FRAMERING_HTTP_*_TIMEOUT (seconds) or the defaults. */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): HttpDriverSettings {
  return {
    connectTimeoutMs: timeoutFromEnv(CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT, env) * 1000,
    stallTimeoutMs: timeoutFromEnv(STALL_TIMEOUT_ENV, DEFAULT_STALL_TIMEOUT, env) * 1000,
  };
}

/** Checks --source and the timeout variables at start. Opens no connection. */
export function validate(options: DriverOptions): void {
  parseSource(options.source);
  settingsFromEnv();
}

export function createDriver(options: DriverOptions, context: DriverContext): CameraDriver {
  return createHttpDriver(options, context, settingsFromEnv());
}

/**
 * Caps a frame rate by dropping frames that arrive too early. A frame is let through when it is
 * at most a quarter interval early: frames from a source at a multiple of the cap arrive with
 * jitter around their due time, and a strict test would then pass one frame in two intervals.
 * Each frame let through moves the due time on by a whole interval (and to at least 3/4 interval
 * from now), so N frames span at least N - 1.5 intervals and the long-run rate never exceeds
 * the cap, and a burst after a pause (a network hiccup delivering several frames at once) lets
 * one frame through, not a backlog.
 */
export class RateCap {
  private readonly interval: number; // ms
  private due = -Infinity; // ms, performance.now() clock

  constructor(fps: number) {
    this.interval = 1000 / fps;
  }

  /** True if a frame arriving at `now` (ms) is relayed. */
  admit(now: number): boolean {
    if (now < this.due - this.interval / 4) return false;
    this.due = Math.max(this.due + this.interval, now + (this.interval * 3) / 4);
    return true;
  }
}

/** Node errors that mean the HTTP response head did not parse (llhttp's codes). */
function isParseError(err: unknown): boolean {
  return typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code.startsWith('HPE_');
}

/** The http driver with explicit settings (createDriver reads them from the environment). */
export function createHttpDriver(options: DriverOptions, context: DriverContext, settings: HttpDriverSettings): CameraDriver {
  const source = parseSource(options.source);
  const fps = options.fps;
  // One for the driver's life, not per connection: a source that drops and reconnects in a loop
  // stays within the same line budget.
  const drops = new DropLog(context, `from source ${source.display}`);
  // Some cameras answer with bare-LF header lines, which node's strict HTTP parser refuses.
  // After the first such answer this driver uses the lenient parser (insecureHTTPParser) for
  // this source. Its risk, request smuggling, needs a connection reused for another message;
  // every session here has its own connection, used for one response and destroyed.
  let lenient = false;
  return {
    async *frames(signal) {
      for (;;) {
        const connection = new SourceConnection(
          source,
          settings,
          context,
          drops,
          fps === undefined ? null : new RateCap(fps),
          lenient,
          signal,
        );
        try {
          try {
            if (!(await connection.open())) return; // aborted
          } catch (err) {
            if (!lenient && isParseError(err)) {
              lenient = true;
              context.log(
                'info',
                `source ${source.display} sent a non-conforming HTTP answer (${(err as { code: string }).code}); retrying with the lenient parser`,
              );
              continue;
            }
            throw err;
          }
          for (;;) {
            const frame = await connection.next();
            if (frame === null) return; // aborted
            yield frame;
          }
        } finally {
          connection.close();
        }
      }
    },
  };
}

/** Why the source gave no (more) frames: one line, thrown from frames(), credentials masked. */
export class SourceError extends FrameringError {
  constructor(message: string) {
    super('ERR_FRAMERING_SOURCE', message);
    this.name = 'SourceError';
  }
}

/** One request to the source and the frames parsed from its answer. */
class SourceConnection {
  private req: http.ClientRequest | null = null;
  private res: http.IncomingMessage | null = null;
  /** The newest frame not taken by next() yet. */
  private latest: Buffer | null = null;
  private failure: SourceError | null = null;
  private wake: (() => void) | null = null;
  private connectTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private lastDataAt = 0; // ms, performance.now()
  private readonly onAbort = (): void => this.destroy();
  private drops = 0;
  private relayed = 0;
  private replaced = 0;
  private capped = 0;
  private closed = false;
  /** The answer was accepted and its body is being parsed. */
  private streaming = false;

  constructor(
    private readonly source: HttpSource,
    private readonly settings: HttpDriverSettings,
    private readonly context: DriverContext,
    private readonly dropLog: DropLog,
    private readonly cap: RateCap | null,
    private readonly lenient: boolean,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /**
   * Sends the request and waits for an acceptable response head. Resolves false if the signal
   * aborted meanwhile; rejects with a one-line SourceError (or node's parse error, for a retry).
   */
  open(): Promise<boolean> {
    if (this.signal.aborted) return Promise.resolve(false);
    const { url, authorization, display } = this.source;
    return new Promise<boolean>((resolve, reject) => {
      let settled = false;
      const settle = (err: Error | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(this.connectTimer);
        if (this.signal.aborted) resolve(false);
        else if (err) reject(err);
        else resolve(true);
      };
      const headers: http.OutgoingHttpHeaders = {
        Accept: 'multipart/x-mixed-replace, */*;q=0.5',
        'Accept-Encoding': 'identity',
        'User-Agent': 'framering',
      };
      if (authorization !== undefined) headers.Authorization = authorization;
      const requestOptions: https.RequestOptions = {
        method: 'GET',
        headers,
        agent: false,
        insecureHTTPParser: this.lenient,
        ...(url.protocol === 'https:' && this.settings.ca !== undefined ? { ca: this.settings.ca } : {}),
      };
      const req = (url.protocol === 'https:' ? https : http).request(url, requestOptions);
      this.req = req;
      const connectSeconds = seconds(this.settings.connectTimeoutMs);
      this.connectTimer = setTimeout(() => {
        settle(new SourceError(`no answer from source ${display} within ${connectSeconds} s`));
        this.destroy();
      }, this.settings.connectTimeoutMs);

      req.on('error', (err: NodeJS.ErrnoException) => {
        if (this.res === null) {
          if (isParseError(err) && !this.lenient) settle(err);
          else settle(new SourceError(this.scrub(`cannot connect to source ${display}: ${describeNodeError(err)}`)));
        } else {
          this.fail(`connection to source ${display} lost: ${describeNodeError(err)}`);
        }
      });
      // Settles open() when the request ends with no answer and no error event (destroyed on abort).
      req.on('close', () => settle(new SourceError(`source ${display} closed the connection before answering`)));
      req.on('response', (res) => {
        this.res = res;
        const problem = this.checkResponse(res);
        if (problem !== null) {
          settle(new SourceError(this.scrub(problem)));
          this.destroy();
          return;
        }
        this.attach(res);
        settle(null);
      });
      req.end();
    });
  }

  /** The next frame: at once if one is waiting, else when one arrives. Null once aborted. */
  async next(): Promise<Buffer | null> {
    for (;;) {
      if (this.signal.aborted) return null;
      const frame = this.latest;
      if (frame !== null) {
        this.latest = null;
        this.relayed++;
        return frame;
      }
      if (this.failure !== null) throw this.failure;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** Ends the connection (idempotent); called when the generator finishes, however it does. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.signal.removeEventListener('abort', this.onAbort);
    this.destroy();
    if (this.streaming) {
      this.dropLog.end();
      this.context.log(
        'debug',
        `source ${this.source.display}: ${this.relayed} frames relayed, ${this.replaced} replaced by a newer one, ${this.capped} over --fps, ${this.drops} dropped`,
      );
    }
  }

  /** Null if the answer is an MJPEG stream, else the one-line reason it is not. */
  private checkResponse(res: http.IncomingMessage): string | null {
    const { display } = this.source;
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      let hint = '';
      if (status === 401) {
        const challenge = String(res.headers['www-authenticate'] ?? '');
        if (/^\s*digest\b/i.test(challenge)) hint = ' (the source wants Digest authentication; the http camera sends Basic only)';
        else
          hint =
            this.source.authorization === undefined
              ? ' (it needs a user and password: http://user:password@host/...)'
              : ' (check the user and password in --source)';
      } else if (status >= 300 && status < 400 && typeof res.headers.location === 'string') {
        let location = res.headers.location;
        try {
          location = parseSource(new URL(location, this.source.url).href).display;
        } catch {
          location = maskUrl(location);
        }
        hint = ` (redirects to ${location}: use that as --source)`;
      }
      return `source ${display} answered ${status} ${oneLine(res.statusMessage ?? '')}`.trimEnd() + hint;
    }
    const type = res.headers['content-type'];
    if (!isMultipartContentType(type)) {
      const mediaType = type === undefined ? 'none' : oneLine(type.split(';')[0]!.trim()) || 'none';
      return `source ${display} is not an MJPEG stream (Content-Type ${mediaType})`;
    }
    return null;
  }

  /** Wires the response body to the parser and starts the stall watch. */
  private attach(res: http.IncomingMessage): void {
    const { display } = this.source;
    const type = res.headers['content-type']!;
    const boundary = boundaryFromContentType(type);
    if (boundary === undefined) {
      this.context.log(
        'warn',
        `source ${display} sent no boundary in its Content-Type (${oneLine(type)}); finding frames by JPEG structure alone`,
      );
    }
    this.context.log('info', `connected to source ${display} (${oneLine(type)})`);
    const parser = new MultipartParser({
      boundary,
      // The ring's slot: nothing larger can reach a viewer, so nothing larger is collected.
      maxFrameBytes: this.context.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      onFrame: (jpeg) => this.onFrame(jpeg),
      onDrop: (reason, detail) => {
        this.drops++;
        this.dropLog.drop(reason, detail);
      },
    });
    res.on('data', (chunk: Buffer) => {
      this.lastDataAt = performance.now();
      parser.push(chunk);
    });
    res.on('end', () => this.fail(`source ${display} ended the stream`));
    res.on('error', (err: NodeJS.ErrnoException) => {
      // node reports a body cut short by the peer as "aborted" (ECONNRESET), whoever closed it.
      if (err.message === 'aborted') this.fail(`source ${display} closed the connection mid-stream`);
      else this.fail(`connection to source ${display} lost: ${describeNodeError(err)}`);
    });
    res.on('close', () => this.fail(`source ${display} closed the connection mid-stream`));
    this.streaming = true;
    this.lastDataAt = performance.now();
    this.armStall(this.settings.stallTimeoutMs);
  }

  private onFrame(jpeg: Buffer): void {
    this.dropLog.frame();
    if (this.cap !== null && !this.cap.admit(performance.now())) {
      this.capped++;
      return;
    }
    if (this.latest !== null) this.replaced++;
    this.latest = jpeg;
    this.wakeUp();
  }

  /**
   * The stall watch: one timer re-armed lazily for the time left (rather than reset on every
   * chunk, which at 30 fps would be hundreds of timer updates a second).
   */
  private armStall(ms: number): void {
    this.stallTimer = setTimeout(
      () => {
        const idle = performance.now() - this.lastDataAt;
        if (idle >= this.settings.stallTimeoutMs) {
          this.fail(`no data from source ${this.source.display} for ${seconds(this.settings.stallTimeoutMs)} s`);
        } else {
          this.armStall(this.settings.stallTimeoutMs - idle);
        }
      },
      Math.max(1, ms),
    );
  }

  /** Records the first failure (later ones are its consequences), ends the request, wakes next(). */
  private fail(message: string): void {
    if (this.failure === null && !this.signal.aborted) this.failure = new SourceError(this.scrub(message));
    this.destroy();
  }

  private destroy(): void {
    clearTimeout(this.connectTimer);
    clearTimeout(this.stallTimer);
    this.req?.destroy();
    this.res?.destroy();
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private scrub(message: string): string {
    return scrub(message, this.source);
  }
}

/** Seconds for a message: 10, 2.5, 0.25. */
function seconds(ms: number): string {
  return String(Number((ms / 1000).toFixed(3)));
}

function oneLine(s: string): string {
  return s
    .replace(/[\r\n]+/g, ' ')
    .trim()
    .slice(0, 200);
}

/** One line for a node socket / TLS error: its message, with its code when the message lacks it. */
function describeNodeError(err: NodeJS.ErrnoException): string {
  const message = describeError(err);
  const code = typeof err.code === 'string' ? err.code : undefined;
  return code !== undefined && !message.includes(code) ? `${message} (${code})` : message;
}
