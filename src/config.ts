/**
 * Command-line options and environment variables, validated once at start into one frozen
 * Config. Every error names the option and what is allowed.
 */

import { parseArgs } from 'node:util';
import { ConfigError } from './errors.js';
import { LOG_LEVELS, type LogLevel } from './log.js';
import { MAX_SLOTS, MAX_SLOT_BYTES, MIN_SLOTS, MIN_SLOT_BYTES } from './ring.js';

export interface Config {
  /** TCP port; 0 picks a free one. */
  readonly port: number;
  readonly host: string;
  /** Driver name, or a path to a driver module. */
  readonly camera: string;
  /** Driver source (a folder for `files`). */
  readonly source: string | undefined;
  /** Capture rate, frames per second; undefined = the driver's default. */
  readonly fps: number | undefined;
  /** Seconds without a viewer before capture stops. */
  readonly idleTimeout: number;
  readonly ringSlots: number;
  /** Largest frame the ring holds, bytes. */
  readonly maxFrameBytes: number;
  readonly logLevel: LogLevel;
  // Driver options: undefined = the driver's default. A driver refuses those it cannot honour.
  readonly width: number | undefined;
  readonly height: number | undefined;
  /** JPEG quality, 1-100. */
  readonly quality: number | undefined;
  /** Degrees clockwise. */
  readonly rotate: Rotation | undefined;
  readonly flip: Flip | undefined;
  /** JPEG encoder threads. */
  readonly encoders: number | undefined;
}

export const ROTATIONS = [0, 90, 180, 270] as const;
export type Rotation = (typeof ROTATIONS)[number];
export const FLIPS = ['none', 'h', 'v', 'both'] as const;
export type Flip = (typeof FLIPS)[number];

export const DEFAULTS = Object.freeze({
  port: 5000,
  host: '0.0.0.0',
  camera: 'emulated',
  idleTimeout: 10,
  ringSlots: 8,
  // A 1920x1080 JPEG at quality 95 with a busy scene is about 1 MB; leave headroom.
  maxFrameBytes: 2 * 1024 * 1024,
  logLevel: 'info' as LogLevel,
});

interface OptionSpec {
  env: string;
  help: string;
  valueName?: string;
  parse?: (raw: string, flag: string) => unknown;
  key: keyof Config;
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
      throw new ConfigError(
        `invalid ${flag} "${raw}": expected a size from ${min} to ${max} bytes (suffixes K, M, G allowed, e.g. 2M)`,
      );
    }
    return n;
  };
}

function nonEmpty(raw: string, flag: string): string {
  if (raw.trim() === '') throw new ConfigError(`invalid ${flag}: expected a non-empty value`);
  return raw;
}

function oneOf<T extends string | number>(values: readonly T[]) {
  return (raw: string, flag: string): T => {
    const found = values.find((v) => String(v) === raw.trim());
    if (found === undefined) throw new ConfigError(`invalid ${flag} "${raw}": expected one of ${values.join(', ')}`);
    return found;
  };
}

/** Option table: drives parsing, environment variables, --help and the README's table. */
export const OPTIONS: Readonly<Record<string, OptionSpec>> = Object.freeze({
  port: { key: 'port', env: 'FRAMERING_PORT', valueName: 'N', parse: integer(0, 65535), help: `TCP port to listen on (default ${DEFAULTS.port}; 0 picks a free port)` },
  host: { key: 'host', env: 'FRAMERING_HOST', valueName: 'ADDR', parse: nonEmpty, help: `address to listen on (default ${DEFAULTS.host}, every IPv4 interface)` },
  camera: { key: 'camera', env: 'CAMERA', valueName: 'NAME', parse: nonEmpty, help: `camera driver: emulated, files, or a path to a driver module (default ${DEFAULTS.camera})` },
  source: { key: 'source', env: 'FRAMERING_SOURCE', valueName: 'SRC', parse: nonEmpty, help: 'driver source: for files, the folder of *.jpg frames' },
  fps: { key: 'fps', env: 'FRAMERING_FPS', valueName: 'N', parse: decimal(0, 1000, { exclusiveMin: true }), help: 'capture rate in frames per second (default: the driver\'s, emulated 1, files 30)' },
  'idle-timeout': { key: 'idleTimeout', env: 'FRAMERING_IDLE_TIMEOUT', valueName: 'S', parse: decimal(0, 86400), help: `seconds without a viewer before capture stops (default ${DEFAULTS.idleTimeout})` },
  'ring-slots': { key: 'ringSlots', env: 'FRAMERING_RING_SLOTS', valueName: 'N', parse: integer(MIN_SLOTS, MAX_SLOTS), help: `frames the ring holds (default ${DEFAULTS.ringSlots})` },
  'max-frame-bytes': { key: 'maxFrameBytes', env: 'FRAMERING_MAX_FRAME_BYTES', valueName: 'SIZE', parse: byteSize(MIN_SLOT_BYTES, MAX_SLOT_BYTES), help: `largest JPEG frame accepted; larger frames are dropped and counted (default ${DEFAULTS.maxFrameBytes / 1048576}M)` },
  width: { key: 'width', env: 'FRAMERING_WIDTH', valueName: 'PX', parse: integer(16, 8192), help: 'frame width in pixels, where the driver can set it' },
  height: { key: 'height', env: 'FRAMERING_HEIGHT', valueName: 'PX', parse: integer(16, 8192), help: 'frame height in pixels, where the driver can set it' },
  quality: { key: 'quality', env: 'FRAMERING_QUALITY', valueName: 'Q', parse: integer(1, 100), help: 'JPEG quality 1-100, where the driver encodes' },
  rotate: { key: 'rotate', env: 'FRAMERING_ROTATE', valueName: 'DEG', parse: oneOf(ROTATIONS), help: 'rotate the picture clockwise: 0, 90, 180 or 270' },
  flip: { key: 'flip', env: 'FRAMERING_FLIP', valueName: 'AXIS', parse: oneOf(FLIPS), help: 'mirror the picture: none, h (horizontal), v (vertical) or both' },
  encoders: { key: 'encoders', env: 'FRAMERING_ENCODERS', valueName: 'N', parse: integer(1, 64), help: 'JPEG encoder threads, where the driver encodes (default: cores - 1, at least 1)' },
  'log-level': { key: 'logLevel', env: 'FRAMERING_LOG_LEVEL', valueName: 'LEVEL', parse: oneOf(LOG_LEVELS), help: `one of ${LOG_LEVELS.join(', ')} (default ${DEFAULTS.logLevel})` },
});

export type ParseResult = { kind: 'run'; config: Config } | { kind: 'help' } | { kind: 'version' };

/**
 * Parses argv (without node and script) and the environment. Command-line values win over
 * environment variables, which win over defaults. Throws ConfigError.
 */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParseResult {
  const parseOptions: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  };
  for (const name of Object.keys(OPTIONS)) parseOptions[name] = { type: 'string' };

  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options: parseOptions, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError(rephraseParseError(err));
  }
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };

  const config: Record<string, unknown> = { ...DEFAULTS };
  for (const spec of Object.values(OPTIONS)) if (!(spec.key in config)) config[spec.key] = undefined;
  for (const [name, spec] of Object.entries(OPTIONS)) {
    const fromArgs = values[name];
    const fromEnv = env[spec.env];
    if (typeof fromArgs === 'string') config[spec.key] = spec.parse ? spec.parse(fromArgs, `--${name}`) : fromArgs;
    else if (fromEnv !== undefined && fromEnv !== '') config[spec.key] = spec.parse ? spec.parse(fromEnv, spec.env) : fromEnv;
  }
  return { kind: 'run', config: Object.freeze(config) as unknown as Config };
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
  lines.push('  -h, --help'.padEnd(28) + 'show this help');
  lines.push('  --version'.padEnd(28) + 'print the version');
  lines.push('', 'Open http://HOST:PORT/ for the page, /video_feed for the stream.');
  return lines.join('\n') + '\n';
}
