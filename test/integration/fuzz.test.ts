/**
 * A bounded fuzz of the HTTP surface on both front ends. For about 10 s, 16 raw TCP connections
 * at a time send valid requests (streams, snapshots, /status, per-camera routes; with
 * Authorization, Range, Connection, Transfer-Encoding and Content-Length headers) mutated at
 * random: bytes flipped, inserted and deleted, header lines duplicated or dropped, numbers and
 * methods swapped, requests truncated or pipelined, written in random pieces with random pauses,
 * then read, half-closed, closed or reset at random.
 *
 * Throughout, a normal viewer keeps getting whole JPEG frames with no gap over 3 s, and every
 * answer that parses as HTTP has a status below 500. Afterwards the server (the real command,
 * so a crash shows as an exit) is alive and /status lists only the normal viewer.
 *
 * The run is seeded: the seed is printed, and FRAMERING_FUZZ_SEED=N replays it (the requests are
 * the same; their interleaving depends on timing). FRAMERING_FUZZ_SECONDS changes the duration.
 */

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { startCli } from '../helpers/server.js';
import { MjpegClient } from '../helpers/mjpeg-client.js';
import { basic, fetchOnce, FRONT_ENDS, json } from '../helpers/http.js';
import { isCompleteJpeg } from '../helpers/jpeg.js';

const SEED =
  process.env.FRAMERING_FUZZ_SEED !== undefined ? Number(process.env.FRAMERING_FUZZ_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const DURATION_MS = Number(process.env.FRAMERING_FUZZ_SECONDS ?? 10) * 1000;
const CONCURRENCY = 16;
/** The longest a viewer may go without a frame while the fuzzer runs, ms (the camera sends 10 fps). */
const MAX_GAP_MS = 3000;
/** No fuzz connection lives longer than this, ms: uWS leaves unparseable requests unanswered. */
const MAX_CONNECTION_MS = 1000;

const CREDENTIALS = 'fuzz:p4ss';
const GOOD_AUTH = basic(CREDENTIALS);

/** mulberry32: a small, fast, seedable PRNG. */
class Rng {
  constructor(private state: number) {}

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

const PATHS = [
  '/video_feed',
  '/video_feed?fps=2',
  '/video_feed?fps=0.5',
  '/snapshot',
  '/status',
  '/metrics',
  '/healthz',
  '/',
  '/index.html',
  '/cameras/default/video_feed',
  '/cameras/default/video_feed?fps=5',
  '/cameras/default/snapshot',
  '/cameras/nope/snapshot',
  '/nope',
];
const METHODS = ['GET', 'GET', 'GET', 'HEAD', 'OPTIONS', 'POST', 'DELETE'];

/** A valid request, with a random choice of the headers that steer parsing and routing. */
function validRequest(rng: Rng): string {
  const method = rng.pick(METHODS);
  const lines = [`${method} ${rng.pick(PATHS)} HTTP/1.1`, 'Host: 127.0.0.1'];
  if (rng.chance(0.7))
    lines.push(`Authorization: ${rng.chance(0.85) ? GOOD_AUTH : rng.pick([basic('fuzz:wrong'), 'Basic', 'Bearer x', basic(':')])}`);
  if (rng.chance(0.3)) lines.push(`Range: ${rng.pick(['bytes=0-100', 'bytes=-1', 'bytes=5-', 'bytes=0-0,2-3'])}`);
  if (rng.chance(0.5)) lines.push(`Connection: ${rng.pick(['close', 'keep-alive', 'Upgrade', 'close, TE'])}`);
  if (rng.chance(0.2)) lines.push('Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==');
  if (rng.chance(0.3)) lines.push(`User-Agent: fuzz/${rng.int(100)}`, 'Accept: */*');
  if (rng.chance(0.15)) lines.push('Origin: https://elsewhere.example');
  if (rng.chance(0.1)) lines.push('Expect: 100-continue');
  let body = '';
  const framing = rng.int(4);
  if (framing === 1) {
    body = 'x'.repeat(rng.int(64));
    lines.push(`Content-Length: ${body.length}`);
  } else if (framing === 2) {
    const chunk = 'y'.repeat(1 + rng.int(32));
    lines.push('Transfer-Encoding: chunked');
    body = `${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`;
  }
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

const INTERESTING_BYTES = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x25, 0x2e, 0x2f, 0x3a, 0x3f, 0x7f, 0x80, 0xff];
const INTERESTING_TEXT = [
  '\r\n',
  '\r\n\r\n',
  ' ',
  '%00',
  '%',
  '%2e%2e/',
  '/../',
  'HTTP/1.1',
  '\0',
  ':',
  'Transfer-Encoding: chunked\r\n',
  'Content-Length: 10\r\n',
  'Content-Length: -1\r\n',
  'Host: other\r\n',
  'Connection: close\r\n',
  'Expect: 100-continue\r\n',
  '0\r\n\r\n',
  '?fps=',
  '&fps=9',
  `X-Long: ${'L'.repeat(5000)}\r\n`,
  `Authorization: ${GOOD_AUTH}\r\n`,
];
const WEIRD_NUMBERS = ['-1', '0', '99999999999999999999', '1e9', '0x10', '', ' 5', '5 5', 'NaN'];
const WEIRD_METHODS = ['BREW', 'get', 'G\0T', '', 'PROPFIND', 'CONNECT', 'PRI', 'GET GET', 'TRACE'];

/** 0 to 4 random mutations of `request` (0: the valid request itself, as a control). */
function mutate(rng: Rng, request: string): Buffer {
  let bytes = Buffer.from(request, 'latin1');
  const count = rng.pick([0, 1, 1, 2, 2, 3, 4]);
  for (let m = 0; m < count; m++) {
    const at = rng.int(bytes.length + 1);
    switch (rng.int(12)) {
      case 0: // flip a bit
        if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)]! ^= 1 << rng.int(8);
        break;
      case 1: // an interesting byte in place of one
        if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] = rng.pick(INTERESTING_BYTES);
        break;
      case 2: // random bytes inserted
        bytes = Buffer.concat([
          bytes.subarray(0, at),
          Buffer.from(Array.from({ length: 1 + rng.int(8) }, () => rng.int(256))),
          bytes.subarray(at),
        ]);
        break;
      case 3: // interesting text inserted
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(rng.pick(INTERESTING_TEXT), 'latin1'), bytes.subarray(at)]);
        break;
      case 4: // a range deleted
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + rng.int(16))]);
        break;
      case 5: // truncated
        bytes = bytes.subarray(0, at);
        break;
      case 6: // a header line duplicated
      case 7: // a header line dropped
        {
          const text = bytes.toString('latin1');
          const headEnd = text.indexOf('\r\n\r\n');
          if (headEnd < 0) break;
          const lines = text.slice(0, headEnd).split('\r\n');
          if (lines.length < 2) break;
          const i = 1 + rng.int(lines.length - 1);
          if (rng.chance(0.5)) lines.splice(i, 0, lines[i]!);
          else lines.splice(i, 1);
          bytes = Buffer.from(`${lines.join('\r\n')}${text.slice(headEnd)}`, 'latin1');
          break;
        }
      case 8: // a number swapped for a weird one
        {
          const text = bytes.toString('latin1');
          const numbers = [...text.matchAll(/\d+(?:\.\d+)?/g)];
          if (numbers.length === 0) break;
          const n = rng.pick(numbers);
          bytes = Buffer.from(text.slice(0, n.index) + rng.pick(WEIRD_NUMBERS) + text.slice(n.index! + n[0].length), 'latin1');
          break;
        }
      case 9: // the method swapped
        {
          const text = bytes.toString('latin1');
          const space = text.indexOf(' ');
          if (space < 0) break;
          bytes = Buffer.from(rng.pick(WEIRD_METHODS) + text.slice(space), 'latin1');
          break;
        }
      case 10: // another request pipelined behind
        bytes = Buffer.concat([bytes, Buffer.from(validRequest(rng), 'latin1')]);
        break;
      case 11: // the version changed
        {
          const text = bytes.toString('latin1');
          bytes = Buffer.from(
            text.replace(/HTTP\/1\.1/, rng.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.1 ', 'http/1.1', 'HTTP/1.12', ''])),
            'latin1',
          );
          break;
        }
    }
  }
  return bytes;
}

/**
 * The answers at the start of `raw`, in order: each one with a Content-Length is skipped to
 * find the next; parsing stops at a stream, a chunked or close-delimited body, or anything
 * else. `notHttp` is set when the first bytes are no status line; `complete` when the last
 * answer found has all its Content-Length body; `noNosniff` counts final answers whose whole
 * head arrived without X-Content-Type-Options: nosniff.
 */
function answers(raw: Buffer): { statuses: number[]; notHttp: boolean; complete: boolean; noNosniff: number[] } {
  const statuses: number[] = [];
  const noNosniff: number[] = [];
  let at = 0;
  let complete = false;
  while (at < raw.length) {
    complete = false;
    const m = /^HTTP\/1\.[01] (\d{3})\b/.exec(raw.subarray(at, at + 16).toString('latin1'));
    if (!m) {
      // 16 bytes may be all that arrived of a status line; only a whole one can be judged.
      return { statuses, notHttp: at === 0 && raw.length >= 16, complete, noNosniff };
    }
    const status = Number(m[1]);
    statuses.push(status);
    const headEnd = raw.indexOf('\r\n\r\n', at);
    if (headEnd < 0) break;
    const head = `${raw.subarray(at, headEnd).toString('latin1')}\r\n`;
    // 1xx answers are interim (100 Continue), written by the HTTP library before the real one.
    if (status >= 200 && !/\r\nx-content-type-options: nosniff\r\n/i.test(head)) noNosniff.push(status);
    if (status < 200) {
      at = headEnd + 4;
      continue;
    }
    const length = /\r\ncontent-length: *(\d+)\r\n/i.exec(head);
    if (!length) break;
    at = headEnd + 4 + Number(length[1]);
    complete = raw.length >= at;
  }
  return { statuses, notHttp: false, complete, noNosniff };
}

interface FuzzStats {
  connections: number;
  answered: number;
  statuses: Map<number, number>;
  problems: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One fuzz connection: a mutated request written in random pieces, then read, closed or reset. */
async function fuzzOnce(rng: Rng, port: number, stats: FuzzStats): Promise<void> {
  const request = mutate(rng, validRequest(rng));
  const ending = rng.pick(['read', 'read', 'read', 'read', 'half-close', 'close', 'reset']);
  const socket = connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  let raw = Buffer.alloc(0);
  let closed = false;
  const whenClosed = new Promise<void>((done) =>
    socket.once('close', () => {
      closed = true;
      done();
    }),
  );
  socket.on('error', () => {}); // resets either way are part of the game
  socket.on('data', (d: Buffer) => {
    // Only the start matters for parsing; a stream's body is counted, not kept.
    if (raw.length < 64 * 1024) raw = Buffer.concat([raw, d]);
  });
  const deadline = performance.now() + MAX_CONNECTION_MS;
  try {
    await Promise.race([new Promise((r) => socket.once('connect', r)), whenClosed]);
    // Random split points, random pauses between the pieces.
    const cuts = Array.from({ length: rng.int(4) }, () => rng.int(request.length + 1)).sort((a, b) => a - b);
    let from = 0;
    for (const to of [...cuts, request.length]) {
      if (closed) break;
      if (to > from) socket.write(request.subarray(from, to));
      from = to;
      if (rng.chance(0.5)) await sleep(rng.int(30));
    }
    if (ending === 'close') {
      await sleep(rng.int(50));
      socket.destroy();
    } else if (ending === 'reset') {
      await sleep(rng.int(50));
      if (!closed) socket.resetAndDestroy();
    } else {
      if (ending === 'half-close' && !closed) socket.end();
      // Until the server closes, an answer is complete (a stream: has begun) and the next
      // pipelined one had a moment to follow, or the connection's time is up.
      let answeredAt = 0;
      while (!closed && performance.now() < deadline) {
        await Promise.race([whenClosed, sleep(20)]);
        const { statuses, complete } = answers(raw);
        if (answeredAt === 0 && statuses.length > 0 && (complete || raw.length > 1024)) answeredAt = performance.now();
        if (answeredAt > 0 && performance.now() - answeredAt > 100) break;
      }
    }
  } finally {
    socket.destroy();
    await whenClosed;
  }
  stats.connections++;
  const { statuses, notHttp, noNosniff } = answers(raw);
  if (statuses.length > 0) stats.answered++;
  for (const s of statuses) stats.statuses.set(s, (stats.statuses.get(s) ?? 0) + 1);
  const shown = JSON.stringify(request.toString('latin1').slice(0, 300));
  if (statuses.some((s) => s >= 500)) stats.problems.push(`a ${statuses.find((s) => s >= 500)} to ${shown}`);
  if (noNosniff.length > 0) stats.problems.push(`a ${noNosniff[0]} without X-Content-Type-Options: nosniff to ${shown}`);
  if (notHttp) stats.problems.push(`an answer that is not HTTP (${JSON.stringify(raw.subarray(0, 40).toString('latin1'))}) to ${shown}`);
}

for (const http of FRONT_ENDS) {
  describe(`fuzz (--http ${http})`, { timeout: 90_000 }, () => {
    test(`mutated requests on ${CONCURRENCY} connections for ${DURATION_MS / 1000} s: no 5xx, no crash, the viewer keeps streaming`, async (t) => {
      t.diagnostic(`seed ${SEED} (FRAMERING_FUZZ_SEED=${SEED} replays it)`);
      const server = await startCli(['--http', http, '--fps', '10', '--auth', CREDENTIALS, '--lockout-attempts', '0']);
      t.after(() => server.kill());
      const auth = { Authorization: GOOD_AUTH };

      const frameProblems: string[] = [];
      let lastFrameAt = performance.now();
      let maxGap = 0;
      const viewer = await MjpegClient.connect({
        port: server.port,
        path: '/video_feed',
        headers: auth,
        retainBodies: 1,
        onFrame: (f) => {
          if (!isCompleteJpeg(f.body)) frameProblems.push(`frame ${f.index} (${f.bodyLength} bytes) is not a whole JPEG`);
          maxGap = Math.max(maxGap, f.receivedAt - lastFrameAt);
          lastFrameAt = f.receivedAt;
        },
      });
      t.after(() => viewer.close());
      await viewer.waitForFrames(1, { timeoutMs: 10_000 });
      lastFrameAt = performance.now();
      maxGap = 0;

      const stats: FuzzStats = { connections: 0, answered: 0, statuses: new Map(), problems: [] };
      const until = performance.now() + DURATION_MS;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async (_, worker) => {
          // One generator per worker, so each worker's requests depend on the seed alone.
          const rng = new Rng((SEED ^ Math.imul(worker + 1, 0x9e3779b9)) >>> 0);
          while (performance.now() < until) await fuzzOnce(rng, server.port, stats);
        }),
      );
      maxGap = Math.max(maxGap, performance.now() - lastFrameAt);
      const histogram = [...stats.statuses]
        .sort(([a], [b]) => a - b)
        .map(([s, n]) => `${s}: ${n}`)
        .join(', ');
      t.diagnostic(
        `${stats.connections} connections, ${stats.answered} answered (${histogram}); viewer: ${viewer.frames.length} frames, longest gap ${Math.round(maxGap)} ms`,
      );

      const replay = `(seed ${SEED})`;
      assert.equal(server.child.exitCode, null, `the server exited ${replay}:\n${server.stderr()}`);
      assert.equal(server.child.signalCode, null, `the server was killed ${replay}:\n${server.stderr()}`);
      assert.deepEqual(stats.problems.slice(0, 10), [], `${stats.problems.length} bad answers ${replay}`);
      assert.deepEqual(viewer.errors, [], replay);
      assert.deepEqual(frameProblems, [], replay);
      assert.ok(maxGap <= MAX_GAP_MS, `the viewer went ${Math.round(maxGap)} ms without a frame ${replay}`);
      // The fuzzer did reach the routes, not only the parser.
      assert.ok((stats.statuses.get(200) ?? 0) > 0 && (stats.statuses.get(401) ?? 0) > 0, `statuses seen: ${histogram} ${replay}`);

      // Every fuzz connection is gone; the server lets go of its streams too.
      let clients: { path: string }[] = [];
      const cleanupDeadline = performance.now() + 15_000;
      do {
        const res = await fetchOnce(server.port, '/status', { headers: auth });
        assert.equal(res.status, 200);
        clients = json<{ clients: { path: string }[] }>(res).clients;
        if (clients.length === 1) break;
        await sleep(200);
      } while (performance.now() < cleanupDeadline);
      assert.deepEqual(
        clients.map((c) => c.path),
        ['/video_feed'],
        `viewers left after the fuzz ${replay}`,
      );
      assert.equal((await fetchOnce(server.port, '/healthz')).status, 200);
      const seen = viewer.frames.length;
      await viewer.waitForFrames(seen + 3, { timeoutMs: 10_000, what: 'frames after the fuzz' });
      assert.doesNotMatch(server.stderr(), /^\s+at |uncaught|TypeError|RangeError/im, `${replay}\n${server.stderr()}`);
    });
  });
}
