/**
 * --http-threads: several uWebSockets.js threads on one port, sharing the camera rings. Run as
 * the real command (child process), so the worker threads are the ones users get. Viewers spread
 * over the threads; every one gets the same whole frames; camera start and idle stop follow the
 * viewers of all threads; /status and /metrics give totals and per-thread figures from whichever
 * thread answers; --max-clients holds across threads; SIGTERM still exits 0 within 2 s.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli, type RunningServer, startCli } from '../helpers/server.js';
import { MjpegClient } from '../helpers/mjpeg-client.js';
import { fetchOnce, json, parsePrometheus, sampleValue } from '../helpers/http.js';
import { isCompleteJpeg, loadEmulatedImages } from '../helpers/jpeg.js';
import { EMULATED_ASSETS } from '../helpers/paths.js';
import { sleep } from '../helpers/wait.js';
import { freePort } from '../helpers/http-source.js';
import { defaultHttpThreads } from '../../src/app/options.js';
import { createLogger } from '../../src/core/log.js';
import { resolveHttpThreads } from '../../src/app/front-end-choice.js';

interface Status {
  cameras: { state: string; viewers: number }[];
  httpThreads: { thread: number; clients: number; slowClientsDisconnected: number }[];
  clients: { thread: number; maxFps: number | null }[];
}

const status = async (port: number): Promise<Status> => json<Status>(await fetchOnce(port, '/status'));

async function waitForStatus(port: number, ok: (s: Status) => boolean, what: string, timeoutMs = 10_000): Promise<Status> {
  const deadline = Date.now() + timeoutMs;
  let last: Status | undefined;
  while (Date.now() < deadline) {
    last = await status(port);
    if (ok(last)) return last;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}; status: ${JSON.stringify(last)}`);
}

/** Starts the command with two HTTP threads; resolves once both listen. */
async function startTwoThreads(args: string[]): Promise<RunningServer> {
  const server = await startCli(['--http', 'uws', '--http-threads', '2', ...args]);
  const deadline = Date.now() + 10_000;
  while (!/serving HTTP from 2 threads/.test(server.stderr())) {
    if (Date.now() > deadline || server.child.exitCode !== null) {
      server.kill();
      throw new Error(`the second HTTP thread did not start:\n${server.stderr()}`);
    }
    await sleep(50);
  }
  return server;
}

async function withServer(args: string[], fn: (server: RunningServer) => Promise<void>): Promise<void> {
  const server = await startTwoThreads(args);
  try {
    await fn(server);
  } finally {
    server.kill();
  }
}

describe('--http-threads 2', { timeout: 60_000 }, () => {
  it('viewers spread over both threads and all get the same whole frames; /status and /metrics add them up', async () => {
    await withServer(['--camera', 'files', '--source', EMULATED_ASSETS.pathname, '--fps', '20'], async (server) => {
      assert.match(server.stderr(), /HTTP thread 1: uWebSockets\.js front end listening on http:\/\/127\.0\.0\.1:(\d+)\//);
      assert.match(server.stderr(), /serving HTTP from 2 threads/);
      const images = await loadEmulatedImages();
      const viewers = await Promise.all(
        Array.from({ length: 16 }, () =>
          MjpegClient.connect({ port: server.port, host: '127.0.0.1', path: '/video_feed', retainBodies: 50 }),
        ),
      );
      try {
        await Promise.all(viewers.map((v) => v.waitForFrames(12, { timeoutMs: 10_000 })));
        for (const v of viewers) {
          assert.deepEqual(v.errors, []);
          for (const f of v.frames.filter((f) => f.body.length > 0)) {
            assert.ok(
              isCompleteJpeg(f.body) && images.some((img) => img.equals(f.body)),
              `frame ${f.index} is not one of the camera's images`,
            );
          }
        }
        // The kernel spreads connections over the threads listening on the port: with 16 of
        // them, all on one thread would happen once in 30,000 runs.
        const s = await status(server.port);
        assert.deepEqual(
          s.httpThreads.map((t) => t.thread),
          [0, 1],
        );
        assert.ok(
          s.httpThreads.every((t) => t.clients > 0),
          `clients per thread: ${JSON.stringify(s.httpThreads)}`,
        );
        assert.equal(s.httpThreads[0]!.clients + s.httpThreads[1]!.clients, 16);
        assert.equal(s.clients.length, 16);
        assert.equal(s.cameras[0]!.viewers, 16);
        assert.equal(s.cameras[0]!.state, 'running');
        // /status and /metrics are whole from either thread: ask several times over new connections.
        for (let i = 0; i < 8; i++) assert.equal((await status(server.port)).clients.length, 16);
        const { samples } = parsePrometheus((await fetchOnce(server.port, '/metrics')).body.toString());
        assert.equal(sampleValue(samples, 'framering_clients', { camera: 'default' }), 16);
        const perThread = [0, 1].map((t) => sampleValue(samples, 'framering_http_thread_clients', { thread: String(t) }));
        assert.deepEqual(
          perThread,
          s.httpThreads.map((t) => t.clients),
        );
        const sent = sampleValue(samples, 'framering_frames_sent_total', { camera: 'default' })!;
        assert.ok(sent >= 16 * 12, `frames sent ${sent}`);
        assert.ok(sampleValue(samples, 'framering_frames_published_total', { camera: 'default' })! >= 12);
      } finally {
        await Promise.all(viewers.map((v) => v.close()));
      }
    });
  });

  it('a viewer on thread 1 alone keeps the camera running; when it leaves, capture goes idle', async () => {
    await withServer(
      ['--camera', 'files', '--source', EMULATED_ASSETS.pathname, '--fps', '20', '--idle-timeout', '0.5'],
      async (server) => {
        // Each viewer asks for a distinct ?fps cap, which /status reports: that tells its thread.
        const viewers: MjpegClient[] = [];
        let onThread1: MjpegClient | undefined;
        for (let i = 1; i <= 40 && !onThread1; i++) {
          const v = await MjpegClient.connect({
            port: server.port,
            host: '127.0.0.1',
            path: `/video_feed?fps=${100 + i}`,
            retainBodies: 2,
          });
          viewers.push(v);
          const s = await waitForStatus(server.port, (s) => s.clients.length === viewers.length, 'the new viewer in /status');
          if (s.clients.find((c) => c.maxFps === 100 + i)?.thread === 1) onThread1 = v;
        }
        assert.ok(onThread1, 'no connection of 40 landed on thread 1');
        await Promise.all(viewers.filter((v) => v !== onThread1).map((v) => v.close()));
        await waitForStatus(server.port, (s) => s.clients.length === 1 && s.clients[0]!.thread === 1, 'only the thread-1 viewer left');
        await sleep(1500); // three idle timeouts
        const before = onThread1.frames.length;
        await onThread1.waitForFrames(before + 10, { timeoutMs: 5000, what: 'frames to the thread-1 viewer' });
        assert.equal((await status(server.port)).cameras[0]!.state, 'running');
        await onThread1.close();
        await waitForStatus(server.port, (s) => s.cameras[0]!.state === 'idle', 'capture to go idle');
      },
    );
  });

  it('--max-clients holds across threads', async () => {
    await withServer(['--camera', 'files', '--source', EMULATED_ASSETS.pathname, '--fps', '10', '--max-clients', '5'], async (server) => {
      // All at once, and held open: the places are taken by viewers on both threads together.
      const clients = await Promise.all(
        Array.from({ length: 12 }, () =>
          MjpegClient.connect({ port: server.port, host: '127.0.0.1', path: '/video_feed', retainBodies: 1 }),
        ),
      );
      try {
        const answers = clients.map((c) => c.status);
        assert.equal(answers.filter((s) => s === 503).length, 7, `answers: ${answers.join(' ')}`);
        assert.equal(answers.filter((s) => s === 200).length, 5, `answers: ${answers.join(' ')}`);
        const s = await status(server.port);
        assert.equal(s.clients.length, 5);
        // A place given back is free again, whichever thread takes the next viewer.
        await clients.find((c) => c.status === 200)!.close();
        await waitForStatus(server.port, (s) => s.clients.length === 4, 'the closed viewer to be gone');
        const again = await MjpegClient.connect({ port: server.port, host: '127.0.0.1', path: '/video_feed', retainBodies: 1 });
        clients.push(again);
        assert.equal(again.status, 200);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    });
  });

  it('SIGTERM with viewers on both threads ends every stream and exits 0 within 2 s', async () => {
    const server = await startTwoThreads(['--camera', 'files', '--source', EMULATED_ASSETS.pathname, '--fps', '30']);
    const viewers = await Promise.all(
      Array.from({ length: 40 }, () => MjpegClient.connect({ port: server.port, host: '127.0.0.1', path: '/video_feed', retainBodies: 1 })),
    );
    try {
      await Promise.all(viewers.map((v) => v.waitForFrames(2, { timeoutMs: 10_000 })));
      const s = await status(server.port);
      assert.ok(
        s.httpThreads.every((t) => t.clients > 0),
        JSON.stringify(s.httpThreads),
      );
      const t0 = performance.now();
      server.child.kill('SIGTERM');
      const { status: code } = await server.exited;
      const elapsed = performance.now() - t0;
      assert.equal(code, 0, server.stderr());
      assert.ok(elapsed < 2000, `exited after ${elapsed.toFixed(0)} ms`);
      await Promise.all(viewers.map((v) => v.whenClosed()));
      assert.doesNotMatch(server.stderr(), /uv_loop_close|Assertion|Aborted/);
    } finally {
      await Promise.all(viewers.map((v) => v.close()));
      server.kill();
    }
  });
});

describe('a port another server holds is refused, whatever the threads on either side', { timeout: 60_000 }, () => {
  // The threads share a port with SO_REUSEPORT, which on its own would let a second server (a
  // manual run beside the service) bind the same port and take half of its connections.
  for (const [first, second] of [
    [1, 1],
    [1, 2],
    [2, 1],
    [2, 2],
  ] as const) {
    it(`${first} thread(s) hold it; ${second} thread(s) asking: exit 1, one line`, async () => {
      const port = await freePort();
      const holder = await startCli(['--http', 'uws', '--http-threads', String(first), '--port', String(port)]);
      try {
        const r = await runCli(['--http', 'uws', '--http-threads', String(second), '--host', '127.0.0.1', '--port', String(port)]);
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`^framering: .*cannot listen on 127\\.0\\.0\\.1:${port}`, 'm'));
        assert.doesNotMatch(r.stderr, /\n\s+at /);
        assert.equal((await fetchOnce(holder.port, '/healthz')).status, 200);
      } finally {
        holder.kill();
      }
    });
  }
});

describe('--http-threads: the default, and where it cannot apply', () => {
  it('defaults to half the cores, from 1 to 4 (2 on a 4-core Raspberry Pi 4)', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 6, 8, 16, 64].map((cores) => defaultHttpThreads(cores)),
      [1, 1, 1, 2, 3, 4, 4, 4],
    );
  });

  it('node:http chosen because uWS cannot load: more threads are declined with a warning', () => {
    const lines: string[] = [];
    const log = createLogger('debug', (l) => lines.push(l));
    assert.equal(resolveHttpThreads({ http: undefined, httpThreads: 3 }, 'node', log), 1);
    assert.match(lines.join(''), /--http-threads 3 ignored: the node:http front end serves from one thread/);
    assert.equal(resolveHttpThreads({ http: undefined, httpThreads: undefined }, 'node', log), 1);
    assert.equal(resolveHttpThreads({ http: 'uws', httpThreads: 3 }, 'uws', log), 3);
  });

  it('with --http node: exit 2, one line naming the option', async () => {
    const r = await runCli(['--http', 'node', '--http-threads', '2', '--port', '0']);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(
      r.stderr.trimEnd(),
      'framering: invalid --http-threads 2: the node front end serves from one thread; use --http uws for more',
    );
  });

  it('out of range: exit 2, one line', async () => {
    for (const n of ['0', '65', 'two']) {
      const r = await runCli(['--http-threads', n]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr.trimEnd(), /^framering: invalid --http-threads/);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1);
    }
  });
});
