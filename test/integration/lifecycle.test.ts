/**
 * Capture follows the viewers: nothing is captured before the first one, capture runs while any
 * is connected, stops --idle-timeout seconds after the last one leaves, and starts again for the
 * next one. Observed through the camera's state (camera.onState), the ring's published() counter
 * and the frames the viewers receive.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Camera } from '../../src/stream/camera.js';
import type { CaptureStateName } from '../../src/core/capture-control.js';
import { startTestServer, waitForState } from '../helpers/server.js';
import { sleep } from '../helpers/wait.js';

const IDLE_TIMEOUT_S = 0.3;
const FPS = 10;
const ARGS = ['--fps', String(FPS), '--idle-timeout', String(IDLE_TIMEOUT_S)];

/** Records every state the camera reports from now on. */
function recordStates(camera: Camera): { states: CaptureStateName[]; stop: () => void } {
  const states: CaptureStateName[] = [];
  const stop = camera.onState((s) => states.push(s));
  return { states, stop };
}

/**
 * Resolves once the ring's published() counter has not moved for `quietMs` (capture has
 * stopped, whatever the reported state says); rejects after `timeoutMs`.
 */
async function waitForPublishingToStop(camera: Camera, quietMs: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let last = camera.stats.published();
  let since = performance.now();
  while (performance.now() < deadline) {
    await sleep(20);
    const now = camera.stats.published();
    if (now !== last) {
      last = now;
      since = performance.now();
    } else if (performance.now() - since >= quietMs) {
      return now;
    }
  }
  throw new Error(`frames were still being published ${timeoutMs} ms later (published: ${last})`);
}

describe('capture lifecycle (emulated camera, --idle-timeout 0.3)', () => {
  test('nothing is captured before the first viewer; capture starts when one arrives', { timeout: 10_000 }, async (t) => {
    const ts = await startTestServer(t, ARGS);
    const { camera } = ts;
    // Several frame intervals with nobody watching.
    await sleep(400);
    assert.equal(camera.state, 'idle');
    assert.equal(camera.state, 'idle');
    assert.equal(camera.stats.published(), 0);
    assert.equal(camera.ring.latestSeq(), 0);

    const running = waitForState(camera, 'running');
    const client = await ts.connect();
    await running;
    const [first] = await client.waitForFrames(1);
    assert.ok(camera.stats.published() >= 1);
    assert.ok(first!.timestamp! * 1000 >= Date.now() - 2000, 'the first frame is a fresh one');
    assert.deepEqual(client.errors, []);
  });

  test('capture keeps running while a viewer is connected, well past the idle timeout', { timeout: 10_000 }, async (t) => {
    const ts = await startTestServer(t, ARGS);
    const { camera } = ts;
    const client = await ts.connect();
    await waitForState(camera, 'running');
    await client.waitForFrames(1);
    const rec = recordStates(camera);
    t.after(rec.stop);
    const published0 = camera.stats.published();
    const frames0 = client.frames.length;
    await sleep(IDLE_TIMEOUT_S * 1000 * 4);
    assert.deepEqual(rec.states, [], 'no state change while the viewer watched');
    assert.equal(camera.state, 'running');
    assert.ok(
      camera.stats.published() - published0 >= 5,
      `published ${camera.stats.published() - published0} frames in ${IDLE_TIMEOUT_S * 4} s`,
    );
    assert.ok(client.frames.length - frames0 >= 5, `received ${client.frames.length - frames0} frames in ${IDLE_TIMEOUT_S * 4} s`);
    assert.deepEqual(client.errors, []);
  });

  test('capture stops --idle-timeout after the last viewer leaves, not while one remains', { timeout: 10_000 }, async (t) => {
    const ts = await startTestServer(t, ARGS);
    const { camera } = ts;
    const a = await ts.connect();
    const b = await ts.connect();
    await waitForState(camera, 'running');
    await Promise.all([a.waitForFrames(1), b.waitForFrames(1)]);

    // One of two leaves: capture goes on for the other.
    await a.close();
    const rec = recordStates(camera);
    t.after(rec.stop);
    const bFrames = b.frames.length;
    await sleep(IDLE_TIMEOUT_S * 1000 * 2);
    assert.deepEqual(rec.states, [], 'no state change while one viewer remained');
    assert.ok(b.frames.length - bFrames >= 3, `the remaining viewer got ${b.frames.length - bFrames} frames`);

    // The last one leaves: idle after the timeout.
    const idle = waitForState(camera, 'idle', 3000);
    const leftAt = performance.now();
    await b.close();
    await idle;
    const stoppedAfterMs = performance.now() - leftAt;
    // Not before the timeout (20 ms slack for timer granularity); the upper bound is waitForState's.
    assert.ok(stoppedAfterMs >= IDLE_TIMEOUT_S * 1000 - 20, `capture stopped ${stoppedAfterMs.toFixed(0)} ms after the last viewer left`);
    assert.equal(camera.state, 'idle');
    const published = camera.stats.published();
    await sleep(400);
    assert.equal(camera.stats.published(), published, 'frames were published after capture went idle');
  });

  test('capture restarts when a viewer comes back, and the viewer gets fresh frames only', { timeout: 10_000 }, async (t) => {
    const ts = await startTestServer(t, ARGS);
    const { camera } = ts;
    const first = await ts.connect();
    await first.waitForFrames(2);
    await first.close();
    // Wait for capture to stop by the frames (not the reported state), so this test checks the
    // restart on its own.
    const publishedWhenStopped = await waitForPublishingToStop(camera, 4 * (1000 / FPS), 3000);
    await sleep(200); // the previous session's last frame is now well in the past

    const back = waitForState(camera, 'running');
    const reconnectedAt = Date.now();
    const again = await ts.connect();
    const frames = await again.waitForFrames(3);
    await back;
    assert.ok(camera.stats.published() > publishedWhenStopped, 'capture did not publish again');
    for (const f of frames) {
      assert.ok(
        f.timestamp! * 1000 >= reconnectedAt - 50, // 50 ms: the worker's clock (timeOrigin + now) vs Date.now()
        `frame ${f.index} was captured ${(reconnectedAt - f.timestamp! * 1000).toFixed(0)} ms before the viewer connected (X-Timestamp ${f.rawTimestamp}): a stale frame from the previous session`,
      );
    }
    assert.deepEqual(again.errors, []);
  });

  // Regression test. A viewer that joins during the idle timeout (capture still running, nobody
  // watching, the feed loop already ended) gets its first frame twice: FrameFeed.subscribe()
  // restarts the loop from the feed's `latest`, which lags the ring, so the loop finds a newer
  // frame at once and, synchronously inside subscribe(), sends it to the new viewer; subscribe()
  // then returns the same frame, and UwsStreamClient.start() sends it again.
  test('a viewer joining during the idle timeout gets each frame once', { timeout: 10_000 }, async (t) => {
    const ts = await startTestServer(t, ['--fps', String(FPS), '--idle-timeout', '3']);
    const { camera } = ts;
    const first = await ts.connect();
    await first.waitForFrames(2);
    await first.close();
    // A few frames later capture is still running (3 s timeout) with nobody watching.
    await sleep(350);
    assert.equal(camera.state, 'running');
    assert.equal(camera.feed.subscriberCount, 0);
    const next = await ts.connect();
    const frames = await next.waitForFrames(3);
    const stamps = frames.map((f) => f.rawTimestamp);
    assert.equal(new Set(stamps).size, stamps.length, `the same frame was sent twice: X-Timestamps ${stamps.join(', ')}`);
    assert.deepEqual(next.errors, []);
  });

  test('a viewer joining while capture runs gets the current frame at once', { timeout: 10_000 }, async (t) => {
    // 1 fps: the next capture is about a second away when the second viewer joins.
    const ts = await startTestServer(t, ['--fps', '1', '--idle-timeout', String(IDLE_TIMEOUT_S)]);
    const a = await ts.connect();
    const [aFirst] = await a.waitForFrames(1, { timeoutMs: 3000 });
    const b = await ts.connect();
    const [bFirst] = await b.waitForFrames(1, { timeoutMs: 3000 });
    assert.equal(a.frames.length, 1, 'the second viewer waited for the next capture instead of getting the current frame');
    assert.equal(bFirst!.rawTimestamp, aFirst!.rawTimestamp);
    assert.ok(bFirst!.body.equals(aFirst!.body));
    // And it then follows the live stream like the first viewer.
    const [, bSecond] = await b.waitForFrames(2, { timeoutMs: 3000 });
    const [, aSecond] = await a.waitForFrames(2, { timeoutMs: 3000 });
    assert.equal(bSecond!.rawTimestamp, aSecond!.rawTimestamp);
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});
