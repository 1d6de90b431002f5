/**
 * Parsers of option values, shared by the command line, the environment, config files and
 * per-camera options. Each takes the raw text and the name to blame (`--port`, `FRAMERING_PORT`,
 * `framering.yaml: port`) and throws a ConfigError naming it and what is allowed.
 */

import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync } from 'node:fs';
import { openToOthers } from '../core/file-safety.js';
import { createSecureContext } from 'node:tls';
import { ConfigError, describeError } from '../core/errors.js';
import { type Credentials, parseCredentials } from '../server/auth.js';
import { MIN_KEY_BYTES } from '../server/signed-links.js';

export type Parser<T> = (raw: string, flag: string) => T;

export function integer(min: number, max: number): Parser<number> {
  return (raw, flag) => {
    const s = raw.trim();
    const n = /^[0-9]+$/.test(s) ? Number(s) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigError(`invalid ${flag} "${raw}": expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}

export function decimal(min: number, max: number, { exclusiveMin = false } = {}): Parser<number> {
  return (raw, flag) => {
    const s = raw.trim();
    const n = /^[0-9]*\.?[0-9]+$/.test(s) ? Number(s) : Number.NaN;
    if (!Number.isFinite(n) || n < min || n > max || (exclusiveMin && n === min)) {
      const low = exclusiveMin ? `more than ${min}` : `from ${min}`;
      throw new ConfigError(`invalid ${flag} "${raw}": expected a number ${low} ${exclusiveMin ? 'and at most' : 'to'} ${max}`);
    }
    return n;
  };
}

/** A duration given in seconds (as users write it), returned in milliseconds (as code uses it). */
export function seconds(min: number, max: number): Parser<number> {
  const parse = decimal(min, max);
  return (raw, flag) => Math.round(parse(raw, flag) * 1000);
}

const sizeUnits: Record<string, number> = { '': 1, k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 };

export function byteSize(min: number, max: number): Parser<number> {
  return (raw, flag) => {
    const m = /^([0-9]+)\s*([kmg]?)(?:i?b)?$/i.exec(raw.trim());
    const n = m ? Number(m[1]) * sizeUnits[m[2]!.toLowerCase()]! : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigError(`invalid ${flag} "${raw}": expected a size from ${min} to ${max} bytes (suffixes K, M, G allowed, e.g. 2M)`);
    }
    return n;
  };
}

export const nonEmpty: Parser<string> = (raw, flag) => {
  if (raw.trim() === '') throw new ConfigError(`invalid ${flag}: expected a non-empty value`);
  return raw;
};

export const credentials: Parser<readonly Credentials[]> = (raw, flag) => {
  const c = parseCredentials(raw);
  if (!c) throw new ConfigError(`invalid ${flag}: expected USER:PASSWORD`);
  return [c];
};

/**
 * Reads a file named by an option, which must be a regular file: a FIFO would block the start
 * for ever (reading it waits for a writer), a device or a folder is a mistake. Opened without
 * blocking, checked, then read. A ConfigError names `flag`.
 */
export function readRegularFile(path: string, flag: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new ConfigError(`invalid ${flag} "${path}": cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    if (!fstatSync(fd).isFile()) throw new ConfigError(`invalid ${flag} "${path}": not a regular file`);
    return readFileSync(fd);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`invalid ${flag} "${path}": cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Why a file of secrets (credentials, keys, tokens) could be changed or swapped by someone else:
 * writable by every user, a symbolic link (its target can be changed by whoever owns the link's
 * folder), or in a folder every user may write to without the sticky bit (the file can be
 * replaced). One warning line each; the server still starts, as the operator may know better.
 */
export function secretFileWarnings(path: string, flag: string): string[] {
  const warnings: string[] = [];
  try {
    if (lstatSync(path).isSymbolicLink())
      warnings.push(
        `${flag} "${path}" is a symbolic link: whoever can change the link can change the secrets; point ${flag} at the file itself`,
      );
  } catch {
    // Unreadable: reading it reports that, as a ConfigError.
  }
  const open = openToOthers(path);
  if (open?.writable)
    warnings.push(`${flag} "${path}" is writable by every user: chmod o-w it (and keep it unreadable to others: chmod 600)`);
  if (open?.replaceableIn)
    warnings.push(`${flag} "${path}" is in a folder every user can write to (${open.replaceableIn}): anyone can replace the file`);
  return warnings;
}

export const readableFile: Parser<string> = (raw, flag) => {
  readRegularFile(raw, flag);
  return raw;
};

export function oneOf<const T extends string | number>(values: readonly T[]): Parser<T> {
  return (raw, flag) => {
    const found = values.find((v) => String(v) === raw.trim());
    if (found === undefined) throw new ConfigError(`invalid ${flag} "${raw}": expected one of ${values.join(', ')}`);
    return found;
  };
}

/**
 * Loads the certificate and key as the front ends will, so that a file that is no PEM, or a key
 * that is not the certificate's, stops the server at start naming the options (otherwise the
 * front end fails later, uWS with only "App construction failed").
 */
export function checkTlsPair(cert: string, key: string): void {
  const certPem = readRegularFile(cert, '--tls-cert');
  const keyPem = readRegularFile(key, '--tls-key');
  try {
    createSecureContext({ cert: certPem, key: keyPem });
  } catch (err) {
    throw new ConfigError(`invalid --tls-cert "${cert}" or --tls-key "${key}": TLS cannot use them (${describeError(err)})`);
  }
}

/**
 * The lines of a file of credentials or keys that say something, trimmed, with their 1-based
 * numbers: `#` comments and blank lines skipped, a UTF-8 BOM and CR or CRLF line ends tolerated.
 * A file that cannot be read is a ConfigError naming `flag`.
 */
function meaningfulLines(path: string, flag: string): { text: string; number: number }[] {
  const text = readRegularFile(path, flag).toString('utf8');
  return text
    .replace(/^\uFEFF/, '')
    .split(/\r\n|\r|\n/)
    .map((raw, i) => ({ text: raw.trim(), number: i + 1 }))
    .filter((l) => l.text !== '' && !l.text.startsWith('#'));
}

/** Reads an auth file: one USER:PASSWORD [cameras=NAME,...] [role=admin|viewer] per line (auth.ts). */
export function readAuthFile(path: string): Credentials[] {
  const out: Credentials[] = [];
  const seen = new Set<string>();
  for (const { text: line, number } of meaningfulLines(path, '--auth-file')) {
    const at = `invalid --auth-file "${path}": line ${number}`;
    // USER:PASSWORD, then rights as NAME=VALUE words: a password in the file has no spaces.
    const [first, ...words] = line.split(/[ \t]+/);
    const c = parseCredentials(first!);
    if (!c) throw new ConfigError(`${at} is not USER:PASSWORD [cameras=NAME,...] [role=admin|viewer]`);
    for (const word of words) {
      const eq = word.indexOf('=');
      const [key, value] = eq < 0 ? [word, ''] : [word.slice(0, eq), word.slice(eq + 1)];
      if (key === 'cameras' && value !== '' && c.cameras === undefined) c.cameras = value.split(',').filter((n) => n !== '');
      else if (key === 'role' && (value === 'admin' || value === 'viewer') && c.role === undefined) c.role = value;
      else
        throw new ConfigError(
          `${at}: unexpected "${word.slice(0, 40)}" (after USER:PASSWORD only cameras=NAME,... and role=admin|viewer, once each; a password here cannot contain spaces)`,
        );
    }
    if (seen.has(c.user)) throw new ConfigError(`${at}: user "${c.user}" is already given`);
    seen.add(c.user);
    out.push(c);
  }
  if (out.length === 0) throw new ConfigError(`invalid --auth-file "${path}": no USER:PASSWORD lines`);
  return out;
}

/**
 * The keys of --url-secret-file: one per line (`#` comments and blank lines skipped, a UTF-8 BOM
 * and CR line ends tolerated), the first signing, all verifying. Each must be at least
 * MIN_KEY_BYTES long: a short key makes links guessable.
 */
export function readUrlSecretFile(path: string): string[] {
  const keys = meaningfulLines(path, '--url-secret-file').map(({ text, number }) => {
    if (Buffer.byteLength(text) < MIN_KEY_BYTES)
      throw new ConfigError(
        `invalid --url-secret-file "${path}": line ${number} is shorter than ${MIN_KEY_BYTES} bytes (use e.g. openssl rand -base64 32)`,
      );
    return text;
  });
  if (keys.length === 0) throw new ConfigError(`invalid --url-secret-file "${path}": no key in it`);
  return keys;
}

/** The token of --metrics-token-file: its first line that is not blank or a `#` comment, at least MIN_KEY_BYTES long. */
export function readMetricsTokenFile(path: string): string {
  const token = meaningfulLines(path, '--metrics-token-file')[0]?.text;
  if (token === undefined) throw new ConfigError(`invalid --metrics-token-file "${path}": no token in it`);
  if (Buffer.byteLength(token) < MIN_KEY_BYTES || /\s/.test(token))
    throw new ConfigError(
      `invalid --metrics-token-file "${path}": the token must be one word of at least ${MIN_KEY_BYTES} bytes (use e.g. openssl rand -hex 32)`,
    );
  return token;
}
