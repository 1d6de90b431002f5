/**
 * A real browser for the page tests: Debian's Chromium (`apt install chromium`, done by
 * .ci/run) driven by playwright-core, which brings no browser of its own. Where Chromium is
 * missing, `chromiumMissing` is the reason to skip.
 */

import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { missing } from './requirements.js';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined. */
export const chromiumMissing = missing({ chromium: existsSync(CHROMIUM_PATH) });

/**
 * Launches headless Chromium with nothing that talks to the network on its own. `executablePath`
 * may be a wrapper that runs Chromium elsewhere (in a test host's network namespace:
 * test/helpers/topology.ts), passing its arguments on.
 */
export function launchChromium(executablePath: string = CHROMIUM_PATH): Promise<Browser> {
  return chromium.launch({
    executablePath,
    timeout: 20_000, // ms
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-quic',
      '--disable-sync',
    ],
  });
}

export type Colour = 'red' | 'green' | 'blue';

/**
 * The mean colour of the image `selector` shows now, drawn onto a canvas (the current frame of
 * an MJPEG <img>), and its strongest channel: the emulated camera's frames 1, 2, 3 are blue,
 * green and red. Works with the page's JavaScript off too: evaluate runs regardless.
 */
export function imageColour(page: Page, selector: string): Promise<{ rgb: number[]; dominant: Colour }> {
  // The callback runs in the page. The tests compile without the DOM library, so `img` is
  // untyped here and the document is reached through it rather than the global.
  return page.$eval(selector, (img) => {
    const canvas = img.ownerDocument.createElement('canvas');
    canvas.width = 32;
    canvas.height = 24;
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const sum = [0, 0, 0];
    for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) sum[c]! += data[i + c]!;
    const rgb = sum.map((s) => Math.round(s / (data.length / 4)));
    const max = Math.max(...rgb);
    const dominant = (['red', 'green', 'blue'] as const)[rgb.indexOf(max)]!;
    return { rgb, dominant };
  });
}

/**
 * Samples `selector`'s colour every 100 ms until `want` distinct colours were seen or
 * `timeoutMs` passed; returns every sample, in order.
 */
export async function watchColours(page: Page, selector: string, want: number, timeoutMs: number): Promise<Colour[]> {
  const seen: Colour[] = [];
  const deadline = Date.now() + timeoutMs;
  while (new Set(seen).size < want && Date.now() < deadline) {
    seen.push((await imageColour(page, selector)).dominant);
    await page.waitForTimeout(100);
  }
  return seen;
}
