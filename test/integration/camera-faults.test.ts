/**
 * Camera faults as viewers live them: the camera process dies mid-stream, the camera stalls, the
 * camera never opens. Viewers stay connected, get only complete JPEGs, see a generated NO SIGNAL
 * frame once the camera has been silent for --no-signal-after seconds, /status shows the error,
 * and capture restarts with backoff and the live picture comes back.
 */

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import sharp from 'sharp';
import { NoSignalFrames } from '../../src/capture/no-signal-frame.js';
import { startServerWithFakes, startTestServer } from '../helpers/server.js';
import type { MjpegClient } from '../helpers/mjpeg-client.js';
import { fetchOnce, FRONT_ENDS, json } from '../helpers/http.js';
import { decodeJpeg, isCompleteJpeg, loadEmulatedImages, pixelAt } from '../helpers/jpeg.js';
import { STALL_DRIVER } from '../helpers/paths.js';
import { isRunning } from '../helpers/fake-camera.js';

const DEAD_DRIVER = new URL('../fixtures/dead-camera-driver.js', import.meta.url).pathname;

interface CameraStatus {
  state: string;
  lastError: { message: string } | null;
  framesPublished: number;
}

async function cameraStatus(port: number): Promise<CameraStatus> {
  return json<{ cameras: CameraStatus[] }>(await fetchOnce(port, '/status')).cameras[0]!;
}

/** Polls /status until `ok`; fails with the last status seen. */
async function waitForStatus(port: number, ok: (c: CameraStatus) => boolean, what: string, timeoutMs = 10_000): Promise<CameraStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: CameraStatus | undefined;
  while (Date.now() < deadline) {
    last = await cameraStatus(port);
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; camera status: ${JSON.stringify(last)}`);
}

/** Every part the viewer got is a whole JPEG (the client keeps the newest bodies only). */
function assertAllComplete(viewer: MjpegClient, bad: number[]): void {
  assert.deepEqual(bad, [], 'parts that were not complete JPEGs');
  assert.deepEqual(viewer.errors, []);
  assert.equal(viewer.closed, false, 'the viewer was disconnected');
}

/** Frames of `width`x`height` in four colours, for a fake camera tool to cycle. */
async function colourFrames(t: TestContext, width: number, height: number): Promise<{ dir: string; frames: Buffer[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-faults-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const colours = [
    [200, 30, 30],
    [30, 200, 30],
    [30, 30, 200],
    [200, 200, 30],
  ] as const;
  const frames = await Promise.all(
    colours.map(([r, g, b]) =>
      sharp({ create: { width, height, channels: 3, background: { r, g, b } } })
        .jpeg({ quality: 80 })
        .toBuffer(),
    ),
  );
  await Promise.all(frames.map((f, i) => writeFile(join(dir, `${i}.jpg`), f)));
  return { dir, frames };
}

for (const http of FRONT_ENDS) {
  describe(`camera faults (--http ${http})`, { timeout: 40_000 }, () => {
    test('the camera process dies mid-stream: NO SIGNAL at the camera size, the error in /status, restart with backoff, the picture comes back', async (t) => {
      const { dir, frames } = await colourFrames(t, 320, 240);
      const noSignal = await new NoSignalFrames().frame(320, 240);
      const { ts, fakes } = await startServerWithFakes(
        t,
        ['rpicam-vid'],
        { frames: dir },
        ['--http', http, '--camera', 'libcamera', '--fps', '30', '--no-signal-after', '0.5'],
        // Longer than --no-signal-after, so viewers see NO SIGNAL before the restart.
        { backoffInitialMs: 1500 },
      );
      const bad: number[] = [];
      const viewer = await ts.connect({ retainBodies: 400, onFrame: (f) => void (isCompleteJpeg(f.body) || bad.push(f.index)) });
      await viewer.waitForFrames(10, { timeoutMs: 10_000 });
      const [first] = fakes.starts();
      process.kill(first!.pid, 'SIGKILL');

      const failed = await waitForStatus(ts.port, (c) => c.state === 'error', 'the error state');
      assert.match(failed.lastError?.message ?? '', /rpicam-vid was killed by SIGKILL/);
      const killedAt = viewer.frames.length;
      await viewer.waitUntil(() => viewer.frames.slice(killedAt).some((f) => f.body.equals(noSignal)), {
        timeoutMs: 5000,
        what: 'the NO SIGNAL frame',
      });
      // Then a new process, and the camera's own frames again after the NO SIGNAL frame.
      await viewer.waitUntil(
        () => {
          const i = viewer.frames.findIndex((f, k) => k >= killedAt && f.body.equals(noSignal));
          return i >= 0 && viewer.frames.slice(i + 1).filter((f) => frames.some((img) => img.equals(f.body))).length >= 5;
        },
        { timeoutMs: 10_000, what: 'live frames after the restart' },
      );
      const starts = fakes.starts();
      assert.equal(starts.length, 2, `tool starts: ${JSON.stringify(starts)}`);
      assert.equal(isRunning(first!.pid), false);
      assert.equal((await cameraStatus(ts.port)).state, 'running');
      assert.match(ts.logs.join('\n'), /restarting capture in 1\.5 s/);
      assert.match(ts.logs.join('\n'), /showing NO SIGNAL/);
      // Every part was a live frame or the NO SIGNAL frame: nothing torn, nothing else.
      for (const f of viewer.frames)
        assert.ok(
          f.body.equals(noSignal) || frames.some((img) => img.equals(f.body)),
          `frame ${f.index} is neither a camera frame nor NO SIGNAL`,
        );
      assertAllComplete(viewer, bad);
    });

    test('a stalled camera: NO SIGNAL after --no-signal-after; /snapshot shows it too', async (t) => {
      const images = await loadEmulatedImages();
      const ts = await startTestServer(t, ['--http', http, '--camera', STALL_DRIVER, '--fps', '20', '--no-signal-after', '1']);
      const bad: number[] = [];
      const viewer = await ts.connect({ onFrame: (f) => void (isCompleteJpeg(f.body) || bad.push(f.index)) });
      const noSignal = await new NoSignalFrames().frame(640, 480);
      await viewer.waitUntil(() => viewer.frames.some((f) => f.body.equals(noSignal)), { timeoutMs: 8000, what: 'the NO SIGNAL frame' });
      const at = viewer.frames.findIndex((f) => f.body.equals(noSignal));
      // Before it: the camera's three frames, then keepalive re-sends of the last one.
      assert.ok(viewer.frames.slice(0, at).every((f) => images.some((img) => img.equals(f.body))));
      const gap = viewer.frames[at]!.receivedAt - viewer.frames[2]!.receivedAt;
      assert.ok(gap >= 800, `NO SIGNAL came ${gap.toFixed(0)} ms after the last frame, before --no-signal-after 1`);
      // It is what it says: dark grey edges, light text in the middle row.
      const decoded = await decodeJpeg(noSignal);
      assert.deepEqual([decoded.width, decoded.height], [640, 480]);
      assert.ok(
        pixelAt(decoded, 5, 5).every((v) => v < 70),
        `corner ${pixelAt(decoded, 5, 5)}`,
      );
      let light = 0;
      for (let x = 0; x < 640; x++) if (pixelAt(decoded, x, 240).every((v) => v > 180)) light++;
      assert.ok(light > 40, `${light} light pixels across the middle`);
      // The keepalive re-sends NO SIGNAL from now on, and a snapshot shows the same.
      await viewer.waitForFrames(at + 3, { timeoutMs: 5000, what: 'keepalive re-sends of NO SIGNAL' });
      assert.ok(viewer.frames.slice(at).every((f) => f.body.equals(noSignal)));
      const snapshot = await fetchOnce(ts.port, '/snapshot');
      assert.equal(snapshot.status, 200);
      assert.ok(snapshot.body.equals(noSignal));
      assert.equal((await cameraStatus(ts.port)).state, 'running', 'a stalled camera is not a failed one');
      assertAllComplete(viewer, bad);
    });

    test('a camera that never opens: viewers wait connected, get NO SIGNAL, and /status shows why', async (t) => {
      const ts = await startTestServer(t, ['--http', http, '--camera', DEAD_DRIVER, '--no-signal-after', '0.5'], { backoffInitialMs: 200 });
      const viewer = await ts.connect();
      const noSignal = await new NoSignalFrames().frame(640, 480);
      const [frame] = await viewer.waitForFrames(1, { timeoutMs: 5000, what: 'the NO SIGNAL frame' });
      assert.ok(frame!.body.equals(noSignal));
      const status = await waitForStatus(ts.port, (c) => c.state === 'error' || c.state === 'starting', 'a failed camera');
      assert.equal(status.lastError?.message, 'simulated camera not found');
      // Restarted with backoff, doubling: 0.2, 0.4, 0.8 s ...
      await viewer.waitUntil(() => /restarting capture in 0\.8 s/.test(ts.logs.join('\n')), { timeoutMs: 8000, what: 'the third restart' });
      assert.equal(viewer.closed, false);
      assert.deepEqual(viewer.errors, []);
    });

    test('--no-signal-after 0: a stalled camera keeps its last frame, past the default 5 s', async (t) => {
      const images = await loadEmulatedImages();
      const ts = await startTestServer(t, ['--http', http, '--camera', STALL_DRIVER, '--fps', '20', '--no-signal-after', '0']);
      const viewer = await ts.connect();
      await viewer.waitForFrames(10, { timeoutMs: 12_000, what: 'three frames and seven keepalives' });
      assert.ok(viewer.frames.slice(3).every((f) => f.body.equals(images[2]!)));
    });
  });
}
