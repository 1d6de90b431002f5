/**
 * Security checks beyond test/http-security.test.ts, on both front ends:
 *  - with --auth, every route the router knows (src/server/router.ts: the page, streams,
 *    snapshots, /status, /metrics, per-camera routes) needs credentials for every method,
 *    HEAD and OPTIONS included; only /healthz is open, and look-alike paths are not;
 *  - X-Content-Type-Options: nosniff also on the answers the HTTP libraries shape (node:http's
 *    parse errors, 431, 417, a missing Host) and on HEAD and OPTIONS errors;
 *  - no directory listing anywhere;
 *  - no secret in the output: neither the --auth password nor a relay source's credentials
 *    reach stdout or stderr (plain, URL-encoded or base64), through wrong passwords, a failing
 *    source or bad options;
 *  - TLS: 1.0 and 1.1 handshakes are refused by the server, 1.2 and 1.3 work.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import tls from 'node:tls';
import { CLI, runCli, startTestServer } from '../helpers/server.js';
import { MjpegClient } from '../helpers/mjpeg-client.js';
import { basic, fetchOnce, FRONT_ENDS, json, rawRequest, UWS_ANSWERS_BAD_REQUESTS } from '../helpers/http.js';
import { loadEmulatedImages } from '../helpers/jpeg.js';
import { selfSignedCertificate } from '../helpers/tls.js';
import { serveMjpeg, TestSource } from '../helpers/http-source.js';

const CHALLENGE = 'Basic realm="framering", charset="UTF-8"';

/** Header name (lower case) → value, from a response head as rawRequest returns it. */
function headersOf(head: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

/** The environment without framering's own variables (as startCli does). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('FRAMERING_') || k === 'CAMERA') delete env[k];
  return env;
}

/**
 * The CLI as a child process with stdout and stderr both captured (startCli drops stdout);
 * killed when the test ends. Resolves once it listens.
 */
async function startCliCapturing(
  t: TestContext,
  args: string[],
): Promise<{ port: number; output: () => string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [CLI, '--host', '127.0.0.1', '--port', '0', ...args], {
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = once(child, 'exit');
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start within 10 s:\n${output}`)), 10_000);
    const check = (): void => {
      const m = /listening on https?:\/\/[^:]+:(\d+)\//.exec(output);
      if (!m) return;
      clearTimeout(timer);
      resolve(Number(m[1]));
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    void exited.then(() => reject(new Error(`the server exited before listening:\n${output}`)));
  });
  return {
    port,
    output: () => output,
    async stop() {
      // SIGTERM, so the shutdown's own log lines are part of what is checked.
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A TLS handshake with the given client settings: the protocol agreed, or the error code. */
function handshake(port: number, ca: string, options: tls.ConnectionOptions): Promise<{ protocol: string | null } | { error: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, ...options }, () => {
      resolve({ protocol: socket.getProtocol() });
      socket.destroy();
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('no handshake within 5 s')));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

/** TLS 1.0 and 1.1 as a client can still offer them: OpenSSL 3 needs security level 0 for their SHA-1 signatures. */
const OLD_TLS: [string, tls.ConnectionOptions][] = [
  ['TLS 1.0', { minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }],
  ['TLS 1.1', { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }],
];

for (const http of FRONT_ENDS) {
  describe(`security (--http ${http})`, () => {
    test('with --auth, every route and method needs credentials; only /healthz is open, and only by its exact path', {
      timeout: 30_000,
    }, async (t) => {
      const ts = await startTestServer(t, [
        '--http',
        http,
        '--idle-timeout',
        '0.3',
        '--auth',
        'user:secret',
        '--lockout-attempts',
        '0',
        '--camera',
        'default=emulated,fps=10',
        '--camera',
        'second=emulated,fps=10',
      ]);
      const good = { Authorization: basic('user:secret') };
      // Every path src/server/router.ts answers, plus unknown ones: a 401 must not tell which exist.
      const routes = [
        '/',
        '/index.html',
        '/video_feed',
        '/video_feed?fps=1',
        '/snapshot',
        '/status',
        '/metrics',
        '/cameras/default/video_feed',
        '/cameras/default/snapshot',
        '/cameras/second/video_feed',
        '/cameras/second/snapshot',
        '/cameras/nope/video_feed',
        '/nope',
        // Look-alikes of the one open path.
        '/healthz/',
        '/HEALTHZ',
        '//healthz',
        '/./healthz',
        '/healthz/../status',
        '/healthz%00',
        '/healthz.json',
        '/status?/healthz',
        '/cameras/healthz/snapshot',
      ];
      const refusedWith: string[] = [];
      for (const path of routes) {
        for (const method of ['GET', 'HEAD', 'OPTIONS', 'POST', 'DELETE']) {
          for (const headers of [{}, { Authorization: basic('user:wrong') }] as Record<string, string>[]) {
            const res = await fetchOnce(ts.port, path, { method, headers });
            const what = `${method} ${path}${'Authorization' in headers ? ' (wrong password)' : ''}`;
            if (res.status !== 401) refusedWith.push(`${what}: ${res.status}`);
            else {
              assert.equal(res.headers['www-authenticate'], CHALLENGE, what);
              assert.equal(res.headers['x-content-type-options'], 'nosniff', what);
              if (method === 'HEAD') assert.equal(res.body.length, 0, what);
            }
          }
        }
      }
      assert.deepEqual(refusedWith, [], 'answered without credentials');
      assert.equal(ts.server.frontEnd.viewers.size, 0);
      assert.equal(ts.camera.stats.published(), 0, 'a refused request started capture');

      // The same requests with the right credentials get their real answers, so the 401s above
      // were the credentials' doing.
      for (const path of ['/', '/index.html', '/status', '/metrics', '/snapshot', '/cameras/second/snapshot']) {
        assert.equal((await fetchOnce(ts.port, path, { headers: good, timeoutMs: 10_000 })).status, 200, `GET ${path}`);
      }
      for (const path of [
        '/',
        '/status',
        '/video_feed',
        '/video_feed?fps=1',
        '/cameras/default/video_feed',
        '/cameras/second/video_feed',
      ]) {
        assert.equal((await fetchOnce(ts.port, path, { method: 'HEAD', headers: good })).status, 200, `HEAD ${path}`);
      }
      for (const path of ['/video_feed', '/cameras/second/video_feed']) {
        const viewer = await ts.connect({ path, headers: good });
        assert.equal(viewer.status, 200, path);
        await viewer.waitForFrames(1, { timeoutMs: 10_000 });
        await viewer.close();
      }
      assert.equal((await fetchOnce(ts.port, '/status', { method: 'POST', headers: good })).status, 405);
      assert.equal((await fetchOnce(ts.port, '/video_feed', { method: 'OPTIONS', headers: good })).status, 405);
      assert.equal((await fetchOnce(ts.port, '/cameras/nope/video_feed', { headers: good })).status, 404);
      assert.equal((await fetchOnce(ts.port, '/healthz/', { headers: good })).status, 404);

      // /healthz itself: open to GET and HEAD, with no or wrong credentials.
      for (const method of ['GET', 'HEAD']) {
        for (const headers of [{}, { Authorization: basic('user:wrong') }] as Record<string, string>[]) {
          const res = await fetchOnce(ts.port, '/healthz', { method, headers });
          assert.equal(res.status, 200, `${method} /healthz`);
          if (method === 'GET') assert.deepEqual(Object.keys(json(res)), ['status', 'cameras']);
        }
      }
      assert.equal((await fetchOnce(ts.port, '/healthz?verbose=1')).status, 200);
      assert.equal((await fetchOnce(ts.port, '/healthz', { method: 'POST' })).status, 405);
    });

    test('X-Content-Type-Options: nosniff on HEAD and OPTIONS errors and on answers the HTTP library shapes', {
      timeout: 20_000,
    }, async (t) => {
      const ts = await startTestServer(t, ['--http', http, '--idle-timeout', '0.3']);
      const seen: string[] = [];
      const missing: string[] = [];
      const check = (what: string, status: number, headers: Record<string, string | string[] | undefined>): void => {
        seen.push(`${what}: ${status}`);
        if (headers['x-content-type-options'] !== 'nosniff') missing.push(`${what} (${status})`);
      };
      for (const [method, path] of [
        ['HEAD', '/nope'],
        ['HEAD', '/cameras/nope/snapshot'],
        ['HEAD', '/video_feed?fps=abc'],
        ['OPTIONS', '/status'],
        ['OPTIONS', '/nope'],
        ['DELETE', '/'],
        ['GET', '/video_feed?fps=1&fps=2'],
      ] as const) {
        const res = await fetchOnce(ts.port, path, { method });
        assert.ok(res.status >= 400 && res.status < 500, `${method} ${path}: ${res.status}`);
        check(`${method} ${path}`, res.status, res.headers);
      }
      // Requests node:http's client will not send, and what each front end answers: node:http
      // answers each; uWS leaves those it cannot parse unanswered (0: the connection closes
      // after its idle timeout) and serves a large header or an unknown Expect like any request.
      // (uWS may also close on a large header it read in pieces: its reassembly buffer is 4 KB.)
      const raw: [string, string, { node: number[]; uws: number[] }][] = [
        ['a request line without a version', 'GET /\r\n\r\n', { node: [400], uws: [0] }],
        ['HTTP/2.0 as text', 'GET / HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n', { node: [400], uws: [0] }],
        ['no Host', 'GET /status HTTP/1.1\r\nConnection: close\r\n\r\n', { node: [400], uws: [0] }],
        ['garbage', '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n', { node: [400], uws: [0] }],
        [
          'a 20 KB header',
          `GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'b'.repeat(20_000)}\r\nConnection: close\r\n\r\n`,
          { node: [431], uws: [200, 0] },
        ],
        [
          'Expect: something',
          'GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: something\r\nConnection: close\r\n\r\n',
          { node: [417], uws: [200] },
        ],
      ];
      // node:http answers at once (5 s is for a loaded machine); 1.5 s shows uWS's silence.
      const waitMs = http === 'node' ? 5000 : 1500;
      const answers = await Promise.all(
        raw.map(([, request]) => rawRequest(ts.port, request, waitMs).catch(() => ({ status: 0, head: '' }))),
      );
      for (const [i, [what, , expected]] of raw.entries()) {
        const r = answers[i]!;
        // uWS releases after 20.30 answer what their parser refuses with their own page (400,
        // 431, 505) before framering sees a request; that page is the library's, not checked.
        // Its page has no Content-Type, which every answer of framering's has.
        const libraryPage = [400, 431, 505].includes(r.status) && /^connection: close$/im.test(r.head) && !/^content-type:/im.test(r.head);
        if (http === 'uws' && UWS_ANSWERS_BAD_REQUESTS && libraryPage) continue;
        assert.ok(
          expected[http].includes(r.status),
          `${what}: ${r.head.split('\r\n')[0] || 'no answer'}, expected ${expected[http].join(' or ')}`,
        );
        if (r.status !== 0) check(what, r.status, headersOf(r.head));
      }
      assert.deepEqual(missing, [], `answers without nosniff (of ${seen.join(', ')})`);
    });

    test('no directory listing: folders and files of the checkout are plain 404s', { timeout: 15_000 }, async (t) => {
      const ts = await startTestServer(t, ['--http', http, '--idle-timeout', '0.3']);
      for (const path of [
        '/assets/',
        '/assets',
        '/assets/emulated/',
        '/cameras/',
        '/cameras',
        '/cameras/default/',
        '/cameras/default',
        '/dist/',
        '/dist/src/',
        '/src/',
        '/src/server/',
        '/test/',
        '/node_modules/',
        '/.git/',
        '/docs/',
        '/benchmarks/',
        '/.',
        '/%2e/',
        '/video_feed/',
        '/snapshot/',
        '/status/',
        '/index.html/',
      ]) {
        for (const method of ['GET', 'HEAD'] as const) {
          const res = await fetchOnce(ts.port, path, { method });
          assert.equal(res.status, 404, `${method} ${path}`);
          assert.match(String(res.headers['content-type']), /^text\/plain/, `${method} ${path}`);
          // The one line names the path and nothing else: no file names, no links.
          if (method === 'GET') assert.equal(res.text, `not found: ${path}\n`, `${method} ${path}`);
        }
      }
      // A query asking for a listing changes nothing: the same page as /.
      assert.equal((await fetchOnce(ts.port, '/?dir=1')).text, (await fetchOnce(ts.port, '/')).text);
    });

    test("no secret in the output: the --auth password and a relay source's credentials, through wrong passwords, source failures and bad options", {
      timeout: 45_000,
    }, async (t) => {
      const images = await loadEmulatedImages();
      const authPassword = 'S3cretPass';
      const sourceUser = 'camuser';
      // ':' and '@' in it: written unescaped (in a Location), they make a URL that does not parse.
      const sourcePassword = 'R3lay:P@ssW0rdTail';
      const locationToken = 'L0cT0ken';
      const sourceToken = 'T0kenValue';
      // The source fails in the ways that get logged, then streams; the first stream is cut mid-frame.
      const source = await TestSource.start(t, (_req, res, index) => {
        if (index === 0) res.writeHead(401, { 'WWW-Authenticate': 'Digest realm="cam", nonce="abc"' }).end();
        else if (index === 1)
          res.writeHead(302, { Location: `http://${sourceUser}:${sourcePassword}@bad host/cam?pwd=${locationToken}` }).end();
        else if (index === 2) res.writeHead(503, 'Busy').end();
        else if (index === 3) {
          res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace; boundary=b' });
          res.write(
            Buffer.concat([
              Buffer.from(`--b\r\nContent-Type: image/jpeg\r\nContent-Length: ${images[0]!.length}\r\n\r\n`),
              images[0]!.subarray(0, 100),
            ]),
          );
          setTimeout(() => res.destroy(), 100);
        } else serveMjpeg(res, images, { intervalMs: 50 });
      });
      const sourceUrl = source.url(`/cam?pwd=${sourceToken}&size=vga`, `${sourceUser}:${encodeURIComponent(sourcePassword)}`);
      const server = await startCliCapturing(t, [
        '--http',
        http,
        '--log-level',
        'debug',
        '--auth',
        `user:${authPassword}`,
        '--lockout-attempts',
        '0',
        '--camera',
        'http',
        '--source',
        sourceUrl,
      ]);

      // Wrong credentials of every shape, several carrying the real password.
      for (const authorization of [
        basic('user:wrong'),
        basic(`admin:${authPassword}`),
        basic(`user:${authPassword}x`),
        `Basic user:${authPassword}`,
        `Bearer ${authPassword}`,
        basic(`user:${authPassword}`).toLowerCase(),
        `Basic ${'A'.repeat(5000)}`,
      ]) {
        // uWS releases after 20.30 refuse headers past 4 KB with their own 431: no password leaks either way.
        const refused = http === 'uws' && UWS_ANSWERS_BAD_REQUESTS && authorization.length > 4000 ? 431 : 401;
        assert.equal((await fetchOnce(server.port, '/status', { headers: { Authorization: authorization } })).status, refused);
      }
      assert.equal((await fetchOnce(server.port, `/status?password=${authPassword}`)).status, 401);
      const good = { Authorization: basic(`user:${authPassword}`) };
      assert.equal((await fetchOnce(server.port, `/nope?password=${authPassword}`, { headers: good })).status, 404);

      // A viewer starts the relay; frames arrive after the source's failures and reconnects.
      const viewer = await MjpegClient.connect({ port: server.port, path: '/video_feed', headers: good });
      t.after(() => viewer.close());
      // The source's own images (meanwhile the viewer may get NO SIGNAL frames).
      const relayed = (): number => viewer.frames.filter((f) => images.some((img) => img.equals(f.body))).length;
      await viewer.waitUntil(() => relayed() >= 2, { timeoutMs: 20_000, what: 'relayed frames after the failures' });
      assert.ok(source.requests.length >= 5, `${source.requests.length} requests to the source`);
      assert.equal(source.requests[0]!.headers.authorization, basic(`${sourceUser}:${sourcePassword}`), 'the source got its credentials');
      // What the server shows of the source: /status (its last error), /metrics, the page.
      const shown = await Promise.all(['/status', '/metrics', '/'].map((p) => fetchOnce(server.port, p, { headers: good })));
      assert.match(shown[0]!.text, /answered 503 Busy|lost|cut|closed|ended/, "the source's last error is in /status");
      await viewer.close();
      await server.stop();
      const output = server.output();

      // The failures were logged, with the URL masked.
      assert.match(output, /Digest/);
      assert.match(output, /redirects to /);
      assert.match(output, /answered 503 Busy/);
      assert.ok(output.includes(`http://***@127.0.0.1:${source.port}/cam?pwd=***&size=vga`), output);
      // Regression: the command (unlike in-process tests, which set a backoff) retried a failing
      // source with a NaN delay, hundreds of times a second, flooding the log and the camera.
      assert.match(
        output,
        /restarting capture in 0\.5 s\n(?:.*\n)*.*restarting capture in 1\.0 s\n(?:.*\n)*.*restarting capture in 2\.0 s\n/,
      );
      assert.doesNotMatch(output, /NaN/);

      // Bad options, one line each and exit 2: never the value that was refused.
      const badAuthFile = join(await mkdtemp(join(tmpdir(), 'framering-secret-')), 'users');
      t.after(() => rm(badAuthFile, { force: true }));
      await writeFile(badAuthFile, `user:${authPassword}\n${authPassword}\n`);
      const encoded = encodeURIComponent(sourcePassword);
      // --port 0 --host 127.0.0.1: should one of them start after all, it serves nobody.
      const refusals = await Promise.all(
        [
          ['--auth', authPassword],
          ['--auth', `:${authPassword}`],
          ['--auth-file', badAuthFile],
          ['--auth', `user:${authPassword}`, '--camera', 'http', '--source', `ftp://${sourceUser}:${encoded}@127.0.0.1/cam`],
          ['--auth', `user:${authPassword}`, '--camera', 'http', '--source', `http://${sourceUser}:${encoded}@[::1/cam`],
          [
            '--auth',
            `user:${authPassword}`,
            '--camera',
            'http',
            '--source',
            `http://${sourceUser}:${sourcePassword}@bad host/cam?token=${locationToken}`,
          ],
          ['--auth', `user:${authPassword}`, '--camera', 'http', '--source', sourceUrl, '--fps', 'fast'],
        ].map((args) => runCli(['--port', '0', '--host', '127.0.0.1', ...args])),
      );
      for (const r of refusals) assert.equal(r.status, 2, r.stderr);

      const all = [output, ...refusals.flatMap((r) => [r.stdout, r.stderr])].join('\n');
      const secrets = [
        authPassword,
        Buffer.from(`user:${authPassword}`).toString('base64'),
        Buffer.from(`admin:${authPassword}`).toString('base64'),
        sourcePassword,
        encodeURIComponent(sourcePassword),
        locationToken,
        // Any 5 characters of it in a row: a partly masked password is a leaked one.
        ...Array.from({ length: sourcePassword.length - 4 }, (_, i) => sourcePassword.slice(i, i + 5)),
        Buffer.from(`${sourceUser}:${sourcePassword}`).toString('base64'),
        sourceToken,
      ];
      for (const secret of secrets) assert.ok(!all.includes(secret), `the output shows ${JSON.stringify(secret)}:\n${all}`);
      for (const res of shown)
        for (const secret of secrets) assert.ok(!res.text.includes(secret), `a page shows ${JSON.stringify(secret)}`);
      // The user names are not secrets, but a source's user appears only inside a masked URL.
      assert.ok(!all.includes(`${sourceUser}:`), all);
    });

    test('TLS: 1.0 and 1.1 handshakes are refused by the server, 1.2 and 1.3 work', { timeout: 20_000 }, async (t) => {
      const { certFile, keyFile, certPem } = await selfSignedCertificate(t);
      const ts = await startTestServer(t, ['--http', http, '--idle-timeout', '0.3', '--tls-cert', certFile, '--tls-key', keyFile]);

      // The control: a TLS server that allows 1.0 accepts these very client settings, so a
      // refusal below is framering's server saying no, not this client unable to ask.
      const permissive = tls.createServer(
        { cert: certPem, key: await readFile(keyFile, 'utf8'), minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' },
        (s) => s.end(),
      );
      permissive.listen(0, '127.0.0.1');
      await once(permissive, 'listening');
      t.after(() => permissive.close());
      const controlPort = (permissive.address() as AddressInfo).port;
      for (const [name, options] of OLD_TLS) {
        const control = await handshake(controlPort, certPem, options);
        assert.ok('protocol' in control, `${name}: this client cannot offer it (${JSON.stringify(control)})`);
        const result = await handshake(ts.port, certPem, options);
        // protocol_version alert (70): the server read the ClientHello and refused the version.
        assert.deepEqual(result, { error: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' }, name);
      }
      assert.deepEqual(await handshake(ts.port, certPem, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }), { protocol: 'TLSv1.2' });
      assert.deepEqual(await handshake(ts.port, certPem, { minVersion: 'TLSv1.3' }), { protocol: 'TLSv1.3' });
      // And the refused handshakes left it serving.
      const res = await fetchOnce(ts.port, '/healthz', { ca: certPem });
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    });
  });
}
