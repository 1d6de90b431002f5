/** Decoding JPEG frames in tests, with sharp: size, sampling, and pixels to look at. */

import sharp from 'sharp';

export interface DecodedFrame {
  width: number;
  height: number;
  /** Channels in `pixels` (3 for the JPEGs framering makes). */
  channels: number;
  pixels: Buffer;
}

/** Width, height and chroma subsampling as the JPEG header states them. */
export async function jpegInfo(
  jpeg: Uint8Array,
): Promise<{ width: number; height: number; chromaSubsampling: string | undefined; format: string | undefined }> {
  const m = await sharp(jpeg).metadata();
  return { width: m.width ?? 0, height: m.height ?? 0, chromaSubsampling: m.chromaSubsampling, format: m.format };
}

/** Decodes a JPEG to raw pixels. */
export async function decodeJpeg(jpeg: Uint8Array): Promise<DecodedFrame> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
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
