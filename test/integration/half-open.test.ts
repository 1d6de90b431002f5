/**
 * Clients that stop without saying so. A server that waits for them forever runs out of
 * descriptors and viewer slots one dead client at a time, so it must end each of them itself:
 *
 * - stalled: streams whose client never reads, connections that never send a byte, requests
 *   cut off in the request line or the headers. Streams are disconnected by
 *   --slow-client-timeout (counted in /status), the others within the front end's request-head
 *   timeout (uWS's built-in 10 s idle timeout; node:http's headersTimeout, set to 10 s).
 * - half-open: a viewer whose network path disappears and whose machine dies, so neither a FIN
 *   nor a RST ever arrives. Made for real with a network namespace and a veth pair: the path is
 *   cut (the namespace's end of the link is set down) and the client process is killed. The
 *   server's frames then sit unacknowledged, its send buffer fills and the slow-client timeout
 *   drops the viewer.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect, Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { startCli } from '../helpers/server.js';
import { MjpegClient } from '../helpers/mjpeg-client.js';
import { fetchOnce, FRONT_ENDS, json } from '../helpers/http.js';
import { createJpegFolder, isCompleteJpeg } from '../helpers/jpeg.js';
import { sleep, within } from '../helpers/wait.js';
import { openFds } from '../helpers/proc.js';
import { createTestLink } from '../helpers/netns.js';
import { hasCommand, missing } from '../helpers/requirements.js';

interface Status {
  slowClientsDisconnected: number;
  clients: { remoteAddress: string }[];
}

/** GET /status from `host` (the half-open test's server listens on a veth address, not 127.0.0.1). */
function statusAt(host: string, port: number): Promise<Status> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/status', agent: false, headers: { Connection: 'close' }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as Status);
        } catch {
          reject(new Error(`/status: ${res.statusCode} ${body.slice(0, 200)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('/status: no response within 10 s')));
    req.on('error', reject);
    req.end();
  });
}

/** Polls `read` every 200 ms until `ok`, for up to `timeoutMs`; returns the last value and when `ok` first held (ms), or null. */
async function pollUntil<T>(
  read: () => Promise<T> | T,
  ok: (v: T) => boolean,
  timeoutMs: number,
): Promise<{ value: T; ms: number | null }> {
  const t0 = performance.now();
  let value = await read();
  while (!ok(value)) {
    if (performance.now() - t0 > timeoutMs) return { value, ms: null };
    await sleep(200);
    value = await read();
  }
  return { value, ms: performance.now() - t0 };
}

/** A viewer for the whole test: counts frames that are not whole JPEGs of their Content-Length. */
async function steadyViewer(t: TestContext, port: number): Promise<{ client: MjpegClient; incomplete: () => number }> {
  let incomplete = 0;
  const client = await MjpegClient.connect({
    port,
    retainBodies: 1,
    headTimeoutMs: 10_000,
    onFrame: (f) => {
      if (!isCompleteJpeg(f.body) || f.bodyLength !== f.contentLength) incomplete++;
    },
  });
  t.after(() => client.close());
  await client.waitForFrames(3, { timeoutMs: 10_000 });
  return { client, incomplete: () => incomplete };
}

/** Stalled clients per kind. */
const STALLED = 5;
/** The front ends close a connection without a whole request head after about 10-12 s. */
const HEAD_TIMEOUT_BOUND_MS = 30_000;

interface Lingerer {
  kind: string;
  socket: Socket;
  /** Resolves when the server closed the connection: after how long (ms) and the status it answered with, if any. */
  closed: Promise<{ ms: number; status: number }>;
}

/** A connection that sends `bytes` (maybe nothing) and then waits; it reads whatever the server says. */
function lingerer(port: number, kind: string, bytes: string): Lingerer {
  const t0 = performance.now();
  const socket = connect({ host: '127.0.0.1', port }, () => {
    if (bytes) socket.write(bytes);
  });
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('error', () => {}); // a reset counts as closed
  const closed = once(socket, 'close').then(() => ({
    ms: performance.now() - t0,
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0),
  }));
  return { kind, socket, closed };
}

for (const http of FRONT_ENDS) {
  describe(`stalled and half-open clients (${http})`, { timeout: 120_000 }, () => {
    it('streams that are never read, silent connections and cut-off requests are all ended by the server', async (t) => {
      // 150 KB frames at 30 fps fill a non-reading client's socket buffers within seconds.
      const { dir } = await createJpegFolder(t, 4, 150_000);
      const server = await startCli(['--http', http, '--camera', 'files', '--source', dir, '--fps', '30', '--slow-client-timeout', '2']);
      t.after(() => server.kill());
      const pid = server.child.pid!;
      const viewer = await steadyViewer(t, server.port);
      const fdsBefore = openFds(pid);

      // Streams that never read: paused before connecting, so not a byte is taken off the socket.
      const stalled = Array.from({ length: STALLED }, () => {
        const socket = new Socket();
        socket.pause();
        socket.connect({ host: '127.0.0.1', port: server.port }, () => socket.write('GET /video_feed HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
        socket.on('error', () => {});
        return socket;
      });
      t.after(() => {
        for (const s of stalled) s.destroy();
      });
      const lingerers = [
        ...Array.from({ length: STALLED }, () => lingerer(server.port, 'silent', '')),
        ...Array.from({ length: STALLED }, (_, i) =>
          i % 2 === 0
            ? lingerer(server.port, 'half request line', 'GET /video_f')
            : lingerer(server.port, 'half headers', 'GET /video_feed HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: '),
        ),
      ];
      t.after(() => {
        for (const l of lingerers) l.socket.destroy();
      });

      // The stalled streams: all disconnected as slow, none left in /status.
      const streams = await pollUntil(
        async () => json<Status>(await fetchOnce(server.port, '/status', { timeoutMs: 10_000 })),
        (s) => s.slowClientsDisconnected === STALLED && s.clients.length === 1,
        30_000,
      );
      assert.equal(streams.value.slowClientsDisconnected, STALLED, 'stalled streams disconnected as slow');
      assert.equal(streams.value.clients.length, 1, '/status lists only the viewer that reads');

      // The others: closed by the server (uws says nothing, node answers 408 first).
      const ends = await Promise.all(lingerers.map((l) => within(l.closed, HEAD_TIMEOUT_BOUND_MS + 5000)));
      const figures = [...new Set(lingerers.map((l) => l.kind))].map((kind) => {
        const mine = ends.filter((_, i) => lingerers[i]!.kind === kind);
        const done = mine.filter((e) => e !== null);
        const statuses = [...new Set(done.map((e) => e.status || 'no response'))].join('/');
        return `${kind}: ${done.length} of ${mine.length} closed, the last after ${(Math.max(...done.map((e) => e.ms)) / 1000).toFixed(1)} s (${statuses})`;
      });
      const fds = await pollUntil(
        () => openFds(pid),
        (n) => n <= fdsBefore + 4,
        10_000,
      );
      const summary = `${http}: ${STALLED} stalled streams disconnected as slow within ${((streams.ms ?? 0) / 1000).toFixed(1)} s; ${figures.join('; ')}; fds ${fdsBefore} -> ${fds.value}`;
      t.diagnostic(summary);
      console.log(summary);
      for (const [i, end] of ends.entries()) {
        assert.ok(end, `${lingerers[i]!.kind} connection still open after ${HEAD_TIMEOUT_BOUND_MS + 5000} ms`);
        assert.ok(end.ms <= HEAD_TIMEOUT_BOUND_MS, `${lingerers[i]!.kind} connection closed only after ${end.ms.toFixed(0)} ms`);
        assert.ok(end.status === 0 || end.status === 408, `${lingerers[i]!.kind} connection answered ${end.status}`);
      }
      assert.ok(fds.value <= fdsBefore + 4, `descriptors ${fdsBefore} -> ${fds.value}`);

      assert.deepEqual(viewer.client.errors, []);
      assert.equal(viewer.client.closed, false);
      assert.equal(viewer.incomplete(), 0);
      const n = viewer.client.frames.length;
      await viewer.client.waitForFrames(n + 10, { timeoutMs: 10_000, what: 'the reading viewer to keep streaming' });
      await viewer.client.close();
      const empty = await pollUntil(
        async () => json<Status>(await fetchOnce(server.port, '/status')).clients.length,
        (c) => c === 0,
        10_000,
      );
      assert.equal(empty.value, 0, '/status shows no viewer once the last one left');
      assert.equal(server.child.exitCode, null, 'the server is alive');
    });

    const skip =
      process.platform !== 'linux'
        ? 'network namespaces are Linux only'
        : missing({ 'iproute2 (ip)': hasCommand('ip', ['-V']), 'root, for network namespaces': process.getuid?.() === 0 });
    it('a viewer whose path is cut and whose process dies (no FIN, no RST) is dropped', { skip }, async (t) => {
      const link = await createTestLink(t);
      const { ns, nsEnd, serverAddr, clientAddr, ip } = link;

      const { dir } = await createJpegFolder(t, 4, 150_000);
      const server = await startCli([
        '--http',
        http,
        '--host',
        serverAddr,
        '--camera',
        'files',
        '--source',
        dir,
        '--fps',
        '30',
        '--slow-client-timeout',
        '3',
      ]);
      t.after(() => server.kill());

      // The viewer runs inside the namespace and says once it is streaming.
      const script = `
        const s = require('net').connect(Number(process.env.PORT), process.env.HOST, () => s.write('GET /video_feed HTTP/1.1\\r\\nHost: ' + process.env.HOST + '\\r\\n\\r\\n'));
        let n = 0;
        s.on('data', (d) => { n += d.length; if (n >= 500000 && n - d.length < 500000) console.log('streaming'); });
        s.on('error', (e) => console.log('error', e.message));
      `;
      const client = link.node(script, { HOST: serverAddr, PORT: String(server.port) });
      const clientExited = once(client, 'exit');
      let out = '';
      client.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      const streaming = await pollUntil(
        () => out,
        (o) => o.includes('streaming') || o.includes('error'),
        15_000,
      );
      assert.match(streaming.value, /streaming/, `the namespaced viewer did not get its stream: ${JSON.stringify(out)}`);
      const before = await statusAt(serverAddr, server.port);
      assert.deepEqual(
        before.clients.map((c) => c.remoteAddress),
        [clientAddr],
      );

      // Cut the path, then kill the client: its kernel's FIN/RST has nowhere to go.
      await ip('-n', ns, 'link', 'set', nsEnd, 'down');
      client.kill('SIGKILL');
      await clientExited;
      const gone = await pollUntil(
        () => statusAt(serverAddr, server.port),
        (s) => s.clients.length === 0,
        30_000,
      );
      const summary = `${http}: half-open viewer dropped ${gone.ms === null ? 'NOT within 30 s' : `${(gone.ms / 1000).toFixed(1)} s after its path was cut`} (--slow-client-timeout 3)`;
      t.diagnostic(summary);
      console.log(summary);
      assert.equal(gone.value.clients.length, 0, 'the half-open viewer is still listed in /status');
      assert.equal(gone.value.slowClientsDisconnected, 1, 'dropped by the slow-client timeout');
      assert.equal(server.child.exitCode, null, 'the server is alive');
    });
  });
}
