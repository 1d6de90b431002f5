/**
 * The index page in a real browser (Debian's Chromium through playwright-core): the live image
 * decodes and changes, each camera's panel fills from /status, the snapshot link downloads a
 * JPEG, the full-screen button works, the image and snapshot link work with JavaScript off,
 * several cameras make a grid, and a stream cut by a server restart comes back by itself.
 * Screenshots go to test-artifacts/ (git-ignored) for a person to look at.
 */

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { createTestServer, type TestServer, withTestServer } from '../helpers/server.js';
import { jpegInfo } from '../helpers/jpeg.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { sleep } from '../helpers/wait.js';
import { chromiumMissing, launchChromium, watchColours } from '../helpers/browser.js';

const ARTIFACTS = new URL('test-artifacts/', REPO_ROOT);
const artifact = (name: string): string => fileURLToPath(new URL(name, ARTIFACTS));

interface OpenPage {
  context: BrowserContext;
  page: Page;
  /** Uncaught exceptions and console errors of the page. */
  errors: string[];
}

async function openIndex(browser: Browser, port: number, options: BrowserContextOptions = {}): Promise<OpenPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  context.setDefaultTimeout(10_000); // ms, every wait and action
  context.setDefaultNavigationTimeout(10_000);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(`http://127.0.0.1:${port}/`);
  return { context, page, errors };
}

/** Reads `read()` every 100 ms until `ok` holds or `timeoutMs` passed; returns the last value. */
async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() >= deadline) return value;
    await sleep(100);
  }
}

const figure = (page: Page, camera: string) => page.locator(`figure[data-camera="${camera}"]`);

/** What camera `camera`'s panel shows. */
async function panel(page: Page, camera: string): Promise<{ state: string; fps: string; viewers: number; resolution: string }> {
  const field = async (name: string) => ((await figure(page, camera).locator(`[data-field="${name}"]`).textContent()) ?? '').trim();
  return {
    state: await field('state'),
    fps: await field('fps'),
    viewers: Number(await field('viewers')),
    resolution: await field('resolution'),
  };
}

// The capture rate is measured over about a second, so it shows a little after the first frame.
const isUp = (p: Awaited<ReturnType<typeof panel>>): boolean =>
  p.state === 'running' && p.viewers >= 1 && p.resolution !== '–' && Number(p.fps) > 0;
const near = (fps: string, expected: number): boolean => Math.abs(Number(fps) - expected) <= expected * 0.2;

/** The decoded size of camera `camera`'s image (0 × 0 until its first frame). */
async function imageSize(page: Page, camera: string): Promise<{ width: number; height: number; src: string }> {
  return figure(page, camera)
    .locator('img')
    .evaluate((img) => ({ width: img.naturalWidth, height: img.naturalHeight, src: img.getAttribute('src') }));
}

/** Clicks the snapshot link and checks that what downloads is a whole 640x480 JPEG; returns its file name. */
async function downloadSnapshot(page: Page, camera: string): Promise<string> {
  const [download] = await Promise.all([page.waitForEvent('download'), figure(page, camera).locator('[data-action="snapshot"]').click()]);
  const path = await download.path();
  const jpeg = await readFile(path);
  assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8], 'the snapshot starts like a JPEG');
  assert.deepEqual([...jpeg.subarray(-2)], [0xff, 0xd9], 'the snapshot ends like a JPEG');
  const info = await jpegInfo(jpeg);
  assert.deepEqual([info.width, info.height], [640, 480]);
  return download.suggestedFilename();
}

// The skip goes on each test, not the suite: a skipped suite is not counted in the runner's
// "skipped" total, which is what .ci/run checks.
const skip = chromiumMissing;

describe('the index page in Chromium', () => {
  let browser: Browser | undefined;
  before(
    async () => {
      if (skip) return;
      mkdirSync(ARTIFACTS, { recursive: true });
      browser = await launchChromium();
    },
    { timeout: 30_000 },
  );
  after(() => browser?.close(), { timeout: 10_000 });

  test('shows the live image, its status, a snapshot and full screen', { skip, timeout: 30_000 }, async () => {
    await withTestServer(['--fps', '5'], async (ts) => {
      const { context, page, errors } = await openIndex(browser!, ts.port);
      try {
        const size = await until(
          () => imageSize(page, 'default'),
          (s) => s.width > 0,
          10_000,
        );
        assert.deepEqual(size, { width: 640, height: 480, src: '/video_feed' });

        // The picture moves: at 5 fps the emulated camera cycles blue, green, red.
        const colours = await watchColours(page, 'figure[data-camera="default"] img', 3, 5_000);
        assert.ok(new Set(colours).size >= 2, `the image should change over time; saw ${colours.join(', ')}`);

        const shown = await until(() => panel(page, 'default'), isUp, 10_000);
        assert.deepEqual(
          { ...shown, viewers: shown.viewers >= 1, fps: near(shown.fps, 5) },
          { state: 'running', fps: true, viewers: true, resolution: '640×480' },
          JSON.stringify(shown),
        );
        // The panel shows what /status says.
        const status = (await (await fetch(`http://127.0.0.1:${ts.port}/status`)).json()) as {
          cameras: { name: string; viewers: number }[];
          clients: { camera: string }[];
        };
        assert.ok(status.cameras[0]!.viewers >= 1);
        assert.ok(status.clients.some((c) => c.camera === 'default'));

        const link = figure(page, 'default').locator('[data-action="snapshot"]');
        assert.equal(await link.getAttribute('href'), '/snapshot');
        assert.match(await downloadSnapshot(page, 'default'), /^default-\d{4}-\d\d-\d\dT[\d-]+Z\.jpg$/);

        const fullscreen = figure(page, 'default').locator('[data-action="fullscreen"]');
        await fullscreen.click();
        await until(
          () => fullscreen.textContent(),
          (t) => t === 'Exit full screen',
          5_000,
        );
        assert.equal(
          await figure(page, 'default').evaluate((f) => f.ownerDocument.fullscreenElement === f),
          true,
          'the figure is full screen',
        );
        await fullscreen.click();
        assert.equal(
          await until(
            () => fullscreen.textContent(),
            (t) => t === 'Full screen',
            5_000,
          ),
          'Full screen',
        );

        await page.screenshot({ path: artifact('browser-index.png'), fullPage: true });
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });
  });

  test('with JavaScript off, the image streams and the snapshot link downloads', { skip, timeout: 30_000 }, async () => {
    await withTestServer(['--fps', '5'], async (ts) => {
      const { context, page } = await openIndex(browser!, ts.port, { javaScriptEnabled: false });
      try {
        const size = await until(
          () => imageSize(page, 'default'),
          (s) => s.width > 0,
          10_000,
        );
        assert.deepEqual(size, { width: 640, height: 480, src: '/video_feed' });
        // Only what works without a script is on the page.
        assert.equal(await figure(page, 'default').locator('[data-action="fullscreen"]').isVisible(), false);
        assert.equal(await figure(page, 'default').locator('.stats').isVisible(), false);
        assert.equal(await downloadSnapshot(page, 'default'), 'default-snapshot.jpg');
        await page.screenshot({ path: artifact('browser-index-nojs.png') });
      } finally {
        await context.close();
      }
    });
  });

  test('two cameras: two live images and two panels, side by side', { skip, timeout: 30_000 }, async () => {
    await withTestServer(['--camera', 'a=emulated', '--camera', 'b=emulated,fps=2'], async (ts) => {
      const { context, page, errors } = await openIndex(browser!, ts.port);
      try {
        assert.equal(await page.locator('figure.cam').count(), 2);
        assert.deepEqual(
          await until(
            () => imageSize(page, 'a'),
            (s) => s.width > 0,
            10_000,
          ),
          { width: 640, height: 480, src: '/video_feed' },
        );
        assert.deepEqual(
          await until(
            () => imageSize(page, 'b'),
            (s) => s.width > 0,
            10_000,
          ),
          { width: 640, height: 480, src: '/cameras/b/video_feed' },
        );
        assert.equal(await figure(page, 'b').locator('[data-action="snapshot"]').getAttribute('href'), '/cameras/b/snapshot');

        const a = await until(() => panel(page, 'a'), isUp, 10_000);
        const b = await until(() => panel(page, 'b'), isUp, 10_000);
        assert.deepEqual([a.state, near(a.fps, 1), a.resolution], ['running', true, '640×480'], JSON.stringify(a));
        assert.deepEqual([b.state, near(b.fps, 2), b.resolution], ['running', true, '640×480'], JSON.stringify(b));
        assert.ok(a.viewers >= 1 && b.viewers >= 1, `viewers: a ${a.viewers}, b ${b.viewers}`);

        // A grid: at 1280 px wide the two cameras share a row.
        const [boxA, boxB] = [await figure(page, 'a').boundingBox(), await figure(page, 'b').boundingBox()];
        assert.ok(boxA && boxB);
        assert.equal(boxA.y, boxB.y);
        assert.ok(boxB.x >= boxA.x + boxA.width, 'b is right of a');

        await page.screenshot({ path: artifact('browser-index-two-cameras.png'), fullPage: true });
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });
  });

  // On the node:http front end: after the uWebSockets.js front end's close(), the browser's idle
  // keep-alive connection (the /status polling) stays open, and a new server in this process
  // cannot listen on the same port while it does.
  test('re-attaches the stream after the server restarts', { skip, timeout: 30_000 }, async () => {
    const args = ['--fps', '5', '--http', 'node'];
    const first = await createTestServer(args);
    let second: TestServer | undefined;
    const { context, page } = await openIndex(browser!, first.port);
    try {
      assert.equal(
        (
          await until(
            () => imageSize(page, 'default'),
            (s) => s.width > 0,
            10_000,
          )
        ).width,
        640,
      );
      await first.close();
      const down = await until(
        () => panel(page, 'default'),
        (p) => p.state === 'offline',
        5_000,
      );
      assert.equal(down.state, 'offline', 'the panel notices the server went away');

      second = await createTestServer([...args, '--port', String(first.port)]);
      const back = await until(
        () => imageSize(page, 'default'),
        (s) => s.width > 0 && s.src.startsWith('/video_feed?r='),
        10_000,
      );
      assert.equal(back.width, 640, `the image came back (src ${back.src})`);
      const colours = await watchColours(page, 'figure[data-camera="default"] img', 2, 5_000);
      assert.ok(new Set(colours).size >= 2, `the re-attached image should move; saw ${colours.join(', ')}`);
      assert.equal((await until(() => panel(page, 'default'), isUp, 10_000)).state, 'running');
      assert.equal(await figure(page, 'default').getAttribute('data-stalled'), null, 'no "reconnecting" overlay left');
    } finally {
      await context.close();
      await first.close();
      await second?.close();
    }
  });

  // Behind a load balancer, successive polls of /status are answered by different servers; one
  // younger than the last to answer is no restart, and re-attaching then moved a healthy stream.
  test('behind a load balancer, a younger server answering /status does not re-attach the stream', { skip, timeout: 30_000 }, async () => {
    const older = await createTestServer(['--fps', '5']);
    await sleep(2000);
    const younger = await createTestServer(['--fps', '5']);
    let streams = 0;
    let polls = 0;
    // The balancer: streams and the page from the older server, /status from each in turn.
    const balancer = http.createServer((req, res) => {
      const path = req.url ?? '/';
      if (path.startsWith('/video_feed')) streams++;
      const port = path.startsWith('/status') && polls++ % 2 === 1 ? younger.port : older.port;
      const upstream = http.request({ host: '127.0.0.1', port, path, method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      res.on('close', () => upstream.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => balancer.listen(0, '127.0.0.1', resolve));
    const { context, page } = await openIndex(browser!, (balancer.address() as AddressInfo).port);
    try {
      await until(
        () => imageSize(page, 'default'),
        (s) => s.width > 0,
        10_000,
      );
      const before = streams;
      await sleep(6000); // four polls, two of them answered by the younger server
      assert.ok(polls >= 4, `the page polled ${polls} times`);
      assert.equal(streams, before, `the stream was re-attached ${streams - before} times while nothing failed`);
    } finally {
      await context.close();
      balancer.closeAllConnections();
      balancer.close();
      await older.close();
      await younger.close();
    }
  });

  test('with a URL secret, the image streams from signed links the page renews before they expire', { skip, timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'framering-page-links-'));
    try {
      writeFileSync(join(dir, 'keys'), 'page-links-test-key-0123456789abcdef\n');
      // Links of 10 s (the shortest): the page renews them after 8 s; the server ends a stream
      // whose link expired, so the image keeps moving past 10 s only if the renewal works.
      const args = ['--fps', '5', '--auth', 'user:secret', '--url-secret-file', join(dir, 'keys'), '--page-link-ttl', '10'];
      await withTestServer(args, async (ts) => {
        const { context, page, errors } = await openIndex(browser!, ts.port, { httpCredentials: { username: 'user', password: 'secret' } });
        try {
          const first = await until(
            () => imageSize(page, 'default'),
            (s) => s.width > 0 && s.src.includes('sig='),
            10_000,
          );
          assert.match(first.src, /^\/cameras\/default\/video_feed\?exp=\d+&r=[\w-]+&sig=[\w-]{43}$/);
          const snapshot = await figure(page, 'default').locator('[data-action="snapshot"]').getAttribute('href');
          assert.match(snapshot ?? '', /^\/cameras\/default\/snapshot\?exp=\d+&r=[\w-]+&sig=/);
          // The link works without the browser's credentials: it is what can be copied and shared.
          const plain = await fetch(`http://127.0.0.1:${ts.port}${snapshot}`);
          assert.equal(plain.status, 200);
          await sleep(12_000);
          const later = await imageSize(page, 'default');
          assert.notEqual(later.src, first.src, 'the link was renewed');
          assert.equal(later.width, 640);
          const colours = await watchColours(page, 'figure[data-camera="default"] img', 2, 5_000);
          assert.ok(new Set(colours).size >= 2, `the image still moves after the first link expired; saw ${colours.join(', ')}`);
          assert.deepEqual(errors, []);
        } finally {
          await context.close();
        }
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
