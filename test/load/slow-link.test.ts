/**
 * A viewer on a link slower than the stream gets fresh frames, not old ones.
 *
 * Regression: framering skipped frames for such a viewer, but the kernel's send buffer (autotuned
 * up to 4 MB) filled with old ones: a viewer on a link carrying a third of the stream was 9-12 s
 * behind after 15-20 s, on both front ends. framering now limits what the kernel queues unsent per
 * viewer (--send-queue, TCP_NOTSENT_LOWAT), so backpressure shows after a frame or two.
 *
 * The link is real: a client in a network namespace behind a veth pair shaped to 2 Mbit/s (a
 * token bucket), reading as fast as the link lets it, against a 30 fps stream of 21 KB frames
 * (5 Mbit/s). The client compares each part's X-Timestamp (capture time) with its arrival.
 */

import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { FRONT_ENDS } from '../helpers/http.js';
import { createJpegFolder } from '../helpers/jpeg.js';
import { createTestLink } from '../helpers/netns.js';
import { hasCommand, missing } from '../helpers/requirements.js';
import { startCli } from '../helpers/server.js';

/** Seconds the client watches; ages are judged over the last WINDOW_S of them. */
const WATCH_S = 16;
const WINDOW_S = 5;

// Inside the namespace: read the stream with node's own client (it undoes the chunking), cut the
// parts by their Content-Length, and print each part's age at arrival, then a summary.
const CLIENT = `
const http = require('http');
const ages = [];
let torn = 0;
const started = Date.now();
http.get({ host: process.env.HOST, port: Number(process.env.PORT), path: '/video_feed' }, (res) => {
  let buf = Buffer.alloc(0);
  res.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const head = buf.indexOf('\\r\\n\\r\\n');
      if (head < 0) return;
      const headers = buf.subarray(0, head).toString('latin1');
      const len = Number(/Content-Length: (\\d+)/i.exec(headers)?.[1]);
      const ts = Number(/X-Timestamp: ([0-9.]+)/i.exec(headers)?.[1]);
      if (!(len > 0)) { buf = buf.subarray(head + 4); continue; }
      if (buf.length < head + 4 + len) return;
      const jpeg = buf.subarray(head + 4, head + 4 + len);
      if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8 || jpeg[len - 2] !== 0xff || jpeg[len - 1] !== 0xd9) torn++;
      ages.push([Date.now() - started, Date.now() - ts * 1000]);
      buf = buf.subarray(head + 4 + len);
    }
  });
}).on('error', (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(1); });
setTimeout(() => { console.log(JSON.stringify({ ages, torn })); process.exit(0); }, Number(process.env.WATCH_MS));
`;

interface Watch {
  parts: number;
  fps: number;
  medianAgeMs: number;
  maxAgeMs: number;
}

function summarize(ages: [number, number][]): Watch {
  const recent = ages.filter(([at]) => at >= (WATCH_S - WINDOW_S) * 1000).map(([, age]) => age);
  recent.sort((a, b) => a - b);
  return {
    parts: ages.length,
    fps: recent.length / WINDOW_S,
    medianAgeMs: recent[Math.floor(recent.length / 2)] ?? Number.NaN,
    maxAgeMs: recent[recent.length - 1] ?? Number.NaN,
  };
}

const skip =
  process.platform !== 'linux'
    ? 'network namespaces are Linux only'
    : missing({
        'iproute2 (ip, tc)': hasCommand('ip', ['-V']) && hasCommand('tc', ['-V']),
        'root, for network namespaces': process.getuid?.() === 0,
      });

for (const http of FRONT_ENDS) {
  describe(`a viewer on a 2 Mbit/s link, 5 Mbit/s stream (${http})`, { skip }, () => {
    const watch = async (t: TestContext, sendQueue: string | null): Promise<Watch> => {
      const link = await createTestLink(t, { rate: '2mbit' });
      const { dir } = await createJpegFolder(t, 4, 21_000);
      const args = ['--http', http, '--host', link.serverAddr, '--camera', 'files', '--source', dir, '--fps', '30'];
      if (sendQueue !== null) args.push('--send-queue', sendQueue);
      const server = await startCli(args);
      t.after(() => server.kill());
      const client = link.node(CLIENT, { HOST: link.serverAddr, PORT: String(server.port), WATCH_MS: String(WATCH_S * 1000) });
      let out = '';
      client.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      await new Promise((resolve) => client.once('exit', resolve));
      const result = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { ages?: [number, number][]; torn?: number; error?: string };
      assert.ok(result.ages, `the client failed: ${out}`);
      assert.equal(result.torn, 0, 'parts that were not whole JPEGs');
      assert.doesNotMatch(server.stderr(), /cannot limit viewers' send queues/);
      return summarize(result.ages);
    };

    it("gets frames under a second old by default, seconds fresher than with the kernel's own queue", async (t) => {
      const limited = await watch(t, null);
      const unlimited = await watch(t, '0');
      const line = (label: string, w: Watch) =>
        `${http}, ${label}: ${w.parts} parts in ${WATCH_S} s; last ${WINDOW_S} s: ${w.fps.toFixed(1)} fps, age median ${w.medianAgeMs.toFixed(0)} ms, max ${w.maxAgeMs.toFixed(0)} ms`;
      for (const l of [line('default --send-queue', limited), line('--send-queue 0', unlimited)]) {
        t.diagnostic(l);
        console.log(l);
      }
      assert.ok(limited.fps >= 3, `the viewer got too few frames to judge (${limited.fps} fps)`);
      assert.ok(limited.medianAgeMs < 1200, `frames were ${limited.medianAgeMs} ms old on arrival (median)`);
      assert.ok(limited.maxAgeMs < 2500, `frames were up to ${limited.maxAgeMs} ms old on arrival`);
      assert.ok(
        unlimited.medianAgeMs > 1.5 * limited.medianAgeMs,
        `without the limit frames were ${unlimited.medianAgeMs} ms old, with it ${limited.medianAgeMs} ms: the limit made no difference`,
      );
    });
  });
}
