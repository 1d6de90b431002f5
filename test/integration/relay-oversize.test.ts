/**
 * Issue 17, item 3: a hostile upstream must not make a relay (`--camera http`) grow. The relay's
 * parser allowed parts up to the largest possible ring slot (256 MiB), whatever
 * --max-frame-bytes said: one upstream declaring `Content-Length: 200000000` took the relay's
 * RSS from 85 to 319 MB, a JPEG with no end and no Content-Length to 343 MB. A part larger than
 * the ring's slot is now dropped, counted as oversize and logged once, and skipped without being
 * collected.
 *
 * The relay runs as a child process, so its RSS is its own; the upstream is a node:http server
 * in this process that sends a few good frames, then, once the relay's baseline RSS is taken,
 * 200 MB of one part, then good frames again (the relay must recover on the same connection).
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import { fetchOnce } from '../helpers/http.js';
import { TestSource } from '../helpers/http-source.js';
import { MjpegClient } from '../helpers/mjpeg-client.js';
import { EMULATED_ASSETS } from '../helpers/paths.js';
import { mb, rssBytes } from '../helpers/proc.js';
import { startCli } from '../helpers/server.js';

const IMAGES = ['1.jpg', '2.jpg', '3.jpg'].map((n) => readFileSync(new URL(n, EMULATED_ASSETS)));
const HOSTILE_BYTES = 200_000_000;
/**
 * What the relay may grow by while the hostile part passes. Reading 200 MB at loopback speed
 * costs any node process tens of MB by itself: each socket read is a new 64 KB buffer outside
 * the JS heap, and V8 lets dead ones pile up (its external-memory soft limit is 64 MB) before it
 * collects them. A plain node:http client reading 200 MB grew by 40 MB here; the fixed relay by
 * 34-37 MB (one 2 MB slot of it its own). Without the fix it grew by 200-400 MB.
 */
const RSS_BOUND = 64 * 1024 * 1024;

/** Peak resident memory of `pid` so far (VmHWM), bytes: catches a peak between two samples. */
function peakRss(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

function goodPart(jpeg: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`),
    jpeg,
    Buffer.from('\r\n'),
  ]);
}

/** Writes `bytes` of a JPEG's scan data (SOI, SOS, then bytes that are never FF) with backpressure. */
async function writeEndlessJpeg(res: ServerResponse, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(1024 * 1024, 0x55);
  const closed = once(res, 'close');
  res.write(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]));
  for (let sent = 6; sent < bytes && !res.destroyed; sent += chunk.length) {
    if (!res.write(sent + chunk.length <= bytes ? chunk : chunk.subarray(0, bytes - sent))) {
      await Promise.race([new Promise((resolve) => res.once('drain', resolve)), closed]);
    }
  }
}

for (const [what, headers] of [
  ['a part declaring Content-Length: 200000000', `Content-Type: image/jpeg\r\nContent-Length: ${HOSTILE_BYTES}\r\n`],
  ['a JPEG of 200 MB with no end and no Content-Length', 'Content-Type: image/jpeg\r\n'],
] as const) {
  test(`${what}: the relay stays within +64 MB RSS, counts it as oversize, logs it once and recovers`, { timeout: 45_000 }, async (t) => {
    let go!: () => void;
    const hostileTurn = new Promise<void>((resolve) => (go = resolve));
    let hostileSent!: () => void;
    const hostileDone = new Promise<void>((resolve) => (hostileSent = resolve));
    const source = await TestSource.start(t, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace; boundary=frame' });
      let n = 0;
      const good = setInterval(() => res.write(goodPart(IMAGES[n++ % 3]!)), 50);
      res.on('close', () => clearInterval(good));
      void hostileTurn.then(async () => {
        clearInterval(good);
        res.write(`--frame\r\n${headers}\r\n`);
        await writeEndlessJpeg(res, HOSTILE_BYTES);
        res.write('\r\n');
        hostileSent();
        const again = setInterval(() => res.write(goodPart(IMAGES[n++ % 3]!)), 50);
        res.on('close', () => clearInterval(again));
      });
    });
    const relay = await startCli(['--camera', 'http', '--source', source.url('/feed')]);
    t.after(() => relay.kill());
    const pid = relay.child.pid!;
    const viewer = await MjpegClient.connect({ port: relay.port, path: '/video_feed', retainBodies: 2 });
    t.after(() => viewer.close());
    await viewer.waitForFrames(10, { timeoutMs: 10_000, what: 'good frames before the hostile part' });

    const before = rssBytes(pid);
    const hwmBefore = peakRss(pid);
    let sampled = before;
    const sampler = setInterval(() => {
      sampled = Math.max(sampled, rssBytes(pid));
    }, 10);
    const t0 = performance.now();
    go();
    await hostileDone;
    const seconds = (performance.now() - t0) / 1000;
    const framesBefore = viewer.frames.length;
    // Good frames again, on the same connection: the relay resynchronised after the hostile part.
    await viewer.waitForFrames(framesBefore + 5, { timeoutMs: 10_000, what: 'good frames after the hostile part' });
    clearInterval(sampler);
    const hwm = peakRss(pid);
    const peak = Math.max(sampled, hwm);
    console.log(
      `# ${what}: relay RSS ${mb(before)} before (peak so far ${mb(hwmBefore)}), sampled peak ${mb(sampled)}, VmHWM ${mb(hwm)}: +${mb(peak - before)}; 200 MB sent in ${seconds.toFixed(1)} s`,
    );
    assert.ok(peak - before < RSS_BOUND, `relay RSS grew by ${mb(peak - before)} (from ${mb(before)} to ${mb(peak)})`);

    const status = JSON.parse((await fetchOnce(relay.port, '/status')).text) as {
      cameras: { framesDropped: { oversize: number; corrupt: number } }[];
    };
    const dropped = status.cameras[0]!.framesDropped;
    assert.equal(dropped.oversize, 1, `dropped: ${JSON.stringify(dropped)}`);
    assert.equal(dropped.corrupt, 0, `dropped: ${JSON.stringify(dropped)}`);
    const lines = relay
      .stderr()
      .split('\n')
      .filter((l) => /dropped/.test(l));
    assert.equal(lines.length, 1, `one log line for the drop:\n${lines.join('\n')}`);
    assert.match(lines[0]!, /warn +camera default: dropped a frame from source http:\/\/127\.0\.0\.1:\d+\/feed: /);
    assert.match(lines[0]!, /2097152/, 'the line names the limit');
  });
}
