/**
 * Router, called directly with request descriptions (no socket, no front end): which route a
 * request gets, 404 and 405, Basic auth with /healthz left open, ?fps validation, --max-clients
 * through Admission leases, and the CORS preflight. Cameras are plain CameraView objects; no
 * route here reads a frame.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Logger } from '../../src/core/log.js';
import { Admission } from '../../src/server/admission.js';
import { parseCredentials } from '../../src/server/auth.js';
import { type Headers, type RequestInfo, type Route, Router, type RouterOptions } from '../../src/server/router.js';
import type { HttpSettings } from '../../src/server/settings.js';
import { testSettings } from '../helpers/router-settings.js';
import type { CameraView } from '../../src/stream/camera-view.js';

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** A camera that never delivers: its feed has no frame (a snapshot of it times out). */
function camera(name: string): CameraView {
  const feed = { subscribe: () => null, unsubscribe: () => {} };
  return { name, state: 'idle', lastError: null, feed } as unknown as CameraView;
}

function router(extra: Partial<HttpSettings> = {}, options: Partial<RouterOptions> = {}): Router {
  const s = testSettings({ snapshotTimeoutMs: 1, ...extra });
  return new Router({
    cameras: [camera('default'), camera('back yard')],
    settings: s,
    admission: new Admission(s.maxClients),
    log: silent,
    status: async () => ({ status: 'test' }),
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'framering_up 1\n' }),
    ...options,
  });
}

function req(method: string, target: string, headers: Record<string, string> = {}): RequestInfo {
  const q = target.indexOf('?');
  return {
    method,
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? '' : target.slice(q + 1),
    header: (name) => headers[name],
    remoteAddress: () => headers['x-test-address'] ?? '192.0.2.1',
  };
}

const header = (headers: Headers, name: string): string | undefined => headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];

/** The plain response of `route`, failing if it is another kind. */
function plain(route: Route) {
  assert.equal(route.kind, 'plain', `expected a plain response, got ${route.kind}`);
  return (route as Extract<Route, { kind: 'plain' }>).response;
}

describe('Router', () => {
  test('the page, /status, /metrics, /healthz, the stream and the snapshot of the first camera and of a named one', async () => {
    const r = router();
    const page = plain(r.route(req('GET', '/')));
    assert.equal(page.status, 200);
    assert.match(String(page.body), /<img\b[^>]*\bsrc="\/video_feed"/);
    assert.match(String(page.body), /\/cameras\/back%20yard\/video_feed/);
    assert.equal(plain(r.route(req('GET', '/index.html'))).status, 200);

    const status = r.route(req('GET', '/status'));
    assert.equal(status.kind, 'deferred');
    assert.deepEqual(JSON.parse(String((await (status as Extract<Route, { kind: 'deferred' }>).response).body)), { status: 'test' });
    const metrics = r.route(req('GET', '/metrics'));
    assert.equal(metrics.kind, 'deferred');
    assert.equal((await (metrics as Extract<Route, { kind: 'deferred' }>).response).body, 'framering_up 1\n');

    const health = plain(r.route(req('GET', '/healthz')));
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(String(health.body)), { status: 'serving', cameras: { default: 'idle', 'back yard': 'idle' } });

    const stream = r.route(req('GET', '/video_feed'));
    assert.equal(stream.kind, 'stream');
    if (stream.kind !== 'stream') return;
    assert.equal(stream.camera.name, 'default');
    assert.equal(stream.maxFps, 0);
    assert.equal(stream.slowTimeoutMs, 10_000);
    assert.equal(header(stream.headers, 'content-type'), 'multipart/x-mixed-replace; boundary=frame');
    stream.lease.release();

    const named = r.route(req('GET', '/cameras/back%20yard/video_feed'));
    assert.equal(named.kind === 'stream' && named.camera.name, 'back yard');
    if (named.kind === 'stream') named.lease.release();
    for (const [path, name] of [
      ['/snapshot', 'default'],
      ['/cameras/back%20yard/snapshot', 'back yard'],
    ] as const) {
      const snap = r.route(req('GET', path));
      assert.equal(snap.kind, 'deferred', path);
      // The camera never delivers: 503 once the (1 ms) snapshot timeout passes, naming the camera.
      const res = await (snap as Extract<Route, { kind: 'deferred' }>).response;
      assert.equal(res.status, 503);
      assert.match(String(res.body), new RegExp(`^camera "${name}" delivered no frame`));
    }
  });

  test('unknown paths and unknown cameras are 404; every response carries nosniff', () => {
    const r = router();
    for (const path of ['/nope', '/video_feed/extra', '/cameras', '/video_feed.mjpg', '/cameras/default/other']) {
      const res = plain(r.route(req('GET', path)));
      assert.equal(res.status, 404, path);
      assert.equal(header(res.headers, 'x-content-type-options'), 'nosniff');
    }
    const missing = plain(r.route(req('GET', '/cameras/front%0Adoor/video_feed')));
    assert.equal(missing.status, 404);
    assert.equal(String(missing.body), 'no camera named "front\\ndoor"\n', 'one line, whatever the name holds');
  });

  test('other methods on known paths are 405 with Allow: GET, HEAD', () => {
    const r = router();
    for (const path of ['/', '/video_feed', '/snapshot', '/status', '/metrics', '/healthz', '/cameras/back%20yard/video_feed']) {
      for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
        const res = plain(r.route(req(method, path)));
        assert.equal(res.status, 405, `${method} ${path}`);
        assert.equal(header(res.headers, 'allow'), 'GET, HEAD');
      }
    }
  });

  test('--auth: 401 with a challenge without the right credentials; /healthz stays open', () => {
    const credentials = parseCredentials('user:secret');
    assert.ok(credentials);
    // The lockout would refuse this test's many wrong credentials from one address: off here.
    const r = router({ auth: [credentials], lockout: { attempts: 0, windowMs: 60_000, durationMs: 300_000 } });
    const good = `Basic ${Buffer.from('user:secret').toString('base64')}`;
    const bad = `Basic ${Buffer.from('user:wrong').toString('base64')}`;
    for (const path of ['/', '/video_feed', '/snapshot', '/status', '/metrics', '/nope']) {
      for (const authorization of [undefined, bad, 'Bearer x']) {
        const res = plain(r.route(req('GET', path, authorization === undefined ? {} : { authorization })));
        assert.equal(res.status, 401, `${path} with ${authorization}`);
        assert.match(header(res.headers, 'www-authenticate') ?? '', /^Basic realm=/);
      }
    }
    assert.equal(plain(r.route(req('GET', '/healthz'))).status, 200);
    assert.equal(plain(r.route(req('GET', '/', { authorization: good }))).status, 200);
    const stream = r.route(req('GET', '/video_feed', { authorization: good }));
    assert.equal(stream.kind, 'stream');
    if (stream.kind === 'stream') stream.lease.release();
  });

  test('?fps: a number more than 0 and at most 1000, given once; anything else is 400 naming fps, and admits nobody', () => {
    const admission = new Admission(0);
    const r = router({}, { admission });
    for (const [query, fps] of [
      ['fps=5', 5],
      ['fps=2.5', 2.5],
      ['fps=.5', 0.5],
      ['fps=1000', 1000],
    ] as const) {
      const route = r.route(req('GET', `/video_feed?${query}`));
      assert.equal(route.kind, 'stream', query);
      if (route.kind !== 'stream') continue;
      assert.equal(route.maxFps, fps);
      route.lease.release();
    }
    for (const query of ['fps=0', 'fps=-1', 'fps=abc', 'fps=', 'fps=1001', 'fps=1e2', 'fps=5&fps=50', 'fps=%0A5']) {
      const res = plain(r.route(req('GET', `/video_feed?${query}`)));
      assert.equal(res.status, 400, query);
      assert.match(String(res.body), /^invalid query parameter fps\b/);
      assert.equal(String(res.body).trimEnd().includes('\n'), false, `${query}: one line`);
    }
    assert.equal(admission.admitted, 0);
  });

  test('--max-clients 2: the third stream is 503 with Retry-After; a released lease lets the next one in; HEAD takes no place', () => {
    const admission = new Admission(2);
    const r = router({ maxClients: 2 }, { admission });
    const first = r.route(req('GET', '/video_feed'));
    const second = r.route(req('GET', '/cameras/back%20yard/video_feed'));
    assert.equal(first.kind, 'stream');
    assert.equal(second.kind, 'stream');
    const third = plain(r.route(req('GET', '/video_feed')));
    assert.equal(third.status, 503);
    assert.equal(header(third.headers, 'retry-after'), '5');
    assert.match(String(third.body), /--max-clients 2/);
    assert.equal(plain(r.route(req('HEAD', '/video_feed'))).status, 503);
    if (first.kind === 'stream') {
      first.lease.release();
      first.lease.release(); // twice: still one place back
    }
    assert.equal(admission.admitted, 1);
    const head = plain(r.route(req('HEAD', '/video_feed')));
    assert.equal(head.status, 200);
    assert.equal(admission.admitted, 1, 'HEAD took no place');
    const fourth = r.route(req('GET', '/video_feed'));
    assert.equal(fourth.kind, 'stream');
    assert.equal(plain(r.route(req('GET', '/video_feed'))).status, 503);
  });

  test('CORS: with --cors-origin, a preflight is 204 with the allowed methods and headers, and every response names the origin', () => {
    const r = router({ corsOrigin: 'https://example.com' });
    const pre = plain(r.route(req('OPTIONS', '/video_feed')));
    assert.equal(pre.status, 204);
    assert.equal(header(pre.headers, 'access-control-allow-origin'), 'https://example.com');
    assert.equal(header(pre.headers, 'access-control-allow-methods'), 'GET, HEAD, OPTIONS');
    assert.equal(header(pre.headers, 'access-control-allow-headers'), 'Authorization');
    const page = plain(r.route(req('GET', '/')));
    assert.equal(header(page.headers, 'access-control-allow-origin'), 'https://example.com');
    assert.equal(header(page.headers, 'vary'), 'Origin');
    // Without --cors-origin there is no preflight and no CORS header.
    const none = router();
    assert.equal(plain(none.route(req('OPTIONS', '/video_feed'))).status, 405);
    assert.equal(header(plain(none.route(req('GET', '/'))).headers, 'access-control-allow-origin'), undefined);
  });

  test('CORS preflight needs no credentials (browsers send none), the request after it does', () => {
    const credentials = parseCredentials('user:secret');
    assert.ok(credentials);
    const r = router({ corsOrigin: 'https://example.com', auth: [credentials] });
    assert.equal(plain(r.route(req('OPTIONS', '/status'))).status, 204);
    assert.equal(plain(r.route(req('GET', '/status'))).status, 401);
  });
});
