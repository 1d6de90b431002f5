/**
 * The brute-force lockout on a made-up clock: N failures within the window lock an address for
 * the duration, logged once; other addresses and old failures do not count; a good credential
 * clears failures; memory stays bounded however many addresses try.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from '../../src/core/log.js';
import { Lockout } from '../../src/server/lockout.js';

function setup(maxTracked?: number) {
  let now = 1_000_000;
  const warnings: string[] = [];
  const log: Logger = { debug: () => {}, info: () => {}, warn: (m) => warnings.push(m), error: () => {} };
  const lockout = new Lockout({ attempts: 3, windowMs: 60_000, durationMs: 300_000, maxTracked }, log, () => now);
  return { lockout, warnings, advance: (ms: number) => (now += ms) };
}

describe('lockout', () => {
  it('the Nth failure within the window locks the address for the duration, logged once', () => {
    const { lockout, warnings, advance } = setup();
    lockout.fail('10.0.0.1', 'basic');
    lockout.fail('10.0.0.1', 'link');
    assert.equal(lockout.retryAfterMs('10.0.0.1'), 0);
    lockout.fail('10.0.0.1', 'basic');
    assert.equal(lockout.retryAfterMs('10.0.0.1'), 300_000);
    assert.equal(lockout.retryAfterMs('10.0.0.2'), 0, 'another address is not affected');
    lockout.fail('10.0.0.1', 'basic'); // more failures while locked: still one lockout, one line
    assert.deepEqual(warnings, ['3 failed attempts from 10.0.0.1 within 60 s: refused for 300 s']);
    assert.deepEqual([lockout.lockouts, lockout.failures.basic, lockout.failures.link, lockout.lockedNow()], [1, 3, 1, 1]);
    advance(299_000);
    assert.equal(lockout.retryAfterMs('10.0.0.1'), 1000);
    advance(1000);
    assert.equal(lockout.retryAfterMs('10.0.0.1'), 0);
    assert.equal(lockout.lockedNow(), 0);
    // A fresh start after the lockout: one failure does not lock again.
    lockout.fail('10.0.0.1', 'basic');
    assert.equal(lockout.retryAfterMs('10.0.0.1'), 0);
  });

  it('failures spread wider than the window, or cleared by a success, do not lock', () => {
    const { lockout, advance } = setup();
    lockout.fail('10.0.0.1', 'basic');
    lockout.fail('10.0.0.1', 'basic');
    advance(61_000);
    lockout.fail('10.0.0.1', 'basic');
    assert.equal(lockout.retryAfterMs('10.0.0.1'), 0);
    lockout.fail('10.0.0.3', 'basic');
    lockout.fail('10.0.0.3', 'basic');
    lockout.succeed('10.0.0.3');
    lockout.fail('10.0.0.3', 'basic');
    assert.equal(lockout.retryAfterMs('10.0.0.3'), 0);
  });

  it('an attacker cycling addresses cannot grow the table past its bound', () => {
    const { lockout } = setup(1000);
    for (let i = 0; i < 50_000; i++) lockout.fail(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 'basic');
    assert.equal(lockout.tracked, 1000);
    assert.equal(lockout.failures.basic, 50_000);
  });
});
