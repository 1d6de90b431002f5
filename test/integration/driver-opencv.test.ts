/**
 * The OpenCV driver against real video files made with ffmpeg during setup: an MJPEG AVI (whose
 * JPEG packets must reach viewers untouched: passthrough) and an H.264 MP4 (decoded and encoded).
 *
 * Each server runs as its own process: the binding may be loaded by one thread per process only,
 * and a second capture worker in the same process would abort it.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isCompleteJpeg, jpegDimensions } from '../../src/core/jpeg.js';
import { runCli, startCli } from '../helpers/server.js';
import { MjpegClient } from '../helpers/mjpeg-client.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { hasCommand, hasModule, missing } from '../helpers/requirements.js';
import type { TestContext } from 'node:test';

const skip = missing({ ffmpeg: hasCommand('ffmpeg'), '@u4/opencv4nodejs': hasModule('@u4/opencv4nodejs') });

/** Runs the server with these options and connects one viewer; both end with the test. */
async function serve(t: TestContext, args: string[]): Promise<{ client: MjpegClient; logs: () => string }> {
  const server = await startCli(['--log-level', 'debug', ...args]);
  t.after(() => server.kill());
  const client = await MjpegClient.connect({ port: server.port, host: '127.0.0.1', path: '/video_feed' });
  t.after(() => client.close());
  return { client, logs: server.stderr };
}

// The skip goes on each test, not on the suite: node's runner counts only skipped tests, and
// .ci/run fails on that count.
describe('opencv driver', { timeout: 120_000 }, () => {
  let dir = '';
  let avi = '';
  let mp4 = '';
  let packets: Buffer[] = [];

  before(() => {
    if (skip) return;
    dir = mkdtempSync(join(tmpdir(), 'framering-opencv-'));
    avi = join(dir, 'clip.avi');
    mp4 = join(dir, 'clip.mp4');
    const ffmpeg = (...args: string[]): void => {
      execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { stdio: 'inherit' });
    };
    // 20 frames of a moving test pattern, 320x240 at 10 fps.
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-frames:v', '20', '-c:v', 'mjpeg', '-q:v', '5', avi);
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-frames:v', '20', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', mp4);
    // The AVI's own JPEG packets, copied out without re-encoding.
    mkdirSync(join(dir, 'packets'));
    ffmpeg('-i', avi, '-c:v', 'copy', '-f', 'image2', join(dir, 'packets', '%03d.jpg'));
    packets = readdirSync(join(dir, 'packets'))
      .sort()
      .map((f) => readFileSync(join(dir, 'packets', f)));
    assert.equal(packets.length, 20);
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('passes the JPEG packets of an MJPEG file through untouched, in order, looping', { skip }, async (t) => {
    const { client, logs } = await serve(t, ['--camera', 'opencv', '--source', avi, '--fps', '40']);
    const frames = await client.waitForFrames(30, { timeoutMs: 20_000 });
    const indexes = frames.map((f) => packets.findIndex((p) => p.equals(f.body)));
    assert.ok(
      indexes.every((i) => i >= 0),
      `every streamed frame is one of the file's packets: ${indexes.join(',')}`,
    );
    // Consecutive frames are consecutive packets (mod 20: the file loops).
    for (let k = 1; k < indexes.length; k++) assert.equal(indexes[k], (indexes[k - 1]! + 1) % 20, `order at ${k}: ${indexes.join(',')}`);
    assert.match(logs(), /JPEG passthrough/);
  });

  it('decodes an H.264 file and encodes complete JPEGs of the source size', { skip }, async (t) => {
    const { client, logs } = await serve(t, ['--camera', 'opencv', '--source', mp4, '--fps', '40', '--quality', '70']);
    for (const f of await client.waitForFrames(25, { timeoutMs: 20_000 })) {
      assert.ok(isCompleteJpeg(f.body));
      assert.deepEqual(jpegDimensions(f.body), { width: 320, height: 240 });
    }
    assert.match(logs(), /encoding at quality 70/);
  });

  it('honours --width/--height and --rotate by decoding even an MJPEG source', { skip }, async (t) => {
    const { client } = await serve(t, [
      '--camera',
      'opencv',
      '--source',
      avi,
      '--fps',
      '40',
      '--width',
      '160',
      '--height',
      '120',
      '--rotate',
      '90',
      '--flip',
      'h',
    ]);
    for (const f of await client.waitForFrames(5, { timeoutMs: 20_000 })) {
      assert.ok(isCompleteJpeg(f.body));
      assert.deepEqual(jpegDimensions(f.body), { width: 120, height: 160 }, 'resized to 160x120, then turned');
      assert.ok(!packets.some((p) => p.equals(f.body)));
    }
  });

  it('a missing file is refused at start, naming --source', { skip }, async () => {
    const r = await runCli(['--camera', 'opencv', '--source', join(dir, 'nope.avi')]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^framering: invalid --source ".*nope\.avi": no such device index, device or video file\n$/);
  });

  it('OPENCV_CAMERA_SOURCE is read when --source is not given', { skip }, async () => {
    const r = await runCli(['--camera', 'opencv'], { OPENCV_CAMERA_SOURCE: '/no/such/clip.mp4' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /invalid OPENCV_CAMERA_SOURCE "\/no\/such\/clip\.mp4"/);
  });
});

describe('opencv driver without the optional module', { timeout: 30_000 }, () => {
  it('stops at start with one line saying how to install it', async () => {
    // A copy of the built server whose node_modules lacks @u4/opencv4nodejs.
    const root = mkdtempSync(join(tmpdir(), 'framering-no-opencv-'));
    try {
      const repo = REPO_ROOT.pathname;
      cpSync(join(repo, 'dist'), join(root, 'dist'), { recursive: true });
      cpSync(join(repo, 'package.json'), join(root, 'package.json'));
      // Every installed module but the OpenCV binding's scope.
      mkdirSync(join(root, 'node_modules'));
      for (const entry of readdirSync(join(repo, 'node_modules'))) {
        if (entry !== '@u4') symlinkSync(join(repo, 'node_modules', entry), join(root, 'node_modules', entry));
      }
      const r = spawnSync(process.execPath, [join(root, 'dist', 'src', 'app', 'cli.js'), '--camera', 'opencv', '--port', '0'], {
        encoding: 'utf8',
        timeout: 10_000,
      });
      assert.equal(r.status, 1, r.stderr);
      assert.match(
        r.stderr,
        /^framering: --camera opencv needs the optional module @u4\/opencv4nodejs, which is not installed: install it with `npm run install:opencv`.*\n$/,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
