/**
 * Keeps a slow viewer's frames fresh by bounding what the kernel queues for it.
 *
 * Each viewer gets the newest frame once its last one has left framering. But "left framering"
 * means "taken by the kernel", and Linux autotunes a TCP send buffer up to 4 MB: on a link slower
 * than the stream, the kernel fills with old frames, and a viewer reading 240 KB/s of a 630 KB/s
 * stream was measured 9-12 s behind while framering dutifully skipped frames. TCP_NOTSENT_LOWAT
 * makes the kernel take no more than this many bytes that it has not sent yet, so backpressure
 * shows after a frame or two and the viewer skips to the newest frame instead of queueing old
 * ones. Set on the listening socket, it is inherited by every accepted connection (checked on
 * Linux), so it costs nothing per frame.
 *
 * Neither uWebSockets.js nor node:net can set a socket option, so the one call goes through the
 * `sockopt` package (an optional dependency with prebuilt binaries). Where it cannot load, or on
 * other systems, the server still runs and says once that slow viewers may fall behind.
 */

import { createRequire } from 'node:module';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';

const IPPROTO_TCP = 6;
/** Linux's TCP_NOTSENT_LOWAT (include/uapi/linux/tcp.h). */
const TCP_NOTSENT_LOWAT = 25;
/** Linux's SOL_SOCKET and SO_ACCEPTCONN (include/uapi/asm-generic/socket.h). */
const SOL_SOCKET = 1;
const SO_ACCEPTCONN = 30;

interface Sockopt {
  setsockopt(socket: { _handle: { fd: number } }, level: number, name: number, value: number): void;
  getsockopt(socket: { _handle: { fd: number } }, level: number, name: number): number;
}

let loaded: Sockopt | Error | null = null;

function sockopt(): Sockopt | Error {
  if (loaded === null) {
    try {
      loaded = createRequire(import.meta.url)('sockopt') as Sockopt;
    } catch (err) {
      loaded = new Error(`the sockopt module cannot load (${describeError(err)})`);
    }
  }
  return loaded;
}

/** The reason the limit cannot be applied here, or null if it can. */
export function sendQueueUnavailable(): string | null {
  if (process.platform !== 'linux') return `TCP_NOTSENT_LOWAT is Linux only (this is ${process.platform})`;
  const s = sockopt();
  return s instanceof Error ? s.message : null;
}

/**
 * Limits the unsent bytes the kernel queues per connection on each listening socket `fd` (its
 * accepted connections inherit it). `bytes` 0 leaves the kernel's default. Logs one line and
 * returns false where it cannot.
 */
export function limitSendQueue(fds: readonly number[], bytes: number, log: Logger): boolean {
  if (bytes <= 0) return true;
  const s = sockopt();
  let why = sendQueueUnavailable();
  if (why === null && !(s instanceof Error)) {
    if (fds.length === 0) why = 'the listening socket was not found';
    try {
      // sockopt takes a socket-like object and reads its descriptor from `_handle.fd`.
      for (const fd of fds) {
        s.setsockopt({ _handle: { fd } }, IPPROTO_TCP, TCP_NOTSENT_LOWAT, bytes);
        // Read back: a limit that silently did not take would only show as stale frames.
        const now = s.getsockopt({ _handle: { fd } }, IPPROTO_TCP, TCP_NOTSENT_LOWAT);
        if (now !== bytes) why = `descriptor ${fd} reports ${now} bytes after setting ${bytes}`;
      }
    } catch (err) {
      why = describeError(err);
    }
  }
  if (why === null) return true;
  log.warn(`cannot limit viewers' send queues (--send-queue): ${why}; viewers on slow links may get old frames`);
  return false;
}

/**
 * Whether descriptor `fd` is a listening socket (SO_ACCEPTCONN); false where that cannot be
 * told. Lets listen-fds.ts find uWebSockets.js's sockets where /proc does not show them.
 */
export function isListeningSocket(fd: number): boolean {
  const s = sockopt();
  if (s instanceof Error) return false;
  try {
    return s.getsockopt({ _handle: { fd } }, SOL_SOCKET, SO_ACCEPTCONN) === 1;
  } catch {
    return false;
  }
}

/** The limit on a listening socket, for tests and `framering doctor`; null where unknown. */
export function sendQueueLimit(fd: number): number | null {
  const s = sockopt();
  if (process.platform !== 'linux' || s instanceof Error) return null;
  try {
    return s.getsockopt({ _handle: { fd } }, IPPROTO_TCP, TCP_NOTSENT_LOWAT);
  } catch {
    return null;
  }
}
