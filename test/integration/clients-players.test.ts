/**
 * Media players and frameworks against /video_feed on both front ends: ffmpeg and ffprobe,
 * GStreamer, VLC, mpv and OpenCV (Python). Each runs with the flags docs/clients.md recommends
 * and must show whole frames at the source's 30 fps with a first frame within 3 s; where the
 * default flags behave differently, that run is recorded too (informational, never failing).
 * Results go to test-artifacts/clients.jsonl for the table of docs/clients.md.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  clientMissing,
  ffmpegView,
  gstExplicit,
  gstPlaybin,
  startClientServer,
  type ClientServer,
  mpv,
  python,
  recordResult,
  report,
  runClient,
  SOURCE_FPS,
  vlc,
} from '../helpers/clients.js';
import { FRONT_ENDS } from '../helpers/http.js';
import { runProgram } from '../helpers/server.js';

const started = Date.now();
after(() => console.log(`clients-players: ${((Date.now() - started) / 1000).toFixed(1)} s`));

for (const frontEnd of FRONT_ENDS) {
  describe(`players on ${frontEnd}`, () => {
    let cs: ClientServer | undefined;
    let url = '';
    before(async () => {
      cs = await startClientServer(frontEnd);
      url = `http://127.0.0.1:${cs.server.port}/video_feed`;
    });
    after(async () => {
      await cs?.close();
    });
    const at = (client: string, variant: 'recommended' | 'default', flags: string) => ({
      client,
      variant,
      frontEnd,
      path: 'direct',
      flags,
    });

    test('ffmpeg decodes every frame (-use_wallclock_as_timestamps 1)', { skip: clientMissing.ffmpeg, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, ffmpegView(url, ['-use_wallclock_as_timestamps', '1']), { firstFrameTimeoutMs: 3000 });
      report(at('ffmpeg', 'recommended', '-use_wallclock_as_timestamps 1'), run);
    });

    test('ffmpeg with default flags (informational)', { skip: clientMissing.ffmpeg, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, ffmpegView(url, []), { firstFrameTimeoutMs: 3000 });
      report(at('ffmpeg', 'default', ''), run);
    });

    test('ffprobe sees one MJPEG stream of the right size', { skip: clientMissing.ffmpeg, timeout: 30_000 }, async () => {
      const t0 = performance.now();
      const r = await runProgram(
        'ffprobe',
        ['-v', 'error', '-show_entries', 'stream=codec_name,width,height,r_frame_rate', '-of', 'json', url],
        { timeoutMs: 10_000 },
      );
      const ms = Math.round(performance.now() - t0);
      const streams = (JSON.parse(r.stdout || '{}') as { streams?: Record<string, unknown>[] }).streams ?? [];
      const ok = r.status === 0 && streams.length === 1 && streams[0]!.codec_name === 'mjpeg' && streams[0]!.width === 320;
      // FFmpeg's mpjpeg reader has no timestamps and assumes 25 fps, whatever the source's rate.
      recordResult({
        ...at('ffprobe', 'recommended', ''),
        frames: ok ? 1 : 0,
        firstFrameMs: ok ? ms : null,
        fps: null,
        maxGapMs: null,
        bad: 0,
        pass: ok && ms <= 3000,
        note: ok ? `reports r_frame_rate ${String(streams[0]!.r_frame_rate)}` : r.stderr.slice(0, 160),
      });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(
        streams.map((s) => [s.codec_name, s.width, s.height]),
        [['mjpeg', 320, 240]],
      );
      assert.ok(ms <= 3000, `ffprobe took ${ms} ms`);
    });

    // A recording of a live stream with -c copy keeps the demuxer's timestamps: at an assumed
    // 25 fps, 3 s of a 30 fps camera last 3.6 s. Wall-clock timestamps make it last 3 s.
    for (const [variant, flags] of [
      ['recommended', ['-use_wallclock_as_timestamps', '1']],
      ['default', []],
    ] as const) {
      test(`ffmpeg -c copy records 3 s as 3 s (${variant} flags)`, { skip: clientMissing.ffmpeg, timeout: 30_000 }, async () => {
        const dir = await mkdtemp(join(tmpdir(), 'framering-record-'));
        try {
          const file = join(dir, 'out.mkv');
          const count = 3 * SOURCE_FPS;
          const t0 = performance.now();
          const rec = await runProgram(
            'ffmpeg',
            ['-nostdin', '-hide_banner', '-loglevel', 'error', ...flags, '-i', url, '-c', 'copy', '-frames:v', String(count), '-y', file],
            { timeoutMs: 15_000 },
          );
          const took = performance.now() - t0;
          const probe = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], {
            encoding: 'utf8',
          });
          const duration = Number(probe.stdout.trim());
          const ok = rec.status === 0 && Math.abs(duration - 3) <= 0.25;
          recordResult({
            ...at('ffmpeg -c copy recording', variant, flags.join(' ')),
            frames: count,
            firstFrameMs: null,
            fps: rec.status === 0 ? Math.round((count / duration) * 10) / 10 : null,
            maxGapMs: null,
            bad: 0,
            pass: ok,
            note: `${count} frames recorded in ${(took / 1000).toFixed(1)} s last ${duration.toFixed(2)} s`,
          });
          if (variant === 'recommended') {
            assert.equal(rec.status, 0, rec.stderr);
            assert.ok(Math.abs(duration - 3) <= 0.25, `the recording of ${count} frames lasts ${duration} s, not 3 s`);
          }
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });
    }

    test('GStreamer souphttpsrc ! multipartdemux ! jpegdec', { skip: clientMissing.gstreamer, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, gstExplicit(url), { firstFrameTimeoutMs: 3000 });
      report(at('GStreamer', 'recommended', 'souphttpsrc ! multipartdemux ! jpegdec'), run);
    });

    test('GStreamer playbin (informational)', { skip: clientMissing.gstreamer, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, gstPlaybin(url), { firstFrameTimeoutMs: 5000 });
      report(at('GStreamer', 'default', 'playbin'), run);
    });

    // VLC holds back --network-caching ms (default 1000) before it plays anything.
    test('VLC --network-caching=200', { skip: clientMissing.vlc, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, vlc(url, ['--network-caching=200']), { firstFrameTimeoutMs: 3000 });
      report(at('VLC', 'recommended', '--network-caching=200'), run);
    });

    test('VLC with default flags (informational)', { skip: clientMissing.vlc, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, vlc(url, []), { firstFrameTimeoutMs: 5000 });
      report(at('VLC', 'default', ''), run);
    });

    // mpv times frames at FFmpeg's assumed 25 fps: it shows 25 of the 30 frames a second and
    // falls further behind. --untimed shows each frame as it arrives.
    test('mpv --profile=low-latency --untimed', { skip: clientMissing.mpv, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, await mpv(t, url, ['--profile=low-latency', '--untimed']), { firstFrameTimeoutMs: 3000 });
      report(at('mpv', 'recommended', '--profile=low-latency --untimed'), run);
    });

    test('mpv with default flags (informational)', { skip: clientMissing.mpv, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, await mpv(t, url, []), { firstFrameTimeoutMs: 5000 });
      report(at('mpv', 'default', ''), run);
    });

    test('OpenCV VideoCapture (Python, FFmpeg backend)', { skip: clientMissing.python, timeout: 30_000 }, async (t) => {
      const run = await runClient(t, python('opencv', url), { firstFrameTimeoutMs: 3000 });
      report(at('OpenCV (Python)', 'recommended', 'cv2.VideoCapture(url, cv2.CAP_FFMPEG)'), run);
    });
  });
}
