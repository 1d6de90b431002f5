/**
 * The capture worker's player for ready-made frames: it sleeps between frames in Atomics.wait
 * (on DEMAND) rather than on an event-loop timer, so what must still hold is that frames come at
 * the source's rate, a viewer count change or an abort takes effect at once, and the thread's
 * event loop (messages, the idle watch, timers) gets a turn at least every SLICE_MS.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { playStills, SLICE_MS } from '../../src/capture/stills.js';
import { CaptureControl } from '../../src/core/capture-control.js';
import { FrameRing } from '../../src/core/ring.js';
import { kDemand } from '../../src/core/ring-layout.js';

function setUp(demand: number) {
  const ring = FrameRing.create({ slots: 4, slotBytes: 1024 });
  const control = new CaptureControl(ring.buffer);
  control.addDemand(demand);
  const frames = [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)];
  const stills = { fps: 50, frame: (n: number) => frames[n % frames.length]! };
  return { ring, control, stills };
}

describe('playStills', () => {
  test('frames in order at the source rate, the first at once, until the abort', async () => {
    const { control, stills } = setUp(1);
    const ac = new AbortController();
    const got: number[] = [];
    const at: number[] = [];
    const t0 = performance.now();
    await playStills(stills, ac.signal, control, (jpeg) => {
      got.push(jpeg[0]!);
      at.push(performance.now() - t0);
      if (got.length === 11) ac.abort();
    });
    assert.deepEqual(got, [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2]);
    assert.ok(at[0]! < 15, `first frame after ${at[0]} ms`);
    // 10 intervals of 20 ms on a fixed schedule.
    assert.ok(at[10]! >= 195 && at[10]! < 260, `eleventh frame at ${at[10]} ms`);
  });

  test('the event loop gets a turn at least every SLICE_MS while viewers watch', async () => {
    const { control, stills } = setUp(1);
    const ac = new AbortController();
    const ticks: number[] = [];
    const t0 = performance.now();
    const timer = setInterval(() => ticks.push(performance.now() - t0), 5);
    await playStills(stills, ac.signal, control, () => {
      if (performance.now() - t0 > 1000) ac.abort();
    });
    clearInterval(timer);
    const gaps = ticks.map((t, i) => t - (ticks[i - 1] ?? 0));
    assert.ok(Math.max(...gaps) < SLICE_MS + 60, `the event loop waited up to ${Math.max(...gaps).toFixed(0)} ms for a turn`);
    assert.ok(ticks.length >= 1000 / (SLICE_MS + 60), `${ticks.length} turns in a second`);
  });

  test('a viewer count change ends the sleep at once, and the event loop sees it', async () => {
    const { ring, control, stills } = setUp(1);
    const ac = new AbortController();
    // 180 ms between frames: slept through in one Atomics.wait (shorter than a slice).
    const slow = { fps: 5.5, frame: stills.frame };
    const changedAt = new Float64Array(new SharedArrayBuffer(8));
    let seenAt = 0;
    // A viewer joins in another thread (as an HTTP thread's addDemand does) while this one sleeps.
    const other = new Worker(
      `const { workerData } = require('node:worker_threads');
       const h = new Int32Array(workerData.buffer);
       const at = new Float64Array(workerData.at);
       setTimeout(() => { at[0] = Date.now(); Atomics.add(h, workerData.index, 1); Atomics.notify(h, workerData.index); }, 60);`,
      { eval: true, workerData: { buffer: ring.buffer, at: changedAt.buffer, index: kDemand } },
    );
    const watcher = control.waitForDemandChange(1, 3000);
    void watcher?.then(() => {
      seenAt = Date.now();
      ac.abort();
    });
    await playStills(slow, ac.signal, control, () => {});
    await other.terminate();
    assert.equal(control.demand(), 2);
    assert.ok(changedAt[0]! > 0 && seenAt >= changedAt[0]!);
    // Without the wake-up the change would wait for the end of the 180 ms sleep.
    assert.ok(seenAt - changedAt[0]! < 40, `the change was seen ${seenAt - changedAt[0]!} ms after it happened`);
  });

  test('with no viewer (the idle countdown) frames go on, paced on the event loop', async () => {
    const { control, stills } = setUp(0);
    const ac = new AbortController();
    let frames = 0;
    let turns = 0;
    const timer = setInterval(() => turns++, 1);
    await playStills(stills, ac.signal, control, () => {
      if (++frames === 10) ac.abort();
    });
    clearInterval(timer);
    assert.equal(frames, 10);
    assert.ok(turns >= 20, `only ${turns} event-loop turns over 10 frames`);
  });
});
