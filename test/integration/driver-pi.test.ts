/**
 * The pi driver (`--camera pi`: raspivid through pi-camera-connect 0.3.4), against a fake
 * raspivid (test/fixtures/bin/legacy/raspivid) that writes JPEGs laid out as raspivid's MJPEG
 * encoder writes them, in irregular chunks: frames split exactly, options mapped by the library
 * onto raspivid's command line, refused options, the tool stopped when idle and at shutdown, a
 * tool that exits, frames the library cannot split, a missing raspivid, lazy loading.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { describe, test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { runCli, startServerWithFakes, waitForState } from '../helpers/server.js';
import type { MjpegFrame } from '../helpers/mjpeg-client.js';
import { raspividStyle, writeFramesFolder } from '../helpers/jpeg.js';
import { EMULATED_ASSETS } from '../helpers/paths.js';
import { isRunning, useFakeTools } from '../helpers/fake-camera.js';

/** What pi-camera-connect always adds after the mapped options (its defaults: 17 Mbit/s, and the stream to stdout). */
const tail = (fps = 30) => [
  '--bitrate',
  '17000000',
  '--framerate',
  String(fps),
  '--codec',
  'MJPEG',
  '--timeout',
  '0',
  '--nopreview',
  '--output',
  '-',
];
const PI_SIGNATURE = Buffer.from([0xff, 0xd8, 0xff, 0xdb, 0x00, 0x84, 0x00]);
const PI_DRIVER = new URL('../../src/drivers/pi.js', import.meta.url).href;

async function loadImages(): Promise<Buffer[]> {
  return Promise.all(['1.jpg', '2.jpg', '3.jpg'].map((n) => readFile(new URL(n, EMULATED_ASSETS))));
}

/** The emulated images as raspivid lays frames out, in a folder for the fake. */
async function raspividFrames(t: TestContext): Promise<{ dir: string; images: Buffer[] }> {
  const images = (await loadImages()).map(raspividStyle);
  for (const img of images) assert.ok(img.subarray(0, PI_SIGNATURE.length).equals(PI_SIGNATURE), "fixture frames open like raspivid's");
  return { dir: await writeFramesFolder(t, images), images };
}

function assertCycle(images: readonly Buffer[], frames: readonly MjpegFrame[]): void {
  const seq = frames.map((f) => {
    const i = images.findIndex((img) => img.equals(f.body));
    assert.notEqual(i, -1, `frame ${f.index} (${f.bodyLength} bytes) is not one of the source JPEGs`);
    return i;
  });
  for (let k = 1; k < seq.length; k++)
    assert.equal(seq[k], (seq[k - 1]! + 1) % images.length, `frame order ${seq.map((n) => n + 1).join(',')}`);
}

describe('pi driver through the server (fake raspivid)', () => {
  test('frames are the source JPEGs byte for byte, in order, whatever the chunking', { timeout: 15_000 }, async (t) => {
    const { dir, images } = await raspividFrames(t);
    const { ts, fakes } = await startServerWithFakes(t, ['raspivid'], { frames: dir }, ['--camera', 'pi', '--fps', '10']);
    const client = await ts.connect();
    assertCycle(images, await client.waitForFrames(8));
    assert.deepEqual(client.errors, []);
    assert.equal(ts.camera.stats.dropped('corrupt'), 0);
    assert.deepEqual(fakes.starts()[0]?.argv, tail(10));
  });

  test("options reach raspivid's command line (rotations are native)", { timeout: 15_000 }, async (t) => {
    const { dir } = await raspividFrames(t);
    const args = ['--camera', 'pi', '--width', '800', '--height', '600', '--fps', '15', '--rotate', '90', '--flip', 'v'];
    const { ts, fakes } = await startServerWithFakes(t, ['raspivid'], { frames: dir }, args);
    const client = await ts.connect();
    await client.waitForFrames(1);
    assert.deepEqual(fakes.starts()[0]?.argv, ['--width', '800', '--height', '600', '--rotation', '90', '--vflip', ...tail(15)]);
  });

  test('corrupt frames are dropped and counted; every frame delivered is whole', { timeout: 15_000 }, async (t) => {
    const { dir, images } = await raspividFrames(t);
    const { ts } = await startServerWithFakes(t, ['raspivid'], { frames: dir, corruptEvery: 3 }, ['--camera', 'pi', '--fps', '30']);
    const client = await ts.connect();
    for (const f of await client.waitForFrames(10))
      assert.ok(
        images.some((img) => img.equals(f.body)),
        `frame ${f.index} is not a source JPEG`,
      );
    assert.ok(ts.camera.stats.dropped('corrupt') >= 3, `corrupt drops counted: ${ts.camera.stats.dropped('corrupt')}`);
  });

  test('stops raspivid after the idle timeout, and when the server shuts down', { timeout: 15_000 }, async (t) => {
    const { dir } = await raspividFrames(t);
    const { ts, fakes } = await startServerWithFakes(t, ['raspivid'], { frames: dir }, [
      '--camera',
      'pi',
      '--fps',
      '20',
      '--idle-timeout',
      '0.3',
    ]);
    const client = await ts.connect();
    await client.waitForFrames(2);
    const first = fakes.starts()[0]!.pid;
    await client.close();
    await waitForState(ts.camera, 'idle', 5000);
    assert.equal(isRunning(first), false, `raspivid (pid ${first}) still running after capture went idle`);

    const again = await ts.connect();
    await again.waitForFrames(2);
    const second = fakes.starts()[1]!.pid;
    assert.notEqual(second, first);
    await ts.close();
    assert.equal(isRunning(second), false, `raspivid (pid ${second}) still running after close()`);
  });

  test('kills a raspivid that ignores SIGTERM, after the grace period', { timeout: 15_000 }, async (t) => {
    const { dir } = await raspividFrames(t);
    const { ts, fakes } = await startServerWithFakes(t, ['raspivid'], { frames: dir, ignoreSigterm: true }, [
      '--camera',
      'pi',
      '--fps',
      '20',
    ]);
    const client = await ts.connect();
    await client.waitForFrames(2);
    const pid = fakes.starts()[0]!.pid;
    await ts.close();
    assert.equal(isRunning(pid), false, `raspivid (pid ${pid}) survived the shutdown`);
    assert.ok(!fakes.events().some((e) => e.pid === pid && e.event === 'exit'), 'SIGKILL ended it');
  });

  test('raspivid exiting by itself: exit code and last stderr line logged, capture restarted', { timeout: 20_000 }, async (t) => {
    const { dir, images } = await raspividFrames(t);
    const { ts, fakes } = await startServerWithFakes(t, ['raspivid'], { frames: dir, exitAfter: 3 }, ['--camera', 'pi', '--fps', '30'], {
      backoffInitialMs: 50,
    });
    const client = await ts.connect();
    const frames = await client.waitForFrames(8, { timeoutMs: 10_000 });
    for (const f of frames) assert.ok(images.some((img) => img.equals(f.body)));
    const log = ts.logs.join('\n');
    assert.match(log, /capture failed: raspivid exited with code 3: ERROR: \*\*\* simulated camera failure \*\*\*/);
    assert.match(log, /restarting capture in/);
    const pids = fakes.starts().map((s) => s.pid);
    assert.ok(pids.length >= 3, `pids: ${pids.join(', ')}`);
    for (const pid of pids.slice(0, -1)) assert.equal(isRunning(pid), false);
  });

  // pi-camera-connect buffers the stream until it sees FF D8 FF DB 00 84 00; frames that open
  // otherwise (here: JFIF files) would make that buffer grow for as long as capture runs.
  test('frames pi-camera-connect cannot split stop the session with an error instead of buffering without bound', {
    timeout: 15_000,
  }, async (t) => {
    const { ts } = await startServerWithFakes(t, ['raspivid'], {}, ['--camera', 'pi', '--fps', '30'], { backoffInitialMs: 50 });
    const client = await ts.connect();
    await client.waitForFrames(3); // frames flow meanwhile: the driver's own splitter handles them
    await waitForState(ts.camera, 'error', 5000);
    assert.match(
      ts.camera.lastError?.message ?? '',
      /^pi-camera-connect does not recognise raspivid's frames \(it expects each to start with FF D8 FF DB 00 84 00\)/,
    );
  });
});

describe('pi driver: refused at start, one line (the command)', { timeout: 30_000 }, () => {
  const cases: [string, string[], RegExp, number][] = [
    [
      '--quality (raspivid has none for MJPEG)',
      ['--quality', '80'],
      /^framering: invalid --quality: the pi camera cannot honour it \(it takes: --fps, --width, --height, --rotate, --flip\)$/,
      2,
    ],
    ['--source', ['--source', '0'], /^framering: invalid --source: the pi camera cannot honour it/, 2],
    ['a fractional --fps', ['--fps', '7.5'], /^framering: invalid --fps 7\.5: raspivid takes a whole number of frames per second$/, 2],
  ];
  for (const [title, args, message, status] of cases) {
    test(title, async (t) => {
      const fakes = await useFakeTools(t, ['raspivid']);
      const r = await runCli(['--camera', 'pi', ...args], fakes.env);
      assert.equal(r.status, status, r.stderr);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, `expected one line, got:\n${r.stderr}`);
      assert.match(r.stderr.trimEnd(), message);
      assert.deepEqual(fakes.starts(), []);
    });
  }

  test('raspivid not on PATH (e.g. Bookworm): one line pointing to --camera libcamera', async (t) => {
    const fakes = await useFakeTools(t, ['rpicam-vid']);
    const r = await runCli(['--camera', 'pi'], fakes.env);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `expected one line, got:\n${r.stderr}`);
    assert.match(r.stderr, /^framering: --camera pi needs raspivid, which is not on PATH: .*legacy camera stack.*use --camera libcamera$/m);
  });
});

test('loading the pi driver module does not load pi-camera-connect (only createDriver does)', { timeout: 10_000 }, async () => {
  const script = `
    import { createRequire } from 'node:module';
    const loaded = () => Object.keys(createRequire(${JSON.stringify(PI_DRIVER)}).cache).some((k) => k.includes('pi-camera-connect'));
    const driver = await import(${JSON.stringify(PI_DRIVER)});
    const before = loaded();
    await import('pi-camera-connect').catch(() => {});
    console.log(JSON.stringify({ before, after: loaded(), supports: driver.supports }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    cwd: new URL('../../..', import.meta.url).pathname,
  });
  const result = JSON.parse(stdout) as { before: boolean; after: boolean };
  assert.deepEqual(
    { before: result.before, after: result.after },
    { before: false, after: true },
    'the check itself sees the library once it is loaded',
  );
});
