/**
 * The clients of the direct suites (clients-players, -libraries, -browsers) through each
 * reverse proxy shipped in deploy/ (nginx, HAProxy, Caddy, Apache; test/helpers/proxies.ts),
 * on both front ends: curl, wget, ffmpeg, mpv, GStreamer, VLC, OpenCV, python-requests,
 * urllib, Home Assistant's aiohttp stream, Chromium on framering's page and Firefox with
 * /video_feed in a tab. Same
 * expectations: whole frames at 30 fps, the first within 3 s. Results go to
 * test-artifacts/clients.jsonl for docs/clients.md.
 */

import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { chromiumMissing, launchChromium } from '../helpers/browser.js';
import {
  type Case,
  type Command,
  clientMissing,
  curl,
  ffmpegView,
  type Firefox,
  gstExplicit,
  launchFirefox,
  startClientServer,
  type ClientServer,
  mpv,
  python,
  report,
  runClient,
  vlc,
  wget,
} from '../helpers/clients.js';
import { chromiumRun, firefoxRun } from '../helpers/clients-browsers.js';
import { FRONT_ENDS } from '../helpers/http.js';
import { PROXIES, proxyMissing, startProxy } from '../helpers/proxies.js';

const started = Date.now();
after(() => console.log(`clients-proxies: ${((Date.now() - started) / 1000).toFixed(1)} s`));

const WATCH_MS = 3000;

for (const frontEnd of FRONT_ENDS) {
  describe(`clients through proxies on ${frontEnd}`, () => {
    let cs: ClientServer | undefined;
    let browser: Browser | undefined;
    let firefox: Firefox | undefined;
    before(async () => {
      cs = await startClientServer(frontEnd);
      if (!chromiumMissing) browser = await launchChromium();
      if (!clientMissing.firefox) firefox = await launchFirefox();
    });
    after(async () => {
      await firefox?.close();
      await browser?.close();
      await cs?.close();
    });

    for (const proxy of PROXIES) {
      // One proxy per test, shared by its clients (subtests), stopped when the test ends.
      test(`through ${proxy}`, { skip: proxyMissing(proxy), timeout: 180_000 }, async (t) => {
        const { url } = await startProxy(t, proxy, cs!.server.port);
        const at = (client: string, flags: string): Case => ({ client, variant: 'recommended', frontEnd, path: proxy, flags });
        const byCommand = (name: string, flags: string, skip: string | undefined, command: () => Command | Promise<Command>) =>
          t.test(name, { skip, timeout: 30_000 }, async (tt) => {
            const run = await runClient(tt, await command(), { firstFrameTimeoutMs: 3000, watchMs: WATCH_MS });
            report(at(name, flags), run);
          });
        const feed = `${url}/video_feed`;
        await byCommand('curl', '--no-buffer', clientMissing.curl, () => curl(feed));
        await byCommand('wget', '-O -', clientMissing.wget, () => wget(feed));
        await byCommand('ffmpeg', '-use_wallclock_as_timestamps 1', clientMissing.ffmpeg, () =>
          ffmpegView(feed, ['-use_wallclock_as_timestamps', '1']),
        );
        await byCommand('mpv', '--profile=low-latency --untimed', clientMissing.mpv, () =>
          mpv(t, feed, ['--profile=low-latency', '--untimed']),
        );
        await byCommand('GStreamer', 'souphttpsrc ! multipartdemux ! jpegdec', clientMissing.gstreamer, () => gstExplicit(feed));
        await byCommand('VLC', '--network-caching=200', clientMissing.vlc, () => vlc(feed, ['--network-caching=200']));
        await byCommand('OpenCV (Python)', 'cv2.VideoCapture(url, cv2.CAP_FFMPEG)', clientMissing.python, () => python('opencv', feed));
        await byCommand('python-requests', 'iter_content(chunk_size=None)', clientMissing.python, () => python('requests', feed));
        await byCommand('urllib', 'urlopen(url).read1()', clientMissing.python, () => python('urllib', feed));
        await byCommand('Home Assistant stream (aiohttp)', 'content.read(102400)', clientMissing.python, () =>
          python('aiohttp-stream', feed),
        );
        await t.test('Chromium (<img>)', { skip: chromiumMissing, timeout: 30_000 }, async () => {
          const { run, screenshot } = await chromiumRun(browser!, `${url}/`, `chromium-page-${frontEnd}-${proxy}`, WATCH_MS);
          report(at('Chromium (<img>)', "framering's page (<img>)"), run, { extra: screenshot });
        });
        await t.test('Firefox ESR (tab)', { skip: clientMissing.firefox, timeout: 30_000 }, async () => {
          const { run, screenshot } = await firefoxRun(firefox!, feed, `firefox-tab-${frontEnd}-${proxy}`, WATCH_MS);
          report(at('Firefox ESR (tab)', '/video_feed in a tab'), run, { extra: screenshot });
        });
      });
    }
  });
}
