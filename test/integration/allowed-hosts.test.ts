/**
 * DNS rebinding, against the real server on both front ends.
 *
 * The bug: any Host header was served. A page on evil.example, opened by anyone on the camera's
 * network, rebinds its own name to the camera's address and then reads /snapshot, /video_feed
 * and /status (viewer addresses, version) through the victim's browser as same-origin requests;
 * all the server sees of it is `Host: evil.example`. Here that request gets 421 and nothing of
 * the camera or the status (capture is not even started), is counted in /metrics and logged
 * once; the names the server is reached by, addresses, `--allowed-hosts` and /healthz still
 * work. And the page carries framing headers (X-Frame-Options, CSP frame-ancestors) that
 * `--frame-ancestors` sets for those who embed it.
 */

import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { fetchOnce, FRONT_ENDS, parsePrometheus, rawRequest, sampleValue } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';

const EVIL = 'evil.example';
/** What a rebinding page's requests look like: they come from a browser, whose headers its scripts cannot change. */
const BROWSER = { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' };
// Everything the attack is after, and the page.
const PATHS = [
  '/',
  '/index.html',
  '/status',
  '/metrics',
  '/snapshot',
  '/video_feed',
  '/cameras/default/snapshot',
  '/cameras/default/video_feed',
];

for (const http of FRONT_ENDS) {
  describe(`allowed hosts (--http ${http})`, { timeout: 60_000 }, () => {
    it('a request for another name gets 421 and no frame, status or page; counted and logged once', async (t) => {
      const ts = await startTestServer(t, ['--http', http, '--idle-timeout', '0.5']);
      for (const host of [EVIL, `${EVIL}:${ts.port}`, 'EVIL.Example', `${EVIL}.`, `localhost.${EVIL}`, '127.0.0.1.nip.io']) {
        for (const path of PATHS) {
          // A served stream never ends: the timeout turns that into a failure, not a hang.
          const res = await fetchOnce(ts.port, path, { headers: { Host: host, ...BROWSER }, timeoutMs: 3000 });
          assert.equal(res.status, 421, `${path} with Host ${host}: ${res.status} ${res.text.slice(0, 80)}`);
          assert.match(res.text, /^host ".*" is not served here; add it to --allowed-hosts if this server is reached by that name\n$/);
          assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
          assert.equal(res.headers['x-content-type-options'], 'nosniff');
        }
      }
      const refused = 6 * PATHS.length;
      assert.equal(ts.camera.stats.published(), 0, 'no frame was captured for a refused request');
      assert.equal(ts.camera.feed.subscriberCount, 0);

      const metrics = parsePrometheus((await fetchOnce(ts.port, '/metrics')).text).samples;
      assert.equal(sampleValue(metrics, 'framering_host_refused_total'), refused);
      const lines = ts.logs.filter((l) => /refused a request for Host/.test(l));
      assert.equal(lines.length, 1, `one log line for ${refused} refusals: ${lines.join('\n')}`);
      assert.match(lines[0]!, /Host "evil\.example".*add it to --allowed-hosts/);
    });

    it('the names and addresses of this server are served, and /healthz for any Host', async (t) => {
      const ts = await startTestServer(t, ['--http', http]);
      const name = hostname().toLowerCase();
      for (const host of [
        `127.0.0.1:${ts.port}`,
        '127.0.0.1',
        `localhost:${ts.port}`,
        'LOCALHOST',
        'localhost.',
        `[::1]:${ts.port}`,
        // An address the server does not know it has (a router's forwarded port, Docker): no
        // name is looked up for an address, so nothing can be rebound.
        `192.0.2.77:${ts.port}`,
        `${name}:${ts.port}`,
        `${name.split('.')[0]}.local`,
      ]) {
        const res = await fetchOnce(ts.port, '/status', { headers: { Host: host, ...BROWSER } });
        assert.equal(res.status, 200, `Host ${host}: ${res.text}`);
      }
      // Health checks of load balancers send any Host (HAProxy's shipped check: "framering").
      for (const host of [EVIL, 'framering']) {
        const health = await fetchOnce(ts.port, '/healthz', { headers: { Host: host, ...BROWSER } });
        assert.equal(health.status, 200, `/healthz with Host ${host}`);
      }
      // Malformed Host headers are no name of this server.
      for (const host of ['127.0.0.1:port', '::1', 'a@127.0.0.1', '127.0.0.1/x'])
        assert.equal((await fetchOnce(ts.port, '/status', { headers: { Host: host, ...BROWSER } })).status, 421, `Host ${host}`);
    });

    it('only browsers are held to it: other clients choose their Host themselves (relays, players, scrapers by any name)', async (t) => {
      const ts = await startTestServer(t, ['--http', http]);
      const clients: Record<string, string>[] = [
        {},
        { 'User-Agent': 'curl/8.5.0' },
        { 'User-Agent': 'python-requests/2.28.1' },
        { 'User-Agent': 'Lavf/59.27.100' },
        { 'User-Agent': 'HomeAssistant/2026.11 aiohttp/3.11' },
      ];
      for (const headers of clients)
        assert.equal(
          (await fetchOnce(ts.port, '/status', { headers: { Host: 'cam.lan', ...headers } })).status,
          200,
          JSON.stringify(headers),
        );
      // Any one browser sign is enough.
      for (const headers of [BROWSER, { Origin: `http://${EVIL}` }, { 'Sec-Fetch-Mode': 'cors' }] as Record<string, string>[])
        assert.equal((await fetchOnce(ts.port, '/status', { headers: { Host: EVIL, ...headers } })).status, 421, JSON.stringify(headers));
    });

    if (http === 'node') {
      // uWebSockets.js never answers HTTP/1.0 (docs/proxies.md); node:http does.
      it('an HTTP/1.0 request without Host is served', async (t) => {
        const ts = await startTestServer(t, ['--http', http]);
        assert.equal((await rawRequest(ts.port, 'GET /status HTTP/1.0\r\n\r\n')).status, 200);
        assert.equal(
          (await rawRequest(ts.port, `GET /status HTTP/1.0\r\nHost: ${EVIL}\r\nUser-Agent: ${BROWSER['User-Agent']}\r\n\r\n`)).status,
          421,
        );
      });
    }

    it("--allowed-hosts adds names (and *.domain); '*' allows any Host", async (t) => {
      const named = await startTestServer(t, ['--http', http, '--allowed-hosts', 'cam.example.org, *.home.example']);
      for (const [host, status] of [
        ['cam.example.org', 200],
        ['CAM.example.org:443', 200],
        ['door.home.example', 200],
        ['home.example', 421],
        ['example.org', 421],
        [EVIL, 421],
        ['127.0.0.1', 200],
      ] as const)
        assert.equal((await fetchOnce(named.port, '/status', { headers: { Host: host, ...BROWSER } })).status, status, `Host ${host}`);

      const any = await startTestServer(t, ['--http', http, '--allowed-hosts', '*']);
      assert.equal((await fetchOnce(any.port, '/status', { headers: { Host: EVIL, ...BROWSER } })).status, 200);
    });

    it('the page carries X-Frame-Options and CSP frame-ancestors; --frame-ancestors sets them', async (t) => {
      const ts = await startTestServer(t, ['--http', http]);
      const page = await fetchOnce(ts.port, '/');
      assert.equal(page.status, 200);
      assert.equal(page.headers['x-frame-options'], 'SAMEORIGIN');
      assert.equal(page.headers['content-security-policy'], "frame-ancestors 'self'");
      // What goes into <img> elsewhere is not framed: no framing headers that would suggest otherwise.
      const snapshot = await fetchOnce(ts.port, '/snapshot');
      assert.equal(snapshot.status, 200);
      assert.equal(snapshot.headers['x-frame-options'], undefined);
      assert.equal(snapshot.headers['content-security-policy'], undefined);

      const embedded = await startTestServer(t, ['--http', http, '--frame-ancestors', "'self' https://ha.example.com"]);
      const framed = await fetchOnce(embedded.port, '/');
      assert.equal(framed.headers['content-security-policy'], "frame-ancestors 'self' https://ha.example.com");
      // X-Frame-Options cannot say "self and ha.example.com"; CSP supersedes it where both are known.
      assert.equal(framed.headers['x-frame-options'], undefined);

      const none = await startTestServer(t, ['--http', http, '--frame-ancestors', 'none']);
      const denied = await fetchOnce(none.port, '/');
      assert.equal(denied.headers['content-security-policy'], "frame-ancestors 'none'");
      assert.equal(denied.headers['x-frame-options'], 'DENY');
    });
  });
}
