/**
 * A driver that throws or ends must not take the server down: the capture worker logs it,
 * exposes the error state, and restarts the driver with backoff while viewers are connected.
 */

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseConfig } from '../../src/app/config.js';
import { createLogger } from '../../src/core/log.js';
import { startServer } from '../../src/app/main.js';
import { isCompleteJpeg, MjpegClient } from '../helpers/mjpeg-client.js';
import { fixturePath } from '../helpers/paths.js';
import type { CaptureStateName } from '../../src/core/capture-control.js';

const FLAKY = fixturePath('flaky-driver.js');

/** A viewer of /video_feed counting its frames; every frame must be a whole JPEG. */
async function countFrames(port: number): Promise<{ frames: () => number; close: () => Promise<void> }> {
  const bad: number[] = [];
  const client = await MjpegClient.connect({
    port,
    path: '/video_feed',
    retainBodies: 1,
    onFrame: (f) => {
      if (!isCompleteJpeg(f.body)) bad.push(f.index);
    },
  });
  return {
    frames: () => {
      assert.deepEqual(bad, [], 'frames that are not whole JPEGs');
      return client.frames.length;
    },
    close: () => client.close(),
  };
}

it('a driver that throws, throws a string, or ends is restarted and the stream goes on', { timeout: 20_000 }, async () => {
  const lines: string[] = [];
  const log = createLogger('debug', (l) => lines.push(l));
  const parsed = parseConfig(['--host', '127.0.0.1', '--port', '0', '--camera', FLAKY, '--fps', '20'], {});
  assert.equal(parsed.kind, 'run');
  if (parsed.kind !== 'run') return;
  const server = await startServer(parsed.config, { log, backoffInitialMs: 20 });
  const states: CaptureStateName[] = [];
  const camera = server.cameras[0]!;
  camera.onState((s) => states.push(s));
  const viewer = await countFrames(server.port);
  try {
    // Three failures, then a driver that works: wait for frames well past session 3's.
    const deadline = Date.now() + 15_000;
    while (viewer.frames() < 15 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(viewer.frames() >= 15, `viewer got ${viewer.frames()} frames; log:\n${lines.join('')}`);
    const log = lines.join('');
    assert.match(log, /capture failed: simulated camera unplugged/);
    assert.match(log, /capture failed: simulated open failure/);
    assert.match(log, /capture failed: the driver stopped delivering frames/);
    assert.match(log, /restarting capture in/);
    assert.equal(states.filter((s) => s === 'error').length, 3, `states: ${states.join(' ')}`);
    assert.equal(camera.state, 'running');
    assert.equal(camera.lastError?.message, 'the driver stopped delivering frames');
    // The server kept serving: a new viewer is served too.
    const second = await countFrames(server.port);
    const target = viewer.frames() + 3;
    while (second.frames() < 3 && Date.now() < deadline + 3000) await new Promise((r) => setTimeout(r, 50));
    await second.close();
    assert.ok(second.frames() >= 3 && viewer.frames() >= target - 1);
  } finally {
    await viewer.close();
    await server.close();
  }
});
