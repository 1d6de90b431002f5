/**
 * A smoke test of the framering command on a platform the full suite does not run on (another
 * architecture, another Node.js line): run by .ci/platforms inside Debian roots, under qemu for
 * ARM. It starts the real command on the emulated camera with two HTTP threads and checks what
 * a user would notice first: doctor names the expected front end, 20 viewers get whole JPEG
 * parts, capture stops when nobody watches and starts again for a new viewer, SIGTERM exits 0.
 *
 *   node --test --test-reporter=spec dist/test/platform/smoke.js
 *
 * Environment:
 *   FRAMERING_SMOKE_FRONT_END     front end doctor and /status must report: uws (default) or node
 *   FRAMERING_SMOKE_HTTP_THREADS  HTTP threads doctor and /status must report (default 2; the
 *                                 server is always asked for 2, which node:http serves from 1)
 *   FRAMERING_SMOKE_SLOWDOWN      factor on every timeout (default 1); emulation is 5-10x slower
 *
 * Every wait is bounded and the server is killed when the file ends, whatever happened.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fetchOnce, json } from '../helpers/http.js';
import { isCompleteJpeg, MjpegClient } from '../helpers/mjpeg-client.js';
import { type RunningServer, runCli, startCli } from '../helpers/server.js';
import { sleep } from '../helpers/wait.js';

const FRONT_END = process.env.FRAMERING_SMOKE_FRONT_END ?? 'uws';
const HTTP_THREADS = Number(process.env.FRAMERING_SMOKE_HTTP_THREADS ?? '2');
const SLOWDOWN = Number(process.env.FRAMERING_SMOKE_SLOWDOWN ?? '1');
const ms = (native: number): number => Math.round(native * SLOWDOWN); // a native timeout, scaled

const VIEWERS = 20;
const FPS = 10;
const IDLE_TIMEOUT_S = 2;
/** Frames every viewer must receive, about 2 s of stream. */
const FRAMES_PER_VIEWER = 20;

const SERVER_ARGS = ['--camera', 'emulated', '--fps', String(FPS), '--http-threads', '2', '--idle-timeout', String(IDLE_TIMEOUT_S)];

interface Status {
  frontEnd: string;
  cameras: { state: string; viewers: number; framesPublished: number }[];
  httpThreads: { thread: number; clients: number }[];
}

interface DoctorReport {
  node: { version: string; abi: string; glibc: string | null };
  arch: string;
  uws: { loads: boolean; binary: string; error: string | null };
  frontEnd: { name: string; why: string };
  httpThreads: { count: number; why: string };
}

const status = async (port: number): Promise<Status> => json<Status>(await fetchOnce(port, '/status', { timeoutMs: ms(5000) }));

/** Polls /status until `ok` holds; fails after `timeoutMs` with the last status. */
async function waitForStatus(port: number, ok: (s: Status) => boolean, what: string, timeoutMs: number): Promise<Status> {
  const deadline = Date.now() + timeoutMs;
  let last: Status | undefined;
  while (Date.now() < deadline) {
    last = await status(port);
    if (ok(last)) return last;
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; status: ${JSON.stringify(last)}`);
}

/** Every frame so far is a whole JPEG whose Content-Length is its size, and the stream had no protocol error. */
function assertWholeParts(client: MjpegClient, who: string): void {
  assert.deepEqual(
    client.errors.map((e) => e.message),
    [],
    `${who}: protocol errors`,
  );
  for (const f of client.frames) {
    assert.equal(f.contentType, 'image/jpeg', `${who} frame ${f.index} Content-Type`);
    // The parser already cut the body at Content-Length and required the boundary right after it.
    assert.equal(f.contentLength, f.bodyLength, `${who} frame ${f.index} Content-Length`);
    assert.ok(isCompleteJpeg(f.body), `${who} frame ${f.index} is not a whole JPEG (SOI ... EOI)`);
  }
}

test(`doctor --json: front end ${FRONT_END}, ${HTTP_THREADS} HTTP thread(s)`, { timeout: ms(30_000) }, async () => {
  const r = await runCli(['doctor', '--json', '--http-threads', '2'], {}, ms(20_000));
  assert.equal(r.status, 0, `doctor exited ${r.status}:\n${r.stderr}`);
  const report = JSON.parse(r.stdout) as DoctorReport;
  const seen = `Node.js ${report.node.version} (ABI ${report.node.abi}) on ${report.arch}, glibc ${report.node.glibc}: uWebSockets.js ${
    report.uws.loads ? `loads (${report.uws.binary})` : `does not load (${report.uws.error})`
  }; front end ${report.frontEnd.name}, ${report.httpThreads.count} HTTP thread(s)`;
  console.log(seen);
  assert.equal(report.frontEnd.name, FRONT_END, seen);
  assert.equal(report.httpThreads.count, HTTP_THREADS, seen);
});

describe('the server on the emulated camera', { timeout: ms(120_000) }, () => {
  let server: RunningServer | undefined;
  let port = 0;

  before(async () => {
    server = await startCli(SERVER_ARGS, {}, ms(15_000));
    port = server.port;
    // startCli returns when the first thread listens; the command says it serves once all do.
    const deadline = Date.now() + ms(15_000);
    while (!/ info {2}serving \S+ \(emulated\) on /.test(server.stderr())) {
      if (Date.now() > deadline || server.child.exitCode !== null)
        throw new Error(`the server did not finish starting:\n${server.stderr()}`);
      await sleep(100);
    }
  });

  after(() => server?.kill());

  test(`${VIEWERS} viewers each receive whole JPEG parts`, { timeout: ms(60_000) }, async () => {
    const clients = await Promise.all(
      Array.from({ length: VIEWERS }, () => MjpegClient.connect({ port, path: '/video_feed', headTimeoutMs: ms(10_000) })),
    );
    try {
      for (const [i, c] of clients.entries()) {
        assert.equal(c.status, 200, `viewer ${i} status`);
        assert.equal(c.boundary, 'frame', `viewer ${i} Content-Type: ${c.headers['content-type']}`);
      }
      const s = await waitForStatus(port, (x) => x.cameras[0]?.viewers === VIEWERS, `${VIEWERS} viewers in /status`, ms(10_000));
      assert.equal(s.frontEnd, FRONT_END);
      assert.equal(s.httpThreads.length, HTTP_THREADS, 'HTTP threads in /status');
      // The kernel spreads connections over the threads' listening sockets (SO_REUSEPORT): with
      // 20 viewers, each thread holds some (all on one thread has a chance of 2 in a million).
      for (const t of s.httpThreads) assert.ok(t.clients > 0, `thread ${t.thread} has no viewer: ${JSON.stringify(s.httpThreads)}`);
      await Promise.all(
        clients.map((c, i) =>
          c.waitForFrames(FRAMES_PER_VIEWER, { timeoutMs: ms(15_000), what: `viewer ${i}: ${FRAMES_PER_VIEWER} frames` }),
        ),
      );
      for (const [i, c] of clients.entries()) assertWholeParts(c, `viewer ${i}`);
      assert.equal((await status(port)).cameras[0]!.state, 'running');
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  test(`without viewers, capture stops after --idle-timeout ${IDLE_TIMEOUT_S}`, { timeout: ms(60_000) }, async () => {
    await waitForStatus(port, (x) => x.cameras[0]?.viewers === 0, 'the viewers to be gone', ms(10_000));
    const idle = await waitForStatus(
      port,
      (x) => x.cameras[0]?.state === 'idle',
      'the camera to go idle',
      IDLE_TIMEOUT_S * 1000 + ms(10_000),
    );
    await sleep(1500); // 15 frames' time at --fps 10
    const later = await status(port);
    assert.equal(later.cameras[0]!.state, 'idle');
    assert.equal(later.cameras[0]!.framesPublished, idle.cameras[0]!.framesPublished, 'frames published while idle');
  });

  test('a new viewer starts capture again and receives fresh frames', { timeout: ms(60_000) }, async () => {
    const before = (await status(port)).cameras[0]!.framesPublished;
    const client = await MjpegClient.connect({ port, path: '/video_feed', headTimeoutMs: ms(10_000) });
    try {
      await client.waitForFrames(5, { timeoutMs: ms(15_000), what: '5 frames after the restart' });
      assertWholeParts(client, 'the new viewer');
      const s = await status(port);
      assert.equal(s.cameras[0]!.state, 'running');
      assert.ok(s.cameras[0]!.framesPublished >= before + 3, `frames published: ${before} before, ${s.cameras[0]!.framesPublished} now`);
    } finally {
      await client.close();
    }
  });

  // README: SIGTERM stops serving and capture and exits 0 within 2 s; the test's timeout allows
  // for emulation, and after() kills the process if it is still there.
  test('SIGTERM: the command exits 0', { timeout: ms(10_000) }, async () => {
    server!.child.kill('SIGTERM');
    assert.deepEqual(await server!.exited, { status: 0, signal: null }, server!.stderr());
  });
});
