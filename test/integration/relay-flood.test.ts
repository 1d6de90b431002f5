/**
 * Issue 17, item 7: a hostile upstream must not load the main thread. An upstream sending empty
 * parts (`--frame\r\n\r\n`) at line rate made the relay's capture worker post one debug log
 * message per dropped part to the main thread, even at --log-level info: 12.7 million of them,
 * the main thread at 0.46 cores, another camera's viewers down from 30.5 to 24.4 fps, /healthz
 * answering in 1.2 s. Now the capture worker knows the log level and posts nothing below it,
 * and drops are counted one by one but logged once per burst.
 *
 * The server runs as a child process (its threads' CPU is then its own), with two cameras: an
 * emulated one at 30 fps that a viewer watches, and a relay whose upstream, another child
 * process, floods it with empty parts. Measured over the flood: the other camera's frame rate,
 * /healthz's answer time and the main thread's CPU.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fetchOnce } from '../helpers/http.js';
import { MjpegClient } from '../helpers/mjpeg-client.js';
import { mb, rssBytes } from '../helpers/proc.js';
import { startCli } from '../helpers/server.js';
import { sleep } from '../helpers/wait.js';

/** How long the flood is measured, ms. */
const WINDOW_MS = 3000;

/**
 * The upstream: a node:http server on 127.0.0.1 that answers every request with an endless
 * multipart stream of empty parts, written as fast as the socket takes them. Prints its port.
 */
const FLOOD_SOURCE = `
const http = require('node:http');
const parts = Buffer.from('--frame\\r\\n\\r\\n'.repeat(64 * 1024), 'latin1');
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace; boundary=frame' });
  const pump = () => { while (!res.destroyed && res.write(parts)); };
  res.on('drain', pump);
  pump();
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

/** CPU nanoseconds of the main thread of `pid` (its thread id is the process id). */
function mainThreadCpuNs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]);
}

/** Frames `viewer` receives over `ms`, per second. */
async function fps(viewer: MjpegClient, ms: number): Promise<number> {
  const n0 = viewer.frames.length;
  const t0 = performance.now();
  await sleep(ms);
  return ((viewer.frames.length - n0) * 1000) / (performance.now() - t0);
}

/** /healthz answer times, ms, asked one after another every 100 ms for `ms`. */
async function healthzTimes(port: number, ms: number): Promise<number[]> {
  const times: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t0 = performance.now();
    const r = await fetchOnce(port, '/healthz', { timeoutMs: 5000 });
    times.push(performance.now() - t0);
    assert.equal(r.status, 200);
    await sleep(100);
  }
  return times;
}

test('empty parts at line rate from one relay source leave the main thread, /healthz and another camera alone', {
  timeout: 45_000,
}, async (t) => {
  const source = spawn(process.execPath, ['-e', FLOOD_SOURCE], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => source.kill('SIGKILL'));
  const [portLine] = (await Promise.race([
    once(source.stdout, 'data'),
    sleep(10_000).then(() => Promise.reject(new Error('the flood source did not start within 10 s'))),
  ])) as [Buffer];
  const sourcePort = Number(String(portLine).trim());

  const server = await startCli([
    '--log-level',
    'info',
    '--camera',
    'steady=emulated,fps=30',
    '--camera',
    `flood=http,source=http://127.0.0.1:${sourcePort}/feed`,
  ]);
  t.after(() => server.kill());
  const pid = server.child.pid!;

  const steady = await MjpegClient.connect({ port: server.port, path: '/cameras/steady/video_feed', retainBodies: 1 });
  t.after(() => steady.close());
  await steady.waitForFrames(10, { timeoutMs: 10_000, what: 'the steady camera' });
  const baseline = await fps(steady, 2000);
  const baselineHealthz = await healthzTimes(server.port, 1000);

  // A viewer of the relay starts its capture: the flood begins.
  const floodViewer = await MjpegClient.connect({ port: server.port, path: '/cameras/flood/video_feed', retainBodies: 1 });
  t.after(() => floodViewer.close());
  await sleep(500);

  const cpu0 = mainThreadCpuNs(pid);
  const t0 = performance.now();
  const [during, times] = await Promise.all([fps(steady, WINDOW_MS), healthzTimes(server.port, WINDOW_MS)]);
  const mainCores = (mainThreadCpuNs(pid) - cpu0) / 1e6 / (performance.now() - t0);
  const rss = rssBytes(pid);
  const status = JSON.parse((await fetchOnce(server.port, '/status', { timeoutMs: 5000 })).text) as {
    cameras: { name: string; framesDropped: { corrupt: number } }[];
  };
  const corrupt = status.cameras.find((c) => c.name === 'flood')!.framesDropped.corrupt;
  const slowest = Math.max(...times);
  const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  console.log(
    `# steady camera ${baseline.toFixed(1)} fps before, ${during.toFixed(1)} fps during the flood; /healthz before: slowest ${Math.max(...baselineHealthz).toFixed(1)} ms, during: median ${median.toFixed(1)} ms, slowest ${slowest.toFixed(1)} ms; main thread ${mainCores.toFixed(3)} cores; ${corrupt} empty parts dropped; RSS ${mb(rss)}`,
  );

  assert.ok(corrupt > 100_000, `the flood reached the relay: only ${corrupt} parts dropped`);
  // The precise check: the main thread does nothing for the flood (0.01 cores measured; 0.34
  // with a message per dropped part, at --log-level info).
  assert.ok(mainCores < 0.1, `the main thread used ${mainCores.toFixed(3)} cores during the flood`);
  // What a user sees, with room for this machine: the flooded capture worker rightly parses at
  // a full core, and on 2 shared cores that slows everything else a little (the steady camera
  // measured 26-29 fps of 29.5 with the fix under a load average of 7; /healthz's slowest answer
  // up to 94 ms, so the 90th percentile is asserted).
  const p90 = [...times].sort((a, b) => a - b)[Math.floor(times.length * 0.9)]!;
  assert.ok(
    p90 < 100,
    `/healthz took ${p90.toFixed(1)} ms (90th percentile) during the flood (${times.map((x) => x.toFixed(0)).join(', ')})`,
  );
  assert.ok(during >= baseline * 0.75, `the steady camera fell from ${baseline.toFixed(1)} to ${during.toFixed(1)} fps`);
  // The flood is one burst: one line for it, not one per part (or a second if 10 s passed).
  const lines = server
    .stderr()
    .split('\n')
    .filter((l) => /dropped/.test(l));
  assert.ok(lines.length >= 1 && lines.length <= 2, `drop lines in the log:\n${lines.join('\n')}`);
});
