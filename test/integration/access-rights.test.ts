/**
 * Users, cameras and roles from an auth file, and /metrics for a scraper's bearer token, against
 * the real server on both front ends: a viewer-only user sees only its cameras (page included)
 * and never /status or /metrics; an admin sees everything; the token opens /metrics and nothing
 * else; /healthz stays open.
 */

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { basic, fetchOnce, FRONT_ENDS } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';

const TOKEN = 'metrics-token-0123456789abcdef';
const ALICE = { Authorization: basic('alice:wonder') };
const BOB = { Authorization: basic('bob:builder') };

for (const http of FRONT_ENDS) {
  describe(`users, cameras and roles (--http ${http})`, { timeout: 60_000 }, () => {
    it('a viewer sees only its cameras and no /status or /metrics; an admin everything; the token only /metrics', async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'framering-rights-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      await writeFile(join(dir, 'users'), '# admin: every camera\nalice:wonder\nbob:builder cameras=front role=viewer\n');
      await writeFile(join(dir, 'token'), `${TOKEN}\n`);
      const ts = await startTestServer(t, [
        '--http',
        http,
        '--auth-file',
        join(dir, 'users'),
        '--metrics-token-file',
        join(dir, 'token'),
        '--camera',
        'front=emulated',
        '--camera',
        'back=emulated',
      ]);
      const get = (path: string, headers: Record<string, string> = {}) => fetchOnce(ts.port, path, { headers });

      // bob: front only, streams and snapshots, no /status or /metrics.
      const page = await get('/', BOB);
      assert.equal(page.status, 200);
      assert.match(page.text, /data-camera="front"/);
      assert.doesNotMatch(page.text, /data-camera="back"/);
      assert.doesNotMatch(page.text, /href="\/status"/);
      assert.match(page.text, /<body data-status="off">/);
      assert.equal((await get('/cameras/front/snapshot', BOB)).status, 200);
      assert.equal((await get('/snapshot', BOB)).status, 200); // the first camera is front
      const back = await get('/cameras/back/snapshot', BOB);
      assert.equal(back.status, 403);
      assert.equal(back.text, 'user "bob" may not watch camera "back"\n');
      for (const path of ['/status', '/metrics']) {
        const r = await get(path, BOB);
        assert.equal(r.status, 403, path);
        assert.equal(r.text, `user "bob" may not read ${path} (not an admin)\n`);
      }
      const stream = await ts.connect({ path: '/cameras/back/video_feed', headers: BOB }).catch((e: Error) => e);
      assert.ok(stream instanceof Error || stream.status === 403, 'bob got a stream of back');

      // alice: everything, the page with both cameras and its status line.
      const full = await get('/', ALICE);
      assert.match(full.text, /data-camera="back"/);
      assert.match(full.text, /<body data-status="on">/);
      assert.equal((await get('/status', ALICE)).status, 200);
      assert.equal((await get('/metrics', ALICE)).status, 200);
      assert.equal((await get('/cameras/back/snapshot', ALICE)).status, 200);

      // The scraper's token: /metrics only.
      const scraped = await get('/metrics', { Authorization: `Bearer ${TOKEN}` });
      assert.equal(scraped.status, 200);
      assert.match(scraped.text, /^framering_frames_sent_total/m);
      const wrong = await get('/metrics', { Authorization: 'Bearer not-the-token' });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.headers['www-authenticate'], 'Bearer realm="framering metrics"');
      assert.equal((await get('/status', { Authorization: `Bearer ${TOKEN}` })).status, 401);
      assert.equal((await get('/cameras/front/snapshot', { Authorization: `Bearer ${TOKEN}` })).status, 401);
      assert.match((await get('/metrics', ALICE)).text, /^framering_auth_failures_total\{kind="bearer"\} 1$/m);

      // /healthz: open, and nothing but health.
      const states = JSON.parse((await get('/status', ALICE)).text) as { cameras: { name: string; state: string }[] };
      const expect = Object.fromEntries(states.cameras.map((c) => [c.name, c.state])) as Record<'front' | 'back', string>;
      const health = await get('/healthz');
      assert.equal(health.status, 200);
      // Where access is restricted, camera names are not health: only the states, in order.
      assert.deepEqual(JSON.parse(health.text), { status: 'serving', cameras: [expect.front, expect.back] });
    });
  });
}
