/**
 * The synthetic camera and the JPEG encoder pool it shares with raw-frame drivers: frame size,
 * rotation and mirroring, quality, capture order, dropping under overload, threads ending with
 * the pool and with each capture session, and the pattern streamed through the real server.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { describe, test, type TestContext } from 'node:test';
import type { Worker } from 'node:worker_threads';
import type { Flip, Rotation } from '../../src/drivers/types.js';
import { createDriver, DEFAULTS } from '../../src/drivers/synthetic.js';
import { readFrameIndex } from '../../src/drivers/synthetic/pattern.js';
import { checkDriver } from '../../src/drivers/registry.js';
import { UNSET_DRIVER_OPTIONS, type CameraDriver, type DriverContext, type DriverOptions } from '../../src/drivers/types.js';
import { defaultEncoderThreads, EncoderPool, type RawFrame } from '../../src/drivers/synthetic/encoder-pool.js';
import { createTestServer, startTestServer } from '../helpers/server.js';
import { colourAt, type DecodedFrame, decodeJpeg, isCompleteJpeg, jpegInfo } from '../helpers/jpeg.js';
import { EncodeGate, GATED_ENCODER_URL } from '../helpers/encode-gate.js';

/** A raw RGB frame named by its width (the gated encoder's frame id), 16 px high. */
function rawFrame(width: number, height = 16): RawFrame & { channels: 3 } {
  return { kind: 'raw', pixels: new Uint8Array(width * height * 3).fill(width & 0xff), width, height, channels: 3 };
}

/** An RGBA frame of one colour. */
function rgba(width: number, height: number, colour: [number, number, number, number]): Uint8Array {
  const pixels = new Uint8Array(width * height * 4);
  for (let p = 0; p < pixels.length; p += 4) pixels.set(colour, p);
  return pixels;
}

/** Resolves once `check()` holds, polling each event-loop turn; rejects after `timeoutMs`. */
async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A driver context that counts drops by reason. */
function countingContext(): DriverContext & { drops: Record<string, number> } {
  const drops: Record<string, number> = {};
  return {
    drops,
    countDrop(reason, frames = 1) {
      drops[reason] = (drops[reason] ?? 0) + frames;
    },
    log() {},
  };
}

function syntheticDriver(options: Partial<DriverOptions>, context: DriverContext = countingContext()): CameraDriver {
  return createDriver({ ...UNSET_DRIVER_OPTIONS, ...options }, context) as CameraDriver;
}

/** One capture session: the first `count` frames, then the consumer stops (as the capture loop does). */
async function takeFrames(driver: CameraDriver, count: number, onFrame?: (jpeg: Uint8Array) => void): Promise<Buffer[]> {
  const session = new AbortController();
  const frames: Buffer[] = [];
  try {
    for await (const jpeg of driver.frames(session.signal)) {
      onFrame?.(jpeg);
      frames.push(Buffer.from(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength));
      if (frames.length === count) break;
    }
  } finally {
    session.abort();
  }
  assert.equal(frames.length, count, 'the driver ended before delivering the frames asked for');
  return frames;
}

/** Records every Worker this thread creates from now on, and whether it has exited. */
function watchWorkers(t: TestContext): { workers: { worker: Worker; exited: boolean }[] } {
  const workers: { worker: Worker; exited: boolean }[] = [];
  const onWorker = (worker: Worker): void => {
    const entry = { worker, exited: false };
    worker.once('exit', () => (entry.exited = true));
    workers.push(entry);
  };
  process.on('worker', onWorker);
  t.after(() => process.off('worker', onWorker));
  return { workers };
}

describe('EncoderPool', () => {
  test('starts its threads at once; by default one per core less one (at least 1), 2 frames in flight per thread', {
    timeout: 10_000,
  }, async (t) => {
    assert.equal(defaultEncoderThreads(), Math.max(1, availableParallelism() - 1));
    const pool = new EncoderPool();
    t.after(() => pool.close());
    assert.equal(pool.threads, defaultEncoderThreads());
    assert.equal(pool.maxInFlight, 2 * pool.threads);
    assert.equal(pool.workers.length, pool.threads);
    assert.throws(() => new EncoderPool({ threads: 0 }), /options\.threads must be a positive integer/);
  });

  test('frames leave in submission order even when later ones finish first', { timeout: 15_000 }, async (t) => {
    const gate = new EncodeGate();
    t.after(() => gate.close());
    const pool = new EncoderPool({ threads: 2, maxInFlight: 4, workerUrl: GATED_ENCODER_URL });
    t.after(() => pool.close());
    const ids = [16, 24, 32, 40];
    for (const id of ids) assert.equal(pool.submit(rawFrame(id)), true);
    const out: number[] = [];
    const consumer = (async () => {
      for await (const jpeg of pool.results()) {
        out.push((await jpegInfo(jpeg)).width);
        if (out.length === ids.length) return;
      }
    })();
    // Frames 16 and 24 occupy both threads. Finish 24, 32 and 40 while 16 is held.
    await gate.whenStarted(16);
    for (const id of [24, 32, 40]) {
      await gate.whenStarted(id);
      gate.release(id);
      await gate.whenEncoded(id);
    }
    await until(() => pool.stats.encoded === 3, 'the pool to receive frames 24, 32 and 40');
    assert.deepEqual(out, [], 'a frame left the pool before the frame captured before it');
    gate.release(16);
    await consumer;
    assert.deepEqual(out, ids);
    assert.equal(pool.inFlight, 0);
  });

  test('when full, drops the new frame before encoding, counts it, and never holds more than maxInFlight', {
    timeout: 15_000,
  }, async (t) => {
    const gate = new EncodeGate();
    t.after(() => gate.close());
    let drops = 0;
    const pool = new EncoderPool({ threads: 1, workerUrl: GATED_ENCODER_URL, onDrop: () => drops++ });
    t.after(() => pool.close());
    assert.equal(pool.maxInFlight, 2);
    const first = rawFrame(16);
    const second = rawFrame(24);
    assert.equal(pool.submit(first), true);
    assert.equal(pool.submit(second), true);
    // Accepted pixels were transferred to the encoder thread, not copied.
    assert.equal(first.pixels.byteLength, 0, 'accepted frame buffer not detached (copied instead of transferred?)');
    for (let i = 0; i < 10; i++) {
      const extra = rawFrame(100 + i);
      assert.equal(pool.submit(extra), false, `frame ${i + 3} accepted beyond maxInFlight`);
      assert.equal(extra.pixels.byteLength, extra.width * 16 * 3, 'a dropped frame buffer was detached');
      assert.ok(pool.inFlight <= pool.maxInFlight);
    }
    assert.equal(drops, 10);
    assert.equal(pool.stats.dropped, 10);
    // An encoded frame nobody has consumed yet still counts: a slow consumer cannot grow a queue.
    await gate.whenStarted(16);
    gate.release(16);
    await until(() => pool.stats.encoded === 1, 'frame 16 to come back');
    assert.equal(pool.submit(rawFrame(200)), false);
    assert.equal(drops, 11);
    await gate.whenStarted(24);
    gate.release(24);
    const widths: number[] = [];
    for await (const jpeg of pool.results()) {
      widths.push((await jpegInfo(jpeg)).width);
      if (widths.length === 2) break;
    }
    assert.deepEqual(widths, [16, 24]);
    assert.equal(pool.inFlight, 0);
    assert.deepEqual({ ...pool.stats }, { submitted: 2, dropped: 11, encoded: 2, delivered: 2, peakInFlight: 2 });
    // Room again.
    const again = rawFrame(48);
    assert.equal(pool.submit(again), true);
    await gate.whenStarted(48);
    gate.release(48);
    for await (const jpeg of pool.results()) {
      assert.equal((await jpegInfo(jpeg)).width, 48);
      break;
    }
  });

  test('encodes RGB and RGBA (ignoring alpha); a view over part of a larger buffer is copied, not transferred; a wrong size is refused', {
    timeout: 10_000,
  }, async (t) => {
    const pool = new EncoderPool({ threads: 1, quality: 90 });
    t.after(() => pool.close());
    const backing = new Uint8Array(100 + 64 * 32 * 3).fill(200);
    assert.equal(pool.submit({ kind: 'raw', pixels: backing.subarray(100), width: 64, height: 32, channels: 3 }), true);
    assert.equal(backing.byteLength, 100 + 64 * 32 * 3, 'the larger buffer was detached');
    assert.equal(pool.submit({ kind: 'raw', pixels: rgba(48, 40, [90, 90, 90, 20]), width: 48, height: 40, channels: 4 }), true);
    assert.throws(
      () => pool.submit({ kind: 'raw', pixels: new Uint8Array(10), width: 64, height: 32, channels: 3 }),
      /raw frame has 10 bytes, expected 64x32x3 = 6144/,
    );
    const decoded: DecodedFrame[] = [];
    for await (const jpeg of pool.results()) {
      assert.ok(isCompleteJpeg(jpeg));
      decoded.push(await decodeJpeg(jpeg));
      if (decoded.length === 2) break;
    }
    assert.deepEqual(
      decoded.map((d) => [d.width, d.height, d.channels]),
      [
        [64, 32, 3],
        [48, 40, 3],
      ],
    );
    // Flat grey in, flat grey out (within JPEG error); the alpha byte (20) changes nothing.
    assert.ok(Math.abs(decoded[0]!.pixels[0]! - 200) <= 3, `got ${decoded[0]!.pixels[0]}`);
    assert.ok(Math.abs(decoded[1]!.pixels[0]! - 90) <= 3, `got ${decoded[1]!.pixels[0]}`);
  });

  test('a frame that fails to encode fails results() in its place, after the frames before it', { timeout: 10_000 }, async (t) => {
    const pool = new EncoderPool({ threads: 1 });
    t.after(() => pool.close());
    assert.equal(pool.submit(rawFrame(32)), true);
    // Zero width passes the pool's size check (0 bytes) but sharp refuses it in the encoder thread.
    assert.equal(pool.submit({ kind: 'raw', pixels: new Uint8Array(0), width: 0, height: 16, channels: 3 }), true);
    const widths: number[] = [];
    await assert.rejects(async () => {
      for await (const jpeg of pool.results()) widths.push((await jpegInfo(jpeg)).width);
    }, /Input Bit Array is empty/);
    assert.deepEqual(widths, [32]);
  });

  test('close() ends results(), lets running encodes finish and terminates every thread', { timeout: 10_000 }, async (t) => {
    let drops = 0;
    const pool = new EncoderPool({ threads: 2, onDrop: () => drops++ });
    t.after(() => pool.close());
    const workers = [...pool.workers];
    assert.equal(workers.length, 2);
    const exits = workers.map((w) => once(w, 'exit'));
    const received: Buffer[] = [];
    const consumer = (async () => {
      for await (const jpeg of pool.results()) received.push(jpeg);
    })();
    // Close with frames in flight.
    for (let i = 0; i < 4; i++)
      assert.equal(pool.submit({ kind: 'synthetic', width: 640, height: 480, index: i, timeMs: Date.now() }), true);
    await pool.close();
    await consumer; // ends without an error
    await Promise.all(exits);
    for (const w of workers) assert.equal(w.threadId, -1, 'an encoder thread is still running');
    assert.equal(pool.workers.length, 0);
    assert.equal(pool.inFlight, 0);
    assert.equal(pool.submit({ kind: 'synthetic', width: 64, height: 64, index: 9, timeMs: 0 }), false);
    assert.equal(drops, 0, 'a frame refused after close was counted as an encoder-busy drop');
    assert.ok(received.length <= 4);
  });

  test('results() has one consumer at a time', { timeout: 10_000 }, async (t) => {
    const pool = new EncoderPool({ threads: 1 });
    t.after(() => pool.close());
    const first = pool.results();
    const pending = first.next();
    await assert.rejects(pool.results().next(), /already has a consumer/);
    await pool.close();
    assert.deepEqual(await pending, { value: undefined, done: true });
  });
});

describe('the synthetic driver', () => {
  test('is refused a --source, naming it; takes every other driver option', async () => {
    await assert.rejects(checkDriver('synthetic', { ...UNSET_DRIVER_OPTIONS, source: './frames' }), {
      code: 'ERR_FRAMERING_CONFIG',
      message: /^invalid --source: the synthetic camera cannot honour it/,
    });
    await checkDriver('synthetic', {
      ...UNSET_DRIVER_OPTIONS,
      fps: 5,
      width: 64,
      height: 48,
      quality: 50,
      rotate: 90,
      flip: 'h',
      encoders: 2,
    });
  });

  test('defaults to 1280x720; frames are whole 4:2:0 JPEGs of the requested size, in capture order', { timeout: 20_000 }, async () => {
    const [first] = await takeFrames(syntheticDriver({}), 1);
    assert.deepEqual(await jpegInfo(first!), {
      width: DEFAULTS.width,
      height: DEFAULTS.height,
      chromaSubsampling: '4:2:0',
      format: 'jpeg',
    });

    const frames = await takeFrames(syntheticDriver({ width: 333, height: 187, fps: 30, encoders: 2 }), 8);
    const indices: number[] = [];
    for (const jpeg of frames) {
      assert.ok(isCompleteJpeg(jpeg));
      assert.deepEqual(await jpegInfo(jpeg), { width: 333, height: 187, chromaSubsampling: '4:2:0', format: 'jpeg' });
      const d = await decodeJpeg(jpeg);
      indices.push(readFrameIndex(d.pixels, d.width, d.height, d.channels));
    }
    for (let k = 1; k < indices.length; k++) assert.ok(indices[k]! > indices[k - 1]!, `frame indices out of order: ${indices.join(',')}`);
  });

  // The 320x240 pattern has a grey bar at x 0-45 and a blue bar at x 274-319 (rows 6-131).
  // Where do the points (10..35, 100) and (285..310, 100) land? Mirroring comes before rotation.
  const W = 320;
  const H = 240;
  const cases: { rotate: Rotation; flip: Flip; size: [number, number]; at: (x: number, y: number) => [number, number] }[] = [
    { rotate: 90, flip: 'none', size: [H, W], at: (x, y) => [H - 1 - y, x] },
    { rotate: 180, flip: 'none', size: [W, H], at: (x, y) => [W - 1 - x, H - 1 - y] },
    { rotate: 270, flip: 'none', size: [H, W], at: (x, y) => [y, W - 1 - x] },
    { rotate: 0, flip: 'h', size: [W, H], at: (x, y) => [W - 1 - x, y] },
    { rotate: 0, flip: 'v', size: [W, H], at: (x, y) => [x, H - 1 - y] },
    { rotate: 90, flip: 'h', size: [H, W], at: (x, y) => [H - 1 - y, W - 1 - x] },
  ];
  for (const c of cases) {
    test(`--rotate ${c.rotate} --flip ${c.flip}: ${c.size[0]}x${c.size[1]}, the picture turned and mirrored`, {
      timeout: 10_000,
    }, async () => {
      const [jpeg] = await takeFrames(syntheticDriver({ width: W, height: H, rotate: c.rotate, flip: c.flip }), 1);
      const frame = await decodeJpeg(jpeg!);
      assert.deepEqual([frame.width, frame.height], c.size);
      // Two points per bar: the sweeping bar can cover one of them, not both.
      const colours = (xs: number[]): string[] => xs.map((x) => colourAt(frame, ...c.at(x, 100)));
      const grey = colours([10, 35]);
      const blue = colours([285, 310]);
      assert.ok(grey.includes('grey'), `the grey bar is not where expected: ${grey.join(', ')}`);
      assert.ok(blue.includes('blue'), `the blue bar is not where expected: ${blue.join(', ')}`);
    });
  }

  test('honours --quality', { timeout: 10_000 }, async () => {
    const [low] = await takeFrames(syntheticDriver({ width: 640, height: 360, quality: 10 }), 1);
    const [high] = await takeFrames(syntheticDriver({ width: 640, height: 360, quality: 95 }), 1);
    assert.ok(high!.length > 2 * low!.length, `quality 95: ${high!.length} bytes, quality 10: ${low!.length} bytes`);
  });

  test('overloaded (1 encoder, 1920x1080 at 1000 fps), drops frames before encoding and counts them as encoder-busy', {
    timeout: 20_000,
  }, async () => {
    const context = countingContext();
    const driver = syntheticDriver({ width: 1920, height: 1080, fps: 1000, encoders: 1 }, context);
    const indices: number[] = [];
    const dropsAtFrame: number[] = [];
    const frames = await takeFrames(driver, 12, () => dropsAtFrame.push(context.drops['encoder-busy'] ?? 0));
    for (const jpeg of frames) {
      const d = await decodeJpeg(jpeg);
      assert.deepEqual([d.width, d.height], [1920, 1080]);
      indices.push(readFrameIndex(d.pixels, d.width, d.height, d.channels));
    }
    const drops = context.drops['encoder-busy'] ?? 0;
    assert.ok(drops > 0, 'no frame was dropped');
    assert.deepEqual(Object.keys(context.drops), ['encoder-busy']);
    // The session counts from 0, and the first frame finds the pool empty.
    assert.equal(indices[0], 0);
    // Every frame number missing from the stream was a counted drop by the time a later frame arrived.
    for (let k = 1; k < indices.length; k++) {
      assert.ok(indices[k]! > indices[k - 1]!, `frame indices out of order: ${indices.join(',')}`);
      const missing = indices[k]! - k;
      assert.ok(
        missing <= dropsAtFrame[k]!,
        `${missing} frames missing but ${dropsAtFrame[k]!} drops counted (indices ${indices.join(',')})`,
      );
    }
    assert.ok(indices.at(-1)! - indices[0]! > indices.length - 1, `the picture's counter skipped nothing: ${indices.join(',')}`);
  });

  test('each capture session starts its encoder threads and ends them, whether stopped by the consumer or by abort', {
    timeout: 15_000,
  }, async (t) => {
    const watch = watchWorkers(t);
    const driver = syntheticDriver({ width: 160, height: 120, fps: 50, encoders: 2 });
    await takeFrames(driver, 3, () => {
      assert.equal(watch.workers.filter((w) => !w.exited).length, 2, 'not 2 encoder threads during the session');
    });
    assert.equal(watch.workers.length, 2);
    assert.ok(
      watch.workers.every((w) => w.exited),
      'an encoder thread outlived the session stopped by its consumer',
    );

    // Second session on the same driver, ended by the abort signal (the capture loop's idle stop).
    const session = new AbortController();
    let frames = 0;
    for await (const jpeg of driver.frames(session.signal)) {
      assert.ok(isCompleteJpeg(jpeg));
      if (++frames === 3) session.abort();
    }
    assert.ok(frames >= 3);
    assert.equal(watch.workers.length, 4, 'the second session did not start its own threads');
    assert.ok(
      watch.workers.every((w) => w.exited),
      'an encoder thread outlived the session ended by abort',
    );
  });
});

describe('the synthetic camera through the server', () => {
  test('--camera synthetic streams the pattern at the requested size and rotation, frames in order', { timeout: 20_000 }, async (t) => {
    const ts = await startTestServer(t, ['--camera', 'synthetic', '--width', '320', '--height', '240', '--fps', '20']);
    const client = await ts.connect();
    const frames = await client.waitForFrames(6, { timeoutMs: 10_000 });
    assert.deepEqual(client.errors, []);
    const indices: number[] = [];
    for (const f of frames) {
      assert.equal(f.contentType, 'image/jpeg');
      assert.ok(isCompleteJpeg(f.body));
      const d = await decodeJpeg(f.body);
      assert.deepEqual([d.width, d.height], [320, 240]);
      indices.push(readFrameIndex(d.pixels, d.width, d.height, d.channels));
    }
    for (let k = 1; k < indices.length; k++) assert.ok(indices[k]! > indices[k - 1]!, `frame indices out of order: ${indices.join(',')}`);

    const rotated = await startTestServer(t, [
      '--camera',
      'synthetic',
      '--width',
      '320',
      '--height',
      '240',
      '--fps',
      '20',
      '--rotate',
      '90',
      '--quality',
      '60',
      '--encoders',
      '2',
    ]);
    const viewer = await rotated.connect();
    const [frame] = await viewer.waitForFrames(1, { timeoutMs: 10_000 });
    assert.deepEqual(await jpegInfo(frame!.body), { width: 240, height: 320, chromaSubsampling: '4:2:0', format: 'jpeg' });
  });

  test("overload shows in the camera's encoder-busy drop count, and the stream goes on", { timeout: 20_000 }, async (t) => {
    const ts = await startTestServer(t, [
      '--camera',
      'synthetic',
      '--width',
      '1920',
      '--height',
      '1080',
      '--fps',
      '1000',
      '--encoders',
      '1',
    ]);
    const client = await ts.connect({ retainBodies: 2 });
    await client.waitForFrames(5, { timeoutMs: 10_000 });
    await until(() => ts.camera.stats.dropped('encoder-busy') > 0, 'an encoder-busy drop to be counted');
    assert.deepEqual(client.errors, []);
    assert.deepEqual(await jpegInfo(client.frames.at(-1)!.body), { width: 1920, height: 1080, chromaSubsampling: '4:2:0', format: 'jpeg' });
  });

  test('--camera synthetic --source is refused at start with one line naming the option', async () => {
    await assert.rejects(createTestServer(['--camera', 'synthetic', '--source', 'x']), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_FRAMERING_CONFIG');
      assert.match(
        err.message,
        /^invalid --source: the synthetic camera cannot honour it \(it takes: --fps, --width, --height, --quality, --rotate, --flip, --encoders\)$/,
      );
      return true;
    });
  });
});
