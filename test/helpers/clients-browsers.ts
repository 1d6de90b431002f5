/**
 * Browsers as MJPEG clients (./clients.ts): open a page or a stream in headless Chromium
 * (playwright-core) or Firefox ESR (Marionette), wait for the first picture, then read which
 * fixture frame it shows for a few seconds. Chromium is sampled in the page, every animation
 * frame, from a canvas; Firefox draws a stream's first part onto a canvas whatever it shows, so
 * it is sampled from screenshots instead, as fast as they come (well under 1 s apart, so the
 * index advance between two of them is unambiguous). A screenshot of each run is saved under
 * test-artifacts/clients/ and must show the picture.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import {
  ARTIFACTS,
  type ClientRun,
  type Firefox,
  fillShare,
  HAS_PICTURE,
  IMAGE_RECT,
  indexInScreenshot,
  SAMPLER,
  samplesToObservations,
} from './clients.js';
import { sleep } from './wait.js';

const FIRST_PICTURE_TIMEOUT_MS = 6000;
const SCREENSHOTS = new URL('clients/', ARTIFACTS);

type Sample = [number, number | string];

export interface BrowserRun {
  run: ClientRun;
  /** What the screenshot shows wrong (empty: the picture is there). */
  screenshot: string[];
}

/** Waits for the first picture (polling), then samples for `watchMs`; times are from `t0`. */
async function watch(
  t0: number,
  watchMs: number,
  hasPicture: () => Promise<boolean>,
  sample: (ms: number) => Promise<Sample[]>,
): Promise<ClientRun> {
  while (!(await hasPicture().catch(() => false))) {
    if (performance.now() - t0 > FIRST_PICTURE_TIMEOUT_MS) {
      return { observations: [], bad: [], output: 'no picture', ended: 'stopped', durationMs: performance.now() - t0 };
    }
    await sleep(25);
  }
  const first = performance.now() - t0;
  const samples = await sample(watchMs);
  const { observations, bad } = samplesToObservations(samples, first);
  return { observations, bad, output: '', ended: 'stopped', durationMs: performance.now() - t0 };
}

/** Saves the screenshot as test-artifacts/clients/NAME.png; a problem if it does not show the picture. */
async function checkScreenshot(png: Buffer, name: string): Promise<string[]> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  writeFileSync(fileURLToPath(new URL(`${name}.png`, SCREENSHOTS)), png);
  const share = await fillShare(png);
  return share > 0.01 ? [] : [`the screenshot does not show the picture (${(share * 100).toFixed(2)} % of its pixels)`];
}

/** Opens `url` in a new Chromium context and watches its first image. */
export async function chromiumRun(browser: Browser, url: string, name: string, watchMs = 4000): Promise<BrowserRun> {
  const context = await browser.newContext({ viewport: { width: 640, height: 480 } });
  try {
    const page = await context.newPage();
    const t0 = performance.now();
    await page.goto(url, { waitUntil: 'commit', timeout: 10_000 });
    const run = await watch(
      t0,
      watchMs,
      () => page.evaluate(HAS_PICTURE) as Promise<boolean>,
      (ms) => page.evaluate(`new Promise((resolve) => (${SAMPLER})(${ms}, resolve))`) as Promise<Sample[]>,
    );
    const screenshot = run.observations.length ? await checkScreenshot(await page.screenshot(), name) : [];
    return { run, screenshot };
  } finally {
    await context.close();
  }
}

/** Opens `url` in Firefox's tab and watches its first image. */
export async function firefoxRun(ff: Firefox, url: string, name: string, watchMs = 4000): Promise<BrowserRun> {
  const t0 = performance.now();
  await ff.open(url);
  const run = await watch(
    t0,
    watchMs,
    () => ff.execute<boolean>(`return ${HAS_PICTURE};`),
    async (ms) => {
      const rect = await ff.execute<number[]>(`return ${IMAGE_RECT};`);
      const samples: Sample[] = [];
      const s0 = performance.now();
      let last = -2;
      while (performance.now() - s0 < ms) {
        const at = Math.round(performance.now() - s0);
        const index = await indexInScreenshot(await ff.screenshot(), rect);
        if (index !== last) samples.push([at, index]);
        last = index;
      }
      return samples;
    },
  );
  const screenshot = run.observations.length ? await checkScreenshot(await ff.screenshot(), name) : [];
  return { run, screenshot };
}
