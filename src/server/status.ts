/**
 * The /status document: cameras, viewers and the process, as operators read it.
 *
 * Its size is bounded: a viewer is about 350 bytes of it, so 3,000 viewers made 1 MB per request,
 * and every open page polled it every 1.5 s (an easy amplifier for anyone who can open pages).
 * /status lists the first STATUS_CLIENTS viewers and the totals; the rest page by page
 * (`?offset=&limit=`) or all at once (`?clients=all`); the page polls `?clients=none`, the
 * totals only. Camera errors are shown without file paths (withoutPaths): the log has them.
 */

import type { CameraView } from '../stream/camera-view.js';
import type { MetricsJson } from './metrics.js';
import type { Viewer } from '../stream/viewer.js';

/** What one HTTP thread reports when /status or /metrics is asked for (structured-clone safe). */
export interface ThreadStats {
  thread: number;
  clients: ViewerStatus[];
  slowClientsDisconnected: number;
  metrics: MetricsJson;
}

export interface ViewerStatus {
  id: number;
  thread: number;
  camera: string;
  remoteAddress: string;
  path: string;
  maxFps: number | null;
  deliveredFps: number;
  framesSent: number;
  framesSkipped: number;
  framesRepeated: number;
  bytesSent: number;
  connectedSince: string;
}

export interface StatusSources {
  cameras: readonly CameraView[];
  threads: readonly ThreadStats[];
  frontEnd: string;
  version: string;
  startedAt: number; // Date.now()
  /** Which server this is, stable across its restarts (host name and port): pages behind a load balancer tell servers apart by it. */
  server?: string | undefined;
  /** The NATS publisher's state (--publish), or undefined. */
  publish?: Record<string, unknown> | undefined;
}

/** The whole document, every viewer listed (buildStatus); the router selects which viewers are shown. */
export interface StatusDocument extends Record<string, unknown> {
  cameras: Record<string, unknown>[];
  /** How many viewers there are, whether listed or not. */
  clientsTotal: number;
  /** clients does not list every viewer. */
  clientsTruncated: boolean;
  clients: ViewerStatus[];
}

/** Viewers /status lists without a query. */
export const STATUS_CLIENTS = 100;
/** Most viewers one `?limit=` page lists (`?clients=all` lists every one). */
export const STATUS_CLIENTS_MAX_LIMIT = 1000;

/** Which viewers /status lists: `limit` viewers from `offset` (Infinity: all of them). */
export interface ClientSelection {
  offset: number;
  limit: number;
}

/**
 * The viewers a /status query asks for: none (`?clients=none`, the page's poll), all
 * (`?clients=all`), a page (`?offset=N&limit=M`, M at most STATUS_CLIENTS_MAX_LIMIT), or the
 * first STATUS_CLIENTS. Other parameters are ignored (a cache-buster). A bad value is the error
 * text (one line, naming the parameter).
 */
export function parseClientSelection(query: string): ClientSelection | string {
  const q = new URLSearchParams(query);
  for (const name of ['clients', 'offset', 'limit'])
    if (q.getAll(name).length > 1) return `invalid query parameter ${name}: given ${q.getAll(name).length} times, expected once`;
  const clients = q.get('clients');
  const offset = q.get('offset');
  const limit = q.get('limit');
  if (clients !== null) {
    if (offset !== null || limit !== null) return 'invalid query: clients= cannot be combined with offset= or limit=';
    if (clients === 'all') return { offset: 0, limit: Number.POSITIVE_INFINITY };
    if (clients === 'none') return { offset: 0, limit: 0 };
    return `invalid query parameter clients ${JSON.stringify(clients)}: expected all or none`;
  }
  const number = (name: string, raw: string | null, fallback: number, max: number): number | string => {
    if (raw === null) return fallback;
    const n = /^[0-9]{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
    return n <= max ? n : `invalid query parameter ${name} ${JSON.stringify(raw)}: expected an integer from 0 to ${max}`;
  };
  const o = number('offset', offset, 0, 999_999_999);
  if (typeof o === 'string') return o;
  const l = number('limit', limit, STATUS_CLIENTS, STATUS_CLIENTS_MAX_LIMIT);
  if (typeof l === 'string') return l;
  return { offset: o, limit: l };
}

/** `doc` with only the selected viewers listed (clientsTotal keeps the count of all). */
export function selectClients(doc: StatusDocument, { offset, limit }: ClientSelection): StatusDocument {
  if (!Array.isArray(doc.clients)) return doc;
  const clients = doc.clients.slice(offset, offset + limit);
  return { ...doc, clientsTruncated: clients.length < doc.clients.length, clients };
}

// A file path: anything quoted that holds a slash (but a URL); a file: URL; an absolute path (/x, ~/x,
// C:\x) or an explicitly relative one (./x, ../x); or a relative one with a folder and a file
// name (frames/0001.jpg). Not a URL's path (http://host/x), not a ratio (30/1). An unquoted path
// with spaces may leave pieces of a file name behind, never a folder.
const NOT_IN_A_WORD = String.raw`(?<![\w:/.~-])`;
// A quoted URL (an http camera's source) is an address, not a path; a file: URL is a path.
const NOT_A_URL = String.raw`(?!(?!file:)[a-z][a-z0-9+.-]*:\/\/)`;
const PATH_RE = new RegExp(
  [
    String.raw`"${NOT_A_URL}[^"\n]*[/\\][^"\n]*"`,
    String.raw`'${NOT_A_URL}[^'\n]*[/\\][^'\n]*'`,
    String.raw`\bfile:\/\/[^\s"']*`,
    String.raw`${NOT_IN_A_WORD}(?:~?\/|\.\.?\/|[a-z]:\\)[^\s"':,;)]+`,
    String.raw`${NOT_IN_A_WORD}[\w.-]+(?:[/\\][\w.-]+)*[/\\][\w.-]*\.[a-z][a-z0-9]{0,4}\b`,
  ].join('|'),
  'gi',
);

/**
 * `message` with file paths replaced by `[path]`: what failed, without where on this machine
 * (folders and file names are for the operator, who has the log line with them).
 */
export function withoutPaths(message: string): string {
  // A path with spaces can be found in pieces: one [path] for it.
  return message.replace(PATH_RE, '[path]').replace(/\[path\](?: \[path\])+/g, '[path]');
}

export function cameraStatus(camera: CameraView, viewers: number): Record<string, unknown> {
  const { fps, width, height } = camera.stats.sourceInfo();
  return {
    name: camera.name,
    driver: camera.driver,
    state: camera.state,
    lastError: camera.lastError && { message: withoutPaths(camera.lastError.message), at: camera.lastError.at.toISOString() },
    resolution: width > 0 ? { width, height } : null,
    fps: Math.round(fps * 100) / 100,
    viewers,
    framesPublished: camera.stats.published(),
    framesDropped: {
      oversize: camera.stats.dropped('oversize'),
      encoderBusy: camera.stats.dropped('encoder-busy'),
      corrupt: camera.stats.dropped('corrupt'),
    },
  };
}

export function viewerStatus(v: Viewer, thread: number, now = performance.now()): ViewerStatus {
  return {
    id: v.id,
    thread,
    camera: v.info.camera,
    remoteAddress: v.info.remoteAddress,
    path: v.info.path,
    maxFps: v.info.maxFps || null,
    deliveredFps: Math.round(v.deliveredFps(now) * 100) / 100,
    framesSent: v.framesSent,
    framesSkipped: v.framesSkipped,
    framesRepeated: v.framesRepeated,
    bytesSent: v.bytesSent,
    connectedSince: new Date(v.connectedAt).toISOString(),
  };
}

/** The whole /status document, every viewer listed (the router selects which are shown). */
export function buildStatus(s: StatusSources): StatusDocument {
  const clients = s.threads.flatMap((t) => t.clients);
  const perCamera = new Map<string, number>();
  for (const c of clients) perCamera.set(c.camera, (perCamera.get(c.camera) ?? 0) + 1);
  return {
    version: s.version,
    frontEnd: s.frontEnd,
    ...(s.server !== undefined ? { server: s.server } : {}),
    uptimeSeconds: Math.round((Date.now() - s.startedAt) / 100) / 10,
    cameras: s.cameras.map((c) => cameraStatus(c, perCamera.get(c.name) ?? 0)),
    slowClientsDisconnected: s.threads.reduce((n, t) => n + t.slowClientsDisconnected, 0),
    httpThreads: s.threads.map((t) => ({
      thread: t.thread,
      clients: t.clients.length,
      slowClientsDisconnected: t.slowClientsDisconnected,
    })),
    ...(s.publish ? { publish: s.publish } : {}),
    clientsTotal: clients.length,
    clientsTruncated: false,
    clients,
  };
}
