/**
 * mjpegFrames (src/drivers/mjpeg/child-process.ts, the MJPEG stdout of rpicam-vid, libcamera-vid
 * and raspivid) assembles no frame larger than the ring's slot. Issue 17: it assembled frames up
 * to its own 16 MiB default whatever --max-frame-bytes said (the ring then dropped them), and
 * logged a line for every chunk with an oversize drop in it without counting them. Now the
 * capture loop tells the driver the slot size (DriverContext.maxFrameBytes) and the drops are
 * counted as oversize, logged once per burst.
 */

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { mjpegFrames } from '../../src/drivers/mjpeg/child-process.js';
import type { DriverContext } from '../../src/drivers/types.js';

/** A JPEG-shaped frame of `size` bytes: SOI, SOS, scan data (never FF), EOI. */
function frame(size: number, fill: number): Buffer {
  const f = Buffer.alloc(size, fill);
  f.set([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02], 0);
  f.set([0xff, 0xd9], size - 2);
  return f;
}

test('frames larger than the context says are dropped as oversize while being assembled, logged once per burst', {
  timeout: 5000,
}, async () => {
  const drops: Record<string, number> = {};
  const logs: string[] = [];
  const context: DriverContext = {
    countDrop: (reason, n = 1) => {
      drops[reason] = (drops[reason] ?? 0) + n;
    },
    log: (level, message) => logs.push(`${level} ${message}`),
    maxFrameBytes: 64 * 1024,
  };
  const bytes = new PassThrough();
  const abort = new AbortController();
  const frames = mjpegFrames(bytes, { signal: abort.signal, context, finished: new Promise(() => {}), queueFrames: 8 });
  const first = frames.next(); // starts the generator: it is now reading
  const small = frame(10_000, 0x11);
  // Five 1 MB frames (far under the 16 MiB default, far over the 64 KB slot), then a small one.
  for (let i = 0; i < 5; i++) bytes.write(frame(1024 * 1024, 0x20 + i));
  bytes.write(small);
  assert.ok(((await first).value as Buffer).equals(small), 'only the frame that fits is yielded');
  abort.abort();
  assert.deepEqual(await frames.next(), { value: undefined, done: true });
  assert.deepEqual(drops, { oversize: 5 });
  const warnings = logs.filter((l) => l.startsWith('warn'));
  assert.deepEqual(warnings, [
    "warn dropped a frame from the camera's output: a JPEG larger than 65536 bytes (--max-frame-bytes)",
    "warn dropped 5 frames in a row from the camera's output",
  ]);
});
