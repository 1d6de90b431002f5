/**
 * FrameFeed over a real FrameRing in this thread: the test publishes frames as the capture worker
 * would and sets the capture state; subscribers are plain objects that open a gate per frame.
 * The keepalive's one-second timer runs on node:test's mock clock, so nothing waits a second.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CaptureControl } from '../../src/core/capture-control.js';
import { FrameRing } from '../../src/core/ring.js';
import { type Frame, FrameFeed, type FrameSubscriber, KEEPALIVE_MS } from '../../src/stream/frame-feed.js';
import { fakeJpeg } from '../helpers/jpeg.js';

/** A subscriber that records what it gets; `next()` resolves at its next frame (a gate, not a sleep). */
class Recorder implements FrameSubscriber {
  readonly frames: Frame[] = [];
  readonly repeats: Frame[] = [];
  private waiting: (() => void) | null = null;

  onFrame(frame: Frame): void {
    this.frames.push(frame);
    this.waiting?.();
  }

  onRepeat(frame: Frame): void {
    this.repeats.push(frame);
  }

  /** Resolves once this subscriber has received `count` frames in all; rejects after 2 s. */
  until(count: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.frames.length} frames, waited for ${count}`)), 2000);
      const check = (): void => {
        if (this.frames.length < count) return;
        clearTimeout(timer);
        this.waiting = null;
        resolve();
      };
      this.waiting = check;
      check();
    });
  }
}

function setUp() {
  const ring = FrameRing.create({ slots: 4, slotBytes: 4096 });
  const control = new CaptureControl(ring.buffer);
  const feed = new FrameFeed(ring);
  let n = 0;
  /** Publishes a new JPEG-shaped frame, as the capture worker does; returns its seq. */
  const publish = (): number => ring.publish(fakeJpeg(100 + ++n, n), Date.now());
  return { ring, control, feed, publish };
}

// A gate that never opens fails the test at its timeout rather than hanging the run (the
// recorders' own deadlines do not run on the mock clock).
describe('FrameFeed', { timeout: 5000 }, () => {
  test('subscribe returns the current frame only while capture is running', (t) => {
    const { control, feed, publish } = setUp();
    t.after(() => feed.close());
    const seq = publish(); // a frame left in the ring by an earlier session
    control.setState('idle');
    assert.equal(feed.subscribe(new Recorder()), null, 'a stale frame from an idle camera');
    control.setState('starting');
    assert.equal(feed.subscribe(new Recorder()), null);
    control.setState('running');
    const current = feed.subscribe(new Recorder());
    assert.ok(current);
    assert.equal(current.seq, seq);
    // The part is the JPEG laid out for the stream; the JPEG view is the published bytes.
    assert.ok(current.jpeg.equals(fakeJpeg(101, 1)));
    assert.ok(current.part.includes(current.jpeg));
  });

  test('demand: one unit per subscriber, counted once each, released on unsubscribe', (t) => {
    const { control, feed } = setUp();
    t.after(() => feed.close());
    const a = new Recorder();
    const b = new Recorder();
    assert.equal(control.demand(), 0);
    feed.subscribe(a);
    feed.subscribe(a); // the same subscriber again: no second unit
    assert.equal(control.demand(), 1);
    feed.subscribe(b);
    assert.equal(control.demand(), 2);
    assert.equal(feed.subscriberCount, 2);
    feed.unsubscribe(a);
    feed.unsubscribe(a);
    assert.equal(control.demand(), 1);
    feed.unsubscribe(new Recorder()); // never subscribed
    assert.equal(control.demand(), 1);
    feed.unsubscribe(b);
    assert.equal(control.demand(), 0);
  });

  test('fan-out: each new frame reaches every subscriber once, and onFanout once', async (t) => {
    const { control, feed, publish } = setUp();
    t.after(() => feed.close());
    control.setState('running');
    const fanned: number[] = [];
    feed.onFanout = (f) => fanned.push(f.seq);
    const a = new Recorder();
    const b = new Recorder();
    feed.subscribe(a);
    feed.subscribe(b);
    const seqs: number[] = [];
    for (let i = 1; i <= 5; i++) {
      seqs.push(publish());
      await Promise.all([a.until(i), b.until(i)]);
    }
    assert.deepEqual(
      a.frames.map((f) => f.seq),
      seqs,
    );
    assert.deepEqual(
      b.frames.map((f) => f.seq),
      seqs,
    );
    assert.deepEqual(fanned, seqs);
    // One part buffer, shared by every subscriber.
    for (let i = 0; i < 5; i++) assert.equal(a.frames[i]!.part, b.frames[i]!.part);
    assert.equal(feed.latest?.seq, seqs.at(-1));
  });

  test('a frame already in the ring when a subscriber arrives is not fanned out again', async (t) => {
    const { control, feed, publish } = setUp();
    t.after(() => feed.close());
    control.setState('running');
    const first = publish();
    const a = new Recorder();
    assert.equal(feed.subscribe(a)?.seq, first);
    const second = publish();
    await a.until(1);
    assert.deepEqual(
      a.frames.map((f) => f.seq),
      [second],
    );
  });

  test('keepalive: after about a second without a new frame the last one is re-offered, then every second', async (t) => {
    const { control, feed, publish } = setUp();
    t.after(() => feed.close());
    t.mock.timers.enable({ apis: ['setTimeout'] });
    control.setState('running');
    const a = new Recorder();
    feed.subscribe(a);
    const seq = publish();
    await a.until(1);
    t.mock.timers.tick(KEEPALIVE_MS - 1);
    assert.equal(a.repeats.length, 0, 'no keepalive before the stall lasted a second');
    t.mock.timers.tick(1);
    assert.deepEqual(
      a.repeats.map((f) => f.seq),
      [seq],
    );
    t.mock.timers.tick(KEEPALIVE_MS);
    assert.deepEqual(
      a.repeats.map((f) => f.seq),
      [seq, seq],
    );
    // A new frame re-arms it: the next keepalive is a second after that frame.
    const next = publish();
    await a.until(2);
    t.mock.timers.tick(KEEPALIVE_MS - 1);
    assert.equal(a.repeats.length, 2);
    t.mock.timers.tick(1);
    assert.equal(a.repeats.at(-1)?.seq, next);
  });

  test('keepalive: a subscriber joining a camera that already stalled gets it too', (t) => {
    const { control, feed, publish } = setUp();
    t.after(() => feed.close());
    t.mock.timers.enable({ apis: ['setTimeout'] });
    control.setState('running');
    const seq = publish();
    const a = new Recorder();
    assert.equal(feed.subscribe(a)?.seq, seq);
    t.mock.timers.tick(KEEPALIVE_MS);
    assert.deepEqual(
      a.repeats.map((f) => f.seq),
      [seq],
    );
  });

  test('keepalive stops when the last subscriber leaves', async (t) => {
    const { control, feed, publish } = setUp();
    t.after(() => feed.close());
    t.mock.timers.enable({ apis: ['setTimeout'] });
    control.setState('running');
    const a = new Recorder();
    feed.subscribe(a);
    publish();
    await a.until(1);
    feed.unsubscribe(a);
    t.mock.timers.tick(3 * KEEPALIVE_MS);
    assert.equal(a.repeats.length, 0);
  });

  test('close: subscribers dropped and their demand released; later subscribes and frames do nothing; idempotent', async () => {
    const { control, feed, publish } = setUp();
    control.setState('running');
    const a = new Recorder();
    feed.subscribe(a);
    publish();
    await a.until(1);
    feed.close();
    feed.close();
    assert.equal(feed.subscriberCount, 0);
    assert.equal(control.demand(), 0);
    assert.equal(feed.subscribe(new Recorder()), null);
    assert.equal(control.demand(), 0);
    publish();
    // The frame would have arrived within a turn of the event loop; give it a few.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(a.frames.length, 1);
  });
  test('part buffers are reused once nobody holds them, never while a holder may still read them', async (t) => {
    const { control, feed, publish } = setUp();
    t.after(() => feed.close());
    control.setState('running');
    publish();
    const r = new Recorder();
    feed.subscribe(r);
    // A slow viewer holds every frame it gets: each must keep its own bytes.
    const held: Frame[] = [];
    for (let i = 0; i < 6; i++) {
      publish();
      await r.until(i + 1);
      const f = r.frames[i]!;
      f.retain();
      held.push(f);
    }
    const copies = held.map((f) => Buffer.from(f.part));
    publish();
    await r.until(7);
    for (const [i, f] of held.entries()) assert.ok(f.part.equals(copies[i]!), `held frame ${f.seq} was overwritten`);
    // Let go: from now on the feed cycles through a few buffers instead of allocating per frame.
    for (const f of held) f.release();
    const before = feed.pool.allocated;
    for (let i = 0; i < 10; i++) {
      publish();
      await r.until(8 + i);
    }
    assert.ok(feed.pool.allocated - before <= 1, `${feed.pool.allocated - before} new buffers for 10 frames`);
    // The newest frame is the feed's own hold, and intact.
    assert.ok(feed.latest!.jpeg.equals(r.frames.at(-1)!.jpeg));
  });
});
