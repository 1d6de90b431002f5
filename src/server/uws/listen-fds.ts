/**
 * The descriptors of this process's listening TCP sockets on a port. uWebSockets.js does not
 * expose its sockets' descriptors, and framering needs them once after listening, to set a
 * socket option (send-queue.ts). Linux: /proc/net/tcp{,6} names each listening socket's inode,
 * and /proc/self/fd maps descriptors to inodes. Where /proc does not show them (a sandbox may
 * mount another /proc), every listening socket among the low descriptors is taken instead: the
 * process listens only on its HTTP port. Elsewhere it finds nothing.
 */

import { fstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { isListeningSocket } from '../send-queue.js';

/** Descriptors the fallback scan looks at: listening sockets are opened early, so they are low. */
const SCAN_FDS = 4096;

const LISTEN = '0A'; // TCP_LISTEN in /proc/net/tcp's "st" column

/** Inodes of listening sockets on `port`, from /proc/net/tcp and tcp6. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      if (f.length > 9 && f[3] === LISTEN && f[1]!.endsWith(`:${hexPort}`)) inodes.add(f[9]!);
    }
  }
  return inodes;
}

/** Descriptors of this process's sockets listening on TCP `port`. */
export function listeningFds(port: number): number[] {
  if (process.platform !== 'linux') return [];
  const fds = fromProc(port);
  return fds.length > 0 ? fds : scanListening();
}

function fromProc(port: number): number[] {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return [];
  const fds: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  for (const name of entries) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${name}`));
      if (m && inodes.has(m[1]!)) fds.push(Number(name));
    } catch {
      // closed meanwhile
    }
  }
  return fds;
}

/** Every listening socket among the first SCAN_FDS descriptors. */
export function scanListening(): number[] {
  const fds: number[] = [];
  for (let fd = 0; fd < SCAN_FDS; fd++) {
    try {
      if (fstatSync(fd).isSocket() && isListeningSocket(fd)) fds.push(fd);
    } catch {
      // not open
    }
  }
  return fds;
}
