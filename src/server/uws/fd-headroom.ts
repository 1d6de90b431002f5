/**
 * Stops a uWebSockets.js listener from accepting before the process runs out of file
 * descriptors, and starts it again once enough are free.
 *
 * Why: when accept() fails with EMFILE, uSockets (under uWebSockets.js 20.30) just returns to its
 * loop ("Todo: start timer here" in uSockets' loop.c). The listen socket stays readable
 * (level-triggered epoll), so the loop retries accept() at once, forever: 100% of a core for as
 * long as one connection waits in the backlog, and those connections hang there unanswered.
 * Measured with `prlimit --nofile=128` and 228 clients: one core busy until the clients left.
 * node:http does not need this: libuv keeps a spare descriptor, and on EMFILE closes it, accepts
 * and closes the waiting connections, and reopens it (its "EMFILE trick").
 *
 * The guard reads how many descriptors the process has open (Linux /proc; elsewhere it does
 * nothing) once a second, ten times a second when close to the limit. It closes the listen socket
 * while fewer than `reserve` are left (connections in the backlog are reset, new ones refused at
 * once, which a client can retry), so the limit is never reached by connections and the
 * descriptors the rest of the server needs now and then (a capture worker, a camera tool's pipes,
 * a relay's socket) stay available; it listens again once twice as many are free.
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { Logger } from '../../core/log.js';

const FD_DIR = '/proc/self/fd';
const SLOW_CHECK_MS = 1000;
const FAST_CHECK_MS = 100;

/** Open descriptors of this process; null where /proc is not available. */
export function openDescriptors(): number | null {
  try {
    // Linux 6.2 and later report the count as the directory's size; older kernels say 0.
    const size = statSync(FD_DIR).size;
    return size > 0 ? size : readdirSync(FD_DIR).length;
  } catch {
    return null;
  }
}

/** The soft limit on open descriptors (RLIMIT_NOFILE); null if unknown or unlimited. */
export function descriptorLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export interface Listener {
  /** Stops accepting (closes the listen socket). */
  stop(): void;
  /** Listens again; false if that failed (it is retried at the next check). */
  start(): boolean;
}

export interface HeadroomGuard {
  /** Stops watching; does not touch the listener. */
  close(): void;
}

/** Watches the process's descriptors for `listener`; see the top of this file. */
export function guardDescriptorHeadroom(listener: Listener, log: Logger, limit = descriptorLimit()): HeadroomGuard {
  const openNow = openDescriptors();
  if (limit === null || openNow === null) return { close() {} };
  // 8% of the limit, at least 16 (a few connections' worth of everything else) and at most 64;
  // less under a limit so low that this would leave no room for connections at all.
  const reserve = Math.max(1, Math.min(64, Math.max(16, Math.floor(limit / 12)), Math.floor((limit - openNow) / 4)));
  const stopAt = limit - reserve;
  const resumeAt = limit - 2 * reserve;
  let accepting = true;
  let startFailed = false;
  let timer: NodeJS.Timeout | null = null;

  const check = (): void => {
    const open = openDescriptors() ?? 0;
    if (accepting && open >= stopAt) {
      accepting = false;
      listener.stop();
      log.warn(
        `${open} of ${limit} file descriptors open: not accepting connections until at most ${resumeAt} are (raise the limit with ulimit -n)`,
      );
    } else if (!accepting && open <= resumeAt) {
      if (listener.start()) {
        accepting = true;
        startFailed = false;
        log.info(`${open} of ${limit} file descriptors open: accepting connections again`);
      } else if (!startFailed) {
        startFailed = true; // said once; retried at every check
        log.error('cannot listen again (the port was taken meanwhile?); retrying');
      }
    }
    // Close to the limit, a burst of connections takes the rest within a second.
    timer = setTimeout(check, !accepting || open >= limit - 4 * reserve ? FAST_CHECK_MS : SLOW_CHECK_MS);
    timer.unref();
  };
  check();
  return {
    close() {
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
