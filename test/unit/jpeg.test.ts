/** JPEG checks used on frames: completeness and dimensions. */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { isCompleteJpeg, jpegDimensions } from '../../src/core/jpeg.js';

const one = readFileSync(new URL('../../../assets/emulated/1.jpg', import.meta.url));

it('isCompleteJpeg wants SOI at the start and EOI at the end', () => {
  assert.equal(isCompleteJpeg(one), true);
  assert.equal(isCompleteJpeg(one.subarray(0, one.length - 1)), false);
  assert.equal(isCompleteJpeg(one.subarray(1)), false);
  assert.equal(isCompleteJpeg(Buffer.alloc(0)), false);
});

it('jpegDimensions reads the SOF segment, skipping an APP1 thumbnail', () => {
  assert.deepEqual(jpegDimensions(one), { width: 640, height: 480 });
  // A fake thumbnail segment holding its own SOF0 for 16x16 must not be taken for the frame's.
  const fakeSof = Buffer.from([0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x10, 0x00, 0x10, 0x01, 0x01, 0x11, 0x00]);
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, 0x00, fakeSof.length + 2]), fakeSof]);
  const withThumb = Buffer.concat([one.subarray(0, 2), app1, one.subarray(2)]);
  assert.deepEqual(jpegDimensions(withThumb), { width: 640, height: 480 });
  assert.equal(jpegDimensions(Buffer.from('not a jpeg')), null);
  assert.equal(jpegDimensions(one.subarray(0, 20)), null);
});
