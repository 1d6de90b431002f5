/** Builds the HTTP side's settings (src/server/settings.ts) from the Config, once, at start. */

import { type HttpSettings, SNAPSHOT_TIMEOUT_MS } from '../server/settings.js';
import type { Config } from './config.js';

/** What the HTTP settings take that is not an option. */
export interface HttpExtras {
  version: string;
  /** Tests shorten it; users get SNAPSHOT_TIMEOUT_MS. */
  snapshotTimeoutMs?: number | undefined;
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
    maxClients,
    slowClientTimeoutMs,
    sendQueueBytes,
    snapshotTimeoutMs: extras.snapshotTimeoutMs ?? SNAPSHOT_TIMEOUT_MS,
    version: extras.version,
  } satisfies HttpSettings);
}
