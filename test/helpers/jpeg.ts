/**
 * JPEGs in tests: JPEG-shaped buffers and folders of them (for the files driver and the fake
 * camera tools), the emulated camera's images, raspivid's frame layout, the marker check every
 * reader applies, and decoding with sharp (size, sampling, pixels).
 */

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { EMULATED_ASSETS } from './paths.js';

/** True if `bytes` is a whole JPEG as far as markers go: SOI (FF D8) at the start, EOI (FF D9) at the end. */
export function isCompleteJpeg(bytes: Uint8Array): boolean {
  const n = bytes.length;
  return n >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[n - 2] === 0xff && bytes[n - 1] === 0xd9;
}

/**
 * A JPEG-shaped buffer of `size` bytes: FF D8 FF E0, `fill` bytes, FF D9. The server and the
 * files driver only check the markers; no decoder ever sees it.
 */
export function fakeJpeg(size: number, fill: number): Buffer {
  const jpeg = Buffer.alloc(size, fill);
  jpeg.set([0xff, 0xd8, 0xff, 0xe0], 0);
  jpeg.set([0xff, 0xd9], size - 2);
  return jpeg;
}

/**
 * Writes `count` JPEG-shaped files of about `bytes` each into a new temporary folder, removed
 * when the test ends: FF D8 FF E0, filler, FF D9. That is all the files driver and the server
 * check (start and end markers); no decoder ever sees them. File i is `bytes + i * 1000` long
 * and its filler is byte (i + 1), so every frame is identifiable by its length and content.
 * Returns the folder and the files' contents in play order.
 */
export async function createJpegFolder(t: TestContext, count: number, bytes: number): Promise<{ dir: string; frames: Buffer[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const jpeg = fakeJpeg(bytes + i * 1000, i + 1);
    // Zero-padded names: play order is the natural sort order either way.
    await writeFile(join(dir, `frame${String(i).padStart(3, '0')}.jpg`), jpeg);
    frames.push(jpeg);
  }
  return { dir, frames };
}

/**
 * Writes `count` real JPEGs (a browser decodes and shows them), each a flat colour of its own
 * (hues evenly spread around the colour wheel, so a page's image visibly changes with every
 * frame) and each exactly `bytes` long, into a new temporary folder removed when the test ends.
 * A flat image encodes to a few hundred bytes; a comment segment (COM) after SOI pads it to
 * `bytes`, so the stream's bitrate is exactly bytes x fps whatever the encoder makes of it.
 * Returns the folder, the files' contents in play order, and the frame size.
 */
export async function createColourJpegFolder(
  t: { after(fn: () => unknown): void },
  count: number,
  bytes: number,
  { width = 320, height = 240 }: { width?: number; height?: number } = {},
): Promise<{ dir: string; frames: Buffer[]; width: number; height: number }> {
  const sharp = await loadSharp();
  const dir = await mkdtemp(join(tmpdir(), 'framering-colours-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const background = hueToRgb((360 * i) / count);
    const flat = await sharp({ create: { width, height, channels: 3, background } })
      .jpeg({ quality: 80 })
      .toBuffer();
    const pad = bytes - flat.length - 4; // the COM marker and its length field
    if (pad < 0 || pad + 2 > 0xffff) throw new Error(`cannot pad a ${flat.length}-byte JPEG to ${bytes} bytes with one COM segment`);
    const com = Buffer.alloc(4 + pad, 0x20);
    com.set([0xff, 0xfe, (pad + 2) >> 8, (pad + 2) & 0xff], 0);
    const jpeg = Buffer.concat([flat.subarray(0, 2), com, flat.subarray(2)]);
    await writeFile(join(dir, `frame${String(i).padStart(3, '0')}.jpg`), jpeg);
    frames.push(jpeg);
  }
  return { dir, frames, width, height };
}

/** A fully saturated, full-value colour of hue `h` degrees, as sharp takes a background. */
function hueToRgb(h: number): { r: number; g: number; b: number } {
  const f = (n: number) => {
    const k = (n + h / 60) % 6;
    return Math.round(255 * (1 - Math.max(0, Math.min(k, 4 - k, 1))));
  };
  return { r: f(5), g: f(3), b: f(1) };
}

/** Writes `frames` as 1.jpg, 2.jpg, ... into a new temporary folder, removed when the test ends. */
export async function writeFramesFolder(t: TestContext, frames: readonly Buffer[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-fake-frames-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await Promise.all(frames.map((f, n) => writeFile(join(dir, `${n + 1}.jpg`), f)));
  return dir;
}

/** The emulated camera's three images. */
export function loadEmulatedImages(): Promise<Buffer[]> {
  return Promise.all(['1.jpg', '2.jpg', '3.jpg'].map((n) => readFile(new URL(n, EMULATED_ASSETS))));
}

/**
 * The JPEG as raspivid's MJPEG encoder lays frames out: no APPn segments, and both quantisation
 * tables in one DQT segment right after SOI, so the frame opens FF D8 FF DB 00 84 00, the
 * signature pi-camera-connect splits on. Same image, still a valid JPEG.
 */
export function raspividStyle(jpeg: Buffer): Buffer {
  const tables: Buffer[] = [];
  const others: Buffer[] = [];
  let i = 2;
  for (;;) {
    if (jpeg[i] !== 0xff) throw new Error(`not a marker at offset ${i}`);
    const marker = jpeg[i + 1]!;
    const length = jpeg.readUInt16BE(i + 2);
    if (marker === 0xda) break; // SOS: the scan and the rest are kept as they are
    const segment = jpeg.subarray(i, i + 2 + length);
    if (marker === 0xdb) tables.push(segment.subarray(4));
    else if (marker < 0xe0 || marker > 0xef) others.push(segment);
    i += 2 + length;
  }
  const payload = Buffer.concat(tables);
  const dqt = Buffer.concat([Buffer.from([0xff, 0xdb, (payload.length + 2) >> 8, (payload.length + 2) & 0xff]), payload]);
  return Buffer.concat([jpeg.subarray(0, 2), dqt, ...others, jpeg.subarray(i)]);
}

export interface DecodedFrame {
  width: number;
  height: number;
  /** Channels in `pixels` (3 for the JPEGs framering makes). */
  channels: number;
  pixels: Buffer;
}

// sharp is loaded on first use: most tests that make JPEGs never decode one, and a unit test
// should not pay for loading libvips.
const loadSharp = async () => (await import('sharp')).default;

/** Width, height and chroma subsampling as the JPEG header states them. */
export async function jpegInfo(
  jpeg: Uint8Array,
): Promise<{ width: number; height: number; chromaSubsampling: string | undefined; format: string | undefined }> {
  const m = await (await loadSharp())(jpeg).metadata();
  return { width: m.width ?? 0, height: m.height ?? 0, chromaSubsampling: m.chromaSubsampling, format: m.format };
}

/** Decodes a JPEG to raw pixels. */
export async function decodeJpeg(jpeg: Uint8Array): Promise<DecodedFrame> {
  const { data, info } = await (await loadSharp())(jpeg).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels, pixels: data };
}

/** The [r, g, b] of one pixel. */
export function pixelAt(frame: DecodedFrame, x: number, y: number): [number, number, number] {
  const p = (y * frame.width + x) * frame.channels;
  return [frame.pixels[p]!, frame.pixels[p + 1]!, frame.pixels[p + 2]!];
}

/** Names the test pattern's colour at a pixel, loosely enough for JPEG: 'grey', 'blue' or 'other (r,g,b)'. */
export function colourAt(frame: DecodedFrame, x: number, y: number): string {
  const [r, g, b] = pixelAt(frame, x, y);
  if (b > 150 && r < 70 && g < 70) return 'blue';
  if (r > 150 && g > 150 && b > 150 && Math.max(r, g, b) - Math.min(r, g, b) < 40) return 'grey';
  return `other (${r},${g},${b})`;
}
