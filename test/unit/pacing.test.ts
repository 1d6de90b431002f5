/**
 * Pacing for sources without a clock of their own (files, emulated, synthetic): the first frame
 * at once, then one per interval on a fixed schedule, ended by the session's abort or by the
 * consumer's break, with no timer left behind either way.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { paced, ticks } from '../../src/drivers/pacing.js';

describe('paced', () => {
  test('maps tick numbers to values: the first at once, then one per interval', async () => {
    const ac = new AbortController();
    const frames = ['a', 'b', 'c'];
    // 10 fps: intervals long enough that a loaded machine's timer lateness cannot blur them.
    const it = paced(10, ac.signal, (n) => frames[n % frames.length]!);
    const t0 = performance.now();
    const got: string[] = [];
    const at: number[] = [];
    for await (const v of it) {
      got.push(v);
      at.push(performance.now() - t0);
      if (got.length === 5) break;
    }
    assert.deepEqual(got, ['a', 'b', 'c', 'a', 'b']);
    // At once: well before the first interval (100 ms) is up.
    assert.ok(at[0]! < 50, `the first value came after ${at[0]} ms`);
    // A fixed schedule: the fifth value is due 4 intervals (400 ms) after the first, not later
    // by the sum of every timer's lateness.
    assert.ok(at[4]! >= 395, `fifth value at ${at[4]} ms`);
    assert.ok(at[4]! < 400 + 80, `fifth value at ${at[4]} ms`);
  });

  test("an abort rejects the pending wait with the signal's reason, and every later next()", async () => {
    const ac = new AbortController();
    const it = ticks(1, ac.signal); // one a second: the second tick waits
    assert.deepEqual(await it.next(), { done: false, value: 0 });
    const pending = it.next();
    ac.abort(new Error('stop'));
    await assert.rejects(pending, /stop/);
    await assert.rejects(it.next(), /stop/);
  });

  test('return() (a consumer breaking out) ends it: done from then on, no timer keeps the process', async () => {
    const ac = new AbortController();
    const it = ticks(1, ac.signal);
    await it.next();
    const pending = it.next(); // a timer 1 s out
    assert.deepEqual(await it.return(), { done: true, value: undefined });
    assert.deepEqual(await it.next(), { done: true, value: undefined });
    // The pending wait was dropped with its timer: it never settles, and the test ends at once.
    const settled = await Promise.race([pending.then(() => true), new Promise((r) => setTimeout(() => r(false), 30))]);
    assert.equal(settled, false);
  });

  test('a consumer more than an interval behind is not given a burst to catch up', async () => {
    const ac = new AbortController();
    const it = ticks(100, ac.signal); // 10 ms
    await it.next();
    await new Promise((r) => setTimeout(r, 60)); // six intervals late
    await it.next(); // due long ago: at once, and the schedule restarts from now
    const t = performance.now();
    await it.next();
    assert.ok(performance.now() - t >= 5, 'the next one waited for its interval instead of following at once');
    ac.abort();
  });
});
