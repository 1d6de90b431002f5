/**
 * What both ends of the NATS frame bus share: the server list as users write it (credentials,
 * TLS), the client settings, the subjects and the interest protocol.
 *
 * - A capture node (`--publish nats://...`, src/stream/nats-publisher.ts) publishes each
 *   camera's JPEG frames on the camera's subject, one message per frame, while some edge wants
 *   them.
 * - An edge (`--camera nats --source nats://...`, src/drivers/nats.ts) subscribes while it has
 *   viewers and says so on `SUBJECT.watching` every WATCH_INTERVAL_MS; the capture node keeps the
 *   camera running while the newest such message is less than WATCH_TTL_MS old. NATS tells a
 *   publisher nothing about its subscribers, so interest travels as messages, which also makes it
 *   cross clusters, leaf nodes and gateways like the frames do.
 *
 * Neither end lets a backlog form: the publisher has at most PUBLISH_WINDOW frames unacknowledged
 * by its server (a PING after each, skipping frames while the window is full), and an edge holds
 * at most EDGE_CREDITS one-message subscriptions in a queue group of its own, renewed as frames
 * arrive, so a server never has more than that many of its frames queued for it: on a link slower
 * than the stream an edge gets fewer, newer frames, never older ones.
 */

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import type { NodeConnectionOptions } from '@nats-io/transport-node';
import { ConfigError } from '../core/errors.js';
import { maskUrl } from '../core/log.js';

/** Credentials and TLS files for every NATS connection of the process (--nats-creds, --nats-ca, --nats-cert, --nats-key). */
export interface NatsAccess {
  /** A .creds file (user JWT and NKey seed), as nsc and NGS/Synadia Cloud hand out. */
  credsFile: string | undefined;
  /** CA certificate(s) to trust for the servers' TLS certificates (PEM). */
  caFile: string | undefined;
  /** Client certificate and key (PEM) for servers that verify clients. */
  certFile: string | undefined;
  keyFile: string | undefined;
}

export const NO_NATS_ACCESS: Readonly<NatsAccess> = Object.freeze({
  credsFile: undefined,
  caFile: undefined,
  certFile: undefined,
  keyFile: undefined,
});

/** A parsed server list: `nats://[user:password@|token@]host[:port]` or `tls://...`, comma-separated. */
export interface NatsServers {
  /** host:port of each server, without credentials. */
  servers: string[];
  user: string | undefined;
  pass: string | undefined;
  token: string | undefined;
  /** A tls:// URL asks for TLS. */
  tls: boolean;
  /** The list as messages show it: credentials masked. */
  display: string;
}

export const DEFAULT_NATS_PORT = 4222;
/** How often an edge with viewers says so. */
export const WATCH_INTERVAL_MS = 1000;
/** How long one such message keeps a capture node's camera running: three missed ones, and a margin. */
export const WATCH_TTL_MS = 3500;
/** Frames a publisher may have sent that its server has not yet confirmed (PING/PONG). */
export const PUBLISH_WINDOW = 4;
/** Frames a server may have on their way to one edge. */
export const EDGE_CREDITS = 2;

const SUBJECT_TOKEN = /^[^\s.*>]+$/;

/** The subject a camera's frames travel on: `framering.NAME` unless given. Throws ConfigError. */
export function cameraSubject(cameraName: string, subject: string | undefined, where: string): string {
  const s = subject ?? `framering.${cameraName}`;
  if (!s.split('.').every((token) => SUBJECT_TOKEN.test(token))) {
    throw new ConfigError(
      `invalid subject "${s}" (${where}): use tokens of letters, digits, - or _ separated by dots, without spaces, * or >`,
    );
  }
  return s;
}

/** Where edges say they are watching `subject`. */
export function watchingSubject(subject: string): string {
  return `${subject}.watching`;
}

/** Parses a NATS server list (`--publish`, or the nats camera's `--source`). Throws a ConfigError naming `flag`; never echoes credentials. */
export function parseNatsServers(value: string | undefined, flag: string): NatsServers {
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(`missing ${flag}: give the NATS server(s) as nats://HOST[:PORT][,nats://HOST[:PORT]...]`);
  }
  const servers: string[] = [];
  const shown: string[] = [];
  let user: string | undefined;
  let pass: string | undefined;
  let token: string | undefined;
  let tls = false;
  const entries = value.split(',').map((e) => e.trim());
  for (const [i, entry] of entries.entries()) {
    const masked = maskUrl(entry);
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new ConfigError(`invalid ${flag}: "${masked}" is not a URL (expected nats://HOST[:PORT] or tls://HOST[:PORT])`);
    }
    if (url.protocol !== 'nats:' && url.protocol !== 'tls:') {
      throw new ConfigError(`invalid ${flag}: "${masked}" is not a NATS URL (expected nats://HOST[:PORT] or tls://HOST[:PORT])`);
    }
    if (url.hostname === '' || (url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
      throw new ConfigError(`invalid ${flag}: "${masked}": expected nats://HOST[:PORT], without a path or query`);
    }
    if (url.protocol === 'tls:') tls = true;
    const u = url.username === '' ? undefined : decodeURIComponent(url.username);
    const p = url.password === '' ? undefined : decodeURIComponent(url.password);
    // The first URL with credentials gives them; a server list shares one account.
    if (u !== undefined && user === undefined && token === undefined) {
      if (p === undefined) token = u;
      else [user, pass] = [u, p];
    } else if (u !== undefined && (p === undefined ? u !== token : u !== user || p !== pass)) {
      throw new ConfigError(`invalid ${flag}: server ${i + 1} has other credentials than the first; one connection uses one account`);
    }
    const port = url.port === '' ? DEFAULT_NATS_PORT : Number(url.port);
    servers.push(`${url.hostname}:${port}`);
    shown.push(`${url.protocol}//${u !== undefined ? '***@' : ''}${url.hostname}:${port}`);
  }
  return { servers, user, pass, token, tls, display: shown.join(',') };
}

function readAccessFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`invalid ${flag} "${path}": cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * Checks the access files at start (main thread), so a typo is one line before anything runs,
 * not a reconnect loop later. Throws ConfigError.
 */
export function checkNatsAccess(access: NatsAccess): void {
  if ((access.certFile === undefined) !== (access.keyFile === undefined)) {
    throw new ConfigError(
      `invalid ${access.certFile === undefined ? '--nats-key' : '--nats-cert'}: a NATS client certificate needs both --nats-cert and --nats-key`,
    );
  }
  if (access.credsFile !== undefined) {
    const text = readAccessFile(access.credsFile, '--nats-creds').toString('utf8');
    if (!/-----BEGIN NATS USER JWT-----/.test(text) || !/-----BEGIN USER NKEY SEED-----/.test(text)) {
      throw new ConfigError(
        `invalid --nats-creds "${access.credsFile}": not a NATS credentials file (expected a user JWT and an NKey seed, as nsc writes them)`,
      );
    }
  }
  if (access.caFile !== undefined) readAccessFile(access.caFile, '--nats-ca');
  if (access.certFile !== undefined) readAccessFile(access.certFile, '--nats-cert');
  if (access.keyFile !== undefined) readAccessFile(access.keyFile, '--nats-key');
}

/**
 * Client settings for one connection. Reconnects forever, quickly, to any server of the list or
 * of the cluster the server announces: a capture node or edge outlives any one NATS server.
 */
export async function natsConnectionOptions(servers: NatsServers, access: NatsAccess, name: string): Promise<NodeConnectionOptions> {
  // Loaded here, not at the top: this module is part of every start (option parsing), the NATS
  // client only of those that use it.
  const { credsAuthenticator } = await import('@nats-io/transport-node');
  const useTls = servers.tls || access.caFile !== undefined || access.certFile !== undefined;
  return {
    servers: servers.servers,
    name,
    ...(servers.user !== undefined ? { user: servers.user, pass: servers.pass } : {}),
    ...(servers.token !== undefined ? { token: servers.token } : {}),
    ...(access.credsFile !== undefined ? { authenticator: credsAuthenticator(readAccessFile(access.credsFile, '--nats-creds')) } : {}),
    tls: useTls ? { caFile: access.caFile, certFile: access.certFile, keyFile: access.keyFile, ...ipIdentityCheck(servers) } : null,
    timeout: 5000,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    // A server that vanished without closing the connection (a cut link) is noticed within ~10 s.
    pingInterval: 5000,
    maxPingOut: 2,
  };
}

/**
 * The client names a server in TLS by its host name only; for a server given by IP address it
 * sends no name, and Node then checks the certificate against "localhost". With IP addresses in
 * the list, a certificate is accepted for any of them (the list is one trust domain: the servers
 * of one cluster), still signed by a trusted CA.
 */
function ipIdentityCheck(servers: NatsServers): { checkServerIdentity?: typeof checkServerIdentity } {
  const ips = servers.servers.map((s) => s.slice(0, s.lastIndexOf(':')).replace(/^\[|\]$/g, '')).filter((h) => isIP(h) !== 0);
  if (ips.length === 0) return {};
  return {
    checkServerIdentity: (host, cert) => {
      const err = checkServerIdentity(host, cert);
      return err === undefined || ips.some((ip) => checkServerIdentity(ip, cert) === undefined) ? undefined : err;
    },
  };
}

/** An error from the NATS client as one line (its messages can span several). */
export function natsErrorText(err: unknown): string {
  const e = err as { message?: string; code?: string };
  return String(e?.message ?? err).split('\n')[0]!;
}
