/**
 * The HTTP side's settings: built once from the configuration at start (src/app), frozen, and
 * handed whole to every HTTP thread (it is structured-clone safe), the router and the front ends.
 * Durations are milliseconds. The values come from the option table; what is not an option (the
 * version, the snapshot wait) is filled in where the settings are built.
 */

import type { Credentials } from './auth.js';

export interface TlsFiles {
  /** PEM certificate (chain) file. */
  cert: string;
  /** PEM private key file. */
  key: string;
}

export interface HttpSettings {
  readonly host: string;
  /** TCP port; 0 picks a free one. */
  readonly port: number;
  readonly tls: TlsFiles | undefined;
  /** Accepted Basic credentials; empty = no authentication. */
  readonly auth: readonly Credentials[];
  /** Keys of signed links (signed-links.ts), the first signing; empty = signed links refused. */
  readonly urlKeys: readonly string[];
  /** How long the page's own signed links live, ms (router: /cameras/NAME/link). */
  readonly pageLinkTtlMs: number;
  /** The bearer token that opens /metrics (--metrics-token-file), or undefined. */
  readonly metricsToken: string | undefined;
  /** Brute-force lockout (lockout.ts): failures that lock an address (0 = off), window and duration in ms. */
  readonly lockout: { readonly attempts: number; readonly windowMs: number; readonly durationMs: number };
  readonly corsOrigin: string | undefined;
  /**
   * Host names a request's Host header may name (host-check.ts), normalised; IP addresses are
   * always allowed. null = any Host (--allowed-hosts '*').
   */
  readonly allowedHosts: readonly string[] | null;
  /** The page's Content-Security-Policy frame-ancestors sources (--frame-ancestors). */
  readonly frameAncestors: string;
  /** Most stream viewers at once over every thread; 0 = no limit. */
  readonly maxClients: number;
  /** A viewer whose frame stays in flight this long is disconnected, ms; 0 = never. */
  readonly slowClientTimeoutMs: number;
  /** Most unsent bytes the kernel queues per viewer (TCP_NOTSENT_LOWAT); 0 = the kernel's default. */
  readonly sendQueueBytes: number;
  /** How long /snapshot waits for a fresh frame from an idle camera, ms. */
  readonly snapshotTimeoutMs: number;
  /** framering's version, for /status. */
  readonly version: string;
}

/** How long /snapshot waits for an idle camera's first frame unless told otherwise, ms. */
export const SNAPSHOT_TIMEOUT_MS = 5000;
