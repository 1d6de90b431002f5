/**
 * Browsers against framering on both front ends: headless Chromium (playwright-core) and
 * headless Firefox ESR (its built-in Marionette protocol), each on framering's page (an <img>
 * of /video_feed) and on /video_feed opened directly as a tab. The picture must advance at the
 * source's 30 fps (counted in source frames, so a sampler that misses some still counts them)
 * with the first picture within 3 s, and a screenshot must show it
 * (test/helpers/clients-browsers.ts). Results go to test-artifacts/clients.jsonl for
 * docs/clients.md.
 */

import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { chromiumMissing, launchChromium } from '../helpers/browser.js';
import { clientMissing, type Firefox, launchFirefox, startClientServer, type ClientServer, report } from '../helpers/clients.js';
import { chromiumRun, firefoxRun } from '../helpers/clients-browsers.js';
import { FRONT_ENDS } from '../helpers/http.js';

const started = Date.now();
after(() => console.log(`clients-browsers: ${((Date.now() - started) / 1000).toFixed(1)} s`));

const PAGES = [
  ['page', '/', "framering's page (<img>)"],
  ['tab', '/video_feed', '/video_feed in a tab'],
] as const;

for (const frontEnd of FRONT_ENDS) {
  describe(`browsers on ${frontEnd}`, () => {
    let cs: ClientServer | undefined;
    let base = '';
    before(async () => {
      cs = await startClientServer(frontEnd);
      base = `http://127.0.0.1:${cs.server.port}`;
    });
    after(async () => {
      await cs?.close();
    });
    const client = (browser: string, kind: string): string => `${browser} (${kind === 'page' ? '<img>' : 'tab'})`;

    describe('Chromium', () => {
      let browser: Browser | undefined;
      before(async () => {
        if (!chromiumMissing) browser = await launchChromium();
      });
      after(() => browser?.close());

      for (const [kind, path, flags] of PAGES) {
        test(`Chromium shows ${flags}`, { skip: chromiumMissing, timeout: 40_000 }, async () => {
          const { run, screenshot } = await chromiumRun(browser!, `${base}${path}`, `chromium-${kind}-${frontEnd}`);
          report({ client: client('Chromium', kind), variant: 'recommended', frontEnd, path: 'direct', flags }, run, { extra: screenshot });
        });
      }
    });

    describe('Firefox ESR', () => {
      let firefox: Firefox | undefined;
      before(async () => {
        if (!clientMissing.firefox) firefox = await launchFirefox();
      });
      after(() => firefox?.close());

      for (const [kind, path, flags] of PAGES) {
        test(`Firefox shows ${flags}`, { skip: clientMissing.firefox, timeout: 40_000 }, async () => {
          const { run, screenshot } = await firefoxRun(firefox!, `${base}${path}`, `firefox-${kind}-${frontEnd}`);
          report({ client: client('Firefox ESR', kind), variant: 'recommended', frontEnd, path: 'direct', flags }, run, {
            extra: screenshot,
          });
        });
      }
    });
  });
}
