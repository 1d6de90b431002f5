/**
 * framering behind the reverse proxies it ships configurations for (deploy/nginx, deploy/haproxy,
 * deploy/caddy, deploy/apache), each run from the shipped file by test/helpers/proxies.ts:
 *
 * - every shipped file passes the proxy's own validator;
 * - on both front ends, the stream comes through whole, at the camera's rate, without delay
 *   (each part's arrival against its X-Timestamp: this catches a buffering nginx and a HAProxy
 *   that sends frames in clumps), and /snapshot and /healthz work;
 * - the proxy talks HTTP/1.1 to framering and passes X-Forwarded-For;
 * - HAProxy's health check marks framering UP, and what its HTTP/1.0 default check does;
 * - nginx's default settings (HTTP/1.0 upstream): they work with --http node, not with uws;
 * - the load-balancing examples spread viewers over several edges.
 *
 * The per-frame delays are printed as test diagnostics (docs/proxies.md quotes them).
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { describe, test, type TestContext } from 'node:test';
import { fetchOnce, json } from '../helpers/http.js';
import { createJpegFolder, isCompleteJpeg } from '../helpers/jpeg.js';
import { MjpegClient, type MjpegFrame } from '../helpers/mjpeg-client.js';
import {
  EDGE_CONFIGS,
  haproxyStats,
  PROXIES,
  type ProxyName,
  proxyMissing,
  SHIPPED_CONFIGS,
  type StartedProxy,
  startProxy,
  startProxyWith,
  validateConfig,
} from '../helpers/proxies.js';
import { startCli, startTestServer, type TestServer } from '../helpers/server.js';
import { sleep } from '../helpers/wait.js';

const FRONT_ENDS = ['uws', 'node'] as const;
type FrontEnd = (typeof FRONT_ENDS)[number];
const FPS = 30;
const WINDOW_MS = 3000;
const MIN_FPS = 25;
const FIRST_FRAME_MS = 3000;
/** Median delay: buffering one part until the next adds a frame interval (33 ms at 30 fps). */
const P50_DELAY_MS = 20;
const P95_DELAY_MS = 100;
/** Share of parts arriving within 5 ms of the previous one: HAProxy without http-no-delay sends half of them in clumps. */
const MAX_CLUMPED = 0.2;

/** framering as a command (its own process, as behind a real proxy) on a folder of 20 KB JPEGs at 30 fps. */
async function startFramering(t: TestContext, frontEnd: FrontEnd): Promise<number> {
  const { dir } = await createJpegFolder(t, 10, 20_000);
  const server = await startCli(['--http', frontEnd, '--camera', 'files', '--source', dir, '--fps', String(FPS), '--http-threads', '1']);
  t.after(async () => {
    server.kill();
    await server.exited;
  });
  return server.port;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

interface StreamMeasure {
  firstFrameMs: number;
  fps: number;
  delays: number[];
  /** Share of frames that arrived less than 5 ms after the previous one (sent in a clump). */
  clumped: number;
}

/** Reads /video_feed on `port` for WINDOW_MS after its first frame; checks the framing and every part. */
async function measureStream(t: TestContext, port: number, label: string): Promise<StreamMeasure> {
  const badParts: string[] = [];
  const started = performance.now();
  const client = await MjpegClient.connect({ port, host: '127.0.0.1', path: '/video_feed', retainBodies: 4, onFrame: checkPart });
  t.after(() => client.close());
  function checkPart(f: MjpegFrame): void {
    if (f.contentType !== 'image/jpeg' || f.contentLength !== f.bodyLength || !isCompleteJpeg(f.body) || f.timestamp === undefined)
      badParts.push(`part ${f.index}: ${f.contentType}, Content-Length ${f.contentLength}, ${f.bodyLength} bytes`);
  }
  assert.equal(client.status, 200, `${label}: status`);
  assert.equal(client.headers['content-type'], 'multipart/x-mixed-replace; boundary=frame', `${label}: Content-Type`);
  const [first] = await client.waitForFrames(1, { timeoutMs: FIRST_FRAME_MS, what: `${label}: the first frame` });
  const firstFrameMs = first!.receivedAt - started;
  await sleep(WINDOW_MS);
  const frames = client.frames.filter((f) => f.receivedAt > first!.receivedAt && f.receivedAt <= first!.receivedAt + WINDOW_MS);
  await client.close();
  assert.deepEqual(client.errors, [], `${label}: protocol errors`);
  assert.deepEqual(badParts, [], `${label}: parts that are not whole JPEGs`);
  // Delay added on the way: arrival (same clock) minus capture time. framering itself sends a
  // frame within a millisecond or two of its capture on loopback.
  const delays = frames.map((f) => f.receivedAtEpochMs - f.timestamp! * 1000).sort((a, b) => a - b);
  let clumps = 0;
  for (let i = 1; i < frames.length; i++) if (frames[i]!.receivedAt - frames[i - 1]!.receivedAt < 5) clumps++;
  return { firstFrameMs, fps: frames.length / (WINDOW_MS / 1000), delays, clumped: clumps / Math.max(1, frames.length - 1) };
}

function report(t: TestContext, label: string, m: StreamMeasure): string {
  const line =
    `${label}: first frame ${m.firstFrameMs.toFixed(0)} ms, ${m.fps.toFixed(1)} fps, delay p50 ${percentile(m.delays, 50).toFixed(1)} ms` +
    ` p95 ${percentile(m.delays, 95).toFixed(1)} ms max ${(m.delays.at(-1) ?? Number.NaN).toFixed(1)} ms, ${(m.clumped * 100).toFixed(0)}% in clumps`;
  t.diagnostic(line);
  return line;
}

function assertLive(m: StreamMeasure, line: string): void {
  assert.ok(m.firstFrameMs < FIRST_FRAME_MS, line);
  assert.ok(m.fps >= MIN_FPS, `fewer than ${MIN_FPS} fps: ${line}`);
  assert.ok(percentile(m.delays, 50) < P50_DELAY_MS, `median delay not under ${P50_DELAY_MS} ms: ${line}`);
  assert.ok(percentile(m.delays, 95) < P95_DELAY_MS, `p95 delay not under ${P95_DELAY_MS} ms: ${line}`);
  assert.ok(m.clumped < MAX_CLUMPED, `frames arrive in clumps: ${line}`);
}

async function assertSnapshotAndHealth(port: number, label: string): Promise<void> {
  const snap = await fetchOnce(port, '/snapshot');
  assert.equal(snap.status, 200, `${label}: /snapshot ${snap.status} ${snap.text.slice(0, 200)}`);
  assert.equal(snap.headers['content-type'], 'image/jpeg', `${label}: /snapshot Content-Type`);
  assert.ok(isCompleteJpeg(snap.body), `${label}: /snapshot is not a whole JPEG`);
  const health = await fetchOnce(port, '/healthz');
  assert.equal(health.status, 200, `${label}: /healthz ${health.status} ${health.text.slice(0, 200)}`);
  assert.equal(json(health).status, 'serving', `${label}: /healthz body`);
}

/** HAProxy's view of one server: its status (UP, DOWN...) and last check (L7OK, L7TOUT...). */
async function haproxyServer(proxy: StartedProxy, server: string): Promise<{ status: string; check: string; code: string }> {
  const row = (await haproxyStats(proxy)).find((r) => r.svname === server);
  assert.ok(row, `HAProxy has no server ${server}`);
  return { status: row.status ?? '', check: row.check_status ?? '', code: row.check_code ?? '' };
}

/** Polls HAProxy until `ok` holds for `server`'s state, or `timeoutMs` passes; returns the last state. */
async function waitHaproxy(
  proxy: StartedProxy,
  server: string,
  ok: (s: { status: string; check: string }) => boolean,
  timeoutMs: number,
): Promise<{ status: string; check: string; code: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await haproxyServer(proxy, server);
    if (ok(s) || Date.now() > deadline) return s;
    await sleep(100);
  }
}

describe('the shipped proxy configurations pass their validators', () => {
  for (const name of PROXIES) {
    test(`${name}: ${SHIPPED_CONFIGS[name].replace(/.*\/deploy\//, 'deploy/')}`, {
      skip: proxyMissing(name),
      timeout: 15_000,
    }, async () => {
      const r = await validateConfig(name);
      assert.ok(r.ok, r.output);
    });
  }
  for (const [name, file] of Object.entries(EDGE_CONFIGS) as [ProxyName, string][]) {
    test(`${name}: ${file.replace(/.*\/deploy\//, 'deploy/')}`, { skip: proxyMissing(name), timeout: 15_000 }, async () => {
      const r = await validateConfig(name, file, [5001, 5002, 5003]);
      assert.ok(r.ok, r.output);
    });
  }
});

describe('framering without a proxy (the baseline the figures compare with)', () => {
  for (const frontEnd of FRONT_ENDS) {
    test(`--http ${frontEnd}`, { timeout: 30_000 }, async (t) => {
      const upstream = await startFramering(t, frontEnd);
      // Figures only: what framering and the machine contribute to the delays measured below.
      const m = await measureStream(t, upstream, `direct ${frontEnd}`);
      const line = report(t, `direct --http ${frontEnd}`, m);
      assert.ok(m.fps >= MIN_FPS, `fewer than ${MIN_FPS} fps: ${line}`);
    });
  }
});

for (const name of PROXIES) {
  describe(`framering behind ${name} (shipped configuration)`, { skip: proxyMissing(name) }, () => {
    for (const frontEnd of FRONT_ENDS) {
      test(`--http ${frontEnd}: the stream comes through whole, at ${MIN_FPS}+ fps and without delay; /snapshot and /healthz work`, {
        timeout: 30_000,
      }, async (t) => {
        const upstream = await startFramering(t, frontEnd);
        const proxy = await startProxy(t, name, upstream);
        const m = await measureStream(t, Number(new URL(proxy.url).port), `${name} ${frontEnd}`);
        const line = report(t, `${name} --http ${frontEnd}`, m);
        assertLive(m, line);
        await assertSnapshotAndHealth(Number(new URL(proxy.url).port), `${name} ${frontEnd}`);
      });
    }

    test('talks HTTP/1.1 to framering and passes X-Forwarded-For', { timeout: 15_000 }, async (t) => {
      // An upstream that answers with what it was sent.
      const seen: { httpVersion: string; headers: IncomingHttpHeaders }[] = [];
      const echo = createServer((req, res) => {
        seen.push({ httpVersion: req.httpVersion, headers: req.headers });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"serving"}\n');
      });
      echo.listen(0, '127.0.0.1');
      await once(echo, 'listening');
      t.after(() => new Promise<void>((resolve) => echo.close(() => resolve())).then(() => echo.closeAllConnections()));
      const proxy = await startProxy(t, name, (echo.address() as { port: number }).port);
      const res = await fetchOnce(Number(new URL(proxy.url).port), '/healthz', { headers: { 'X-Forwarded-For': '192.0.2.7' } });
      assert.equal(res.status, 200, res.text);
      // The proxied request (Caddy's and HAProxy's own health checks reach the echo too).
      const request = seen.find((s) => s.headers['x-forwarded-for'] !== undefined);
      assert.ok(request, `no proxied request with X-Forwarded-For: ${JSON.stringify(seen)}`);
      assert.equal(request.httpVersion, '1.1');
      // The viewer's address is appended to the chain; Caddy trusts no incoming
      // X-Forwarded-For by default (trusted_proxies) and sends the viewer's address alone.
      const xff = String(request.headers['x-forwarded-for']);
      assert.equal(xff, name === 'caddy' ? '127.0.0.1' : '192.0.2.7, 127.0.0.1');
    });
  });
}

describe('HAProxy health checks', { skip: proxyMissing('haproxy') }, () => {
  for (const frontEnd of FRONT_ENDS) {
    test(`the shipped check (GET /healthz, HTTP/1.1) marks framering --http ${frontEnd} UP`, { timeout: 20_000 }, async (t) => {
      const upstream = await startFramering(t, frontEnd);
      const proxy = await startProxyWith(t, 'haproxy', { upstreams: [upstream] });
      const s = await waitHaproxy(proxy, 'framering', (x) => x.check === 'L7OK', 5000);
      t.diagnostic(`haproxy shipped check, --http ${frontEnd}: ${JSON.stringify(s)}`);
      assert.deepEqual(s, { status: 'UP', check: 'L7OK', code: '200' });
    });
  }

  // `option httpchk GET /healthz` (the older form) sends "GET /healthz HTTP/1.0" without a Host.
  const http10Check = (config: string): string =>
    config
      .replace(/option httpchk\n\s*http-check send [^\n]*\n/, 'option httpchk GET /healthz\n')
      .replace(/timeout check \S+/, 'timeout check 1s');

  test('an HTTP/1.0 check (option httpchk GET /healthz) marks --http node UP', { timeout: 20_000 }, async (t) => {
    const upstream = await startFramering(t, 'node');
    const proxy = await startProxyWith(t, 'haproxy', { upstreams: [upstream], edit: http10Check });
    assert.match(proxy.config, /option httpchk GET \/healthz\n/);
    const s = await waitHaproxy(proxy, 'framering', (x) => x.check === 'L7OK', 5000);
    t.diagnostic(`haproxy HTTP/1.0 check, --http node: ${JSON.stringify(s)}`);
    assert.equal(s.check, 'L7OK');
  });

  test('an HTTP/1.0 check gets no answer from --http uws: the check times out', { timeout: 20_000 }, async (t) => {
    const upstream = await startFramering(t, 'uws');
    const proxy = await startProxyWith(t, 'haproxy', { upstreams: [upstream], edit: http10Check });
    // "* INI" until the first check ends ("*": in progress).
    const s = await waitHaproxy(proxy, 'framering', (x) => x.check !== '' && !x.check.includes('INI'), 6000);
    t.diagnostic(`haproxy HTTP/1.0 check, --http uws: ${JSON.stringify(s)}`);
    assert.match(s.check, /TOUT/);
  });
});

describe('without their streaming settings, the proxies fail the delay check', () => {
  test('HAProxy without option http-no-delay: parts arrive in clumps', {
    skip: proxyMissing('haproxy'),
    timeout: 30_000,
  }, async (t) => {
    const upstream = await startFramering(t, 'uws');
    const proxy = await startProxyWith(t, 'haproxy', {
      upstreams: [upstream],
      edit: (c) => c.replace(/^(\s*)option http-no-delay$/m, '$1no option http-no-delay'),
    });
    assert.match(proxy.config, /no option http-no-delay/);
    const m = await measureStream(t, proxy.port, 'haproxy without http-no-delay');
    const line = report(t, 'haproxy without http-no-delay --http uws', m);
    assert.ok(m.clumped >= MAX_CLUMPED || percentile(m.delays, 50) >= P50_DELAY_MS, `no clumps seen: ${line}`);
  });

  test('nginx buffering the stream (proxy_buffering on, X-Accel-Buffering ignored): each part waits for the next', {
    skip: proxyMissing('nginx'),
    timeout: 30_000,
  }, async (t) => {
    const upstream = await startFramering(t, 'uws');
    const proxy = await startProxyWith(t, 'nginx', {
      upstreams: [upstream],
      edit: (c) => c.replace(/proxy_buffering off;/, 'proxy_buffering on;\n        proxy_ignore_headers X-Accel-Buffering;'),
    });
    assert.match(proxy.config, /proxy_buffering on;/);
    const m = await measureStream(t, proxy.port, 'nginx buffering');
    const line = report(t, 'nginx buffering --http uws', m);
    assert.ok(percentile(m.delays, 50) >= P50_DELAY_MS, `no buffering seen: ${line}`);
  });
});

describe("nginx's default proxy settings (a bare proxy_pass: HTTP/1.0 upstream)", { skip: proxyMissing('nginx') }, () => {
  /** The shipped site reduced to a bare proxy_pass on the same listen address and upstream. */
  const bare = (config: string): string => {
    const listen = /listen [^;]+;/.exec(config)![0];
    const upstream = /server (127\.0\.0\.1:\d+);/.exec(config)![1];
    return `server {\n    ${listen}\n    location / {\n        proxy_pass http://${upstream};\n    }\n}\n`;
  };

  test('work with --http node (framering answers HTTP/1.0 with a stream that ends with the connection)', {
    timeout: 30_000,
  }, async (t) => {
    const upstream = await startFramering(t, 'node');
    const proxy = await startProxyWith(t, 'nginx', { upstreams: [upstream], edit: bare });
    assert.doesNotMatch(proxy.config, /proxy_http_version|proxy_buffering/);
    const m = await measureStream(t, proxy.port, 'nginx defaults, node');
    // Unbuffered all the same: framering's X-Accel-Buffering: no.
    assertLive(m, report(t, 'nginx defaults --http node', m));
    await assertSnapshotAndHealth(proxy.port, 'nginx defaults, node');
  });

  test('get no answer from --http uws (uWebSockets.js ignores HTTP/1.0; nginx answers 502 once uWS closes after 10 s)', {
    timeout: 20_000,
  }, async (t) => {
    const upstream = await startFramering(t, 'uws');
    const proxy = await startProxyWith(t, 'nginx', { upstreams: [upstream], edit: bare });
    // Only the first 2 s are waited for: the rest is uWS's fixed idle timeout.
    await assert.rejects(fetchOnce(proxy.port, '/healthz', { timeoutMs: 2000 }), /no response within 2000 ms/);
    await assert.rejects(
      MjpegClient.connect({ port: proxy.port, host: '127.0.0.1', path: '/video_feed', headTimeoutMs: 2000 }).then((c) => c.close()),
    );
    t.diagnostic('nginx defaults --http uws: no response head within 2 s for /healthz nor /video_feed');
  });
});

describe('load balancing over several framering edges (deploy/*/…-edges.*)', () => {
  /** Three edges in this process (the emulated camera at 5 fps): their ports and viewer counts. */
  async function startEdges(t: TestContext): Promise<{ edges: TestServer[]; ports: number[]; viewers: () => Promise<number[]> }> {
    const edges = await Promise.all([0, 1, 2].map(() => startTestServer(t, ['--fps', '5'])));
    const ports = edges.map((e) => e.port);
    const viewers = () => Promise.all(ports.map(async (p) => (json(await fetchOnce(p, '/status')).clients as unknown[]).length));
    return { edges, ports, viewers };
  }

  async function openStreams(t: TestContext, port: number, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const c = await MjpegClient.connect({ port, host: '127.0.0.1', path: '/video_feed', retainBodies: 1 });
      t.after(() => c.close());
      await c.waitForFrames(1, { timeoutMs: 5000 });
    }
  }

  test('nginx (least_conn) sends three viewers to three edges', { skip: proxyMissing('nginx'), timeout: 30_000 }, async (t) => {
    const { ports, viewers } = await startEdges(t);
    const proxy = await startProxyWith(t, 'nginx', { file: EDGE_CONFIGS.nginx, upstreams: ports });
    await openStreams(t, proxy.port, 3);
    assert.deepEqual(await viewers(), [1, 1, 1]);
  });

  test('HAProxy checks every edge (UP), sends three viewers to three edges, and takes a stopped edge out', {
    skip: proxyMissing('haproxy'),
    timeout: 40_000,
  }, async (t) => {
    const { edges, ports, viewers } = await startEdges(t);
    const proxy = await startProxyWith(t, 'haproxy', { file: EDGE_CONFIGS.haproxy, upstreams: ports });
    for (const edge of ['edge1', 'edge2', 'edge3']) {
      const s = await waitHaproxy(proxy, edge, (x) => x.check === 'L7OK', 5000);
      assert.deepEqual(s, { status: 'UP', check: 'L7OK', code: '200' }, edge);
    }
    await openStreams(t, proxy.port, 3);
    assert.deepEqual(await viewers(), [1, 1, 1]);

    await edges[2]!.close();
    // Requests keep working meanwhile (redispatch), and the edge goes DOWN after 3 failed checks 2 s apart.
    const health = await fetchOnce(proxy.port, '/healthz');
    assert.equal(health.status, 200);
    const s = await waitHaproxy(proxy, 'edge3', (x) => x.status === 'DOWN', 12_000);
    assert.equal(s.status, 'DOWN', JSON.stringify(s));
    t.diagnostic(`haproxy edges: edge3 after stopping it: ${JSON.stringify(s)}`);
  });
});
