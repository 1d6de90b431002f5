/**
 * Who may talk to the server and what every response declares, on both front ends
 * (`--http uws` and `--http node`): Basic authentication (--auth, --auth-file) including
 * malformed Authorization headers, HTTPS with a certificate made for the test, CORS
 * (--cors-origin and preflight), and X-Content-Type-Options: nosniff on every kind of response.
 */

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { runCli, startTestServer } from '../helpers/server.js';
import { MjpegClient } from '../helpers/mjpeg-client.js';
import { basic, fetchOnce, FRONT_ENDS, json, rawRequest, UWS_ANSWERS_BAD_REQUESTS } from '../helpers/http.js';
import { isCompleteJpeg, loadEmulatedImages } from '../helpers/jpeg.js';
import { selfSignedCertificate } from '../helpers/tls.js';
import { NEVER_DELIVERS_DRIVER } from '../helpers/paths.js';
import { waitFor } from '../helpers/wait.js';

const CHALLENGE = 'Basic realm="framering", charset="UTF-8"';

/** A new temporary folder, removed when the test ends. */
async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-auth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

for (const http of FRONT_ENDS) {
  describe(`HTTP security and headers (--http ${http})`, () => {
    describe('Basic authentication (--auth user:secret)', () => {
      // Many wrong credentials from one address here: the lockout (lockout.test.ts) is off.
      const args = ['--http', http, '--fps', '10', '--idle-timeout', '0.3', '--auth', 'user:secret', '--lockout-attempts', '0'];
      const good = basic('user:secret');

      test('the right credentials: 200 on the page, /status, /snapshot and the stream', { timeout: 15_000 }, async (t) => {
        const images = await loadEmulatedImages();
        const ts = await startTestServer(t, args);
        for (const path of ['/', '/status', '/metrics']) {
          const res = await fetchOnce(ts.port, path, { headers: { Authorization: good } });
          assert.equal(res.status, 200, `${path}: ${res.text.slice(0, 100)}`);
        }
        // The scheme name is case-insensitive (RFC 9110 11.1).
        assert.equal((await fetchOnce(ts.port, '/status', { headers: { Authorization: good.replace('Basic', 'basic') } })).status, 200);
        const snap = await fetchOnce(ts.port, '/snapshot', { headers: { Authorization: good } });
        assert.equal(snap.status, 200);
        assert.ok(images.some((img) => img.equals(snap.body)));
        const viewer = await ts.connect({ headers: { Authorization: good } });
        assert.equal(viewer.status, 200);
        await viewer.waitForFrames(2);
        assert.deepEqual(viewer.errors, []);
      });

      test('wrong password, wrong user, no header: 401 with WWW-Authenticate, nothing started', { timeout: 15_000 }, async (t) => {
        const ts = await startTestServer(t, args);
        const cases: [string, Record<string, string>][] = [
          ['wrong password', { Authorization: basic('user:wrong') }],
          ['wrong user', { Authorization: basic('someone:secret') }],
          ['password with a suffix', { Authorization: basic('user:secret2') }],
          ['no Authorization header', {}],
        ];
        for (const [what, headers] of cases) {
          for (const path of ['/', '/video_feed', '/snapshot', '/status', '/metrics', '/cameras/default/video_feed', '/nope']) {
            const res = await fetchOnce(ts.port, path, { headers });
            assert.equal(res.status, 401, `${what}, ${path}`);
            assert.equal(res.headers['www-authenticate'], CHALLENGE, `${what}, ${path}`);
            assert.equal(res.headers['x-content-type-options'], 'nosniff');
            assert.doesNotMatch(res.text, /<img|"cameras"|framering_/, `${what}, ${path}: the 401 body leaks content`);
          }
        }
        assert.equal(ts.camera.feed.subscriberCount, 0, 'a refused request subscribed to the camera');
        assert.equal(ts.camera.stats.published(), 0, 'a refused request started capture');
        assert.equal(ts.server.frontEnd.viewers.size, 0);
      });

      test('malformed Authorization headers: 401 every time, never a crash', { timeout: 20_000 }, async (t) => {
        const ts = await startTestServer(t, args);
        const values = [
          'garbage',
          'Basic !!!',
          'Bearer x',
          'Bearer dXNlcjpzZWNyZXQ=', // the right token under the wrong scheme
          '',
          'Basic',
          'Basic ',
          `Basic ${Buffer.from('usersecret').toString('base64')}`, // no colon
          `Basic ${Buffer.from(':').toString('base64')}`,
          `Basic ${Buffer.from('user:').toString('base64')}`,
          `Basic ${Buffer.from(':secret').toString('base64')}`,
          'Basic ====',
          `Basic ${Buffer.from('user:secret').toString('base64')} extra`,
          `Basic ${Buffer.from('user:secret').toString('base64')},Basic x`,
          `Basic ${'A'.repeat(6000)}`,
          `Basic ${Buffer.from('user:secret\0').toString('base64')}`,
          `Basic ${Buffer.from([0xff, 0xfe, 0x3a, 0x80]).toString('base64')}`, // not UTF-8
          'Digest username="user", realm="framering"',
        ];
        for (const value of values) {
          const res = await fetchOnce(ts.port, '/status', { headers: { Authorization: value } });
          // uWS releases after 20.30 refuse a request whose headers pass 4 KB with their own 431.
          if (http === 'uws' && UWS_ANSWERS_BAD_REQUESTS && value.length > 4000) {
            assert.equal(res.status, 431, `Authorization: ${JSON.stringify(value.slice(0, 60))}`);
            continue;
          }
          assert.equal(res.status, 401, `Authorization: ${JSON.stringify(value.slice(0, 60))}`);
          assert.equal(res.headers['www-authenticate'], CHALLENGE);
        }
        // Requests node:http will not send: bytes outside ASCII, NUL, a header without a value,
        // a header line without a colon. 401, or 400 for a request that does not parse, or no
        // answer at all (uWS leaves a request it cannot parse unanswered until its idle timeout
        // closes the connection, ~10 s): all fine. Letting it through, or crashing, is not.
        for (const header of [
          'Authorization:',
          'Authorization: \t ',
          'Authorization: Basic \xff\xfe',
          'Authorization: Basic \xff\xfe\x00\x01',
          'Authorization',
        ]) {
          const request = Buffer.from(`GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n${header}\r\nConnection: close\r\n\r\n`, 'latin1');
          const { status, head } = await rawRequest(ts.port, request, 1000).catch(() => ({ status: -1, head: '(no answer within 1 s)' }));
          assert.ok([401, 400, 0, -1].includes(status), `${JSON.stringify(header)}: ${head.split('\r\n')[0]}`);
          // Those that parse get the 401 itself.
          if (!header.includes('\0') && !header.endsWith('Authorization'))
            assert.equal(status, 401, `${JSON.stringify(header)}: ${head.split('\r\n')[0]}`);
        }
        // Still serving, to the right credentials only.
        assert.equal((await fetchOnce(ts.port, '/status', { headers: { Authorization: good } })).status, 200);
        assert.equal((await fetchOnce(ts.port, '/healthz')).status, 200);
      });

      test('/healthz needs no credentials (and ignores wrong ones)', { timeout: 10_000 }, async (t) => {
        const ts = await startTestServer(t, args);
        for (const headers of [{}, { Authorization: basic('user:wrong') }, { Authorization: 'garbage' }] as Record<string, string>[]) {
          const res = await fetchOnce(ts.port, '/healthz', { headers });
          assert.equal(res.status, 200);
          // Health only: with access control, the camera states without their names.
          assert.deepEqual(json(res), { status: 'serving', cameras: ['idle'] });
        }
      });

      test('--auth-file: every USER:PASSWORD line (comments and blank lines skipped), plus --auth', { timeout: 15_000 }, async (t) => {
        const dir = await tempDir(t);
        const file = join(dir, 'users');
        await writeFile(file, '# viewers\nalice:one\n\nbob:pa:ss:word\r\n   \n');
        const ts = await startTestServer(t, ['--http', http, '--idle-timeout', '0.3', '--auth-file', file, '--auth', 'carol:three']);
        for (const ok of ['alice:one', 'bob:pa:ss:word', 'carol:three']) {
          assert.equal((await fetchOnce(ts.port, '/status', { headers: { Authorization: basic(ok) } })).status, 200, ok);
        }
        for (const bad of ['alice:two', 'bob:pa', 'bob:pa:ss:word\r', '# viewers:x', 'alice:one:']) {
          assert.equal((await fetchOnce(ts.port, '/status', { headers: { Authorization: basic(bad) } })).status, 401, JSON.stringify(bad));
        }
      });
    });

    test('HTTPS (--tls-cert, --tls-key): page, snapshot and stream over TLS with a certificate made now', {
      timeout: 20_000,
    }, async (t) => {
      const images = await loadEmulatedImages();
      const { certFile, keyFile, certPem } = await selfSignedCertificate(t);
      const ts = await startTestServer(t, [
        '--http',
        http,
        '--fps',
        '10',
        '--idle-timeout',
        '0.3',
        '--tls-cert',
        certFile,
        '--tls-key',
        keyFile,
      ]);
      // Trusting only this certificate: the connection verifies, so this is our server's TLS.
      const page = await fetchOnce(ts.port, '/', { ca: certPem });
      assert.equal(page.status, 200);
      assert.match(page.text, /<img\b[^>]*\bsrc="\/video_feed"/);
      assert.equal(page.headers['x-content-type-options'], 'nosniff');
      const snap = await fetchOnce(ts.port, '/snapshot', { ca: certPem });
      assert.equal(snap.status, 200);
      assert.equal(snap.headers['content-type'], 'image/jpeg');
      assert.ok(images.some((img) => img.equals(snap.body)));
      // The first part over TLS, checked to be followed by the next boundary (the client only
      // yields a part once the delimiter after its Content-Length has arrived).
      const stream = await MjpegClient.connect({ port: ts.port, path: '/video_feed', ca: certPem });
      try {
        assert.equal(stream.headers['content-type'], 'multipart/x-mixed-replace; boundary=frame');
        const [first] = await stream.waitForFrames(1);
        assert.equal(stream.bodyStart.subarray(0, 9).toString('latin1'), '--frame\r\n', 'the stream opens with the boundary');
        const jpeg = first!.body;
        assert.ok(isCompleteJpeg(jpeg) && images.some((img) => img.equals(jpeg)), 'the first part over TLS is not an emulated image');
      } finally {
        await stream.close();
      }
      assert.equal((await fetchOnce(ts.port, '/healthz', { ca: certPem })).status, 200);
      // Plain http to the TLS port gets no HTTP answer.
      const plain = await rawRequest(ts.port, 'GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      assert.notEqual(plain.status, 200);
      await waitFor(() => ts.server.frontEnd.viewers.size === 0, 'the TLS viewer to be gone');
    });

    // Regression: a certificate or key TLS could not load passed the option checks and stopped
    // the server later with exit 1 and, on uWS, only "cannot start: App construction failed".
    test('--tls-cert without --tls-key, a missing file, a file that is no PEM, a key of another certificate: exit 2 with one line', {
      timeout: 30_000,
    }, async (t) => {
      const { certFile, keyFile } = await selfSignedCertificate(t);
      const other = await selfSignedCertificate(t);
      const garbage = join(await tempDir(t), 'garbage.pem');
      await writeFile(garbage, 'not a certificate\n');
      for (const args of [
        ['--tls-cert', certFile],
        ['--tls-key', certFile],
        ['--tls-cert', certFile, '--tls-key', '/nonexistent/key.pem'],
        ['--tls-cert', garbage, '--tls-key', keyFile],
        ['--tls-cert', certFile, '--tls-key', garbage],
        ['--tls-cert', certFile, '--tls-key', other.keyFile],
      ]) {
        const r = await runCli(['--http', http, '--port', '0', '--host', '127.0.0.1', ...args]);
        assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}, stderr ${r.stderr}`);
        assert.match(r.stderr, /^framering: invalid --tls-(cert|key)\b.*\n$/);
      }
    });

    describe('CORS', () => {
      test('off by default: no Access-Control-Allow-Origin anywhere, OPTIONS is not a preflight', { timeout: 15_000 }, async (t) => {
        const ts = await startTestServer(t, ['--http', http, '--fps', '10', '--idle-timeout', '0.3']);
        const origin = { Origin: 'https://elsewhere.example' };
        for (const path of ['/', '/status', '/metrics', '/healthz', '/snapshot', '/nope', '/video_feed?fps=0']) {
          const res = await fetchOnce(ts.port, path, { headers: origin });
          assert.equal(res.headers['access-control-allow-origin'], undefined, path);
        }
        const viewer = await ts.connect({ headers: origin });
        assert.equal(viewer.headers['access-control-allow-origin'], undefined);
        const preflight = await fetchOnce(ts.port, '/video_feed', {
          method: 'OPTIONS',
          headers: { ...origin, 'Access-Control-Request-Method': 'GET' },
        });
        assert.notEqual(preflight.status, 204);
        assert.equal(preflight.headers['access-control-allow-origin'], undefined);
        assert.equal(preflight.headers['access-control-allow-methods'], undefined);
      });

      test('--cors-origin: the header on every response, preflight 204 without credentials', { timeout: 15_000 }, async (t) => {
        const allowed = 'https://app.example';
        const ts = await startTestServer(t, [
          '--http',
          http,
          '--fps',
          '10',
          '--idle-timeout',
          '0.3',
          '--cors-origin',
          allowed,
          '--auth',
          'user:secret',
        ]);
        const auth = { Origin: allowed, Authorization: basic('user:secret') };
        for (const [path, status] of [
          ['/', 200],
          ['/status', 200],
          ['/metrics', 200],
          ['/healthz', 200],
          ['/snapshot', 200],
          ['/nope', 404],
          ['/video_feed?fps=x', 400],
        ] as const) {
          const res = await fetchOnce(ts.port, path, { headers: auth });
          assert.equal(res.status, status, path);
          assert.equal(res.headers['access-control-allow-origin'], allowed, path);
          assert.match(String(res.headers.vary), /\bOrigin\b/, `${path}: Vary`);
        }
        // A 401 carries it too, so the page's script can read the refusal.
        const refused = await fetchOnce(ts.port, '/status', { headers: { Origin: allowed } });
        assert.equal(refused.status, 401);
        assert.equal(refused.headers['access-control-allow-origin'], allowed);
        const viewer = await ts.connect({ headers: auth });
        assert.equal(viewer.status, 200);
        assert.equal(viewer.headers['access-control-allow-origin'], allowed);
        // Browsers send preflights without credentials: it must not need them.
        for (const path of ['/video_feed', '/snapshot', '/status']) {
          const preflight = await fetchOnce(ts.port, path, {
            method: 'OPTIONS',
            headers: { Origin: allowed, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' },
          });
          assert.equal(preflight.status, 204, `OPTIONS ${path}`);
          assert.equal(preflight.body.length, 0);
          // RFC 9110 8.6: no Content-Length in a 204.
          assert.equal(preflight.headers['content-length'], undefined, `OPTIONS ${path}: Content-Length in a 204`);
          assert.equal(preflight.headers['access-control-allow-origin'], allowed);
          assert.match(String(preflight.headers['access-control-allow-methods']), /\bGET\b/);
          assert.match(String(preflight.headers['access-control-allow-headers']), /\bauthorization\b/i);
          assert.equal(preflight.headers['x-content-type-options'], 'nosniff');
        }
        assert.equal(ts.camera.feed.subscriberCount, 1, 'only the one viewer subscribed');
      });

      test('--cors-origin "*"', { timeout: 10_000 }, async (t) => {
        const ts = await startTestServer(t, ['--http', http, '--idle-timeout', '0.3', '--cors-origin', '*']);
        assert.equal((await fetchOnce(ts.port, '/status')).headers['access-control-allow-origin'], '*');
      });
    });

    test('X-Content-Type-Options: nosniff on every kind of response', { timeout: 20_000 }, async (t) => {
      const ts = await startTestServer(
        t,
        [
          '--http',
          http,
          '--idle-timeout',
          '0.3',
          '--auth',
          'u:p',
          '--cors-origin',
          'https://app.example',
          '--max-clients',
          '1',
          '--camera',
          'a=emulated,fps=10',
          '--camera',
          `silent=${NEVER_DELIVERS_DRIVER}`,
        ],
        { snapshotTimeoutMs: 300 },
      );
      const auth = { Authorization: basic('u:p') };
      const seen = new Map<string, string | undefined>();
      const check = async (what: string, expected: number, path: string, options: Parameters<typeof fetchOnce>[2] = {}) => {
        const res = await fetchOnce(ts.port, path, { ...options, headers: { ...auth, ...options.headers } });
        assert.equal(res.status, expected, `${what}: ${res.text.slice(0, 100)}`);
        seen.set(what, res.headers['x-content-type-options'] as string | undefined);
      };
      await check('page 200', 200, '/');
      await check('status 200', 200, '/status');
      await check('HEAD status 200', 200, '/status', { method: 'HEAD' });
      await check('metrics 200', 200, '/metrics');
      await check('healthz 200', 200, '/healthz', { headers: {} });
      await check('snapshot 200', 200, '/snapshot');
      await check('snapshot 503', 503, '/cameras/silent/snapshot');
      await check('HEAD stream 200', 200, '/video_feed', { method: 'HEAD' });
      await check('bad fps 400', 400, '/video_feed?fps=abc');
      await check('no credentials 401', 401, '/', { headers: { Authorization: 'x' } });
      await check('unknown path 404', 404, '/nope');
      await check('unknown camera 404', 404, '/cameras/nope/snapshot');
      await check('method 405', 405, '/status', { method: 'DELETE' });
      await check('preflight 204', 204, '/video_feed', {
        method: 'OPTIONS',
        headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'GET' },
      });
      const viewer = await ts.connect({ headers: auth });
      assert.equal(viewer.status, 200);
      seen.set('stream 200', viewer.headers['x-content-type-options']);
      const full = await MjpegClient.connect({ port: ts.port, path: '/video_feed', headers: auth });
      t.after(() => full.close());
      assert.equal(full.status, 503);
      seen.set('max-clients 503', full.headers['x-content-type-options']);
      const missing = [...seen].filter(([, v]) => v !== 'nosniff').map(([what, v]) => `${what} (${String(v)})`);
      assert.deepEqual(missing, [], `responses without nosniff: ${missing.join(', ')}`);
    });
  });
}
