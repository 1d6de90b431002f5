/** Builds the HTTP side's settings (src/server/settings.ts) from the Config, once, at start. */

import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { allowedHostEntry } from '../server/host-check.js';
import { type HttpSettings, SNAPSHOT_TIMEOUT_MS } from '../server/settings.js';
import type { Config } from './config.js';

/** What the HTTP settings take that is not an option. */
export interface HttpExtras {
  version: string;
  /** Tests shorten it; users get SNAPSHOT_TIMEOUT_MS. */
  snapshotTimeoutMs?: number | undefined;
  /** This machine's name (os.hostname()); tests set it. */
  hostname?: string | undefined;
}

/**
 * The names this server is reached by without configuration, for the Host check: localhost,
 * the machine's name and NAME.local (mDNS, as a Raspberry Pi is usually reached), the first
 * label of a dotted name too, and --host when it is a name. Addresses need no entry (host-check.ts).
 */
export function machineNames(host: string, name = hostname()): string[] {
  const names = ['localhost'];
  const own = allowedHostEntry(name);
  if (own !== null && isIP(own) === 0) {
    const short = own.split('.')[0]!;
    names.push(own, short, `${short}.local`);
  }
  const listen = allowedHostEntry(host);
  if (listen !== null && isIP(listen) === 0) names.push(listen);
  return [...new Set(names)];
}

/**
 * The start-up warning for a server anyone on its network can use: no Basic credentials and no
 * URL secret, listening beyond loopback. null when there is nothing to warn about.
 */
export function openAccessWarning(settings: Pick<HttpSettings, 'host' | 'auth' | 'urlKeys'>): string | null {
  if (settings.auth.length > 0 || settings.urlKeys.length > 0) return null;
  const h = settings.host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1' || /^127\./.test(h)) return null;
  return `serving without authentication on ${settings.host}: anyone on the network can watch every camera and read /status; set --auth-file (or --auth, --url-secret-file), or --host 127.0.0.1 behind a reverse proxy`;
}

export function httpSettings(config: Config, extras: HttpExtras): HttpSettings {
  const {
    host,
    port,
    auth,
    urlKeys,
    pageLinkTtlMs,
    metricsToken,
    lockoutAttempts,
    lockoutWindowMs,
    lockoutDurationMs,
    corsOrigin,
    allowedHosts,
    frameAncestors,
    maxClients,
    slowClientTimeoutMs,
    sendQueueBytes,
    tlsCert,
    tlsKey,
  } = config;
  return Object.freeze({
    host,
    port,
    tls: tlsCert !== undefined && tlsKey !== undefined ? Object.freeze({ cert: tlsCert, key: tlsKey }) : undefined,
    auth: Object.freeze([...auth]),
    urlKeys: Object.freeze([...urlKeys]),
    pageLinkTtlMs,
    metricsToken,
    lockout: Object.freeze({ attempts: lockoutAttempts, windowMs: lockoutWindowMs, durationMs: lockoutDurationMs }),
    corsOrigin,
    allowedHosts: allowedHosts.includes('*')
      ? null
      : Object.freeze([...new Set([...machineNames(host, extras.hostname), ...allowedHosts])]),
    frameAncestors,
    maxClients,
    slowClientTimeoutMs,
    sendQueueBytes,
    snapshotTimeoutMs: extras.snapshotTimeoutMs ?? SNAPSHOT_TIMEOUT_MS,
    version: extras.version,
  } satisfies HttpSettings);
}
