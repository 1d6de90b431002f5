/**
 * The option table: every option's name, environment variable, parser, default, --help line and
 * README row, in one place. `Config` (config.ts) is typed from it, so the compiler checks that
 * every option has a field and a parser; `--help` and the README's options table are generated
 * from it (options-table.ts; `npm run docs:options`, and a unit test fails when the README drifts).
 *
 * Durations are given in seconds and parsed to milliseconds here, once: every `...Ms` field is ms.
 */

import { availableParallelism } from 'node:os';
import { LOG_LEVELS, type LogLevel } from '../core/log.js';
import { MAX_SLOT_BYTES, MAX_SLOTS, MIN_SLOT_BYTES, MIN_SLOTS } from '../core/ring-layout.js';
import { BUILTIN_DRIVERS } from '../drivers/registry.js';
import { FLIPS, ROTATIONS } from '../drivers/types.js';
import { parseNatsServers } from '../drivers/nats-link.js';
import { ConfigError } from '../core/errors.js';
import { FRONT_ENDS } from '../server/front-end.js';
import { allowedHostEntry } from '../server/host-check.js';
import { byteSize, credentials, decimal, integer, nonEmpty, oneOf, type Parser, readableFile, seconds } from './option-parsers.js';

/**
 * HTTP threads when --http-threads is not given: half the cores, from 1 to 4. The other half is
 * left to capture, encoding and the kernel's share of sending (most of a stream's cost is the
 * kernel's); a 4-core Raspberry Pi 4 gets 2.
 */
export function defaultHttpThreads(cores = availableParallelism()): number {
  return Math.max(1, Math.min(4, Math.floor(cores / 2)));
}

/** One row of the table. `T` is the parsed value's type. */
export interface OptionSpec<K extends string, T> {
  /** The Config field. */
  key: K;
  env: string;
  /** Placeholder in --help and the README (`--port N`). */
  valueName: string;
  parse: Parser<T>;
  /** The value when the option is not given; without one the field is undefined. */
  default?: T;
  /** May be given more than once. */
  multiple?: boolean;
  /** The --help line. */
  help: string;
  /** The README row: the default as shown there and what the option means (Markdown). */
  doc: {
    default: string;
    meaning: string;
    /** Shown in the row of this other option (`--width PX`, `--height PX`). */
    sameRowAs?: string;
  };
}

function option<const K extends string, T>(spec: OptionSpec<K, T> & { default: T }): OptionSpec<K, T> & { default: T };
function option<const K extends string, T>(spec: OptionSpec<K, T> & { default?: undefined }): OptionSpec<K, T>;
function option<const K extends string, T>(spec: OptionSpec<K, T>): OptionSpec<K, T> {
  return Object.freeze(spec);
}

/**
 * --allowed-hosts: comma-separated names (`cam.example.org`, `*.example.org`) or addresses,
 * normalised; `*` alone allows any Host.
 */
const allowedHosts: Parser<readonly string[]> = (raw, flag) => {
  const entries = raw.split(',').map((e) => e.trim());
  if (entries.length === 1 && entries[0] === '*') return Object.freeze(['*']);
  return Object.freeze(
    entries.map((e) => {
      const entry = allowedHostEntry(e);
      if (entry === null)
        throw new ConfigError(
          `invalid ${flag} "${raw}": "${e}" is not a host name or address (give names without scheme or port, e.g. cam.example.org,*.example.org; or * for any)`,
        );
      return entry;
    }),
  );
};

// A CSP source: a host (with optional scheme, *. prefix, port and path) or a scheme ("https:").
const FRAME_SOURCE_RE =
  /^(?:\*|[a-z][a-z0-9+.-]*:|(?:[a-z][a-z0-9+.-]*:\/\/)?(?:\*|(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(?:[0-9]{1,5}|\*))?(?:\/[^\s;,'"]*)?)$/i;

/**
 * --frame-ancestors: CSP frame-ancestors sources, separated by spaces or commas. `self` and
 * `none` may be given without their quotes (a shell makes them awkward to type). Anything that
 * could end the directive (`;`, a comma, a quote) is refused, so nothing else gets into the header.
 */
const frameAncestors: Parser<string> = (raw, flag) => {
  // A line break would be a header injection were it passed on; anything outside printable ASCII is a slip.
  if (/[^\x20-\x7e]/.test(raw)) throw new ConfigError(`invalid ${flag} ${JSON.stringify(raw)}: only printable ASCII and spaces`);
  const sources = raw
    .split(/[\s,]+/)
    .filter((t) => t !== '')
    .map((t) => (/^'?(self|none)'?$/i.test(t) ? `'${t.replace(/'/g, '').toLowerCase()}'` : t));
  const bad = sources.find((t) => !(t === "'self'" || t === "'none'" || FRAME_SOURCE_RE.test(t)));
  if (sources.length === 0 || bad !== undefined)
    throw new ConfigError(
      `invalid ${flag} "${raw}": ${bad === undefined ? 'no source given' : `"${bad}" is not a frame-ancestors source`} (expected 'self', 'none', * or origins such as https://ha.example.com)`,
    );
  if (sources.includes("'none'") && sources.length > 1) throw new ConfigError(`invalid ${flag} "${raw}": 'none' must be alone`);
  return sources.join(' ');
};

// A 1920x1080 JPEG at quality 95 with a busy scene is about 1 MB; leave headroom.
const MAX_FRAME_BYTES = 2 * 1024 * 1024;
// A few frames of a 640x480 stream, a frame of 1080p: less costs extra wake-ups per frame on fast links, more
// makes a slow viewer's picture older (about this many bytes / link rate).
const SEND_QUEUE_BYTES = 128 * 1024;

export const OPTIONS = Object.freeze({
  port: option({
    key: 'port',
    env: 'FRAMERING_PORT',
    valueName: 'N',
    parse: integer(0, 65535),
    default: 5000,
    help: 'TCP port to listen on (default 5000; 0 picks a free port)',
    doc: { default: '`5000`', meaning: 'TCP port; `0` picks a free one' },
  }),
  host: option({
    key: 'host',
    env: 'FRAMERING_HOST',
    valueName: 'ADDR',
    parse: nonEmpty,
    default: '0.0.0.0',
    help: 'address to listen on (default 0.0.0.0, every IPv4 interface)',
    doc: { default: '`0.0.0.0`', meaning: 'address to listen on' },
  }),
  camera: option({
    key: 'camera',
    env: 'CAMERA',
    valueName: 'DRIVER',
    multiple: true,
    parse: nonEmpty,
    default: 'emulated',
    help: 'camera driver (emulated, files, opencv, pi, libcamera, http, nats, synthetic, or a path to a driver module; default emulated); repeat as NAME=DRIVER[,option=value...] for several cameras',
    doc: {
      default: '`emulated`',
      meaning: `driver: ${BUILTIN_DRIVERS.map((d) => `\`${d}\``).join(', ')}, or a path to a driver module; repeat as \`NAME=DRIVER[,option=value...]\` for [several cameras](#several-cameras)`,
    },
  }),
  source: option({
    key: 'source',
    env: 'FRAMERING_SOURCE',
    valueName: 'SRC',
    parse: nonEmpty,
    help: 'driver source: for files, the folder of *.jpg frames',
    doc: { default: '', meaning: 'driver source: a folder, a device, a file or a URL (see [Drivers](#drivers))' },
  }),
  fps: option({
    key: 'fps',
    env: 'FRAMERING_FPS',
    valueName: 'N',
    parse: decimal(0, 1000, { exclusiveMin: true }),
    help: "capture rate in frames per second (default: the driver's, emulated 1, files 30)",
    doc: { default: "driver's", meaning: 'capture rate, frames per second' },
  }),
  'idle-timeout': option({
    key: 'idleTimeoutMs',
    env: 'FRAMERING_IDLE_TIMEOUT',
    valueName: 'S',
    parse: seconds(0, 86400),
    default: 10_000,
    help: 'seconds without a viewer before capture stops (default 10)',
    doc: { default: '`10`', meaning: 'seconds without a viewer before capture stops' },
  }),
  'ring-slots': option({
    key: 'ringSlots',
    env: 'FRAMERING_RING_SLOTS',
    valueName: 'N',
    parse: integer(MIN_SLOTS, MAX_SLOTS),
    default: 8,
    help: 'frames the ring holds (default 8)',
    doc: { default: '`8`', meaning: `frames the ring holds (${MIN_SLOTS} to ${MAX_SLOTS})` },
  }),
  'max-frame-bytes': option({
    key: 'maxFrameBytes',
    env: 'FRAMERING_MAX_FRAME_BYTES',
    valueName: 'SIZE',
    parse: byteSize(MIN_SLOT_BYTES, MAX_SLOT_BYTES),
    default: MAX_FRAME_BYTES,
    help: `largest JPEG frame accepted; larger frames are dropped and counted (default ${MAX_FRAME_BYTES / 1048576}M)`,
    doc: { default: `\`${MAX_FRAME_BYTES / 1048576}M\``, meaning: 'largest frame; larger ones are dropped and counted, never truncated' },
  }),
  width: option({
    key: 'width',
    env: 'FRAMERING_WIDTH',
    valueName: 'PX',
    parse: integer(16, 8192),
    help: 'frame width in pixels, where the driver can set it',
    doc: { default: "driver's", meaning: 'frame size, where the driver can set it' },
  }),
  height: option({
    key: 'height',
    env: 'FRAMERING_HEIGHT',
    valueName: 'PX',
    parse: integer(16, 8192),
    help: 'frame height in pixels, where the driver can set it',
    doc: { default: "driver's", meaning: '', sameRowAs: 'width' },
  }),
  quality: option({
    key: 'quality',
    env: 'FRAMERING_QUALITY',
    valueName: 'Q',
    parse: integer(1, 100),
    help: 'JPEG quality 1-100, where the driver encodes',
    doc: { default: "driver's", meaning: 'JPEG quality 1-100, where the driver encodes' },
  }),
  rotate: option({
    key: 'rotate',
    env: 'FRAMERING_ROTATE',
    valueName: 'DEG',
    parse: oneOf(ROTATIONS),
    help: 'rotate the picture clockwise: 0, 90, 180 or 270',
    doc: { default: '`0`', meaning: '`0`, `90`, `180` or `270` clockwise' },
  }),
  flip: option({
    key: 'flip',
    env: 'FRAMERING_FLIP',
    valueName: 'AXIS',
    parse: oneOf(FLIPS),
    help: 'mirror the picture: none, h (horizontal), v (vertical) or both',
    doc: { default: '`none`', meaning: '`none`, `h`, `v` or `both`' },
  }),
  encoders: option({
    key: 'encoders',
    env: 'FRAMERING_ENCODERS',
    valueName: 'N',
    parse: integer(1, 64),
    help: 'JPEG encoder threads, where the driver encodes (default: cores - 1, at least 1)',
    doc: { default: 'cores - 1', meaning: 'JPEG encoder threads, where the driver encodes' },
  }),
  subject: option({
    key: 'subject',
    env: 'FRAMERING_SUBJECT',
    valueName: 'SUBJECT',
    parse: nonEmpty,
    help: "NATS subject of the camera's frames, for --publish and the nats camera (default framering.CAMERA, CAMERA the camera's name)",
    doc: {
      default: '`framering.NAME`',
      meaning:
        "NATS subject of the camera's frames, published with `--publish`, read by the `nats` camera ([scaling](docs/scaling.md#nats))",
    },
  }),
  publish: option({
    key: 'publish',
    env: 'FRAMERING_PUBLISH',
    valueName: 'URLS',
    parse: (raw: string, flag: string) => parseNatsServers(raw, flag),
    help: "publish every camera's frames to NATS while an edge watches: nats://HOST[:PORT][,...] (user:password@ or token@ for credentials, tls:// for TLS)",
    doc: {
      default: '',
      meaning:
        "publish every camera's frames to NATS (`nats://[USER:PASSWORD@]HOST[:PORT][,...]`, `tls://` for TLS) while some edge (`--camera nats`) watches ([scaling](docs/scaling.md#nats))",
    },
  }),
  'nats-creds': option({
    key: 'natsCreds',
    env: 'FRAMERING_NATS_CREDS',
    valueName: 'FILE',
    parse: nonEmpty,
    help: 'NATS credentials file (user JWT and NKey seed) for --publish and the nats camera',
    doc: {
      default: '',
      meaning: 'NATS credentials file (user JWT and NKey seed, as `nsc` writes it) for `--publish` and the `nats` camera',
    },
  }),
  'nats-ca': option({
    key: 'natsCa',
    env: 'FRAMERING_NATS_CA',
    valueName: 'FILE',
    parse: nonEmpty,
    help: "CA certificate (PEM) to trust for the NATS servers' TLS; implies TLS",
    doc: { default: '', meaning: "CA certificate (PEM) to trust for the NATS servers' TLS; implies TLS" },
  }),
  'nats-cert': option({
    key: 'natsCert',
    env: 'FRAMERING_NATS_CERT',
    valueName: 'FILE',
    parse: nonEmpty,
    help: 'client certificate (PEM) for NATS servers that verify clients (with --nats-key)',
    doc: { default: '', meaning: 'client certificate and key (PEM) for NATS servers that verify clients' },
  }),
  'nats-key': option({
    key: 'natsKey',
    env: 'FRAMERING_NATS_KEY',
    valueName: 'FILE',
    parse: nonEmpty,
    help: 'the PEM private key for --nats-cert',
    doc: { default: '', meaning: '', sameRowAs: 'nats-cert' },
  }),
  config: option({
    key: 'config',
    env: 'FRAMERING_CONFIG',
    valueName: 'FILE',
    parse: nonEmpty,
    help: 'read options and cameras from a JSON or YAML file (command line and environment win)',
    doc: { default: '', meaning: 'read options and cameras from a JSON or YAML file' },
  }),
  'http-threads': option({
    key: 'httpThreads',
    env: 'FRAMERING_HTTP_THREADS',
    valueName: 'N',
    parse: integer(1, 64),
    help: `threads serving HTTP on the same port, sharing the cameras (uws only; default: half the cores, 1 to 4: ${defaultHttpThreads()} here)`,
    doc: {
      default: 'half the cores, 1 to 4',
      meaning:
        'threads serving HTTP on the same port, all reading the same camera rings ([architecture](docs/architecture.md#several-http-threads)); `uws` only: `--http node` serves from one thread',
    },
  }),
  http: option({
    key: 'http',
    env: 'FRAMERING_HTTP',
    valueName: 'IMPL',
    parse: oneOf(FRONT_ENDS),
    help: 'HTTP front end: uws or node (default uws; node where uws cannot load)',
    doc: {
      default: '`uws`',
      meaning: 'front end: `uws` (uWebSockets.js) or `node` (node:http); `node` is used, with a warning, where uWebSockets.js cannot load',
    },
  }),
  auth: option({
    key: 'auth',
    env: 'FRAMERING_AUTH',
    valueName: 'USER:PASS',
    parse: credentials,
    default: [],
    help: 'require HTTP Basic authentication on every route but /healthz',
    doc: { default: '', meaning: 'HTTP Basic authentication on every route but `/healthz`' },
  }),
  'auth-file': option({
    key: 'authFile',
    env: 'FRAMERING_AUTH_FILE',
    valueName: 'FILE',
    parse: nonEmpty,
    help: 'like --auth, one USER:PASSWORD [cameras=NAME,...] [role=admin|viewer] per line',
    doc: {
      default: '',
      meaning:
        'the same, one `USER:PASSWORD` per line (`#` comments allowed), optionally with the cameras the user may watch and a role (`cameras=front,door role=viewer`; [access](docs/access.md#users-cameras-and-roles))',
    },
  }),
  'url-secret-file': option({
    key: 'urlSecretFile',
    env: 'FRAMERING_URL_SECRET_FILE',
    valueName: 'FILE',
    parse: nonEmpty,
    help: 'accept signed, expiring links (framering sign) made with a key in FILE, one per line',
    doc: {
      default: '',
      meaning:
        "accept signed, expiring links to a camera's stream or snapshot made with a key in FILE (one per line, the first signs; [access](docs/access.md))",
    },
  }),
  'page-link-ttl': option({
    key: 'pageLinkTtlMs',
    env: 'FRAMERING_PAGE_LINK_TTL',
    valueName: 'S',
    parse: seconds(10, 86400),
    default: 600_000,
    help: "with --url-secret-file, how long the page's own signed links live, seconds (default 600)",
    doc: {
      default: '`600`',
      meaning: 'with `--url-secret-file`: how long the signed links the page streams from live; the page renews them at 80 % of that',
    },
  }),
  'metrics-token-file': option({
    key: 'metricsTokenFile',
    env: 'FRAMERING_METRICS_TOKEN_FILE',
    valueName: 'FILE',
    parse: nonEmpty,
    help: 'let a scraper read /metrics with Authorization: Bearer TOKEN, the token in FILE',
    doc: {
      default: '',
      meaning:
        'open `/metrics` to `Authorization: Bearer TOKEN` (a Prometheus scraper), the token being the first line of FILE; nothing else ([access](docs/access.md#metrics-for-a-scraper))',
    },
  }),
  'lockout-attempts': option({
    key: 'lockoutAttempts',
    env: 'FRAMERING_LOCKOUT_ATTEMPTS',
    valueName: 'N',
    parse: integer(0, 1_000_000),
    default: 10,
    help: 'refuse an address (429) after N failed credentials or signed links within --lockout-window (default 10; 0 = never)',
    doc: {
      default: '`10`',
      meaning:
        'after N failed Basic credentials or signed links from one address within `--lockout-window`, refuse that address with `429` for `--lockout-duration` ([access](docs/access.md#brute-force-lockout)); `0` = never',
    },
  }),
  'lockout-window': option({
    key: 'lockoutWindowMs',
    env: 'FRAMERING_LOCKOUT_WINDOW',
    valueName: 'S',
    parse: seconds(1, 86400),
    default: 60_000,
    help: 'the window failed attempts are counted in, seconds (default 60)',
    doc: { default: '`60`', meaning: 'seconds in which `--lockout-attempts` failures lock an address' },
  }),
  'lockout-duration': option({
    key: 'lockoutDurationMs',
    env: 'FRAMERING_LOCKOUT_DURATION',
    valueName: 'S',
    parse: seconds(1, 86400),
    default: 300_000,
    help: 'how long a locked address is refused, seconds (default 300)',
    doc: { default: '`300`', meaning: 'seconds a locked address is refused; running streams are not affected' },
  }),
  'tls-cert': option({
    key: 'tlsCert',
    env: 'FRAMERING_TLS_CERT',
    valueName: 'FILE',
    parse: readableFile,
    help: 'serve HTTPS with this PEM certificate (with --tls-key)',
    doc: { default: '', meaning: 'serve HTTPS with this PEM certificate and key' },
  }),
  'tls-key': option({
    key: 'tlsKey',
    env: 'FRAMERING_TLS_KEY',
    valueName: 'FILE',
    parse: readableFile,
    help: 'the PEM private key for --tls-cert',
    doc: { default: '', meaning: '', sameRowAs: 'tls-cert' },
  }),
  'cors-origin': option({
    key: 'corsOrigin',
    env: 'FRAMERING_CORS_ORIGIN',
    valueName: 'ORIGIN',
    parse: nonEmpty,
    help: 'send CORS headers allowing this origin (or *); none by default',
    doc: { default: '', meaning: 'send `Access-Control-Allow-Origin: ORIGIN` (and answer preflights); no CORS headers by default' },
  }),
  'max-clients': option({
    key: 'maxClients',
    env: 'FRAMERING_MAX_CLIENTS',
    valueName: 'N',
    parse: integer(0, 1_000_000),
    default: 0,
    help: 'most stream viewers at once, beyond it 503 (default 0: no limit)',
    doc: { default: '`0`', meaning: 'most stream viewers at once, beyond it `503` with `Retry-After`; `0` = no limit' },
  }),
  'slow-client-timeout': option({
    key: 'slowClientTimeoutMs',
    env: 'FRAMERING_SLOW_CLIENT_TIMEOUT',
    valueName: 'S',
    parse: seconds(0, 86400),
    default: 30_000,
    help: 'disconnect a viewer whose frame has been in flight this long (default 30; 0 = never)',
    doc: {
      default: '`30`',
      meaning:
        'disconnect a viewer whose frame has been in flight this long (it stopped reading); counted in `/status` and `/metrics`; `0` = never',
    },
  }),
  'send-queue': option({
    key: 'sendQueueBytes',
    env: 'FRAMERING_SEND_QUEUE',
    valueName: 'SIZE',
    parse: byteSize(0, 64 * 1024 * 1024),
    default: SEND_QUEUE_BYTES,
    help: `most bytes the kernel queues unsent per viewer, so viewers on slow links get fresh frames, not old ones (default ${SEND_QUEUE_BYTES / 1024}K; 0 = the kernel's default)`,
    doc: {
      default: `\`${SEND_QUEUE_BYTES / 1024}K\``,
      meaning:
        "most bytes the kernel queues unsent per viewer (TCP_NOTSENT_LOWAT): a viewer on a link slower than the stream skips to the newest frame instead of receiving seconds-old ones; `0` = the kernel's default (megabytes)",
    },
  }),
  'no-signal-after': option({
    key: 'noSignalAfterMs',
    env: 'FRAMERING_NO_SIGNAL_AFTER',
    valueName: 'S',
    parse: seconds(0, 86400),
    default: 5000,
    help: 'seconds without a frame from the camera before viewers get a generated NO SIGNAL frame instead of the last one (default 5; 0 = keep the last frame)',
    doc: {
      default: '`5`',
      meaning:
        'seconds without a frame from the camera (failed, restarting, stalled) before viewers get a generated NO SIGNAL frame instead of the frozen last one; `0` = keep the last frame',
    },
  }),
  'allowed-hosts': option({
    key: 'allowedHosts',
    env: 'FRAMERING_ALLOWED_HOSTS',
    valueName: 'NAMES',
    parse: allowedHosts,
    default: Object.freeze([]) as readonly string[],
    help: "more host names the Host header may name, comma-separated (*.example.org for a domain; '*' for any), besides this machine's names, localhost and IP addresses",
    doc: {
      default: "this machine's names, `localhost`, IP addresses",
      meaning:
        "more names the server is reached by (comma-separated; `*.example.org` for a domain), e.g. a reverse proxy's public name; a browser asking for another `Host` gets `421`, against DNS rebinding ([access](docs/access.md#dns-rebinding-and-the-host-header)); `*` = any",
    },
  }),
  'frame-ancestors': option({
    key: 'frameAncestors',
    env: 'FRAMERING_FRAME_ANCESTORS',
    valueName: 'SOURCES',
    parse: frameAncestors,
    default: "'self'",
    help: "pages that may show the page in a frame, as CSP frame-ancestors sources (default 'self'; e.g. \"'self' https://ha.example.com\")",
    doc: {
      default: "`'self'`",
      meaning:
        "pages that may frame the page (`Content-Security-Policy: frame-ancestors`), e.g. `'self' https://ha.example.com` for a Home Assistant iframe card ([access](docs/access.md#embedding-the-page-in-a-frame)); streams and snapshots can be embedded anywhere",
    },
  }),
  'log-level': option({
    key: 'logLevel',
    env: 'FRAMERING_LOG_LEVEL',
    valueName: 'LEVEL',
    parse: oneOf(LOG_LEVELS),
    default: 'info' as LogLevel,
    help: `one of ${LOG_LEVELS.join(', ')} (default info)`,
    doc: {
      default: '`info`',
      meaning: `${LOG_LEVELS.map((l) => `\`${l}\``)
        .join(', ')
        .replace(/, ([^,]*)$/, ' or $1')}`,
    },
  }),
});

export type OptionName = keyof typeof OPTIONS;
type Specs = typeof OPTIONS;
type ValueOf<S> = S extends { parse: Parser<infer T> } ? T : never;
type FieldOf<S> = S extends { default: unknown } ? ValueOf<S> : ValueOf<S> | undefined;

/** One field per option, typed by its parser; undefined where the option has no default. */
export type OptionFields = { readonly [N in OptionName as Specs[N]['key']]: FieldOf<Specs[N]> };

/** Options that can be given per camera (`--camera NAME=DRIVER,option=value`). */
export const CAMERA_OPTIONS = [
  'source',
  'fps',
  'width',
  'height',
  'quality',
  'rotate',
  'flip',
  'encoders',
  'subject',
] as const satisfies readonly OptionName[];
