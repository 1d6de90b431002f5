/**
 * The JPEG encoder task, run in the encoder threads of src/encoder-pool.ts (piscina workers).
 * One exported function: a raw frame (pixels transferred in) or a synthetic test-pattern frame
 * (rendered here, so rendering spreads over the encoder threads too) in, JPEG bytes out,
 * transferred back to the pool's thread.
 */

import { move } from 'piscina';
import sharp from 'sharp';
import type { EncodeTask } from '../src/drivers/synthetic/encoder-pool.js';
import { PatternRenderer } from '../src/drivers/synthetic/pattern.js';

// One libvips thread per encode, so N encoder threads use about N cores rather than N times
// libvips' default (one per core each). The setting is process-wide; every encoder thread sets
// the same value. Note that sharp runs its work on libuv's thread pool, which is shared by the
// whole process and has UV_THREADPOOL_SIZE threads (default 4): more encoder threads than that
// do not encode more frames at once.
sharp.concurrency(1);
// Every frame is new: libvips' operation cache would only hold memory.
sharp.cache(false);

/** This thread's renderer, kept between tasks so its pixel buffer is reused. */
let renderer: PatternRenderer | null = null;

export default async function encode(task: EncodeTask): Promise<Uint8Array> {
  let pixels: Uint8Array;
  let channels: 3 | 4;
  if (task.kind === 'synthetic') {
    if (renderer?.width !== task.width || renderer.height !== task.height) renderer = new PatternRenderer(task.width, task.height);
    // Safe to reuse: piscina gives this thread one task at a time (concurrentTasksPerWorker 1)
    // and sharp has finished reading the buffer when toBuffer() resolves.
    pixels = renderer.render(task.index, task.timeMs);
    channels = 3;
  } else {
    pixels = task.pixels;
    channels = task.channels;
  }
  let image = sharp(pixels, { raw: { width: task.width, height: task.height, channels } });
  // A camera's fourth byte is padding (RGBX) as often as alpha; JPEG has no alpha either way.
  // Dropping it keeps the colours (saving RGBA to JPEG would flatten it onto black).
  if (channels === 4) image = image.removeAlpha();
  // sharp mirrors before it rotates, whatever the call order.
  if (task.flip === 'h' || task.flip === 'both') image = image.flop();
  if (task.flip === 'v' || task.flip === 'both') image = image.flip();
  if (task.rotate !== 0) image = image.rotate(task.rotate);
  const jpeg = await image
    .jpeg({ quality: task.quality, chromaSubsampling: '4:2:0', optimiseCoding: false, progressive: false, mozjpeg: false })
    .toBuffer();
  // sharp returns an external buffer, which V8 cannot detach: listed for transfer, postMessage
  // would silently serialise it here and copy it again into a new buffer in the receiving thread
  // (measured: its ArrayBuffer keeps its length after the "transfer"). One copy into a plain
  // ArrayBuffer here (tens of KB) spares the capture thread the second one.
  const out = new Uint8Array(jpeg.byteLength);
  out.set(jpeg);
  return move(out) as unknown as Uint8Array;
}
