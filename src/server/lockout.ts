/**
 * Brute-force lockout: after `attempts` failed credentials or signed links from one address
 * within `windowMs`, that address is refused (429) for `durationMs`. Only requests that carry
 * something to check count as failures (a browser's first request, without credentials, is not
 * one), and only new requests are refused: streams already admitted keep running.
 *
 * Memory is bounded: at most `maxTracked` addresses are remembered, and when a new one comes the
 * least recently seen is forgotten first. An attacker cycling through many addresses can thus
 * make the table forget a locked address early, but cannot grow it; nothing per address is
 * allocated beyond one small entry.
 *
 * The table is per HTTP thread: with --http-threads N, connections spread over N tables, so an
 * address may get up to N times `attempts` tries before every thread refuses it.
 */

import type { Logger } from '../core/log.js';

export interface LockoutOptions {
  /** Failures within the window that lock an address; 0 turns the lockout off. */
  attempts: number;
  windowMs: number;
  durationMs: number;
  /** Most addresses remembered at once. */
  maxTracked?: number;
}

export type FailureKind = 'basic' | 'link' | 'bearer';

interface Entry {
  /** When the current window of failures began. */
  since: number;
  failures: number;
  /** Refused until this time (ms since the epoch); 0 when not locked. */
  until: number;
}

const DEFAULT_MAX_TRACKED = 10_000;

export class Lockout {
  /** Failed attempts by kind, for /metrics. */
  readonly failures: Record<FailureKind, number> = { basic: 0, link: 0, bearer: 0 };
  /** Times an address was locked, for /metrics. */
  lockouts = 0;
  private readonly table = new Map<string, Entry>();
  private readonly maxTracked: number;

  constructor(
    private readonly o: LockoutOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.maxTracked = o.maxTracked ?? DEFAULT_MAX_TRACKED;
  }

  /** How long `address` must wait before trying again, ms; 0 if it may try now. */
  retryAfterMs(address: string): number {
    const e = this.table.get(address);
    if (e === undefined || e.until === 0) return 0;
    const left = e.until - this.now();
    if (left > 0) return left;
    this.table.delete(address); // the lockout is over: a fresh start
    return 0;
  }

  /** Records a failed attempt from `address`; locks it (and logs once) when it reaches the limit. */
  fail(address: string, kind: FailureKind): void {
    this.failures[kind]++;
    const now = this.now();
    let e = this.table.get(address);
    if (e !== undefined) this.table.delete(address); // re-inserted below: the newest at the end
    if (e === undefined || now - e.since > this.o.windowMs) e = { since: now, failures: 0, until: 0 };
    e.failures++;
    if (e.until === 0 && e.failures >= this.o.attempts) {
      e.until = now + this.o.durationMs;
      this.lockouts++;
      this.log.warn(
        `${e.failures} failed attempts from ${address} within ${this.o.windowMs / 1000} s: refused for ${this.o.durationMs / 1000} s`,
      );
    }
    this.table.set(address, e);
    // Over the bound: forget the least recently seen (the Map keeps insertion order).
    if (this.table.size > this.maxTracked) this.table.delete(this.table.keys().next().value!);
  }

  /** A good credential from `address` clears its failures (not a lockout in force). */
  succeed(address: string): void {
    const e = this.table.get(address);
    if (e !== undefined && e.until === 0) this.table.delete(address);
  }

  /** Addresses refused right now. */
  lockedNow(): number {
    const now = this.now();
    let n = 0;
    for (const e of this.table.values()) if (e.until > now) n++;
    return n;
  }

  /** Addresses remembered (locked or with recent failures). */
  get tracked(): number {
    return this.table.size;
  }
}
