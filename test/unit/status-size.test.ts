/**
 * /status stays small however many viewers there are, and camera errors in
 * it carry no file paths; through the Router, without sockets (3,000 viewers are built, not
 * connected; the query on both front ends: test/integration/status-query.test.ts).
 *
 * The bug: /status listed every viewer, about 350 bytes each: 1.03 MB per request with 3,000
 * viewers, and every open page polled it every 1.5 s, an amplifier for anyone who can open pages.
 * Now it lists the first STATUS_CLIENTS with the totals, the rest on request, and the page polls
 * the totals only (?clients=none).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from '../../src/core/log.js';
import { Admission } from '../../src/server/admission.js';
import { renderIndexPage } from '../../src/server/page.js';
import { Router } from '../../src/server/router.js';
import { testSettings } from '../helpers/router-settings.js';
import {
  buildStatus,
  cameraStatus,
  STATUS_CLIENTS,
  type StatusDocument,
  type ThreadStats,
  type ViewerStatus,
  withoutPaths,
} from '../../src/server/status.js';
import type { CameraView } from '../../src/stream/camera-view.js';

const VIEWERS = 3000;
const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

function camera(name: string, lastError: string | null = null): CameraView {
  const stats = { sourceInfo: () => ({ fps: 30, width: 1280, height: 720 }), published: () => 123_456, dropped: () => 0 };
  const feed = { subscribe: () => null, unsubscribe: () => {} };
  return {
    name,
    driver: 'files',
    state: lastError ? 'error' : 'running',
    lastError: lastError ? { message: lastError, at: new Date() } : null,
    stats,
    feed,
  } as unknown as CameraView;
}

/** A viewer as viewerStatus() reports one, with the widest plausible values. */
function viewer(id: number, thread: number, cam: string): ViewerStatus {
  return {
    id,
    thread,
    camera: cam,
    remoteAddress: `::ffff:192.168.${(id >> 8) & 255}.${id & 255}`,
    path: `/cameras/${cam}/video_feed`,
    maxFps: null,
    deliveredFps: 29.97,
    framesSent: 1_234_567,
    framesSkipped: 12_345,
    framesRepeated: 1_234,
    bytesSent: 123_456_789_012,
    connectedSince: new Date().toISOString(),
  };
}

function bigStatus(): StatusDocument {
  const cameras = [camera('front'), camera('door')];
  const threads: ThreadStats[] = [0, 1].map((thread) => ({
    thread,
    clients: Array.from({ length: VIEWERS / 2 }, (_, i) => viewer(thread * VIEWERS + i, thread, i % 2 ? 'front' : 'door')),
    slowClientsDisconnected: 3,
    metrics: [],
  }));
  return buildStatus({ cameras, threads, frontEnd: 'uws', version: '1.0.0', startedAt: Date.now() - 5000 });
}

function router(status: () => Promise<unknown>): Router {
  const settings = testSettings({ version: 't' });
  return new Router({
    cameras: [camera('front'), camera('door')],
    settings,
    admission: new Admission(0),
    log: silent,
    status,
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
  });
}

/** GET `target` through the router: status and body as the front ends would send them. */
async function get(r: Router, target: string): Promise<{ status: number; body: string }> {
  const q = target.indexOf('?');
  const route = r.route({
    method: 'GET',
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? '' : target.slice(q + 1),
    header: (name) => (name === 'host' ? 'localhost:5000' : undefined),
    remoteAddress: () => '127.0.0.1',
  });
  const response = route.kind === 'deferred' ? await route.response : route.kind === 'plain' ? route.response : null;
  assert.ok(response, `GET ${target}: a ${route.kind} route`);
  return { status: response.status, body: String(response.body) };
}

describe('/status size', () => {
  it(`with ${VIEWERS} viewers: the totals and the first ${STATUS_CLIENTS} viewers, under 64 KB; the page's poll under 4 KB`, async () => {
    const doc = bigStatus();
    const r = router(async () => doc);
    // What one request cost before: the whole list (the test's viewers are as wide as real ones).
    const all = await get(r, '/status?clients=all');
    assert.ok(all.body.length > 900_000, `the whole list is ${all.body.length} bytes`);
    assert.equal((JSON.parse(all.body) as StatusDocument).clients.length, VIEWERS);

    const plain = await get(r, '/status');
    assert.equal(plain.status, 200);
    assert.ok(plain.body.length < 64 * 1024, `/status is ${plain.body.length} bytes`);
    const s = JSON.parse(plain.body) as StatusDocument & { cameras: { viewers: number }[]; httpThreads: { clients: number }[] };
    assert.equal(s.clients.length, STATUS_CLIENTS);
    assert.equal(s.clientsTotal, VIEWERS);
    assert.equal(s.clientsTruncated, true);
    // Per camera and per thread, the totals are all there.
    assert.deepEqual(
      s.cameras.map((c) => c.viewers),
      [VIEWERS / 2, VIEWERS / 2],
    );
    assert.deepEqual(
      s.httpThreads.map((t) => t.clients),
      [VIEWERS / 2, VIEWERS / 2],
    );

    const summary = await get(r, '/status?clients=none');
    assert.ok(summary.body.length < 4096, `the page's poll is ${summary.body.length} bytes`);
    const sum = JSON.parse(summary.body) as StatusDocument;
    assert.deepEqual(sum.clients, []);
    assert.equal(sum.clientsTotal, VIEWERS);
  });

  it('pages through the viewers with ?offset=&limit=; bad values are a 400 naming the parameter', async () => {
    const doc = bigStatus();
    const r = router(async () => doc);
    const page = JSON.parse((await get(r, '/status?offset=2990&limit=50')).body) as StatusDocument;
    assert.deepEqual(
      page.clients.map((c) => c.id),
      doc.clients.slice(2990).map((c) => c.id),
    );
    assert.equal(page.clientsTruncated, true);
    const first = JSON.parse((await get(r, '/status?limit=3')).body) as StatusDocument;
    assert.deepEqual(
      first.clients.map((c) => c.id),
      [0, 1, 2],
    );
    for (const [target, message] of [
      ['/status?limit=1001', 'invalid query parameter limit "1001": expected an integer from 0 to 1000\n'],
      ['/status?offset=-1', 'invalid query parameter offset "-1": expected an integer from 0 to 999999999\n'],
      ['/status?clients=some', 'invalid query parameter clients "some": expected all or none\n'],
      ['/status?limit=1&limit=2', 'invalid query parameter limit: given 2 times, expected once\n'],
      ['/status?clients=all&offset=5', 'invalid query: clients= cannot be combined with offset= or limit=\n'],
    ] as const) {
      const res = await get(r, target);
      assert.equal(res.status, 400, target);
      assert.equal(res.body, message);
    }
    // A few viewers: all of them, not truncated.
    const small = buildStatus({ cameras: [camera('front')], threads: [], frontEnd: 'node', version: 't', startedAt: Date.now() });
    const few = JSON.parse(
      (
        await get(
          router(async () => small),
          '/status',
        )
      ).body,
    ) as StatusDocument;
    assert.deepEqual([few.clients.length, few.clientsTotal, few.clientsTruncated], [0, 0, false]);
  });

  it('the page polls the totals only (?clients=none), never the viewer list', () => {
    const page = renderIndexPage([{ name: 'front', streamPath: '/video_feed' }]);
    assert.match(page, /fetch\('\/status\?clients=none'/);
    assert.doesNotMatch(page, /fetch\('\/status'/);
  });
});

describe('camera errors without paths', () => {
  it('/status shows what failed, with [path] for the path', () => {
    const s = cameraStatus(camera('front', 'invalid frame /home/pi/private frames/frame000.jpg: not a complete JPEG'), 0) as {
      lastError: { message: string };
    };
    assert.equal(s.lastError.message, 'invalid frame [path]: not a complete JPEG');
  });

  it('finds the paths errors carry, and leaves URLs, ratios and media types alone', () => {
    for (const [message, shown] of [
      ['invalid frame /tmp/x y/frame2.jpg: not a complete JPEG', 'invalid frame [path]: not a complete JPEG'],
      ['invalid --source "/home/pi/frames": not a folder', 'invalid --source [path]: not a folder'],
      ["ENOENT: no such file or directory, open '/srv/cam/a.jpg'", 'ENOENT: no such file or directory, open [path]'],
      ['invalid frame frames/0001.jpg: bad', 'invalid frame [path]: bad'],
      ['cannot open /dev/video0 (busy)', 'cannot open [path] (busy)'],
      ['cannot read C:\\frames\\a.jpg', 'cannot read [path]'],
      ['module file:///opt/drivers/x.js failed', 'module [path] failed'],
      ['source=./frames/x is empty', 'source=[path] is empty'],
      ['~/frames is empty', '[path] is empty'],
      ['upstream http://cam.local/video/x.mjpg: HTTP 404', 'upstream http://cam.local/video/x.mjpg: HTTP 404'],
      ['upstream "http://cam/x/stream.mjpg" refused', 'upstream "http://cam/x/stream.mjpg" refused'],
      ['30/1 fps, 1/2.5, HTTP/1.1 502, image/jpeg, 30 frames / s', '30/1 fps, 1/2.5, HTTP/1.1 502, image/jpeg, 30 frames / s'],
      ['camera "front" delivered no frame within 5 s', 'camera "front" delivered no frame within 5 s'],
    ] as const)
      assert.equal(withoutPaths(message), shown, message);
  });
});
