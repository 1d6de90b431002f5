/**
 * HTTP Basic authentication and what each user may do. Users are looked up by name (a map, so
 * the cost does not grow with the number of users) and the password compared as a SHA-256
 * digest in constant time; an unknown name is compared against a dummy digest, so timing does
 * not tell whether a name exists.
 *
 * Rights: an admin may read /status and /metrics; a viewer may not. Either may be limited to
 * some cameras (`cameras`); null means every camera.
 */

import { createHash, timingSafeEqual } from 'node:crypto';

export type Role = 'admin' | 'viewer';

export interface Credentials {
  user: string;
  password: string;
  /** The cameras this user may watch; undefined = every camera. */
  cameras?: readonly string[] | undefined;
  /** Default: admin without `cameras`, viewer with them. */
  role?: Role | undefined;
}

/** Who a request was authenticated as, and what they may do. */
export interface Principal {
  user: string;
  admin: boolean;
  /** The cameras this user may watch; null = every camera. */
  cameras: ReadonlySet<string> | null;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
const DUMMY = digest('\0framering: no such user');

export const roleOf = (c: Credentials): Role => c.role ?? (c.cameras === undefined ? 'admin' : 'viewer');

export class BasicAuth {
  private readonly users = new Map<string, { password: Buffer; principal: Principal }>();

  /** Later entries for the same user replace earlier ones (config.ts refuses duplicates). */
  constructor(credentials: readonly Credentials[]) {
    for (const c of credentials) {
      const principal: Principal = {
        user: c.user,
        admin: roleOf(c) === 'admin',
        cameras: c.cameras === undefined ? null : new Set(c.cameras),
      };
      this.users.set(c.user, { password: digest(c.password), principal });
    }
  }

  /** The WWW-Authenticate header value of a 401. */
  static readonly challenge = 'Basic realm="framering", charset="UTF-8"';

  /** Who the Authorization header authenticates, or null. Never throws. */
  check(authorization: string | undefined): Principal | null {
    if (!authorization) return null;
    const m = /^Basic[ \t]+([A-Za-z0-9+/=._~-]+)[ \t]*$/i.exec(authorization);
    if (!m) return null;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return null;
    const entry = this.users.get(decoded.slice(0, colon));
    const ok = timingSafeEqual(digest(decoded.slice(colon + 1)), entry?.password ?? DUMMY);
    return ok && entry !== undefined ? entry.principal : null;
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
