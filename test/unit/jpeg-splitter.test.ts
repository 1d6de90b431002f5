/** Splitting an MJPEG byte stream into frames, whatever the chunking. */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { JpegStreamSplitter } from '../../src/drivers/mjpeg/jpeg-splitter.js';

const assets = new URL('../../../assets/emulated/', import.meta.url);
const images = ['1.jpg', '2.jpg', '3.jpg'].map((n) => readFileSync(new URL(n, assets)));

/** Puts an APP1 segment holding a whole "thumbnail" JPEG (its own FF D8 ... FF D9) after SOI. */
function withThumbnail(jpeg: Buffer): Buffer {
  const thumb = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xd9, 0xff, 0xd9]), Buffer.from('Exif thumbnail')]);
  const app1 = Buffer.alloc(4 + thumb.length);
  app1.set([0xff, 0xe1, (thumb.length + 2) >> 8, (thumb.length + 2) & 0xff]);
  thumb.copy(app1, 4);
  return Buffer.concat([jpeg.subarray(0, 2), app1, jpeg.subarray(2)]);
}

/** Deterministic pseudo-random chunk sizes from 1 to max. */
function* chunks(stream: Buffer, max: number, seed: number): Generator<Buffer> {
  let x = seed;
  for (let i = 0; i < stream.length; ) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const size = 1 + (x % max);
    yield stream.subarray(i, i + size);
    i += size;
  }
}

function split(stream: Buffer, max: number, seed: number, maxFrameBytes?: number): { frames: Buffer[]; splitter: JpegStreamSplitter } {
  const frames: Buffer[] = [];
  const splitter = new JpegStreamSplitter((f) => frames.push(Buffer.from(f)), maxFrameBytes);
  for (const c of chunks(stream, max, seed)) splitter.push(c);
  return { frames, splitter };
}

describe('JpegStreamSplitter', () => {
  const expected = [images[0]!, withThumbnail(images[1]!), images[2]!, images[0]!];
  const stream = Buffer.concat([Buffer.from('garbage\xff\x00', 'latin1'), ...expected]);

  for (const max of [1, 2, 7, 100, 4096, 1 << 20]) {
    it(`recovers every frame exactly from chunks of 1 to ${max} bytes`, () => {
      for (const seed of [1, 2, 3]) {
        const { frames, splitter } = split(stream, max, seed);
        assert.equal(frames.length, expected.length);
        for (const [i, f] of frames.entries()) assert.ok(f.equals(expected[i]!), `frame ${i} differs (chunks up to ${max}, seed ${seed})`);
        assert.equal(splitter.stats.corrupt, 0);
        assert.equal(splitter.stats.skippedBytes, 9);
      }
    });
  }

  it('a JPEG that never ends holds at most maxFrameBytes, is dropped as oversize, and the rest of it is skipped', () => {
    // A camera tool's stdout (or a relay part) that starts a frame and never finishes it must
    // cost one frame's worth of memory, not everything it sends.
    const limit = 100 * 1024;
    const frames: Buffer[] = [];
    const splitter = new JpegStreamSplitter((f) => frames.push(Buffer.from(f)), limit);
    splitter.push(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02])); // SOI, SOS: scan data follows
    const scan = Buffer.alloc(16 * 1024, 0x55);
    let most = 0;
    for (let i = 0; i < 640; i++) {
      splitter.push(scan); // 10 MB in all
      most = Math.max(most, splitter.bufferedBytes);
    }
    assert.ok(most <= limit, `held ${most} bytes`);
    assert.equal(splitter.stats.oversize, 1);
    assert.equal(splitter.bufferedBytes, 0, 'nothing held once dropped');
    splitter.push(images[0]!);
    assert.equal(frames.length, 1);
    assert.ok(frames[0]!.equals(images[0]!), 'the next frame is found');
  });

  it('a frame cut short by the next SOI is dropped and counted; the next one survives', () => {
    const cut = images[0]!.subarray(0, 5000);
    const { frames, splitter } = split(Buffer.concat([cut, images[1]!, images[2]!]), 333, 5);
    assert.equal(frames.length, 2);
    assert.ok(frames[0]!.equals(images[1]!));
    assert.ok(frames[1]!.equals(images[2]!));
    assert.equal(splitter.stats.corrupt, 1);
  });

  it('a frame larger than maxFrameBytes is dropped, never truncated', () => {
    const big = images[2]!; // the largest
    const { frames, splitter } = split(Buffer.concat([images[0]!, big, images[0]!]), 512, 9, big.length - 1);
    assert.equal(frames.length, 2);
    assert.ok(frames.every((f) => f.equals(images[0]!)));
    assert.equal(splitter.stats.oversize, 1);
  });

  it('a frame inside one chunk is handed on without a copy', () => {
    const whole = Buffer.concat([images[0]!, images[1]!]);
    const seen: Buffer[] = [];
    new JpegStreamSplitter((f) => seen.push(f)).push(whole);
    assert.equal(seen.length, 2);
    assert.equal(seen[0]!.buffer, whole.buffer);
  });

  it('reset() forgets a partial frame', () => {
    const frames: Buffer[] = [];
    const s = new JpegStreamSplitter((f) => frames.push(f));
    s.push(images[0]!.subarray(0, 3000));
    s.reset();
    s.push(images[1]!);
    assert.equal(frames.length, 1);
    assert.ok(frames[0]!.equals(images[1]!));
  });
});
