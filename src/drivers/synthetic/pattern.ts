/**
 * The synthetic camera's test pattern (drawn in the picture in src/drivers/synthetic.ts): colour
 * bars with a sweeping bar, a grey ramp, a machine-readable frame index, the capture time as a
 * clock and a frame counter in a built-in 7-segment font, and a ticker. Rendered inside the
 * encoder threads (workers/encode.ts) into one reused buffer per thread.
 */

/** Period of the sweeping bar, ms. */
const SWEEP_PERIOD_MS = 2000;
/** Bits of the frame index drawn in the machine-readable strip at the top. */
export const INDEX_BITS = 16;

type Rgb = Buffer; // 3 bytes

const rgb = (r: number, g: number, b: number): Rgb => Buffer.from([r, g, b]);
const BLACK = rgb(0, 0, 0);
const WHITE = rgb(255, 255, 255);
const PANEL = rgb(16, 16, 16);
const TICKER_OFF = rgb(60, 60, 60);
const TICKER_ON = rgb(0, 230, 0);
const CLOCK_COLOUR = rgb(255, 255, 255);
const COUNTER_COLOUR = rgb(255, 210, 0);
/** 75 % colour bars: white, yellow, cyan, green, magenta, red, blue. */
const BARS = [rgb(191, 191, 191), rgb(191, 191, 0), rgb(0, 191, 191), rgb(0, 191, 0), rgb(191, 0, 191), rgb(191, 0, 0), rgb(0, 0, 191)];

// 7-segment font. Segments: a top, b upper right, c lower right, d bottom, e lower left,
// f upper left, g middle; bit 0 = a ... bit 6 = g.
const SEG_A = 1,
  SEG_B = 2,
  SEG_C = 4,
  SEG_D = 8,
  SEG_E = 16,
  SEG_F = 32,
  SEG_G = 64;
const DIGIT_SEGMENTS = [
  SEG_A | SEG_B | SEG_C | SEG_D | SEG_E | SEG_F, // 0
  SEG_B | SEG_C, // 1
  SEG_A | SEG_B | SEG_D | SEG_E | SEG_G, // 2
  SEG_A | SEG_B | SEG_C | SEG_D | SEG_G, // 3
  SEG_B | SEG_C | SEG_F | SEG_G, // 4
  SEG_A | SEG_C | SEG_D | SEG_F | SEG_G, // 5
  SEG_A | SEG_C | SEG_D | SEG_E | SEG_F | SEG_G, // 6
  SEG_A | SEG_B | SEG_C, // 7
  SEG_A | SEG_B | SEG_C | SEG_D | SEG_E | SEG_F | SEG_G, // 8
  SEG_A | SEG_B | SEG_C | SEG_D | SEG_F | SEG_G, // 9
];

/** Glyph geometry for one text size, px. */
interface Font {
  /** Digit height and width. */
  height: number;
  digitWidth: number;
  /** Segment thickness; also the size of the ':' and '.' dots. */
  stroke: number;
  /** Space after every character. */
  gap: number;
}

function fontFor(height: number): Font {
  const h = Math.max(5, Math.round(height));
  const stroke = Math.max(1, Math.round(h / 7));
  return { height: h, digitWidth: Math.max(3, Math.round(h * 0.55)), stroke, gap: Math.max(1, Math.round(stroke * 1.2)) };
}

function charWidth(font: Font, ch: string): number {
  return ch === ':' || ch === '.' ? font.stroke : font.digitWidth;
}

function textWidth(font: Font, text: string): number {
  let w = 0;
  for (const ch of text) w += charWidth(font, ch);
  return w + font.gap * (text.length - 1);
}

/** The largest font no taller than `height` in which `sample` fits in `maxWidth`. */
function fitFont(height: number, sample: string, maxWidth: number): Font {
  let font = fontFor(height);
  for (let i = 0; i < 4 && textWidth(font, sample) > maxWidth && font.height > 5; i++) {
    font = fontFor(font.height * (maxWidth / textWidth(font, sample)) - 1);
  }
  return font;
}

/**
 * Draws the test pattern into one reused RGB buffer. Not thread-safe; one per encoder thread.
 * Everything that does not move is drawn once into `background`; each frame copies it and draws
 * the moving parts over it.
 */
export class PatternRenderer {
  readonly width: number;
  readonly height: number;
  /** The frame, RGB, row-major; overwritten by every render(). */
  readonly canvas: Buffer;
  private readonly background: Buffer;
  private readonly stripHeight: number;
  private readonly barsBottom: number;
  private readonly rampBottom: number;
  private readonly sweepWidth: number;
  private readonly ticker: { y: number; height: number; cells: { x: number; width: number }[] };
  private readonly clock: { y: number; font: Font };
  private readonly counter: { y: number; font: Font };

  constructor(width: number, height: number) {
    if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
      throw new RangeError(`invalid pattern size ${width}x${height}`);
    }
    this.width = width;
    this.height = height;
    this.canvas = Buffer.alloc(width * height * 3);
    this.background = Buffer.alloc(width * height * 3);

    // Layout, top to bottom: index strip, colour bars, grey ramp, text panel with the ticker at its foot.
    this.stripHeight = Math.max(2, Math.round(height / 40));
    this.barsBottom = Math.round(height * 0.55);
    this.rampBottom = Math.round(height * 0.62);
    this.sweepWidth = Math.max(2, Math.round(width / 80));
    const tickerHeight = Math.max(2, Math.round(height / 30));
    const tickerY = height - tickerHeight - Math.round(height / 60);
    const cellPitch = width / 10;
    const cellWidth = Math.max(1, Math.round(cellPitch * 0.8));
    this.ticker = {
      y: tickerY,
      height: tickerHeight,
      cells: Array.from({ length: 10 }, (_, i) => ({ x: Math.round(i * cellPitch + (cellPitch - cellWidth) / 2), width: cellWidth })),
    };
    const textArea = tickerY - this.rampBottom;
    const pad = Math.round(textArea * 0.08);
    const maxTextWidth = width - 2 * Math.max(2, Math.round(width * 0.04));
    const clockFont = fitFont(textArea * 0.46, '00:00:00.000', maxTextWidth);
    const counterFont = fitFont(textArea * 0.3, '00000000', maxTextWidth);
    this.clock = { y: this.rampBottom + pad, font: clockFont };
    this.counter = { y: this.clock.y + clockFont.height + pad, font: counterFont };

    this.drawBackground();
  }

  /** Renders frame `index` captured at `timeMs` (Unix ms) and returns the canvas. */
  render(index: number, timeMs: number): Buffer {
    this.canvas.set(this.background);
    const { width } = this;

    // Frame index, most significant bit first, white = 1.
    for (let bit = 0; bit < INDEX_BITS; bit++) {
      if (((index >>> (INDEX_BITS - 1 - bit)) & 1) === 0) continue;
      const x0 = Math.round((bit * width) / INDEX_BITS);
      const x1 = Math.round(((bit + 1) * width) / INDEX_BITS);
      this.fillRect(x0, 0, x1 - x0, this.stripHeight, WHITE);
    }

    // The sweep bar: black with a white core, across the bars and the ramp.
    const phase = (((timeMs % SWEEP_PERIOD_MS) + SWEEP_PERIOD_MS) % SWEEP_PERIOD_MS) / SWEEP_PERIOD_MS;
    const sx = Math.round(phase * (width - this.sweepWidth));
    const sy = this.stripHeight;
    const sh = this.rampBottom - sy;
    this.fillRect(sx, sy, this.sweepWidth, sh, BLACK);
    const core = Math.max(1, Math.round(this.sweepWidth / 3));
    this.fillRect(sx + Math.round((this.sweepWidth - core) / 2), sy, core, sh, WHITE);

    // Ticker.
    const cell = this.ticker.cells[index % 10]!;
    this.fillRect(cell.x, this.ticker.y, cell.width, this.ticker.height, TICKER_ON);

    // Clock (local time) and counter.
    const t = new Date(timeMs);
    const clock = `${pad2(t.getHours())}:${pad2(t.getMinutes())}:${pad2(t.getSeconds())}.${String(t.getMilliseconds()).padStart(3, '0')}`;
    this.drawTextCentred(clock, this.clock.y, this.clock.font, CLOCK_COLOUR);
    this.drawTextCentred(String(index).padStart(6, '0'), this.counter.y, this.counter.font, COUNTER_COLOUR);
    return this.canvas;
  }

  private drawBackground(): void {
    const { width, height } = this;
    const target = this.canvas;
    // Drawn with the same primitives as the frames, into the canvas, then kept.
    this.fillRect(0, 0, width, this.stripHeight, BLACK);
    for (let i = 0; i < BARS.length; i++) {
      const x0 = Math.round((i * width) / BARS.length);
      const x1 = Math.round(((i + 1) * width) / BARS.length);
      this.fillRect(x0, this.stripHeight, x1 - x0, this.barsBottom - this.stripHeight, BARS[i]!);
    }
    // Grey ramp: one row computed, then copied down.
    if (this.rampBottom > this.barsBottom) {
      const row = this.barsBottom * width * 3;
      for (let x = 0; x < width; x++) {
        const v = width === 1 ? 0 : Math.round((x * 255) / (width - 1));
        target[row + x * 3] = v;
        target[row + x * 3 + 1] = v;
        target[row + x * 3 + 2] = v;
      }
      for (let y = this.barsBottom + 1; y < this.rampBottom; y++) target.copyWithin(y * width * 3, row, row + width * 3);
    }
    this.fillRect(0, this.rampBottom, width, height - this.rampBottom, PANEL);
    for (const cell of this.ticker.cells) this.fillRect(cell.x, this.ticker.y, cell.width, this.ticker.height, TICKER_OFF);
    this.background.set(target);
  }

  /** Fills a rectangle, clipped to the canvas. */
  private fillRect(x: number, y: number, w: number, h: number, colour: Rgb): void {
    const x0 = Math.max(0, x);
    const y0 = Math.max(0, y);
    const x1 = Math.min(this.width, x + w);
    const y1 = Math.min(this.height, y + h);
    if (x1 <= x0 || y1 <= y0) return;
    const stride = this.width * 3;
    // Buffer.fill repeats the 3-byte colour natively; every start is pixel-aligned.
    for (let row = y0; row < y1; row++) this.canvas.fill(colour, row * stride + x0 * 3, row * stride + x1 * 3);
  }

  private drawTextCentred(text: string, y: number, font: Font, colour: Rgb): void {
    let x = Math.round((this.width - textWidth(font, text)) / 2);
    for (const ch of text) {
      this.drawChar(ch, x, y, font, colour);
      x += charWidth(font, ch) + font.gap;
    }
  }

  private drawChar(ch: string, x: number, y: number, font: Font, colour: Rgb): void {
    const { height: h, digitWidth: w, stroke: s } = font;
    if (ch === ':') {
      this.fillRect(x, y + Math.round(h * 0.3) - (s >> 1), s, s, colour);
      this.fillRect(x, y + Math.round(h * 0.7) - (s >> 1), s, s, colour);
      return;
    }
    if (ch === '.') {
      this.fillRect(x, y + h - s, s, s, colour);
      return;
    }
    const segments = DIGIT_SEGMENTS[ch.charCodeAt(0) - 48];
    if (segments === undefined) return;
    if (ch === '1') {
      // Centred in its cell rather than on the right edge: "21:51" then reads as two digits, not
      // "2 1:5 1". Every digit keeps the same width, so the clock does not shift as it runs.
      this.fillRect(x + ((w - s) >> 1), y, s, h, colour);
      return;
    }
    // Segments overlap at the corners: solid strokes stay readable at small sizes.
    const mid = y + ((h - s) >> 1);
    const bottom = y + h - s;
    if (segments & SEG_A) this.fillRect(x, y, w, s, colour);
    if (segments & SEG_G) this.fillRect(x, mid, w, s, colour);
    if (segments & SEG_D) this.fillRect(x, bottom, w, s, colour);
    if (segments & SEG_F) this.fillRect(x, y, s, mid + s - y, colour);
    if (segments & SEG_B) this.fillRect(x + w - s, y, s, mid + s - y, colour);
    if (segments & SEG_E) this.fillRect(x, mid, s, bottom + s - mid, colour);
    if (segments & SEG_C) this.fillRect(x + w - s, mid, s, bottom + s - mid, colour);
  }
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * Reads the frame index back from a decoded frame (RGB or RGBA, not rotated or flipped): the
 * strip's cells sampled at their centres. Returns the index modulo 2^16. For tests and
 * latency measurements; needs frames at least about 64 px wide to survive JPEG.
 */
export function readFrameIndex(pixels: Uint8Array, width: number, height: number, channels: number): number {
  const y = Math.max(0, Math.floor(Math.max(2, Math.round(height / 40)) / 2));
  let index = 0;
  for (let bit = 0; bit < INDEX_BITS; bit++) {
    const x = Math.floor(((bit + 0.5) * width) / INDEX_BITS);
    const p = (y * width + x) * channels;
    const luma = (pixels[p]! + pixels[p + 1]! + pixels[p + 2]!) / 3;
    index = (index << 1) | (luma > 128 ? 1 : 0);
  }
  return index;
}
