/**
 * Brute-force lockout against the real server on both front ends: wrong Basic credentials or
 * signed links from one address lock it out with 429 and Retry-After (even with the right
 * password), counted in /metrics and logged once; another address and a running stream are not
 * affected; the lockout ends by itself.
 */

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { basic, fetchOnce, FRONT_ENDS } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';

const ATTACKER = '127.0.0.2';
const OTHER = '127.0.0.3';
const RIGHT = { Authorization: basic('user:secret') };
const WRONG = { Authorization: basic('user:guess') };

for (const http of FRONT_ENDS) {
  describe(`brute-force lockout (--http ${http})`, { timeout: 60_000 }, () => {
    it('locks one address after N failures, for the duration, and nothing else', async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'framering-lockout-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      await writeFile(join(dir, 'keys'), 'lockout-test-key-0123456789abcdef\n');
      const ts = await startTestServer(t, [
        '--http',
        http,
        '--host',
        '127.0.0.1',
        '--auth',
        'user:secret',
        '--url-secret-file',
        join(dir, 'keys'),
        '--lockout-attempts',
        '4',
        '--lockout-duration',
        '3',
      ]);
      // A viewer from the attacker's address, admitted before: it keeps streaming throughout.
      const viewer = await ts.connect({ headers: RIGHT, localAddress: ATTACKER });
      await viewer.waitForFrames(1, { timeoutMs: 10_000 });

      const from = (address: string, path: string, headers: Record<string, string> = {}) =>
        fetchOnce(ts.port, path, { headers, localAddress: address });
      // No credentials at all (a browser's first request) is not an attempt.
      for (let i = 0; i < 6; i++) assert.equal((await from(ATTACKER, '/status')).status, 401);
      for (let i = 0; i < 3; i++) assert.equal((await from(ATTACKER, '/status', WRONG)).status, 401);
      assert.equal((await from(ATTACKER, '/video_feed?exp=1&sig=x')).status, 403); // the 4th failure
      const locked = await from(ATTACKER, '/status', RIGHT);
      assert.equal(locked.status, 429);
      assert.match(locked.headers['retry-after'] as string, /^[1-3]$/);
      assert.match(locked.text, /^too many failed attempts from this address; try again in [1-3] s\n$/);
      assert.equal((await from(OTHER, '/status', RIGHT)).status, 200, 'another address is not locked');
      assert.equal((await from(ATTACKER, '/healthz')).status, 200, '/healthz stays open');
      await ts.waitForLog(/4 failed attempts from (::ffff:)?127\.0\.0\.2 within 60 s: refused for 3 s/);

      const metrics = (await from(OTHER, '/metrics', RIGHT)).text;
      assert.match(metrics, /^framering_auth_failures_total\{kind="basic"\} 3$/m);
      assert.match(metrics, /^framering_auth_failures_total\{kind="link"\} 1$/m);
      assert.match(metrics, /^framering_lockouts_total 1$/m);
      assert.match(metrics, /^framering_locked_addresses 1$/m);

      const seen = viewer.frames.length;
      await viewer.waitForFrames(seen + 2, { timeoutMs: 10_000, what: 'the running stream to go on' });
      assert.deepEqual(viewer.errors, []);

      // The lockout ends by itself.
      await new Promise((r) => setTimeout(r, 3200));
      assert.equal((await from(ATTACKER, '/status', RIGHT)).status, 200);
      assert.equal(ts.logs.filter((l) => /failed attempts from/.test(l)).length, 1, 'logged once per lockout');
    });
  });
}
