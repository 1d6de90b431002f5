/**
 * The HTTP surface besides the stream format, on both front ends (`--http uws` and
 * `--http node`, one describe block each, same tests): /snapshot, /status, /metrics, /healthz,
 * the per-viewer `?fps=N` cap, keepalive re-sends from a stalled camera, and --max-clients.
 * Auth, TLS, CORS and nosniff are in http-security.test.ts; several cameras in
 * multi-camera.test.ts.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jpegDimensions } from '../../src/core/jpeg.js';
import { VERSION } from '../../src/app/version.js';
import { startTestServer, waitForState } from '../helpers/server.js';
import type { MjpegFrame } from '../helpers/mjpeg-client.js';
import { fetchOnce, FRONT_ENDS, json, parsePrometheus, rawExchange, sampleValue } from '../helpers/http.js';
import { createJpegFolder, isCompleteJpeg, loadEmulatedImages } from '../helpers/jpeg.js';
import { NEVER_DELIVERS_DRIVER, STALL_DRIVER } from '../helpers/paths.js';
import { sleep, waitFor } from '../helpers/wait.js';
import type { ViewerStatus } from '../../src/server/status.js';

const TIMESTAMP_RE = /^[0-9]{10}\.[0-9]{6}$/;

interface CameraStatus {
  name: string;
  driver: string;
  state: string;
  resolution: { width: number; height: number } | null;
  fps: number;
  viewers: number;
  framesPublished: number;
  framesDropped: { oversize: number; encoderBusy: number; corrupt: number };
}
interface Status {
  version: string;
  frontEnd: string;
  uptimeSeconds: number;
  cameras: CameraStatus[];
  clients: ViewerStatus[];
}

/** Length of the run of identical frames (same bytes, same X-Timestamp) at the end of `frames`. */
function trailingRepeats(frames: readonly MjpegFrame[]): number {
  const last = frames[frames.length - 1];
  if (!last) return 0;
  let n = 1;
  for (let i = frames.length - 2; i >= 0; i--) {
    const f = frames[i]!;
    if (f.rawTimestamp !== last.rawTimestamp || !f.body.equals(last.body)) break;
    n++;
  }
  return n;
}

for (const http of FRONT_ENDS) {
  describe(`HTTP surface (--http ${http})`, () => {
    describe('GET /snapshot', () => {
      test('from an idle camera: starts it and answers one fresh, complete JPEG of the camera', { timeout: 15_000 }, async (t) => {
        const images = await loadEmulatedImages();
        const ts = await startTestServer(t, ['--http', http, '--fps', '10', '--idle-timeout', '0.3']);
        assert.equal(ts.camera.state, 'idle');
        assert.equal(ts.camera.stats.published(), 0);
        const asked = Date.now();
        const res = await fetchOnce(ts.port, '/snapshot');
        assert.equal(res.status, 200, res.text);
        assert.equal(res.headers['content-type'], 'image/jpeg');
        assert.equal(res.headers['x-content-type-options'], 'nosniff');
        assert.match(String(res.headers['cache-control']), /no-store/);
        assert.equal(Number(res.headers['content-length']), res.body.length);
        assert.ok(isCompleteJpeg(res.body), 'not a complete JPEG');
        assert.ok(
          images.some((img) => img.equals(res.body)),
          `the snapshot (${res.body.length} bytes) is none of the emulated images`,
        );
        const stamp = String(res.headers['x-timestamp']);
        assert.match(stamp, TIMESTAMP_RE);
        // Captured for this request: not before it (50 ms for clock rounding), not long after.
        const capturedAt = Number(stamp) * 1000;
        assert.ok(
          capturedAt >= asked - 50 && capturedAt <= Date.now() + 50,
          `X-Timestamp ${stamp} is not between the request (${asked}) and the answer`,
        );
        assert.ok(ts.camera.stats.published() >= 1, 'the camera published nothing');
        // The request held demand only while it waited; capture then stops when idle.
        assert.equal(ts.camera.feed.subscriberCount, 0);
        await waitForState(ts.camera, 'idle', 5000);
      });

      test('after the camera went idle: a frame from the new session, never the stale one left in the ring', {
        timeout: 15_000,
      }, async (t) => {
        const ts = await startTestServer(t, ['--http', http, '--fps', '10', '--idle-timeout', '0.2']);
        const viewer = await ts.connect();
        const [first] = await viewer.waitForFrames(1);
        await viewer.close();
        await waitForState(ts.camera, 'idle', 5000);
        const stale = ts.camera.ring.latestSeq();
        assert.ok(stale > 0, 'the ring holds no frame from the first session');
        const asked = Date.now();
        const res = await fetchOnce(ts.port, '/snapshot');
        assert.equal(res.status, 200, res.text);
        const capturedAt = Number(res.headers['x-timestamp']) * 1000;
        assert.ok(
          capturedAt >= asked - 50,
          `snapshot X-Timestamp ${String(res.headers['x-timestamp'])} is older than the request: the stale frame (first session's was ${first!.rawTimestamp})`,
        );
        assert.ok(ts.camera.ring.latestSeq() > stale, 'no new frame was captured for the snapshot');
      });

      test('while a viewer watches: the current frame, not a wait for the next one', { timeout: 15_000 }, async (t) => {
        const images = await loadEmulatedImages();
        // One frame every 5 s: the viewer gets the first at once; a snapshot that waited for a
        // fresh frame would take seconds and bring the second.
        const ts = await startTestServer(t, ['--http', http, '--fps', '0.2', '--idle-timeout', '0.3']);
        const viewer = await ts.connect();
        const [frame] = await viewer.waitForFrames(1);
        const res = await fetchOnce(ts.port, '/snapshot', { timeoutMs: 4000 });
        assert.equal(res.status, 200, res.text);
        assert.ok(images.some((img) => img.equals(res.body)));
        assert.equal(res.headers['x-timestamp'], frame!.rawTimestamp, 'the snapshot is not the frame the viewer has');
        assert.ok(res.body.equals(frame!.body));
        assert.equal(ts.camera.stats.published(), 1);
        assert.equal(ts.camera.feed.subscriberCount, 1, 'the snapshot left demand behind');
      });

      test('from a camera that never delivers: 503 with a one-line reason and Retry-After, demand released', {
        timeout: 15_000,
      }, async (t) => {
        const ts = await startTestServer(t, ['--http', http, '--camera', NEVER_DELIVERS_DRIVER, '--idle-timeout', '0.2'], {
          snapshotTimeoutMs: 400,
        });
        const res = await fetchOnce(ts.port, '/snapshot');
        assert.equal(res.status, 503);
        assert.match(String(res.headers['content-type']), /^text\/plain/);
        assert.equal(res.headers['x-content-type-options'], 'nosniff');
        assert.ok(Number(res.headers['retry-after']) > 0, `Retry-After: ${String(res.headers['retry-after'])}`);
        const lines = res.text.split('\n').filter((l) => l !== '');
        assert.equal(lines.length, 1, `expected one line, got ${JSON.stringify(res.text)}`);
        assert.match(lines[0]!, /camera "default".*no frame/);
        assert.equal(ts.camera.feed.subscriberCount, 0, 'the failed snapshot left demand behind');
        // The camera was started for it (the driver opened), and stops again when idle.
        assert.ok(
          ts.logs.some((l) => /camera default: starting/.test(l)),
          'capture was never started',
        );
        await waitForState(ts.camera, 'idle', 5000);
      });
    });

    test('GET /status: version, front end, uptime, cameras and clients', { timeout: 20_000 }, async (t) => {
      const images = await loadEmulatedImages();
      const started = Date.now();
      const ts = await startTestServer(t, ['--http', http, '--fps', '10', '--idle-timeout', '0.3']);

      const idle = await fetchOnce(ts.port, '/status');
      assert.equal(idle.status, 200);
      assert.match(String(idle.headers['content-type']), /^application\/json/);
      const s0 = json<Status>(idle);
      assert.equal(s0.frontEnd, http);
      assert.equal(s0.version, VERSION);
      assert.match(s0.version, /^\d+\.\d+\.\d+/);
      assert.equal(typeof s0.uptimeSeconds, 'number');
      assert.ok(s0.uptimeSeconds >= 0 && s0.uptimeSeconds <= (Date.now() - started) / 1000 + 1, `uptimeSeconds ${s0.uptimeSeconds}`);
      assert.deepEqual(s0.clients, []);
      assert.equal(s0.cameras.length, 1);
      assert.equal(s0.cameras[0]!.name, 'default');
      assert.equal(s0.cameras[0]!.driver, 'emulated');
      assert.equal(s0.cameras[0]!.state, 'idle');
      assert.equal(s0.cameras[0]!.framesPublished, 0);

      // 2.2 s of frames: past the capture-rate window (1 s) and the delivered-rate window (2 s).
      const connectedAt = Date.now();
      const viewer = await ts.connect({ path: '/video_feed?fps=50' });
      await viewer.waitForFrames(22, { timeoutMs: 10_000 });
      const s = json<Status>(await fetchOnce(ts.port, '/status'));
      assert.equal(s.frontEnd, http);
      assert.ok(s.uptimeSeconds >= 2, `uptimeSeconds ${s.uptimeSeconds}`);

      const cam = s.cameras[0]!;
      assert.equal(cam.driver, 'emulated');
      assert.equal(cam.state, 'running');
      const dims = images.map((img) => jpegDimensions(img));
      assert.ok(
        cam.resolution && dims.some((d) => d?.width === cam.resolution!.width && d.height === cam.resolution!.height),
        `resolution ${JSON.stringify(cam.resolution)} is not the emulated images' (${JSON.stringify(dims)})`,
      );
      assert.ok(cam.fps > 3 && cam.fps < 30, `capture fps ${cam.fps} for a 10 fps camera`);
      assert.equal(cam.viewers, 1);
      assert.ok(
        cam.framesPublished >= viewer.frames.length,
        `framesPublished ${cam.framesPublished} < ${viewer.frames.length} frames received`,
      );
      assert.deepEqual(cam.framesDropped, { oversize: 0, encoderBusy: 0, corrupt: 0 });

      assert.equal(s.clients.length, 1);
      const c = s.clients[0]!;
      assert.equal(typeof c.id, 'number');
      assert.equal(c.camera, 'default');
      assert.match(c.remoteAddress, /(^|:)127\.0\.0\.1$/);
      assert.equal(c.path, '/video_feed');
      assert.equal(c.maxFps, 50);
      assert.ok(c.deliveredFps > 3 && c.deliveredFps < 30, `deliveredFps ${c.deliveredFps} for a 10 fps camera`);
      assert.ok(c.framesSent >= viewer.frames.length, `framesSent ${c.framesSent} < ${viewer.frames.length} received`);
      const jpegBytes = viewer.frames.reduce((n, f) => n + f.bodyLength, 0);
      assert.ok(c.bytesSent > jpegBytes, `bytesSent ${c.bytesSent} is not more than the ${jpegBytes} JPEG bytes received`);
      assert.equal(c.framesSkipped, 0);
      assert.equal(c.framesRepeated, 0);
      const since = Date.parse(c.connectedSince);
      assert.ok(since >= connectedAt - 1000 && since <= Date.now(), `connectedSince ${c.connectedSince}`);

      await viewer.close();
      await waitFor(() => ts.server.frontEnd.viewers.size === 0, 'the viewer to be gone');
      assert.deepEqual(json<Status>(await fetchOnce(ts.port, '/status')).clients, []);
    });

    test('GET /metrics: Prometheus text whose values move while a viewer watches', { timeout: 20_000 }, async (t) => {
      const ts = await startTestServer(t, ['--http', http, '--fps', '10', '--idle-timeout', '0.3']);
      const scrape = async () => {
        const res = await fetchOnce(ts.port, '/metrics');
        assert.equal(res.status, 200);
        assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
        assert.equal(res.headers['x-content-type-options'], 'nosniff');
        return parsePrometheus(res.text);
      };
      const cam = { camera: 'default' };
      const before = await scrape();
      for (const [name, type] of [
        ['framering_clients', 'gauge'],
        ['framering_frames_published_total', 'counter'],
        ['framering_frames_sent_total', 'counter'],
        ['framering_bytes_sent_total', 'counter'],
        ['framering_frames_dropped_total', 'counter'],
        ['framering_capture_fps', 'gauge'],
        ['framering_frame_bytes', 'gauge'],
        ['framering_capture_to_send_seconds', 'histogram'],
        ['framering_process_cpu_seconds_total', 'counter'],
        ['framering_process_resident_memory_bytes', 'gauge'],
      ] as const) {
        assert.equal(before.types.get(name), type, `# TYPE of ${name}`);
      }
      assert.equal(sampleValue(before.samples, 'framering_clients', cam), 0);
      assert.equal(sampleValue(before.samples, 'framering_frames_published_total', cam), 0);
      for (const reason of ['oversize', 'encoder-busy', 'corrupt']) {
        assert.equal(sampleValue(before.samples, 'framering_frames_dropped_total', { ...cam, reason }), 0, `dropped{reason="${reason}"}`);
      }
      assert.ok(sampleValue(before.samples, 'framering_process_cpu_seconds_total')! > 0);
      assert.ok(sampleValue(before.samples, 'framering_process_resident_memory_bytes')! > 0);

      const viewer = await ts.connect();
      await viewer.waitForFrames(12, { timeoutMs: 10_000 });
      const during = await scrape();
      const v = (m: typeof during, name: string, labels: Record<string, string> = cam) => {
        const value = sampleValue(m.samples, name, labels);
        assert.notEqual(value, undefined, `no sample ${name}${JSON.stringify(labels)}`);
        return value!;
      };
      assert.equal(v(during, 'framering_clients'), 1);
      assert.ok(v(during, 'framering_frames_published_total') >= 12);
      assert.ok(v(during, 'framering_frames_sent_total') >= 12);
      assert.ok(v(during, 'framering_bytes_sent_total') > viewer.frames.slice(0, 12).reduce((n, f) => n + f.bodyLength, 0));
      assert.ok(v(during, 'framering_capture_fps') > 0, 'capture_fps is 0 after 1.2 s of capture');
      const images = await loadEmulatedImages();
      assert.ok(
        images.some((img) => img.length === v(during, 'framering_frame_bytes')),
        `frame_bytes ${v(during, 'framering_frame_bytes')} is no emulated image's size`,
      );
      assert.ok(v(during, 'framering_capture_to_send_seconds_count') >= 10);
      assert.equal(
        v(during, 'framering_capture_to_send_seconds_bucket', { ...cam, le: '+Inf' }),
        v(during, 'framering_capture_to_send_seconds_count'),
      );

      const n = viewer.frames.length;
      await viewer.waitForFrames(n + 3, { timeoutMs: 5000 });
      const later = await scrape();
      for (const name of [
        'framering_frames_published_total',
        'framering_frames_sent_total',
        'framering_bytes_sent_total',
        'framering_capture_to_send_seconds_count',
      ]) {
        assert.ok(v(later, name) > v(during, name), `${name} did not move: ${v(during, name)} then ${v(later, name)}`);
      }
      assert.ok(v(later, 'framering_process_cpu_seconds_total', {}) >= v(before, 'framering_process_cpu_seconds_total', {}));

      // The viewer leaves: the gauge drops, the counters keep what it was sent.
      await viewer.close();
      await waitFor(() => ts.server.frontEnd.viewers.size === 0, 'the viewer to be gone');
      const after = await scrape();
      assert.equal(v(after, 'framering_clients'), 0);
      for (const name of ['framering_frames_sent_total', 'framering_bytes_sent_total']) {
        assert.ok(v(after, name) >= v(later, name), `${name} went down after the viewer left: ${v(later, name)} then ${v(after, name)}`);
      }
    });

    test('oversize frames show in /status framesDropped and /metrics frames_dropped_total{reason="oversize"}', {
      timeout: 15_000,
    }, async (t) => {
      // Frame 1 is 2000 bytes, frame 2 is 3000: with 2 KiB slots every second frame is dropped.
      const { dir } = await createJpegFolder(t, 2, 2000);
      const ts = await startTestServer(t, [
        '--http',
        http,
        '--camera',
        'files',
        '--source',
        dir,
        '--fps',
        '30',
        '--max-frame-bytes',
        '2048',
        '--idle-timeout',
        '0.3',
      ]);
      const viewer = await ts.connect();
      await viewer.waitForFrames(3, { timeoutMs: 5000 });
      assert.ok(viewer.frames.every((f) => f.bodyLength === 2000));
      const status = json<Status>(await fetchOnce(ts.port, '/status'));
      assert.ok(status.cameras[0]!.framesDropped.oversize >= 2, JSON.stringify(status.cameras[0]!.framesDropped));
      const m = parsePrometheus((await fetchOnce(ts.port, '/metrics')).text);
      assert.ok(sampleValue(m.samples, 'framering_frames_dropped_total', { camera: 'default', reason: 'oversize' })! >= 2);
    });

    test('GET /healthz: 200 JSON with every camera state', { timeout: 15_000 }, async (t) => {
      const ts = await startTestServer(t, ['--http', http, '--fps', '10', '--idle-timeout', '0.3']);
      const idle = await fetchOnce(ts.port, '/healthz');
      assert.equal(idle.status, 200);
      assert.match(String(idle.headers['content-type']), /^application\/json/);
      assert.deepEqual(json(idle), { status: 'serving', cameras: { default: 'idle' } });
      const viewer = await ts.connect();
      await viewer.waitForFrames(1);
      assert.deepEqual(json(await fetchOnce(ts.port, '/healthz')), { status: 'serving', cameras: { default: 'running' } });
    });

    describe('?fps=N', () => {
      test('caps one viewer near N while another gets the full rate', { timeout: 20_000 }, async (t) => {
        const { dir } = await createJpegFolder(t, 3, 2000);
        const ts = await startTestServer(t, ['--http', http, '--camera', 'files', '--source', dir, '--fps', '30', '--idle-timeout', '0.3']);
        const capped = await ts.connect({ path: '/video_feed?fps=5' });
        const full = await ts.connect({ path: '/video_feed' });
        // About 2 s of the full-rate stream.
        await full.waitForFrames(61, { timeoutMs: 10_000 });
        const from = full.frames[0]!.receivedAt;
        const to = full.frames[60]!.receivedAt;
        const seconds = (to - from) / 1000;
        const inWindow = capped.frames.filter((f) => f.receivedAt >= from && f.receivedAt <= to).length;
        const cappedRate = inWindow / seconds;
        const fullRate = 60 / seconds;
        assert.ok(
          cappedRate >= 2.5 && cappedRate <= 7,
          `the ?fps=5 viewer got ${cappedRate.toFixed(1)} frames/s (${inWindow} in ${seconds.toFixed(2)} s)`,
        );
        assert.ok(
          fullRate > 2 * cappedRate,
          `the uncapped viewer got ${fullRate.toFixed(1)} frames/s, the capped one ${cappedRate.toFixed(1)}`,
        );
        // Capture times of the capped viewer's frames are spaced by about 1/5 s, never a burst.
        // Regression: the cap let every stream's first two frames through back to back (33 ms).
        const stamps = capped.frames.map((f) => f.timestamp!);
        for (let k = 1; k < stamps.length; k++) {
          const gap = stamps[k]! - stamps[k - 1]!;
          assert.ok(
            gap >= 0.1,
            `frames ${k - 1} and ${k} of the ?fps=5 viewer were captured ${(gap * 1000).toFixed(0)} ms apart (X-Timestamps ${stamps.join(', ')})`,
          );
        }
        const status = json<Status>(await fetchOnce(ts.port, '/status'));
        const byPath = new Map(status.clients.map((c) => [c.maxFps, c]));
        assert.equal(status.clients.length, 2);
        assert.ok(byPath.get(5), 'no client with maxFps 5 in /status');
        assert.ok(byPath.get(null), 'no uncapped client in /status');
        assert.ok(byPath.get(5)!.deliveredFps <= 7, `/status deliveredFps ${byPath.get(5)!.deliveredFps} for the ?fps=5 viewer`);
        assert.deepEqual(capped.errors, []);
        assert.deepEqual(full.errors, []);
      });

      test('a cap equal to the camera rate does not halve it (source jitter is absorbed)', { timeout: 20_000 }, async (t) => {
        const { dir } = await createJpegFolder(t, 3, 2000);
        const ts = await startTestServer(t, ['--http', http, '--camera', 'files', '--source', dir, '--fps', '20', '--idle-timeout', '0.3']);
        const capped = await ts.connect({ path: '/video_feed?fps=20' });
        const full = await ts.connect({ path: '/video_feed' });
        await full.waitForFrames(31, { timeoutMs: 10_000 });
        const from = full.frames[0]!.receivedAt;
        const to = full.frames[30]!.receivedAt;
        const inWindow = capped.frames.filter((f) => f.receivedAt >= from && f.receivedAt <= to).length;
        assert.ok(inWindow >= 24, `the ?fps=20 viewer of a 20 fps camera got ${inWindow} frames while the uncapped one got 31`);
      });

      for (const bad of ['abc', '0', '-1', '', '1e3', 'NaN', 'Infinity', '1001', '5,5', '0x10']) {
        test(`?fps=${bad} is 400 naming fps, and starts nothing`, { timeout: 10_000 }, async (t) => {
          const ts = await startTestServer(t, ['--http', http, '--idle-timeout', '0.3']);
          const res = await fetchOnce(ts.port, `/video_feed?fps=${encodeURIComponent(bad)}`);
          assert.equal(res.status, 400);
          assert.match(res.text, /\bfps\b/);
          assert.equal(res.text.trimEnd().split('\n').length, 1, `expected one line, got ${JSON.stringify(res.text)}`);
          assert.equal(res.headers['x-content-type-options'], 'nosniff');
          assert.equal(ts.server.frontEnd.viewers.size, 0);
          assert.equal(ts.camera.feed.subscriberCount, 0);
        });
      }

      test('?fps=2.5 (a fraction) is accepted', { timeout: 10_000 }, async (t) => {
        const ts = await startTestServer(t, ['--http', http, '--fps', '10', '--idle-timeout', '0.3']);
        const viewer = await ts.connect({ path: '/video_feed?fps=2.5' });
        assert.equal(viewer.status, 200);
        await viewer.waitForFrames(1);
      });
    });

    // These test the re-sent last frame itself: --no-signal-after 0 keeps it however long the stall.
    describe('keepalive', () => {
      test('a stalled camera: the viewer gets the last frame again about once a second', { timeout: 20_000 }, async (t) => {
        const images = await loadEmulatedImages();
        const ts = await startTestServer(t, [
          '--http',
          http,
          '--camera',
          STALL_DRIVER,
          '--fps',
          '20',
          '--idle-timeout',
          '0.3',
          '--no-signal-after',
          '0',
        ]);
        const viewer = await ts.connect();
        // The driver yields images 1, 2, 3 and stalls: then image 3 again and again.
        await viewer.waitUntil(() => trailingRepeats(viewer.frames) >= 3, { timeoutMs: 8000, what: 'two keepalive re-sends' });
        const run = viewer.frames.slice(-3);
        assert.ok(run[0]!.body.equals(images[2]!), 'the re-sent frame is not the last one the camera delivered');
        assert.ok(
          viewer.frames.slice(0, -3).every((f) => !f.body.equals(images[2]!)),
          'image 3 arrived before the stall',
        );
        for (let k = 1; k < run.length; k++) {
          const gap = run[k]!.receivedAt - run[k - 1]!.receivedAt;
          assert.ok(gap >= 600 && gap <= 2500, `keepalive re-send ${k} came ${gap.toFixed(0)} ms after the previous frame`);
        }
        assert.equal(ts.camera.state, 'running', 'a stalled camera is not a failed one');
        const status = json<Status>(await fetchOnce(ts.port, '/status'));
        assert.ok(status.clients[0]!.framesRepeated >= 2, `framesRepeated ${status.clients[0]!.framesRepeated}`);
        assert.deepEqual(viewer.errors, []);
      });

      // Regression: the keepalive timer was armed only when a new frame arrived, so a viewer
      // that joined a camera already stalled (capture still running, nobody else watching) got
      // the current frame and then nothing, ever.
      test('a viewer joining a camera that already stalled gets keepalives too', { timeout: 20_000 }, async (t) => {
        const ts = await startTestServer(t, [
          '--http',
          http,
          '--camera',
          STALL_DRIVER,
          '--fps',
          '20',
          '--idle-timeout',
          '30',
          '--no-signal-after',
          '0',
        ]);
        const first = await ts.connect();
        await first.waitForFrames(3, { timeoutMs: 5000 });
        await first.close();
        await waitFor(() => ts.camera.feed.subscriberCount === 0, 'the first viewer to be gone');
        assert.equal(ts.camera.state, 'running');
        const second = await ts.connect();
        const [current] = await second.waitForFrames(1, { timeoutMs: 2000 });
        await second.waitForFrames(3, { timeoutMs: 4000, what: 'two keepalive re-sends to the late viewer' });
        assert.ok(
          second.frames.every((f) => f.body.equals(current!.body) && f.rawTimestamp === current!.rawTimestamp),
          'the late viewer got something other than the stalled frame',
        );
      });

      // Regression: the feed measured the "frame interval" of the first frame of a capture
      // session from the last frame of the previous session, so after a camera had been idle a
      // while, a stall right after it restarted got its first keepalive only after 1.5 x the idle
      // gap instead of after a second.
      test('a camera that stalls right after restarting from idle: keepalive after about a second, not after the idle gap', {
        timeout: 25_000,
      }, async (t) => {
        const ts = await startTestServer(t, [
          '--http',
          http,
          '--camera',
          `${STALL_DRIVER}`,
          '--source',
          '1',
          '--fps',
          '20',
          '--idle-timeout',
          '0.1',
          '--no-signal-after',
          '0',
        ]);
        const first = await ts.connect();
        await first.waitForFrames(2, { timeoutMs: 5000 }); // the frame, then a keepalive
        await first.close();
        await waitForState(ts.camera, 'idle', 5000);
        await sleep(1500); // the idle gap itself is the condition under test
        const second = await ts.connect();
        const [fresh] = await second.waitForFrames(1, { timeoutMs: 5000 });
        const asked = performance.now();
        await second.waitForFrames(2, { timeoutMs: 2000, what: 'a keepalive within 2 s of the only frame' });
        assert.ok(second.frames[1]!.body.equals(fresh!.body));
        assert.ok(performance.now() - asked < 2000);
      });
    });

    describe('HEAD', () => {
      // Regression: on uWS, HEAD on any route with a non-empty body (/, /status, /metrics, ...)
      // aborted the whole server process, and HEAD /snapshot left the connection hung.
      test('every plain route answers HEAD like GET, without a body, and the connection stays usable', { timeout: 20_000 }, async (t) => {
        const ts = await startTestServer(t, ['--http', http, '--fps', '10', '--idle-timeout', '0.3']);
        for (const [path, status] of [
          ['/', 200],
          ['/status', 200],
          ['/metrics', 200],
          ['/healthz', 200],
          ['/snapshot', 200],
          ['/video_feed', 200],
          ['/nope', 404],
          ['/video_feed?fps=abc', 400],
        ] as const) {
          // HEAD, then GET /healthz on the same connection: two whole answers, then the close.
          const raw = await rawExchange(
            ts.port,
            `HEAD ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
            'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
          );
          const heads = [...raw.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));
          assert.deepEqual(heads, [status, 200], `HEAD ${path} then GET /healthz on one connection: ${JSON.stringify(raw.slice(0, 300))}`);
          const headEnd = raw.indexOf('\r\n\r\n');
          assert.ok(raw.slice(headEnd + 4).startsWith('HTTP/1.1 200'), `HEAD ${path} sent a body`);
          const head = raw.slice(0, headEnd);
          assert.match(head, /^x-content-type-options: nosniff$/im, `HEAD ${path}`);
          if (path !== '/video_feed' && path !== '/snapshot' && path !== '/metrics' && path !== '/status') {
            // Deterministic bodies: the declared length is the GET body's.
            const get = await fetchOnce(ts.port, path);
            assert.equal(Number(/^content-length: *(\d+)$/im.exec(head)?.[1]), get.body.length, `HEAD ${path} Content-Length`);
          }
        }
        assert.equal((await fetchOnce(ts.port, '/healthz')).status, 200);
      });
    });

    describe('--max-clients 2', () => {
      test('the third stream gets 503 with Retry-After; after one leaves a new one is accepted', { timeout: 20_000 }, async (t) => {
        const ts = await startTestServer(t, ['--http', http, '--fps', '10', '--idle-timeout', '0.3', '--max-clients', '2']);
        const a = await ts.connect();
        const b = await ts.connect({ path: '/video_feed?fps=5' });
        await Promise.all([a.waitForFrames(1), b.waitForFrames(1)]);
        const c = await ts.connect();
        assert.equal(c.status, 503);
        assert.ok(Number(c.headers['retry-after']) > 0, `Retry-After: ${c.headers['retry-after']}`);
        assert.equal(c.headers['x-content-type-options'], 'nosniff');
        assert.match((await c.waitForBody()).toString('utf8'), /max-clients/);
        assert.equal(ts.server.frontEnd.viewers.size, 2);
        // Plain routes are not streams: they still answer.
        assert.equal((await fetchOnce(ts.port, '/status')).status, 200);
        assert.equal((await fetchOnce(ts.port, '/snapshot')).status, 200);

        await a.close();
        await waitFor(() => ts.server.frontEnd.viewers.size === 1, 'the first viewer to be gone');
        const d = await ts.connect();
        assert.equal(d.status, 200);
        await d.waitForFrames(1);
        assert.equal((await ts.connect()).status, 503, 'the limit holds again with two viewers');
        assert.deepEqual(b.errors, []);
      });
    });
  });
}
