/**
 * HTTP Basic authentication with constant-time comparison. Credentials are compared as SHA-256
 * digests, so neither their content nor their length leaks through timing.
 */

import { createHash, timingSafeEqual } from 'node:crypto';

export interface Credentials {
  user: string;
  password: string;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export class BasicAuth {
  private readonly expected: Buffer[];

  constructor(credentials: readonly Credentials[]) {
    this.expected = credentials.map((c) => digest(`${c.user}:${c.password}`));
  }

  /** The WWW-Authenticate header value of a 401. */
  static readonly challenge = 'Basic realm="framering", charset="UTF-8"';

  /** True if the Authorization header carries valid credentials. Never throws. */
  check(authorization: string | undefined): boolean {
    if (!authorization) return false;
    const m = /^Basic[ \t]+([A-Za-z0-9+/=._~-]+)[ \t]*$/i.exec(authorization);
    if (!m) return false;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    if (!decoded.includes(':')) return false;
    const given = digest(decoded);
    let ok = false;
    // Compare against every entry (no early exit), so timing does not tell which one matched.
    for (const e of this.expected) ok = timingSafeEqual(given, e) || ok;
    return ok;
  }
}

/**
 * Parses `USER:PASSWORD` (the password may contain colons). Returns null if malformed.
 */
export function parseCredentials(value: string): Credentials | null {
  const i = value.indexOf(':');
  if (i <= 0 || i === value.length - 1) return null;
  return { user: value.slice(0, i), password: value.slice(i + 1) };
}
