/**
 * Command-line options, environment variables and config files, validated once at start into one
 * frozen Config. Every error names the option and what is allowed. The options themselves are in
 * the option table (options.ts), from which Config's type follows.
 */

import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../core/errors.js';
import { maskCredentials } from '../core/log.js';
import { cameraSubject, checkNatsAccess, type NatsAccess } from '../drivers/nats-link.js';
import type { DriverOptions } from '../drivers/types.js';
import type { Credentials } from '../server/auth.js';
import { checkTlsPair, readAuthFile, readMetricsTokenFile, readUrlSecretFile, secretFileWarnings } from './option-parsers.js';
import { CAMERA_OPTIONS, type OptionFields, type OptionName, OPTIONS } from './options.js';

/**
 * The validated configuration: one field per option (durations in ms), the cameras, and the
 * driver options as the top level gives them (the defaults of every camera).
 */
export interface Config
  extends Omit<
    OptionFields,
    'config' | 'authFile' | 'urlSecretFile' | 'metricsTokenFile' | 'camera' | 'auth' | 'natsCreds' | 'natsCa' | 'natsCert' | 'natsKey'
  > {
  /** Credentials and TLS files of every NATS connection (--publish, the nats camera). */
  readonly nats: NatsAccess;
  /** Things about the configuration worth a warning at start (a secrets file others can change). */
  readonly warnings: readonly string[];
  /** The bearer token that opens /metrics (--metrics-token-file), or undefined. */
  readonly metricsToken: string | undefined;
  /** Keys of signed links (--url-secret-file), the first signing; empty = no signed links. */
  readonly urlKeys: readonly string[];
  /** The first camera's driver. */
  readonly camera: string;
  /** Accepted Basic credentials (--auth and --auth-file); empty = no authentication. */
  readonly auth: readonly Credentials[];
  /** The cameras to serve, first one also on /video_feed and /snapshot. */
  readonly cameras: readonly CameraConfig[];
}

/** One camera: its name (for /cameras/NAME/...), its driver and the driver's options. */
export interface CameraConfig extends Readonly<DriverOptions> {
  readonly name: string;
  readonly driver: string;
}

// The table's driver options are the driver contract's: a compile error here means they drifted.
const _driverOptionsMatch: Readonly<DriverOptions> = {} as Pick<Config, (typeof CAMERA_OPTIONS)[number]>;
void _driverOptionsMatch;

export const DEFAULT_CAMERA_NAME = 'default';

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
  for (const [name, spec] of optionEntries()) parseOptions[name] = { type: 'string', multiple: spec.multiple ?? false };

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

  // Built as a record from the table, whose types Config follows (options.ts).
  const config: Record<string, unknown> = {};
  for (const [name, spec] of optionEntries()) {
    config[spec.key] = spec.default;
    if (name === 'camera' || name === 'config') continue;
    const fromArgs = values[name];
    const fromEnv = env[spec.env];
    const fromFile = file.options[name];
    const parse = spec.parse as (raw: string, flag: string) => unknown;
    if (typeof fromArgs === 'string') config[spec.key] = parse(fromArgs, `--${name}`);
    else if (fromEnv !== undefined && fromEnv !== '') config[spec.key] = parse(fromEnv, spec.env);
    else if (fromFile !== undefined) config[spec.key] = parse(fromFile, `${configPath}: ${name}`);
  }
  if (config.authFile !== undefined) {
    const fromFile = readAuthFile(config.authFile as string);
    for (const c of config.auth as Credentials[])
      if (fromFile.some((f) => f.user === c.user)) throw new ConfigError(`invalid --auth: user "${c.user}" is also in --auth-file`);
    config.auth = [...(config.auth as Credentials[]), ...fromFile];
  }
  const authFile = config.authFile as string | undefined;
  delete config.authFile;
  const warnings: string[] = [];
  if (authFile !== undefined) warnings.push(...secretFileWarnings(authFile, '--auth-file'));
  if (config.urlSecretFile !== undefined) warnings.push(...secretFileWarnings(config.urlSecretFile as string, '--url-secret-file'));
  if (config.metricsTokenFile !== undefined)
    warnings.push(...secretFileWarnings(config.metricsTokenFile as string, '--metrics-token-file'));
  if (config.tlsKey !== undefined) warnings.push(...secretFileWarnings(config.tlsKey as string, '--tls-key'));
  config.warnings = Object.freeze(warnings);
  config.urlKeys = config.urlSecretFile === undefined ? [] : readUrlSecretFile(config.urlSecretFile as string);
  delete config.urlSecretFile;
  config.metricsToken = config.metricsTokenFile === undefined ? undefined : readMetricsTokenFile(config.metricsTokenFile as string);
  delete config.metricsTokenFile;
  delete config.config;
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new ConfigError(
      `invalid ${config.tlsCert === undefined ? '--tls-key' : '--tls-cert'}: HTTPS needs both --tls-cert and --tls-key`,
    );
  }
  if (config.tlsCert !== undefined) checkTlsPair(config.tlsCert as string, config.tlsKey as string);
  const nats: NatsAccess = {
    credsFile: config.natsCreds as string | undefined,
    caFile: config.natsCa as string | undefined,
    certFile: config.natsCert as string | undefined,
    keyFile: config.natsKey as string | undefined,
  };
  checkNatsAccess(nats);
  config.nats = Object.freeze(nats);
  for (const k of ['natsCreds', 'natsCa', 'natsCert', 'natsKey']) delete config[k];

  // Cameras: the command line, else CAMERA, else the file, else the emulated camera.
  const cli = (values.camera as string[] | undefined) ?? [];
  let specs: { spec: string; where: string }[] = cli.map((spec) => ({ spec, where: '--camera' }));
  if (specs.length === 0 && env.CAMERA) specs = [{ spec: env.CAMERA, where: 'CAMERA' }];
  const defaults = Object.fromEntries(CAMERA_OPTIONS.map((k) => [k, config[k]]));
  let cameras: CameraConfig[];
  if (specs.length > 0) cameras = camerasFromSpecs(specs, defaults);
  else if (file.cameras.length > 0)
    cameras = file.cameras.map((c) => cameraFromEntries(c.name, c.driver, c.options, defaults, `${configPath}: cameras.${c.name}`));
  else cameras = [cameraFromEntries(DEFAULT_CAMERA_NAME, file.options.camera ?? OPTIONS.camera.default, {}, defaults, String(configPath))];
  config.cameras = Object.freeze(cameras.map((c) => Object.freeze(c)));
  config.camera = cameras[0]!.driver;
  // A user's cameras must exist: a typo would otherwise lock that user out of what was meant.
  for (const c of config.auth as Credentials[])
    for (const name of c.cameras ?? [])
      if (!cameras.some((cam) => cam.name === name))
        throw new ConfigError(
          `invalid --auth-file "${authFile}": user "${c.user}" names camera "${name}", which is not configured (${cameras.map((cam) => cam.name).join(', ')})`,
        );
  return { kind: 'run', config: Object.freeze(config) as unknown as Config };
}

const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** How to write a comma that belongs to a value, for the errors a stray one causes. */
const COMMA_HINT = 'a comma inside a value, such as a password in a URL, is written %2C';

/**
 * `DRIVER` alone (one camera), or one or more `NAME=DRIVER[,option=value...]`.
 *
 * A spec may hold a relay's credentials (`door=http,source=http://user:pw@cam/x`), so an error
 * quotes it with the URL's user info masked, and quotes no piece of it that could be a piece of
 * the password: a comma in a password splits the spec there, and the pieces after it ("got
 * ...", an unknown option's name) were the password's end.
 */
function camerasFromSpecs(specs: { spec: string; where: string }[], defaults: Record<string, unknown>): CameraConfig[] {
  const named = specs.map(({ spec, where }) => {
    const shown = maskCredentials(spec);
    // Pieces of a spec that carries credentials may be pieces of them: not quoted then.
    const quote = (piece: string, what: string): string => (shown === spec ? `"${piece}"` : what);
    const m = /^([^=,/]+)=(.*)$/.exec(spec);
    if (!m) {
      if (spec.includes('://'))
        throw new ConfigError(`invalid ${where} "${shown}": a URL is not a driver; give it as the source (--camera http --source URL)`);
      if (/,\s*[A-Za-z-]+=/.test(spec))
        throw new ConfigError(`invalid ${where} "${shown}": options after the driver need a camera name (NAME=DRIVER,option=value...)`);
      return null;
    }
    const [driver = '', ...pairs] = m[2]!.split(',');
    if (driver.includes('://'))
      throw new ConfigError(`invalid ${where} "${shown}": a URL is not a driver; give it as the source (NAME=http,source=URL)`);
    const options: Record<string, string> = {};
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq <= 0)
        throw new ConfigError(
          `invalid ${where} "${shown}": expected NAME=DRIVER[,option=value...], got ${quote(pair, 'a part without "="')} (${COMMA_HINT})`,
        );
      const key = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1);
      if (shown !== spec) {
        // A name or value cut from a password must not be quoted by cameraFromEntries' errors.
        if (!(CAMERA_OPTIONS as readonly string[]).includes(key))
          throw new ConfigError(
            `invalid ${where} "${shown}": a part names no per-camera option (${CAMERA_OPTIONS.join(', ')}); ${COMMA_HINT}`,
          );
        try {
          OPTIONS[key as (typeof CAMERA_OPTIONS)[number]].parse(value, key);
        } catch {
          throw new ConfigError(`invalid ${where} "${shown}": the value of ${key} is not valid; ${COMMA_HINT}`);
        }
      }
      options[key] = value;
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
    if (!(CAMERA_OPTIONS as readonly string[]).includes(key)) {
      throw new ConfigError(`invalid option "${key}" for camera "${name}" (${where}): per-camera options are ${CAMERA_OPTIONS.join(', ')}`);
    }
    camera[key] = OPTIONS[key as (typeof CAMERA_OPTIONS)[number]].parse(raw, `${key} of camera "${name}"`);
  }
  // Every camera has a subject: the nats camera reads it, --publish sends on it.
  camera.subject = cameraSubject(name, camera.subject as string | undefined, where);
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
  for (const [name, spec] of optionEntries()) {
    const flag = `  --${name} ${spec.valueName ?? ''}`.padEnd(28);
    lines.push(`${flag}${spec.help}  [${spec.env}]`);
  }
  lines.push(`${'  -h, --help'.padEnd(28)}show this help`);
  lines.push(`${'  --version'.padEnd(28)}print the version`);
  lines.push('', 'Open http://HOST:PORT/ for the page, /video_feed for the stream.');
  return `${lines.join('\n')}\n`;
}

/** The option table's rows, typed loosely for the loops that treat every option alike. */
function optionEntries(): [OptionName, (typeof OPTIONS)[OptionName]][] {
  return Object.entries(OPTIONS) as [OptionName, (typeof OPTIONS)[OptionName]][];
}
