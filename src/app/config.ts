/**
 * Command-line options and environment variables, validated once at start into one frozen
 * Config. Every error names the option and what is allowed.
 */

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createSecureContext } from 'node:tls';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { ConfigError, describeError } from '../core/errors.js';
import { DRIVER_OPTION_NAMES, type DriverOptions, FLIPS, ROTATIONS } from '../drivers/types.js';
import { LOG_LEVELS, type LogLevel } from '../core/log.js';
import { MAX_SLOT_BYTES, MAX_SLOTS, MIN_SLOT_BYTES, MIN_SLOTS } from '../core/ring-layout.js';
import { parseCredentials, type Credentials } from '../server/auth.js';
import { FRONT_ENDS, type FrontEndName } from '../server/front-end.js';

/** The driver options as the top level gives them: the defaults of every camera. */
export interface Config extends Readonly<DriverOptions> {
  /** TCP port; 0 picks a free one. */
  readonly port: number;
  readonly host: string;
  /** Driver name, or a path to a driver module. */
  readonly camera: string;
  /** Seconds without a viewer before capture stops. */
  readonly idleTimeout: number;
  readonly ringSlots: number;
  /** Largest frame the ring holds, bytes. */
  readonly maxFrameBytes: number;
  readonly logLevel: LogLevel;
  /** The cameras to serve, first one also on /video_feed and /snapshot. */
  readonly cameras: readonly CameraConfig[];
  /** HTTP front end; undefined = uWebSockets.js, or node:http where its binary cannot load. */
  readonly http: FrontEndName | undefined;
  /** HTTP threads (uWebSockets.js only); undefined = defaultHttpThreads(). */
  readonly httpThreads: number | undefined;
  /** Accepted Basic credentials; empty = no authentication. */
  readonly auth: readonly Credentials[];
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  readonly corsOrigin: string | undefined;
  /** Most stream viewers at once; 0 = no limit. */
  readonly maxClients: number;
  /** Seconds a viewer may keep one frame in flight before it is disconnected; 0 = never. */
  readonly slowClientTimeout: number;
  /** Seconds without a frame while viewers watch before they get a NO SIGNAL frame; 0 = never. */
  readonly noSignalAfter: number;
}

/** One camera: its name (for /cameras/NAME/...), its driver and the driver's options. */
export interface CameraConfig extends Readonly<DriverOptions> {
  readonly name: string;
  readonly driver: string;
}

/** Options that can be given per camera. */
const CAMERA_KEYS = DRIVER_OPTION_NAMES;
export const DEFAULT_CAMERA_NAME = 'default';


export const DEFAULTS = Object.freeze({
  port: 5000,
  host: '0.0.0.0',
  camera: 'emulated',
  idleTimeout: 10,
  ringSlots: 8,
  // A 1920x1080 JPEG at quality 95 with a busy scene is about 1 MB; leave headroom.
  maxFrameBytes: 2 * 1024 * 1024,
  logLevel: 'info' as LogLevel,
  maxClients: 0,
  slowClientTimeout: 30,
  noSignalAfter: 5,
});

interface OptionSpec {
  env: string;
  /** May be given more than once. */
  multiple?: boolean;
  help: string;
  valueName?: string;
  parse?: (raw: string, flag: string) => unknown;
  key: keyof Config | 'config' | 'authFile';
}

function integer(min: number, max: number) {
  return (raw: string, flag: string): number => {
    const s = raw.trim();
    const n = /^[0-9]+$/.test(s) ? Number(s) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigError(`invalid ${flag} "${raw}": expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}

function decimal(min: number, max: number, { exclusiveMin = false } = {}) {
  return (raw: string, flag: string): number => {
    const s = raw.trim();
    const n = /^[0-9]*\.?[0-9]+$/.test(s) ? Number(s) : NaN;
    if (!Number.isFinite(n) || n < min || n > max || (exclusiveMin && n === min)) {
      const low = exclusiveMin ? `more than ${min}` : `from ${min}`;
      throw new ConfigError(`invalid ${flag} "${raw}": expected a number ${low} ${exclusiveMin ? 'and at most' : 'to'} ${max}`);
    }
    return n;
  };
}

const sizeUnits: Record<string, number> = { '': 1, k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 };
function byteSize(min: number, max: number) {
  return (raw: string, flag: string): number => {
    const m = /^([0-9]+)\s*([kmg]?)(?:i?b)?$/i.exec(raw.trim());
    const n = m ? Number(m[1]) * sizeUnits[m[2]!.toLowerCase()]! : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigError(`invalid ${flag} "${raw}": expected a size from ${min} to ${max} bytes (suffixes K, M, G allowed, e.g. 2M)`);
    }
    return n;
  };
}

function nonEmpty(raw: string, flag: string): string {
  if (raw.trim() === '') throw new ConfigError(`invalid ${flag}: expected a non-empty value`);
  return raw;
}

function credentials(raw: string, flag: string): Credentials[] {
  const c = parseCredentials(raw);
  if (!c) throw new ConfigError(`invalid ${flag}: expected USER:PASSWORD`);
  return [c];
}

function readableFile(raw: string, flag: string): string {
  try {
    readFileSync(raw, { flag: 'r' }).subarray(0, 0);
  } catch (err) {
    throw new ConfigError(`invalid ${flag} "${raw}": cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return raw;
}

/**
 * Loads the certificate and key as the front ends will, so that a file that is no PEM, or a key
 * that is not the certificate's, stops the server at start naming the options (otherwise the
 * front end fails later, uWS with only "App construction failed").
 */
function checkTlsPair(cert: string, key: string): void {
  try {
    createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) });
  } catch (err) {
    throw new ConfigError(`invalid --tls-cert "${cert}" or --tls-key "${key}": TLS cannot use them (${describeError(err)})`);
  }
}

function oneOf<T extends string | number>(values: readonly T[]) {
  return (raw: string, flag: string): T => {
    const found = values.find((v) => String(v) === raw.trim());
    if (found === undefined) throw new ConfigError(`invalid ${flag} "${raw}": expected one of ${values.join(', ')}`);
    return found;
  };
}

/**
 * HTTP threads when --http-threads is not given: half the cores, from 1 to 4. The other half is
 * left to capture, encoding and the kernel's share of sending (most of a stream's cost is the
 * kernel's); a 4-core Raspberry Pi 4 gets 2.
 */
export function defaultHttpThreads(cores = availableParallelism()): number {
  return Math.max(1, Math.min(4, Math.floor(cores / 2)));
}

/** Option table: drives parsing, environment variables, --help and the README's table. */
export const OPTIONS: Readonly<Record<string, OptionSpec>> = Object.freeze({
  port: {
    key: 'port',
    env: 'FRAMERING_PORT',
    valueName: 'N',
    parse: integer(0, 65535),
    help: `TCP port to listen on (default ${DEFAULTS.port}; 0 picks a free port)`,
  },
  host: {
    key: 'host',
    env: 'FRAMERING_HOST',
    valueName: 'ADDR',
    parse: nonEmpty,
    help: `address to listen on (default ${DEFAULTS.host}, every IPv4 interface)`,
  },
  camera: {
    key: 'camera',
    env: 'CAMERA',
    valueName: 'DRIVER',
    multiple: true,
    parse: nonEmpty,
    help: `camera driver (emulated, files, opencv, pi, libcamera, http, synthetic, or a path to a driver module; default ${DEFAULTS.camera}); repeat as NAME=DRIVER[,option=value...] for several cameras`,
  },
  source: {
    key: 'source',
    env: 'FRAMERING_SOURCE',
    valueName: 'SRC',
    parse: nonEmpty,
    help: 'driver source: for files, the folder of *.jpg frames',
  },
  fps: {
    key: 'fps',
    env: 'FRAMERING_FPS',
    valueName: 'N',
    parse: decimal(0, 1000, { exclusiveMin: true }),
    help: "capture rate in frames per second (default: the driver's, emulated 1, files 30)",
  },
  'idle-timeout': {
    key: 'idleTimeout',
    env: 'FRAMERING_IDLE_TIMEOUT',
    valueName: 'S',
    parse: decimal(0, 86400),
    help: `seconds without a viewer before capture stops (default ${DEFAULTS.idleTimeout})`,
  },
  'ring-slots': {
    key: 'ringSlots',
    env: 'FRAMERING_RING_SLOTS',
    valueName: 'N',
    parse: integer(MIN_SLOTS, MAX_SLOTS),
    help: `frames the ring holds (default ${DEFAULTS.ringSlots})`,
  },
  'max-frame-bytes': {
    key: 'maxFrameBytes',
    env: 'FRAMERING_MAX_FRAME_BYTES',
    valueName: 'SIZE',
    parse: byteSize(MIN_SLOT_BYTES, MAX_SLOT_BYTES),
    help: `largest JPEG frame accepted; larger frames are dropped and counted (default ${DEFAULTS.maxFrameBytes / 1048576}M)`,
  },
  width: {
    key: 'width',
    env: 'FRAMERING_WIDTH',
    valueName: 'PX',
    parse: integer(16, 8192),
    help: 'frame width in pixels, where the driver can set it',
  },
  height: {
    key: 'height',
    env: 'FRAMERING_HEIGHT',
    valueName: 'PX',
    parse: integer(16, 8192),
    help: 'frame height in pixels, where the driver can set it',
  },
  quality: {
    key: 'quality',
    env: 'FRAMERING_QUALITY',
    valueName: 'Q',
    parse: integer(1, 100),
    help: 'JPEG quality 1-100, where the driver encodes',
  },
  rotate: {
    key: 'rotate',
    env: 'FRAMERING_ROTATE',
    valueName: 'DEG',
    parse: oneOf(ROTATIONS),
    help: 'rotate the picture clockwise: 0, 90, 180 or 270',
  },
  flip: {
    key: 'flip',
    env: 'FRAMERING_FLIP',
    valueName: 'AXIS',
    parse: oneOf(FLIPS),
    help: 'mirror the picture: none, h (horizontal), v (vertical) or both',
  },
  encoders: {
    key: 'encoders',
    env: 'FRAMERING_ENCODERS',
    valueName: 'N',
    parse: integer(1, 64),
    help: 'JPEG encoder threads, where the driver encodes (default: cores - 1, at least 1)',
  },
  config: {
    key: 'config',
    env: 'FRAMERING_CONFIG',
    valueName: 'FILE',
    parse: nonEmpty,
    help: 'read options and cameras from a JSON or YAML file (command line and environment win)',
  },
  'http-threads': {
    key: 'httpThreads',
    env: 'FRAMERING_HTTP_THREADS',
    valueName: 'N',
    parse: integer(1, 64),
    help: `threads serving HTTP on the same port, sharing the cameras (uws only; default: half the cores, 1 to 4: ${defaultHttpThreads()} here)`,
  },
  http: {
    key: 'http',
    env: 'FRAMERING_HTTP',
    valueName: 'IMPL',
    parse: oneOf(FRONT_ENDS),
    help: 'HTTP front end: uws or node (default uws; node where uws cannot load)',
  },
  auth: {
    key: 'auth',
    env: 'FRAMERING_AUTH',
    valueName: 'USER:PASS',
    parse: credentials,
    help: 'require HTTP Basic authentication on every route but /healthz',
  },
  'auth-file': {
    key: 'authFile',
    env: 'FRAMERING_AUTH_FILE',
    valueName: 'FILE',
    parse: nonEmpty,
    help: 'like --auth, one USER:PASSWORD per line',
  },
  'tls-cert': {
    key: 'tlsCert',
    env: 'FRAMERING_TLS_CERT',
    valueName: 'FILE',
    parse: readableFile,
    help: 'serve HTTPS with this PEM certificate (with --tls-key)',
  },
  'tls-key': {
    key: 'tlsKey',
    env: 'FRAMERING_TLS_KEY',
    valueName: 'FILE',
    parse: readableFile,
    help: 'the PEM private key for --tls-cert',
  },
  'cors-origin': {
    key: 'corsOrigin',
    env: 'FRAMERING_CORS_ORIGIN',
    valueName: 'ORIGIN',
    parse: nonEmpty,
    help: 'send CORS headers allowing this origin (or *); none by default',
  },
  'max-clients': {
    key: 'maxClients',
    env: 'FRAMERING_MAX_CLIENTS',
    valueName: 'N',
    parse: integer(0, 1_000_000),
    help: 'most stream viewers at once, beyond it 503 (default 0: no limit)',
  },
  'slow-client-timeout': {
    key: 'slowClientTimeout',
    env: 'FRAMERING_SLOW_CLIENT_TIMEOUT',
    valueName: 'S',
    parse: decimal(0, 86400),
    help: `disconnect a viewer whose frame has been in flight this long (default ${30}; 0 = never)`,
  },
  'no-signal-after': {
    key: 'noSignalAfter',
    env: 'FRAMERING_NO_SIGNAL_AFTER',
    valueName: 'S',
    parse: decimal(0, 86400),
    help: `seconds without a frame from the camera before viewers get a generated NO SIGNAL frame instead of the last one (default ${DEFAULTS.noSignalAfter}; 0 = keep the last frame)`,
  },
  'log-level': {
    key: 'logLevel',
    env: 'FRAMERING_LOG_LEVEL',
    valueName: 'LEVEL',
    parse: oneOf(LOG_LEVELS),
    help: `one of ${LOG_LEVELS.join(', ')} (default ${DEFAULTS.logLevel})`,
  },
});

export type ParseResult = { kind: 'run'; config: Config } | { kind: 'help' } | { kind: 'version' };

/**
 * Parses argv (without node and script) and the environment. Command-line values win over
 * environment variables, which win over defaults. Throws ConfigError.
 */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParseResult {
  const parseOptions: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  };
  for (const [name, spec] of Object.entries(OPTIONS)) parseOptions[name] = { type: 'string', multiple: spec.multiple ?? false };

  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options: parseOptions, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError(rephraseParseError(err));
  }
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };

  const configPath = (values.config as string | undefined) ?? (env.FRAMERING_CONFIG || undefined);
  const file: FileConfig = configPath === undefined ? { options: {}, cameras: [] } : readConfigFile(configPath);

  const config: Record<string, unknown> = { ...DEFAULTS, auth: [] };
  for (const spec of Object.values(OPTIONS)) if (!(spec.key in config)) config[spec.key] = undefined;
  for (const [name, spec] of Object.entries(OPTIONS)) {
    if (name === 'camera' || name === 'config') continue;
    const fromArgs = values[name];
    const fromEnv = env[spec.env];
    const fromFile = file.options[name];
    const parse = spec.parse ?? ((v: string) => v);
    if (typeof fromArgs === 'string') config[spec.key] = parse(fromArgs, `--${name}`);
    else if (fromEnv !== undefined && fromEnv !== '') config[spec.key] = parse(fromEnv, spec.env);
    else if (fromFile !== undefined) config[spec.key] = parse(fromFile, `${configPath}: ${name}`);
  }
  if (config.authFile !== undefined) config.auth = [...(config.auth as Credentials[]), ...readAuthFile(config.authFile as string)];
  delete config.authFile;
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new ConfigError(
      `invalid ${config.tlsCert === undefined ? '--tls-key' : '--tls-cert'}: HTTPS needs both --tls-cert and --tls-key`,
    );
  }
  if (config.tlsCert !== undefined) checkTlsPair(config.tlsCert as string, config.tlsKey as string);

  // Cameras: the command line, else CAMERA, else the file, else the emulated camera.
  const cli = (values.camera as string[] | undefined) ?? [];
  let specs: { spec: string; where: string }[] = cli.map((spec) => ({ spec, where: '--camera' }));
  if (specs.length === 0 && env.CAMERA) specs = [{ spec: env.CAMERA, where: 'CAMERA' }];
  const defaults = Object.fromEntries(CAMERA_KEYS.map((k) => [k, config[k]]));
  let cameras: CameraConfig[];
  if (specs.length > 0) cameras = camerasFromSpecs(specs, defaults);
  else if (file.cameras.length > 0)
    cameras = file.cameras.map((c) => cameraFromEntries(c.name, c.driver, c.options, defaults, `${configPath}: cameras.${c.name}`));
  else cameras = [cameraFromEntries(DEFAULT_CAMERA_NAME, file.options.camera ?? DEFAULTS.camera, {}, defaults, String(configPath))];
  config.cameras = Object.freeze(cameras.map((c) => Object.freeze(c)));
  config.camera = cameras[0]!.driver;
  return { kind: 'run', config: Object.freeze(config) as unknown as Config };
}

const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** `DRIVER` alone (one camera), or one or more `NAME=DRIVER[,option=value...]`. */
function camerasFromSpecs(specs: { spec: string; where: string }[], defaults: Record<string, unknown>): CameraConfig[] {
  const named = specs.map(({ spec, where }) => {
    const m = /^([^=,/]+)=(.*)$/.exec(spec);
    if (!m) return null;
    const [driver = '', ...pairs] = m[2]!.split(',');
    const options: Record<string, string> = {};
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new ConfigError(`invalid ${where} "${spec}": expected NAME=DRIVER[,option=value...], got "${pair}"`);
      options[pair.slice(0, eq).trim()] = pair.slice(eq + 1);
    }
    return { name: m[1]!.trim(), driver: driver.trim(), options, where };
  });
  if (named.every((n) => n === null)) {
    if (specs.length > 1)
      throw new ConfigError('invalid --camera: give several cameras as NAME=DRIVER, e.g. --camera front=opencv --camera back=libcamera');
    return [cameraFromEntries(DEFAULT_CAMERA_NAME, specs[0]!.spec, {}, defaults, specs[0]!.where)];
  }
  if (named.some((n) => n === null)) throw new ConfigError('invalid --camera: when one camera is named (NAME=DRIVER), name them all');
  return named.map((n) => cameraFromEntries(n!.name, n!.driver, n!.options, defaults, `${n!.where} ${n!.name}`));
}

function cameraFromEntries(
  name: string,
  driver: string,
  options: Record<string, string>,
  defaults: Record<string, unknown>,
  where: string,
): CameraConfig {
  if (!NAME_RE.test(name)) throw new ConfigError(`invalid camera name "${name}" (${where}): use 1-64 letters, digits, - or _`);
  if (driver.trim() === '') throw new ConfigError(`invalid camera "${name}" (${where}): no driver given`);
  const camera: Record<string, unknown> = { name, driver, ...defaults };
  for (const [key, raw] of Object.entries(options)) {
    if (!(CAMERA_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(`invalid option "${key}" for camera "${name}" (${where}): per-camera options are ${CAMERA_KEYS.join(', ')}`);
    }
    camera[key] = OPTIONS[key]!.parse!(raw, `${key} of camera "${name}"`);
  }
  return camera as unknown as CameraConfig;
}

interface FileConfig {
  /** Option name → value as text (validated like a command-line value). */
  options: Record<string, string>;
  cameras: { name: string; driver: string; options: Record<string, string> }[];
}

const camelToKebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function readConfigFile(path: string): FileConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`invalid --config "${path}": cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let data: unknown;
  try {
    data = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`invalid --config "${path}": ${String((err as Error).message).split('\n')[0]}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    throw new ConfigError(`invalid --config "${path}": expected a mapping of options`);
  const options: Record<string, string> = {};
  let cameras: FileConfig['cameras'] = [];
  for (const [rawKey, value] of Object.entries(data as Record<string, unknown>)) {
    const key = camelToKebab(rawKey);
    if (key === 'cameras') {
      cameras = fileCameras(path, value);
      continue;
    }
    if (!(key in OPTIONS) || key === 'config') throw new ConfigError(`invalid --config "${path}": unknown option "${rawKey}"`);
    if (value === null || typeof value === 'object')
      throw new ConfigError(`invalid --config "${path}": option "${rawKey}" needs a single value`);
    options[key] = String(value);
  }
  return { options, cameras };
}

function fileCameras(path: string, value: unknown): FileConfig['cameras'] {
  const entries: [string | undefined, unknown][] = Array.isArray(value)
    ? value.map((v) => [undefined, v])
    : value && typeof value === 'object'
      ? Object.entries(value)
      : [];
  if (entries.length === 0) throw new ConfigError(`invalid --config "${path}": cameras must be a non-empty list or mapping`);
  return entries.map(([key, raw], i) => {
    if (!raw || typeof raw !== 'object') throw new ConfigError(`invalid --config "${path}": camera ${key ?? i + 1} must be a mapping`);
    const { name = key, driver, camera, ...rest } = raw as Record<string, unknown>;
    const options: Record<string, string> = {};
    for (const [k, v] of Object.entries(rest)) options[camelToKebab(k)] = String(v);
    return { name: String(name ?? `camera${i + 1}`), driver: String(driver ?? camera ?? ''), options };
  });
}

function readAuthFile(path: string): Credentials[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`invalid --auth-file "${path}": cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const out: Credentials[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const c = parseCredentials(line);
    if (!c) throw new ConfigError(`invalid --auth-file "${path}": line ${i + 1} is not USER:PASSWORD`);
    out.push(c);
  });
  if (out.length === 0) throw new ConfigError(`invalid --auth-file "${path}": no USER:PASSWORD lines`);
  return out;
}

function rephraseParseError(err: unknown): string {
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  const option = /'(-{1,2}[^' ]+)/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option ?? ''} (see --help)`.replace('  ', ' ');
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return `option ${option ?? ''} needs a value (see --help)`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(message)?.[1] ?? ''}: options take the form --name value (see --help)`;
    default:
      return message.split('\n')[0]!;
  }
}

/** The --help text. */
export function helpText(version: string): string {
  const lines = [
    `framering ${version}: Motion-JPEG camera streaming server`,
    '',
    'Usage: framering [options]',
    '',
    'Options (each also read from the environment variable shown):',
  ];
  for (const [name, spec] of Object.entries(OPTIONS)) {
    const flag = `  --${name} ${spec.valueName ?? ''}`.padEnd(28);
    lines.push(`${flag}${spec.help}  [${spec.env}]`);
  }
  lines.push(`${'  -h, --help'.padEnd(28)}show this help`);
  lines.push(`${'  --version'.padEnd(28)}print the version`);
  lines.push('', 'Open http://HOST:PORT/ for the page, /video_feed for the stream.');
  return `${lines.join('\n')}\n`;
}
