/**
 * Router settings for unit tests: everything off or small, over which a test spreads what it
 * looks at (the Router is made from these in the HTTP threads; src/app/http-settings.ts).
 */

import type { HttpSettings } from '../../src/server/settings.js';

export function testSettings(extra: Partial<HttpSettings> = {}): HttpSettings {
  return {
    host: '127.0.0.1',
    port: 0,
    tls: undefined,
    auth: [],
    urlKeys: [],
    metricsToken: undefined,
    pageLinkTtlMs: 600_000,
    lockout: { attempts: 10, windowMs: 60_000, durationMs: 300_000 },
    corsOrigin: undefined,
    allowedHosts: ['localhost'],
    frameAncestors: "'self'",
    maxClients: 0,
    slowClientTimeoutMs: 10_000,
    sendQueueBytes: 0,
    snapshotTimeoutMs: 1,
    version: '0.0.0-test',
    ...extra,
  };
}
