/**
 * Issue 17, item 8: what framering writes to stderr leaks no secret and cannot be driven by an
 * upstream. Before the fix:
 * - `--camera 'door=http,source=http://cam:secretpw@host/x,junk'` printed the spec, password
 *   included; a comma in a password broke the spec the same way and quoted its second half;
 * - `--source http://admin:1234/secretpw@host/x` (a password holding '/') was taken as host
 *   "admin", port 1234 and logged, password and all, on every retry;
 * - an upstream's Content-Type or status line carrying `ESC[2J` and a fake log line reached the
 *   log verbatim (clearing the terminal of whoever tails it).
 *
 * The server runs as the framering command, the way a user runs it, so what is asserted is its
 * real stderr; the upstreams are on 127.0.0.1.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { escapeControls } from '../../src/core/log.js';
import { serveMjpeg, TestSource } from '../helpers/http-source.js';
import { MjpegClient } from '../helpers/mjpeg-client.js';
import { EMULATED_ASSETS } from '../helpers/paths.js';
import { runCli, startCli } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const IMAGES = ['1.jpg', '2.jpg', '3.jpg'].map((n) => readFileSync(new URL(n, EMULATED_ASSETS)));

describe('credentials in start-up errors', () => {
  const cases: [string, string[], RegExp][] = [
    ['a camera spec with a stray part', ['--camera', 'door=http,source=http://cam:secretpw@127.0.0.1:9/x,junk'], /secretpw/],
    ['a comma in the password', ['--camera', 'door=http,source=http://cam:secret,pw9876@127.0.0.1:9/x'], /secret|pw9876/],
    ['a URL as the driver', ['--camera', 'http://cam:secretpw@127.0.0.1:9/x'], /secretpw/],
    ["a '/' in the password", ['--camera', 'http', '--source', 'http://admin:1234/secretpw@127.0.0.1:9/x'], /secretpw|admin|1234/],
  ];
  for (const [what, args, secret] of cases) {
    test(`${what}: exit 2 with one line, the password masked`, { timeout: 15_000 }, async () => {
      // Without the fix the '/' case started serving (and logged the password on every retry
      // once watched): the 8 s timeout then kills it, and the status is not 2.
      const r = await runCli(['--port', '0', '--host', '127.0.0.1', ...args], {}, 8000);
      assert.equal(r.status, 2, `exit ${r.status}; stderr: ${r.stderr}`);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, secret);
      assert.match(r.stderr, /\*\*\*@127\.0\.0\.1:9\/x/);
      assert.match(r.stderr, /%2C|%2F|--source URL/, 'the error says how to write it');
    });
  }

  test('a percent-encoded comma in the password works, and the password is never written', { timeout: 20_000 }, async (t) => {
    const token = Buffer.from('cam:pa,ss-4321').toString('base64');
    const source = await TestSource.start(t, (req, res) => {
      if (req.headers.authorization !== `Basic ${token}`) res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="cam"' }).end();
      else serveMjpeg(res, IMAGES, { intervalMs: 30 });
    });
    const relay = await startCli(['--log-level', 'debug', '--camera', `door=http,source=${source.url('/x', 'cam:pa%2Css-4321')}`]);
    t.after(() => relay.kill());
    const viewer = await MjpegClient.connect({ port: relay.port, path: '/cameras/door/video_feed' });
    t.after(() => viewer.close());
    await viewer.waitForFrames(3, { timeoutMs: 10_000 });
    assert.equal(source.requests[0]!.headers.authorization, `Basic ${token}`);
    assert.doesNotMatch(relay.stderr(), /ss-4321|pa%2C|pa,ss/);
    assert.match(relay.stderr(), /connected to source http:\/\/\*\*\*@127\.0\.0\.1:\d+\/x/);
  });
});

describe('control characters from an upstream', () => {
  test('an ANSI escape and a fake log line in the Content-Type and status line reach the log escaped', { timeout: 20_000 }, async (t) => {
    // node:http refuses to send these bytes, so the upstream answers from a raw TCP server: the
    // first connections with a Content-Type carrying ESC[2J, ESC[H and C1's CSI (0x9B), later
    // ones with a status line carrying them.
    const fake = '\x1b[2J\x1b[H2026-01-01T00:00:00.000Z error FAKE LOG LINE\x9b2J';
    let connections = 0;
    const upstream = net.createServer((socket) => {
      const n = connections++;
      socket.on('error', () => {});
      socket.once('data', () => {
        const head =
          n < 2
            ? `HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame${fake}\r\n\r\n`
            : `HTTP/1.1 503 Busy${fake}\r\nContent-Length: 0\r\n\r\n`;
        socket.end(Buffer.from(head, 'latin1'));
      });
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    t.after(() => upstream.close());
    const { port } = upstream.address() as AddressInfo;

    const relay = await startCli(['--camera', 'http', '--source', `http://127.0.0.1:${port}/feed`]);
    t.after(() => relay.kill());
    const viewer = await MjpegClient.connect({ port: relay.port, path: '/video_feed' });
    t.after(() => viewer.close());
    await waitFor(() => /connected to source/.test(relay.stderr()) && /answered 503/.test(relay.stderr()), 'both lines', 10_000);

    const stderr = relay.stderr();
    assert.ok(!stderr.includes('\x1b'), `an ESC byte reached the log:\n${JSON.stringify(stderr)}`);
    assert.equal(escapeControls(stderr.replaceAll('\n', '')), stderr.replaceAll('\n', ''), 'no control character but the newlines');
    const escaped = '\\x1b[2J\\x1b[H2026-01-01T00:00:00.000Z error FAKE LOG LINE\\x9b2J';
    const connected = stderr.split('\n').find((l) => /connected to source/.test(l))!;
    assert.ok(connected.includes(escaped), connected);
    const answered = stderr.split('\n').find((l) => /answered 503/.test(l))!;
    assert.ok(answered.includes(escaped), answered);
    // Every line is framering's own: none starts with the forged timestamp.
    for (const line of stderr.split('\n').filter((l) => l !== '')) assert.doesNotMatch(line, /^2026-01-01T00:00:00\.000Z/);
  });
});
