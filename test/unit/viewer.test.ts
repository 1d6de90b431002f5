/**
 * Viewer: the per-client frame policy every front end shares, driven without a socket. A fake
 * transport says whether each part went out whole (or stays "in flight" until drained()); a fake
 * feed hands frames over with the arrival time the viewer reads instead of the clock, so the fps
 * cap and the slow-client timeout are checked on exact times, not measured.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Frame, FrameFeed, FrameSubscriber } from '../../src/stream/frame-feed.js';
import { type StreamTransport, Viewer, type ViewerInfo } from '../../src/stream/viewer.js';

/** A frame whose retain()/release() count, so a test can see whether the viewer holds it. */
type CountedFrame = Frame & { holds: number };

function frame(seq: number): CountedFrame {
  const jpeg = Buffer.from([0xff, 0xd8, seq & 0xff, 0xff, 0xd9]);
  const f: CountedFrame = {
    seq,
    captureTime: Date.now(),
    part: Buffer.concat([Buffer.from(`part ${seq}\r\n`), jpeg]),
    jpeg,
    holds: 0,
    retain() {
      f.holds++;
    },
    release() {
      f.holds--;
    },
  };
  return f;
}

/** Stands in for FrameFeed: what Viewer reads of it (subscribe, unsubscribe, latest, lastFrameAt). */
class FakeFeed {
  latest: Frame | null = null;
  lastFrameAt = 0;
  /** What subscribe() returns: the current frame while capture runs, else null. */
  current: Frame | null = null;
  readonly subscribers = new Set<FrameSubscriber>();
  unsubscribes = 0;

  subscribe(s: FrameSubscriber): Frame | null {
    this.subscribers.add(s);
    return this.current;
  }

  unsubscribe(s: FrameSubscriber): void {
    this.subscribers.delete(s);
    this.unsubscribes++;
  }

  /** A new frame arrives at `at` (performance.now() ms) and goes to every subscriber. */
  deliver(f: Frame, at: number): void {
    this.latest = f;
    this.lastFrameAt = at;
    for (const s of this.subscribers) s.onFrame(f);
  }
}

/** Records every part; `whole` false keeps a part in flight until the test calls viewer.drained(). */
class FakeTransport implements StreamTransport {
  readonly sent: Buffer[] = [];
  whole = true;
  closes = 0;

  send(part: Buffer): boolean {
    this.sent.push(part);
    return this.whole;
  }

  close(): void {
    this.closes++;
  }
}

function setUp(info: Partial<ViewerInfo> = {}) {
  const feed = new FakeFeed();
  const transport = new FakeTransport();
  const finished: Viewer[] = [];
  const viewer = new Viewer(
    { camera: 'default', path: '/video_feed', remoteAddress: '127.0.0.1', maxFps: 0, slowTimeoutMs: 0, ...info },
    feed as unknown as FrameFeed,
    transport,
    (v) => finished.push(v),
  );
  /** The seq of each part sent, in order. */
  const sentSeqs = () => transport.sent.map((p) => Number(/^part (\d+)/.exec(p.toString('latin1'))?.[1]));
  return { feed, transport, viewer, finished, sentSeqs };
}

const T0 = 1_000_000; // ms, a performance.now() reading far from 0

describe('Viewer', () => {
  test('start: the current frame at once while capture runs, nothing when the feed has none', () => {
    const running = setUp();
    running.feed.current = frame(7);
    running.viewer.start();
    assert.deepEqual(running.sentSeqs(), [7]);
    // The same frame arriving through the feed as well is not sent twice.
    running.feed.deliver(running.feed.current, T0);
    assert.deepEqual(running.sentSeqs(), [7]);

    const idle = setUp();
    idle.viewer.start();
    assert.equal(idle.transport.sent.length, 0);
    assert.equal(idle.feed.subscribers.size, 1);
  });

  test('one frame in flight: frames arriving while the transport is busy are skipped and counted', () => {
    const { feed, transport, viewer, sentSeqs } = setUp();
    viewer.start();
    transport.whole = false;
    feed.deliver(frame(1), T0);
    feed.deliver(frame(2), T0 + 33);
    feed.deliver(frame(3), T0 + 66);
    assert.deepEqual(sentSeqs(), [1]);
    assert.equal(viewer.framesSkipped, 2);
    assert.equal(viewer.framesSent, 1);
  });

  test('on drain the viewer gets the newest frame, not the ones it missed; nothing when there is none newer', () => {
    const { feed, transport, viewer, sentSeqs } = setUp();
    viewer.start();
    transport.whole = false;
    feed.deliver(frame(1), T0);
    feed.deliver(frame(2), T0 + 33);
    feed.deliver(frame(3), T0 + 66);
    transport.whole = true;
    viewer.drained();
    assert.deepEqual(sentSeqs(), [1, 3]);
    viewer.drained(); // nothing newer than 3
    assert.deepEqual(sentSeqs(), [1, 3]);
    feed.deliver(frame(4), T0 + 100);
    assert.deepEqual(sentSeqs(), [1, 3, 4]);
    assert.equal(
      viewer.bytesSent,
      transport.sent.reduce((n, p) => n + p.length, 0),
    );
  });

  test('holds the frame its transport is still sending until drained or gone, and nothing it sent whole', () => {
    const { feed, transport, viewer } = setUp();
    viewer.start();
    const whole = frame(1);
    feed.deliver(whole, T0);
    assert.equal(whole.holds, 0, 'a part that went out whole is not held');
    transport.whole = false;
    const stuck = frame(2);
    feed.deliver(stuck, T0 + 33);
    assert.equal(stuck.holds, 1, 'the part in flight is held: its buffer must not be reused');
    const skipped = frame(3);
    feed.deliver(skipped, T0 + 66);
    assert.equal(skipped.holds, 0);
    viewer.drained(); // sends 3, still not whole
    assert.equal(stuck.holds, 0);
    assert.equal(skipped.holds, 1);
    viewer.finish(); // the connection ended with 3 in flight
    assert.equal(skipped.holds, 0);
  });

  test('?fps=10 on a 30 fps feed: every third frame, skipped frames counted as capped, not as lag', () => {
    const { feed, viewer, sentSeqs } = setUp({ maxFps: 10 });
    viewer.start();
    for (let i = 0; i < 30; i++) feed.deliver(frame(i + 1), T0 + (i * 1000) / 30);
    assert.deepEqual(sentSeqs(), [1, 4, 7, 10, 13, 16, 19, 22, 25, 28]);
    assert.equal(viewer.framesCapped, 20);
    assert.equal(viewer.framesSkipped, 0);
  });

  // Regression: the schedule restarted at the first frame's own time, so the very next frame was
  // let through at once: two frames back to back at the start of every capped stream.
  test('?fps=N: no two frames back to back at the start of the stream', () => {
    const { feed, viewer, sentSeqs } = setUp({ maxFps: 2 });
    viewer.start();
    feed.deliver(frame(1), T0);
    feed.deliver(frame(2), T0 + 1);
    feed.deliver(frame(3), T0 + 100);
    assert.deepEqual(sentSeqs(), [1]);
    // The first frame restarts the schedule 0.9 interval ahead, and a frame up to 0.1 interval
    // early is let through (source jitter): the second frame goes from 0.8 interval on, not before.
    feed.deliver(frame(4), T0 + 390);
    assert.deepEqual(sentSeqs(), [1]);
    feed.deliver(frame(5), T0 + 410);
    assert.deepEqual(sentSeqs(), [1, 5]);
  });

  test('?fps=N equal to the source rate: jitter does not halve it', () => {
    const { feed, viewer } = setUp({ maxFps: 10 });
    viewer.start();
    for (let i = 0; i < 20; i++) feed.deliver(frame(i + 1), T0 + i * 100 + (i % 2 === 0 ? 4 : -4));
    assert.equal(viewer.framesSent, 20);
  });

  test('keepalive: onRepeat sends the same frame again and counts it; a busy viewer skips it without counting lag', () => {
    const { feed, transport, viewer, sentSeqs } = setUp();
    viewer.start();
    const f = frame(1);
    feed.deliver(f, T0);
    viewer.onRepeat(f);
    viewer.onRepeat(f);
    assert.deepEqual(sentSeqs(), [1, 1, 1]);
    assert.equal(viewer.framesRepeated, 2);
    assert.equal(viewer.framesSent, 3);
    transport.whole = false;
    viewer.onRepeat(f); // goes out, stays in flight
    viewer.onRepeat(f); // busy: dropped
    assert.equal(transport.sent.length, 4);
    assert.equal(viewer.framesSkipped, 0);
  });

  test('a frame in flight longer than the slow-client timeout disconnects the viewer, once', () => {
    const { feed, transport, viewer, finished } = setUp({ slowTimeoutMs: 500 });
    viewer.start();
    transport.whole = false;
    feed.deliver(frame(1), T0);
    feed.deliver(frame(2), T0 + 400);
    assert.equal(viewer.disconnectedSlow, false);
    assert.equal(transport.closes, 0);
    feed.deliver(frame(3), T0 + 501);
    assert.equal(viewer.disconnectedSlow, true);
    assert.equal(transport.closes, 1);
    assert.deepEqual(finished, [viewer]);
    assert.equal(feed.subscribers.size, 0);
    // Later frames and a late drain do nothing.
    feed.deliver(frame(4), T0 + 600);
    viewer.drained();
    assert.equal(transport.sent.length, 1);
    assert.equal(transport.closes, 1);
  });

  test('the slow-client timeout is also checked on keepalives (a stalled camera sends no new frames)', () => {
    const { feed, transport, viewer } = setUp({ slowTimeoutMs: 500 });
    viewer.start();
    transport.whole = false;
    const f = frame(1);
    feed.deliver(f, performance.now() - 1000); // in flight for a second already
    viewer.onRepeat(f);
    assert.equal(viewer.disconnectedSlow, true);
    assert.equal(transport.closes, 1);
  });

  test('slowTimeoutMs 0: a viewer in flight is never disconnected', () => {
    const { feed, transport, viewer } = setUp({ slowTimeoutMs: 0 });
    viewer.start();
    transport.whole = false;
    feed.deliver(frame(1), T0);
    feed.deliver(frame(2), T0 + 3_600_000);
    assert.equal(viewer.disconnectedSlow, false);
    assert.equal(transport.closes, 0);
  });

  test('finish() is idempotent: one unsubscribe, one onFinish; close() after it does not close the transport', () => {
    const { feed, transport, viewer, finished } = setUp();
    viewer.start();
    viewer.finish();
    viewer.finish();
    viewer.close();
    assert.equal(feed.unsubscribes, 1);
    assert.deepEqual(finished, [viewer]);
    assert.equal(transport.closes, 0);
    feed.deliver(frame(1), T0);
    assert.equal(transport.sent.length, 0);
  });

  test('close() twice closes the transport once and finishes once', () => {
    const { feed, transport, viewer, finished } = setUp();
    viewer.start();
    viewer.close();
    viewer.close();
    assert.equal(transport.closes, 1);
    assert.equal(feed.unsubscribes, 1);
    assert.equal(finished.length, 1);
  });
});
