/**
 * The Host check against DNS rebinding (--allowed-hosts).
 *
 * The attack: a page on evil.example, opened by anyone on the camera's network, makes its own
 * name resolve to the camera's LAN address (a short DNS TTL, then a second answer). The browser
 * still counts the page and the camera as one origin, evil.example, so the page's scripts may
 * read /snapshot, /video_feed and /status through the victim's browser, which reaches what the
 * attacker cannot. What gives it away is the Host header: the browser sends the name it looked
 * up, evil.example. So a request is served only when its Host names this server.
 *
 * Every IP address literal is accepted: a Host that is an address means the browser's URL was
 * that address, and a page can only be same-origin with it by being served from it (from this
 * server); no DNS answer is involved, so nothing can be rebound. That also keeps working what
 * reaches the server by an address it cannot know: a port forwarded by a router or by Docker,
 * another network namespace, a proxy that forwards the address it was called by.
 */

import { isIP } from 'node:net';

/** The host part of a Host header, lower case, without the port, IPv6 without brackets; null if it is not one. */
export function hostOf(header: string): string | null {
  const h = header.trim().toLowerCase();
  let host: string;
  let rest: string;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return null;
    host = h.slice(1, end);
    if (isIP(host) !== 6) return null;
    rest = h.slice(end + 1);
  } else {
    const colon = h.indexOf(':');
    host = colon < 0 ? h : h.slice(0, colon);
    rest = colon < 0 ? '' : h.slice(colon);
  }
  if (rest !== '' && !/^:[0-9]{1,5}$/.test(rest)) return null;
  // A trailing dot names the same host (an absolute name): "camera.local." is "camera.local".
  if (host.endsWith('.') && !host.endsWith('..')) host = host.slice(0, -1);
  if (isIP(host) !== 0) return host;
  return NAME_RE.test(host) ? host : null;
}

// Letters, digits, hyphens and underscores (some LAN names have them) in dot-separated labels.
const NAME_RE = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/**
 * One --allowed-hosts entry, normalised (lower case, no trailing dot, IPv6 without brackets): a
 * name, `*.example.org` (any name under example.org) or an address. Null if it is none of them.
 */
export function allowedHostEntry(raw: string): string | null {
  const s = raw.trim().toLowerCase();
  const bare = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
  if (isIP(bare) !== 0) return bare;
  // A port or a scheme is a common slip (the option names hosts, not URLs): refuse it.
  if (s.includes(':') || s.includes('/')) return null;
  if (s.startsWith('*.')) {
    const under = hostOf(s.slice(2));
    return under !== null && isIP(under) === 0 ? `*.${under}` : null;
  }
  return hostOf(s);
}

export class HostCheck {
  private readonly names: ReadonlySet<string>;
  /** ".example.org" for each "*.example.org". */
  private readonly suffixes: readonly string[];

  /** `allowed`: normalised names (allowedHostEntry); addresses are always allowed. */
  constructor(allowed: readonly string[]) {
    this.names = new Set(allowed.filter((a) => !a.startsWith('*.')));
    this.suffixes = allowed.filter((a) => a.startsWith('*.')).map((a) => a.slice(1));
  }

  /**
   * Whether a request with this Host header may be served. A request without one is (HTTP/1.0
   * has none; node:http refuses an HTTP/1.1 request without it, and browsers always send one).
   */
  allows(header: string | undefined): boolean {
    // uWS cannot tell an empty Host from none; node:http can, and is made to agree.
    if (header === undefined || header === '') return true;
    const host = hostOf(header);
    if (host === null) return false;
    if (isIP(host) !== 0 || this.names.has(host)) return true;
    return this.suffixes.some((s) => host.endsWith(s));
  }
}
