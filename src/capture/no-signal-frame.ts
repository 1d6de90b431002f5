/**
 * The "NO SIGNAL" frame: what viewers see once a camera has delivered nothing for
 * --no-signal-after seconds (a driver that failed and is being restarted, a camera process that
 * died, a source that stalls), so that a frozen picture is not mistaken for a live one. Like
 * µStreamer's blank frame, it is an ordinary JPEG published into the ring, so streams, keepalive
 * and /snapshot need no special case.
 *
 * Drawn from a built-in bitmap font (no system fonts needed, which a headless Pi may lack) and
 * encoded with sharp, loaded only the first time a camera loses its signal.
 */

/** 5x7 glyphs of the letters the caption uses; '#' = ink. */
const GLYPHS: Readonly<Record<string, readonly string[]>> = {
  N: ['#...#', '##..#', '#.#.#', '#..##', '#...#', '#...#', '#...#'],
  O: ['.###.', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  S: ['.####', '#....', '#....', '.###.', '....#', '....#', '####.'],
  I: ['.###.', '..#..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  G: ['.###.', '#...#', '#....', '#.###', '#...#', '#...#', '.###.'],
  A: ['.###.', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  L: ['#....', '#....', '#....', '#....', '#....', '#....', '#####'],
  ' ': ['.....', '.....', '.....', '.....', '.....', '.....', '.....'],
};
const GLYPH_W = 5;
const GLYPH_H = 7;
/** Columns of space after each glyph. */
const GLYPH_GAP = 1;

export const NO_SIGNAL_TEXT = 'NO SIGNAL';
const BACKGROUND = [40, 40, 40] as const;
const INK = [235, 235, 235] as const;
const DEFAULT_SIZE = { width: 640, height: 480 };

/**
 * Renders the frame as RGB pixels: dark grey, the caption centred in light grey, as large as fits
 * in 60 % of the width.
 */
export function renderNoSignalPixels(width: number, height: number): Buffer {
  const pixels = Buffer.alloc(width * height * 3);
  pixels.fill(Buffer.from(BACKGROUND));
  const cols = NO_SIGNAL_TEXT.length * (GLYPH_W + GLYPH_GAP) - GLYPH_GAP;
  const scale = Math.max(1, Math.floor(Math.min((width * 0.6) / cols, (height * 0.25) / GLYPH_H)));
  const x0 = Math.floor((width - cols * scale) / 2);
  const y0 = Math.floor((height - GLYPH_H * scale) / 2);
  const ink = Buffer.from(INK);
  let gx = x0;
  for (const ch of NO_SIGNAL_TEXT) {
    const rows = GLYPHS[ch]!;
    for (let r = 0; r < GLYPH_H; r++) {
      for (let c = 0; c < GLYPH_W; c++) {
        if (rows[r]![c] !== '#') continue;
        const px = gx + c * scale;
        const py = y0 + r * scale;
        for (let y = Math.max(0, py); y < Math.min(height, py + scale); y++) {
          const start = (y * width + Math.max(0, px)) * 3;
          const end = (y * width + Math.min(width, px + scale)) * 3;
          if (end > start) pixels.fill(ink, start, end);
        }
      }
    }
    gx += (GLYPH_W + GLYPH_GAP) * scale;
  }
  return pixels;
}

/** Renders and encodes the frame, caching the last size: a camera loses its signal at one size. */
export class NoSignalFrames {
  private cached: { width: number; height: number; jpeg: Uint8Array } | null = null;

  /** The JPEG at `width`x`height` (the camera's last known size), or 640x480 if unknown. */
  async frame(width: number, height: number): Promise<Uint8Array> {
    if (!(width >= 16 && height >= 16 && width <= 8192 && height <= 8192)) ({ width, height } = DEFAULT_SIZE);
    if (this.cached?.width === width && this.cached.height === height) return this.cached.jpeg;
    const { default: sharp } = await import('sharp');
    const jpeg = await sharp(renderNoSignalPixels(width, height), { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 75 })
      .toBuffer();
    this.cached = { width, height, jpeg };
    return jpeg;
  }
}
