/**
 * Request routing shared by every front end: which camera and route a request names, auth,
 * CORS, client limits and the plain responses. A front end turns the result into bytes on its
 * own sockets; only streams and deferred responses need front-end code.
 */

import type { CameraView } from '../stream/camera-view.js';
import type { Logger } from '../core/log.js';
import { STREAM_CONTENT_TYPE } from '../stream/multipart.js';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { BasicAuth, type Principal } from './auth.js';
import { HostCheck } from './host-check.js';
import { hasSignature, type LinkGrant, LinkVerifier, signLink } from './signed-links.js';
import { Lockout } from './lockout.js';
import { renderIndexPage } from './page.js';
import { snapshot } from './snapshot.js';
import { parseClientSelection, selectClients, type ClientSelection, type StatusDocument, withoutPaths } from './status.js';
import type { Admission, Lease } from './admission.js';
import type { HttpSettings } from './settings.js';

/**
 * Whether a request comes from a web browser: browsers send `Origin` on cross-origin and
 * non-GET requests, `Sec-Fetch-*` to trustworthy origins, and a User-Agent starting with
 * `Mozilla/` always (Chromium, Firefox, Safari and every engine built on them); a page's
 * scripts can change none of these.
 */
export function fromBrowser(req: Pick<RequestInfo, 'header'>): boolean {
  return (
    req.header('origin') !== undefined ||
    req.header('sec-fetch-mode') !== undefined ||
    (req.header('user-agent') ?? '').startsWith('Mozilla/')
  );
}

export interface RequestInfo {
  /** Upper case. */
  method: string;
  /** Path without the query. */
  path: string;
  /** The raw query string, without '?'. */
  query: string;
  /** Lower-case header name → value, or undefined. */
  header(name: string): string | undefined;
  /** The client's address (asked only where the lockout needs it). */
  remoteAddress(): string;
}

export type Headers = readonly (readonly [string, string])[];

/** What a camera's path asks for: its stream, a snapshot, or (for the page) a fresh signed link. */
type CameraRoute = 'video_feed' | 'snapshot' | 'link';

export interface PlainResponse {
  status: number;
  headers: Headers;
  body: string | Buffer;
}

export type Route =
  | { kind: 'plain'; response: PlainResponse }
  | {
      kind: 'stream';
      camera: CameraView;
      maxFps: number;
      slowTimeoutMs: number;
      /** The stream ends at this time (ms since the epoch): its signed link's expiry; 0 = never. */
      endsAt: number;
      headers: Headers;
      lease: Lease;
    }
  | { kind: 'deferred'; response: Promise<PlainResponse> };

export interface RouterOptions {
  cameras: readonly CameraView[];
  settings: HttpSettings;
  /** Stream viewers across every HTTP thread: a 'stream' route holds a lease its viewer releases. */
  admission: Admission;
  log: Logger;
  /** Renders /status (a StatusDocument, every viewer listed) and /metrics (set by main, which owns the wider view). */
  status: () => Promise<unknown>;
  metrics: () => Promise<{ contentType: string; body: string }>;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  421: 'Misdirected Request',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** "200 OK" */
export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? ''}`.trimEnd();
}

const TEXT = 'text/plain; charset=utf-8';
/** At most one log line per this long about refused Host headers (each is counted in /metrics), ms. */
const HOST_LOG_INTERVAL_MS = 60_000;
const NO_STORE = 'no-store, no-cache, must-revalidate, max-age=0';
const streamHeaders: Headers = [
  ['Content-Type', STREAM_CONTENT_TYPE],
  ['Cache-Control', NO_STORE],
  ['Pragma', 'no-cache'],
  // nginx buffers a proxied response by default, which holds every part back until the next one
  // arrives (one frame interval late; a second for a 1 fps camera). This turns that off for
  // streams without any nginx setting; other proxies ignore it.
  ['X-Accel-Buffering', 'no'],
];

export class Router {
  private readonly byName: ReadonlyMap<string, CameraView>;
  private readonly common: Headers;
  private readonly settings: HttpSettings;
  private readonly auth: BasicAuth | null;
  private readonly links: LinkVerifier | null;
  /** Failed attempts per address, where something is guarded and the lockout is on; null otherwise. */
  readonly lockout: Lockout | null;
  /** SHA-256 of the bearer token that opens /metrics (--metrics-token-file), or null. */
  private readonly metricsToken: Buffer | null;
  /** The index page per set of cameras a user may watch (pageFor). */
  private readonly pages = new Map<string, string>();
  /** Every route takes credentials or a signed link (Basic auth or a URL secret is configured). */
  private readonly guarded: boolean;
  /** The Host check against DNS rebinding; null with --allowed-hosts '*'. */
  private readonly hosts: HostCheck | null;
  /** Requests refused for their Host header (421), for /metrics. */
  refusedHosts = 0;
  /** When a refused Host was last logged (ms), and how many were refused since. */
  private hostLoggedAt = Number.NEGATIVE_INFINITY;
  private hostRefusedUnlogged = 0;
  /** The page's framing headers (--frame-ancestors). */
  private readonly frameHeaders: Headers;

  constructor(private readonly o: RouterOptions) {
    this.settings = o.settings;
    this.auth = o.settings.auth.length > 0 ? new BasicAuth(o.settings.auth) : null;
    this.links = o.settings.urlKeys.length > 0 ? new LinkVerifier(o.settings.urlKeys) : null;
    this.guarded = this.auth !== null || this.links !== null;
    const token = o.settings.metricsToken;
    this.metricsToken = token === undefined ? null : createHash('sha256').update(token, 'utf8').digest();
    const l = o.settings.lockout;
    this.lockout = (this.guarded || token !== undefined) && l.attempts > 0 ? new Lockout(l, o.log) : null;
    this.byName = new Map(o.cameras.map((c) => [c.name, c]));
    this.hosts = o.settings.allowedHosts === null ? null : new HostCheck(o.settings.allowedHosts);
    const ancestors = o.settings.frameAncestors;
    // CSP frame-ancestors is what browsers use; X-Frame-Options only speaks for old ones, and
    // knows only SAMEORIGIN and DENY. A browser that knows both ignores X-Frame-Options, so it is
    // sent only where it says the same as the policy (for other sources, an old browser without
    // CSP would refuse the frames the policy allows).
    const xfo = ancestors === "'self'" ? 'SAMEORIGIN' : ancestors === "'none'" ? 'DENY' : null;
    this.frameHeaders = [
      ['Content-Security-Policy', `frame-ancestors ${ancestors}`],
      ...(xfo ? ([['X-Frame-Options', xfo]] as const) : []),
    ];
    this.common = [
      ['X-Content-Type-Options', 'nosniff'],
      ...(o.settings.corsOrigin
        ? ([
            ['Access-Control-Allow-Origin', o.settings.corsOrigin],
            ['Vary', 'Origin'],
          ] as const)
        : []),
    ];
  }

  /** Headers every response carries. */
  get commonHeaders(): Headers {
    return this.common;
  }

  route(req: RequestInfo): Route {
    const { method, path } = req;
    // Health checks stay open so orchestrators need no credentials.
    if (path === '/healthz') return this.onlyGet(req, () => this.healthz());
    // Before anything else: a request for another name is a page's script reaching this server
    // through a victim's browser (DNS rebinding; host-check.ts). Only a browser can be made to
    // do that: other clients (a relay, ffmpeg, a scraper, Home Assistant's server) choose their
    // Host themselves, so checking theirs protects nothing and would break every one that
    // reaches the server by a name it does not know. Load balancers' health checks send any
    // Host, and /healthz (above) says little, so it stays open to them.
    if (this.hosts !== null && !this.hosts.allows(req.header('host')) && fromBrowser(req)) return this.misdirected(req.header('host')!);
    if (method === 'OPTIONS' && this.settings.corsOrigin) return this.preflight();
    // A scraper's bearer token opens /metrics (and only it), whatever else is configured.
    if (path === '/metrics' && this.metricsToken !== null) {
      const token = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.header('authorization') ?? '')?.[1];
      if (token !== undefined || this.auth === null) return this.bearer(req, token);
    }
    let who: Principal | null = null;
    if (this.guarded) {
      const g = this.grant(req);
      // A signed link is checked before anything else, and grants its own path only.
      if (g === 'signed') return this.signed(req);
      if ('kind' in g) return g;
      who = g;
    }
    if (hasSignature(req.query)) return this.plain(403, TEXT, 'signed link refused: this server has no --url-secret-file\n');
    if (path === '/' || path === '/index.html')
      return this.onlyGet(req, () =>
        this.plain(200, 'text/html; charset=utf-8', this.pageFor(who), [['Cache-Control', 'no-cache'], ...this.frameHeaders]),
      );
    if (path === '/status' || path === '/metrics') {
      // /status lists every viewer's address; /metrics the traffic: admins only.
      if (who !== null && !who.admin)
        return this.plain(403, TEXT, `user ${JSON.stringify(who.user)} may not read ${path} (not an admin)\n`);
      if (path === '/status')
        return this.onlyGet(req, () => {
          const selection = parseClientSelection(req.query);
          if (typeof selection === 'string') return this.plain(400, TEXT, `${selection}\n`);
          return { kind: 'deferred', response: this.status(selection) };
        });
      return this.onlyGet(req, () => ({ kind: 'deferred', response: this.metrics() }));
    }

    const target = this.cameraRoute(path);
    if (target === null) return this.plain(404, TEXT, `not found: ${path}\n`);
    if ('missing' in target) return this.plain(404, TEXT, `no camera named ${target.missing}\n`);
    if (who?.cameras && !who.cameras.has(target.camera.name))
      return this.plain(403, TEXT, `user ${JSON.stringify(who.user)} may not watch camera ${JSON.stringify(target.camera.name)}\n`);
    return this.cameraResponse(req, target.camera, target.what, undefined);
  }

  /** The page with the cameras `who` may watch (every camera for null), rendered once per set. */
  private pageFor(who: Principal | null): string {
    const status = who === null || who.admin;
    const key = `${status}\n${who?.cameras ? [...who.cameras].sort().join('\n') : ''}`;
    let page = this.pages.get(key);
    if (page === undefined) {
      const cameras = this.o.cameras.filter((c) => !who?.cameras || who.cameras.has(c.name));
      page = renderIndexPage(
        cameras.map((c) => {
          const base = c === this.o.cameras[0] ? '' : `/cameras/${encodeURIComponent(c.name)}`;
          return { name: c.name, streamPath: `${base}/video_feed`, snapshotPath: `${base}/snapshot` };
        }),
        { status, links: this.links !== null },
      );
      this.pages.set(key, page);
    }
    return page;
  }

  /** /metrics with a bearer token (--metrics-token-file): the token, compared in constant time. */
  private bearer(req: RequestInfo, token: string | undefined): Route {
    const locked = this.lockedOut(req);
    if (locked !== null) return locked;
    if (token !== undefined && this.metricsToken !== null) {
      const given = createHash('sha256').update(token, 'utf8').digest();
      if (timingSafeEqual(given, this.metricsToken)) return this.onlyGet(req, () => ({ kind: 'deferred', response: this.metrics() }));
      this.lockout?.fail(req.remoteAddress(), 'bearer');
    }
    return this.plain(401, TEXT, `${token === undefined ? 'a' : 'the right'} bearer token is required for /metrics\n`, [
      ['WWW-Authenticate', 'Bearer realm="framering metrics"'],
    ]);
  }

  /** 421 for a Host this server does not answer to, counted; logged at most once a minute. */
  private misdirected(host: string): Route {
    this.refusedHosts++;
    this.hostRefusedUnlogged++;
    // JSON.stringify: the header may hold anything but a line break; the answer stays one line.
    const shown = JSON.stringify(host.length > 100 ? `${host.slice(0, 100)}...` : host);
    const now = performance.now();
    if (now - this.hostLoggedAt >= HOST_LOG_INTERVAL_MS) {
      const more = this.hostRefusedUnlogged > 1 ? ` (and ${this.hostRefusedUnlogged - 1} more since the last such line)` : '';
      this.o.log.warn(
        `refused a request for Host ${shown}${more}: not this server's name; if it is reached by that name (a reverse proxy's public name, a DNS name), add it to --allowed-hosts`,
      );
      this.hostLoggedAt = now;
      this.hostRefusedUnlogged = 0;
    }
    return this.plain(421, TEXT, `host ${shown} is not served here; add it to --allowed-hosts if this server is reached by that name\n`);
  }

  /** 429 while the request's address is locked out, else null. */
  private lockedOut(req: RequestInfo): Route | null {
    if (this.lockout === null) return null;
    const wait = this.lockout.retryAfterMs(req.remoteAddress());
    if (wait <= 0) return null;
    const s = Math.ceil(wait / 1000);
    return this.plain(429, TEXT, `too many failed attempts from this address; try again in ${s} s\n`, [['Retry-After', String(s)]]);
  }

  /** The camera and route a path names, the name of a camera that does not exist, or null. */
  private cameraRoute(path: string): { camera: CameraView; what: CameraRoute } | { missing: string } | null {
    const m = /^\/cameras\/([^/]+)\/(video_feed|snapshot|link)$/.exec(path);
    const camera = m ? this.byName.get(safeDecode(m[1]!)) : this.o.cameras[0];
    const what = m ? (m[2] as CameraRoute) : path === '/video_feed' ? 'video_feed' : path === '/snapshot' ? 'snapshot' : null;
    if (what === null) return null;
    // JSON.stringify: a decoded name may hold a line break or a NUL; the error stays one line.
    if (!camera) return { missing: JSON.stringify(safeDecode(m![1]!)) };
    return { camera, what };
  }

  /**
   * /cameras/NAME/link, for the page of a logged-in user where the server has a URL secret: a
   * fresh short-lived signed link to the camera's stream and snapshot (JSON), which the page puts
   * in its <img> and renews before it expires.
   */
  private pageLink(req: RequestInfo, camera: CameraView): Route {
    const key = this.settings.urlKeys[0];
    if (key === undefined) return this.plain(404, TEXT, `not found: ${req.path}\n`);
    const expiresAt = Date.now() + this.settings.pageLinkTtlMs;
    const nonce = randomBytes(6).toString('base64url');
    const base = `/cameras/${encodeURIComponent(camera.name)}`;
    const link = (what: string): string => `${base}/${what}?${signLink(key, `${base}/${what}`, expiresAt, undefined, nonce)}`;
    const body = JSON.stringify({
      stream: link('video_feed'),
      snapshot: link('snapshot'),
      expiresAt: new Date(Math.ceil(expiresAt / 1000) * 1000).toISOString(),
    });
    return this.onlyGet(req, () => this.plain(200, 'application/json; charset=utf-8', `${body}\n`, [['Cache-Control', NO_STORE]]));
  }

  private cameraResponse(req: RequestInfo, camera: CameraView, what: CameraRoute, grant: LinkGrant | undefined): Route {
    if (what === 'link') return this.pageLink(req, camera);
    if (what === 'snapshot') return this.onlyGet(req, () => ({ kind: 'deferred', response: this.snapshot(camera) }));
    return this.onlyGet(req, () => this.stream(req, camera, grant));
  }

  /**
   * On a guarded server: null when the request may go on (Basic credentials that check, or a
   * signed link, checked by signed()), else the refusal: 429 for a locked-out address, 401 (or
   * 403 where only signed links are accepted). Failed credentials count towards the lockout;
   * a request without any does not (a browser asks without them first).
   */
  private grant(req: RequestInfo): Route | Principal | 'signed' {
    const locked = this.lockedOut(req);
    if (locked !== null) return locked;
    if (hasSignature(req.query)) return 'signed';
    const authorization = req.header('authorization');
    const who = this.auth?.check(authorization) ?? null;
    if (who !== null) {
      this.lockout?.succeed(req.remoteAddress());
      return who;
    }
    if (authorization !== undefined && this.auth !== null) this.lockout?.fail(req.remoteAddress(), 'basic');
    if (this.auth) return this.plain(401, TEXT, 'authentication required\n', [['WWW-Authenticate', BasicAuth.challenge]]);
    return this.plain(403, TEXT, 'a signed link is required (framering sign)\n');
  }

  /**
   * A request carrying `sig`: a signed link. It grants the one camera route it was signed for,
   * until its expiry, at most at its fps; anything wrong with it is a 403 saying what.
   */
  private signed(req: RequestInfo): Route {
    const refuse = (why: string): Route => {
      this.lockout?.fail(req.remoteAddress(), 'link');
      return this.plain(403, TEXT, `signed link refused: ${why}\n`);
    };
    if (this.links === null) return refuse('this server has no --url-secret-file');
    const target = this.cameraRoute(req.path);
    if (target === null || 'missing' in target || target.what === 'link')
      return refuse("a signed link grants only a camera's stream or snapshot");
    const others = this.o.cameras.flatMap((c) => [`/cameras/${encodeURIComponent(c.name)}/${target.what}`]);
    const check = this.links.check(req.path, req.query, others);
    if (!check.ok) return refuse(check.reason);
    return this.cameraResponse(req, target.camera, target.what, check.grant);
  }

  private stream(req: RequestInfo, camera: CameraView, grant: LinkGrant | undefined): Route {
    // A signed link's query is its own: its fps is the cap it was signed with.
    const all = grant ? [] : new URLSearchParams(req.query).getAll('fps');
    // ?fps=5&fps=50 has no one meaning (get() would silently take the first).
    if (all.length > 1) return this.plain(400, TEXT, `invalid query parameter fps: given ${all.length} times, expected once\n`);
    const fps = all[0] ?? null;
    let maxFps = grant?.maxFps ?? 0;
    if (fps !== null) {
      maxFps = /^[0-9]*\.?[0-9]+$/.test(fps) ? Number(fps) : NaN;
      // JSON.stringify: the decoded value may hold a line break or a NUL; the error stays one line.
      if (!(maxFps > 0 && maxFps <= 1000))
        return this.plain(
          400,
          TEXT,
          `invalid query parameter fps ${JSON.stringify(fps)}: expected a number more than 0 and at most 1000\n`,
        );
    }
    const { admission } = this.o;
    // HEAD asks whether a viewer would get in, without taking a place.
    const lease = req.method === 'HEAD' ? (admission.full ? null : undefined) : admission.tryAdmit();
    if (lease === null) {
      return this.plain(503, TEXT, `too many viewers (--max-clients ${admission.max}); try again later\n`, [['Retry-After', '5']]);
    }
    if (lease === undefined) return { kind: 'plain', response: { status: 200, headers: [...streamHeaders, ...this.common], body: '' } };
    const headers = [...streamHeaders, ...this.common];
    return {
      kind: 'stream',
      camera,
      maxFps,
      slowTimeoutMs: this.settings.slowClientTimeoutMs,
      endsAt: grant?.expiresAt ?? 0,
      headers,
      lease,
    };
  }

  private async snapshot(camera: CameraView): Promise<PlainResponse> {
    const r = await snapshot(camera, this.settings.snapshotTimeoutMs);
    // The reason may quote the camera's last error: without file paths, which are for the log.
    if (!r.ok)
      return { status: 503, headers: [['Content-Type', TEXT], ['Retry-After', '2'], ...this.common], body: `${withoutPaths(r.reason)}\n` };
    return {
      status: 200,
      headers: [['Content-Type', 'image/jpeg'], ['Cache-Control', NO_STORE], ['X-Timestamp', r.timestamp], ...this.common],
      body: r.jpeg,
    };
  }

  private async status(selection: ClientSelection): Promise<PlainResponse> {
    const body = `${JSON.stringify(selectClients((await this.o.status()) as StatusDocument, selection), null, 2)}\n`;
    return {
      status: 200,
      headers: [['Content-Type', 'application/json; charset=utf-8'], ['Cache-Control', NO_STORE], ...this.common],
      body,
    };
  }

  private async metrics(): Promise<PlainResponse> {
    const { contentType, body } = await this.o.metrics();
    return { status: 200, headers: [['Content-Type', contentType], ['Cache-Control', NO_STORE], ...this.common], body };
  }

  private healthz(): Route {
    // Open to anyone: where access is restricted, the cameras' states without their names.
    const cameras = this.guarded ? this.o.cameras.map((c) => c.state) : Object.fromEntries(this.o.cameras.map((c) => [c.name, c.state]));
    return this.plain(200, 'application/json; charset=utf-8', `${JSON.stringify({ status: 'serving', cameras })}\n`, [
      ['Cache-Control', NO_STORE],
    ]);
  }

  private preflight(): Route {
    return this.plain(204, TEXT, '', [
      ['Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS'],
      ['Access-Control-Allow-Headers', 'Authorization'],
      ['Access-Control-Max-Age', '600'],
    ]);
  }

  /** GET (and HEAD) only; anything else on a known path is a 405. */
  private onlyGet(req: RequestInfo, handle: () => Route): Route {
    if (req.method === 'GET' || req.method === 'HEAD') return handle();
    return this.plain(405, TEXT, `method ${req.method} not allowed on ${req.path}\n`, [['Allow', 'GET, HEAD']]);
  }

  private plain(status: number, type: string, body: string | Buffer, extra: Headers = []): Route {
    return { kind: 'plain', response: { status, headers: [['Content-Type', type], ...extra, ...this.common], body } };
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
