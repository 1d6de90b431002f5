/**
 * The libcamera driver (`--camera libcamera`), against fake rpicam-vid / libcamera-vid
 * executables (test/fixtures/bin/) that write the emulated JPEGs as an MJPEG stream in irregular
 * chunks: frames split exactly, options on the command line, refused options, the tool stopped
 * when idle, at shutdown and when the process dies, fallback, a missing tool, a tool that exits.
 * Also the shared child-process module both Raspberry Pi drivers use.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile, chmod, mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/app/config.js';
import { findOnPath, KILL_GRACE_MS, mjpegFrames, SupervisedChild } from '../../src/drivers/mjpeg/child-process.js';
import type { DriverContext } from '../../src/drivers/types.js';
import { UnavailableError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/log.js';
import { startServer } from '../../src/app/main.js';
import { runCli, startCli, startServerWithFakes, waitForState } from '../helpers/server.js';
import { MjpegClient, type MjpegFrame } from '../helpers/mjpeg-client.js';
import { EMULATED_ASSETS } from '../helpers/paths.js';
import { isRunning, useFakeTools, waitUntilGone } from '../helpers/fake-camera.js';

const BASE_ARGS = ['--codec', 'mjpeg', '-t', '0', '-n', '--flush', '-o', '-'];
const EXIT_WHILE_CAPTURING = new URL('../fixtures/exit-while-capturing.js', import.meta.url).pathname;

async function loadImages(): Promise<Buffer[]> {
  return Promise.all(['1.jpg', '2.jpg', '3.jpg'].map((n) => readFile(new URL(n, EMULATED_ASSETS))));
}

/** Asserts every frame is one of `images` byte for byte, stepping through them in order; returns the indexes. */
function assertCycle(images: readonly Buffer[], frames: readonly MjpegFrame[]): number[] {
  const seq = frames.map((f) => {
    const i = images.findIndex((img) => img.equals(f.body));
    assert.notEqual(i, -1, `frame ${f.index} (${f.bodyLength} bytes) is not one of the source JPEGs`);
    return i;
  });
  for (let k = 1; k < seq.length; k++) {
    assert.equal(seq[k], (seq[k - 1]! + 1) % images.length, `frame order ${seq.map((n) => n + 1).join(',')}`);
  }
  return seq;
}

describe('libcamera driver through the server (fake rpicam-vid)', () => {
  test('frames are the source JPEGs byte for byte, in order, whatever the chunking', { timeout: 15_000 }, async (t) => {
    const images = await loadImages();
    const { ts, fakes } = await startServerWithFakes(t, ['rpicam-vid'], {}, ['--camera', 'libcamera', '--fps', '10']);
    const client = await ts.connect();
    const frames = await client.waitForFrames(8);
    assertCycle(images, frames);
    assert.deepEqual(client.errors, []);
    assert.equal(ts.camera.stats.dropped('corrupt'), 0);
    const [start] = fakes.starts();
    assert.equal(start?.tool, 'rpicam-vid');
    assert.deepEqual(start?.argv, [...BASE_ARGS, '--framerate', '10']);
  });

  test('every option reaches the command line', { timeout: 15_000 }, async (t) => {
    const args = [
      '--camera',
      'libcamera',
      '--source',
      '1',
      '--width',
      '800',
      '--height',
      '600',
      '--fps',
      '15',
      '--quality',
      '70',
      '--rotate',
      '180',
      '--flip',
      'h',
    ];
    const { ts, fakes } = await startServerWithFakes(t, ['rpicam-vid'], {}, args);
    const client = await ts.connect();
    await client.waitForFrames(1);
    assert.deepEqual(fakes.starts()[0]?.argv, [
      ...BASE_ARGS,
      '--camera',
      '1',
      '--width',
      '800',
      '--height',
      '600',
      '--framerate',
      '15',
      '--quality',
      '70',
      '--vflip',
    ]);
  });

  test('corrupt frames (cut short) are dropped and counted; every frame delivered is whole', { timeout: 15_000 }, async (t) => {
    const images = await loadImages();
    const { ts } = await startServerWithFakes(t, ['rpicam-vid'], { corruptEvery: 3 }, ['--camera', 'libcamera', '--fps', '30']);
    const client = await ts.connect();
    const frames = await client.waitForFrames(10);
    for (const f of frames)
      assert.ok(
        images.some((img) => img.equals(f.body)),
        `frame ${f.index} is not one of the source JPEGs`,
      );
    assert.ok(ts.camera.stats.dropped('corrupt') >= 3, `corrupt drops counted: ${ts.camera.stats.dropped('corrupt')}`);
  });

  test('falls back to libcamera-vid when rpicam-vid is not on PATH', { timeout: 15_000 }, async (t) => {
    const images = await loadImages();
    const { ts, fakes } = await startServerWithFakes(t, ['libcamera-vid'], {}, ['--camera', 'libcamera', '--fps', '20']);
    const client = await ts.connect();
    assertCycle(images, await client.waitForFrames(5));
    assert.deepEqual(
      fakes.starts().map((s) => s.tool),
      ['libcamera-vid'],
    );
  });

  test('prefers rpicam-vid when both are on PATH, whatever their order', { timeout: 15_000 }, async (t) => {
    const { ts, fakes } = await startServerWithFakes(t, ['libcamera-vid', 'rpicam-vid'], {}, ['--camera', 'libcamera', '--fps', '20']);
    const client = await ts.connect();
    await client.waitForFrames(1);
    assert.deepEqual(
      fakes.starts().map((s) => s.tool),
      ['rpicam-vid'],
    );
  });

  test('stops the tool after the idle timeout, before reporting idle', { timeout: 15_000 }, async (t) => {
    const { ts, fakes } = await startServerWithFakes(t, ['rpicam-vid'], {}, [
      '--camera',
      'libcamera',
      '--fps',
      '20',
      '--idle-timeout',
      '0.3',
    ]);
    const client = await ts.connect();
    await client.waitForFrames(2);
    const pid = fakes.starts()[0]!.pid;
    assert.ok(isRunning(pid));
    await client.close();
    await waitForState(ts.camera, 'idle', 5000);
    assert.equal(isRunning(pid), false, `rpicam-vid (pid ${pid}) still running after capture went idle`);
    assert.ok(fakes.events().some((e) => e.pid === pid && e.event === 'exit' && e.why === 'SIGTERM'));
    // And the next viewer starts a new one.
    const again = await ts.connect();
    await again.waitForFrames(1);
    assert.equal(fakes.starts().length, 2);
  });

  test('stops the tool when the server shuts down', { timeout: 15_000 }, async (t) => {
    const { ts, fakes } = await startServerWithFakes(t, ['rpicam-vid'], {}, ['--camera', 'libcamera', '--fps', '20']);
    const client = await ts.connect();
    await client.waitForFrames(2);
    const pid = fakes.starts()[0]!.pid;
    await ts.close();
    assert.equal(isRunning(pid), false, `rpicam-vid (pid ${pid}) still running after close()`);
  });

  test('kills a tool that ignores SIGTERM, after the grace period, within the shutdown', { timeout: 15_000 }, async (t) => {
    const { ts, fakes } = await startServerWithFakes(t, ['rpicam-vid'], { ignoreSigterm: true }, ['--camera', 'libcamera', '--fps', '20']);
    const client = await ts.connect();
    await client.waitForFrames(2);
    const pid = fakes.starts()[0]!.pid;
    const t0 = performance.now();
    await ts.close();
    const ms = performance.now() - t0;
    assert.equal(isRunning(pid), false, `rpicam-vid (pid ${pid}) survived the shutdown`);
    assert.ok(ms >= KILL_GRACE_MS * 0.9, `closed in ${ms.toFixed(0)} ms, before the SIGTERM grace period`);
    const mine = fakes.events().filter((e) => e.pid === pid);
    assert.ok(
      mine.some((e) => e.event === 'signal'),
      'it was sent SIGTERM',
    );
    assert.ok(!mine.some((e) => e.event === 'exit'), 'it did not exit on its own (SIGKILL ended it)');
  });

  test('a tool that exits by itself: the exit code and its last stderr line are logged, and capture restarts', {
    timeout: 20_000,
  }, async (t) => {
    const images = await loadImages();
    const { ts, fakes } = await startServerWithFakes(t, ['rpicam-vid'], { exitAfter: 3 }, ['--camera', 'libcamera', '--fps', '30'], {
      backoffInitialMs: 50,
    });
    const client = await ts.connect();
    // Each run delivers 3 frames: 8 frames need at least three runs.
    const frames = await client.waitForFrames(8, { timeoutMs: 10_000 });
    for (const f of frames) assert.ok(images.some((img) => img.equals(f.body)));
    const log = ts.logs.join('\n');
    assert.match(log, /capture failed: rpicam-vid exited with code 3: ERROR: \*\*\* simulated camera failure \*\*\*/);
    assert.match(log, /restarting capture in/);
    const pids = fakes.starts().map((s) => s.pid);
    assert.ok(pids.length >= 3 && new Set(pids).size === pids.length, `pids: ${pids.join(', ')}`);
    for (const pid of pids.slice(0, -1)) assert.equal(isRunning(pid), false);
  });
});

describe('libcamera driver: refused at start, one line (the command)', { timeout: 30_000 }, () => {
  const cases: [string, string[], RegExp, number][] = [
    ['--rotate 90', ['--rotate', '90'], /^framering: invalid --rotate 90: libcamera rotates only by 0 or 180 \(.*quarter turn\)$/, 2],
    ['--rotate 270', ['--rotate', '270'], /^framering: invalid --rotate 270: /, 2],
    [
      '--source that is not a camera index',
      ['--source', '/dev/video0'],
      /^framering: invalid --source "\/dev\/video0": the libcamera camera takes a camera index/,
      2,
    ],
    ['--encoders, which it cannot honour', ['--encoders', '2'], /^framering: invalid --encoders: the libcamera camera cannot honour it/, 2],
  ];
  for (const [title, args, message, status] of cases) {
    test(title, async (t) => {
      const fakes = await useFakeTools(t, ['rpicam-vid']);
      const r = await runCli(['--camera', 'libcamera', ...args], fakes.env);
      assert.equal(r.status, status, r.stderr);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, `expected one line, got:\n${r.stderr}`);
      assert.match(r.stderr.trimEnd(), message);
      assert.deepEqual(fakes.starts(), [], 'nothing was spawned');
    });
  }

  test('neither rpicam-vid nor libcamera-vid on PATH: one line naming both and the package', async (t) => {
    const fakes = await useFakeTools(t, []);
    const r = await runCli(['--camera', 'libcamera'], fakes.env);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `expected one line, got:\n${r.stderr}`);
    assert.match(
      r.stderr,
      /^framering: --camera libcamera needs rpicam-vid or libcamera-vid, and neither is on PATH: .*\(sudo apt install rpicam-apps\)$/m,
    );
    // In-process, startServer rejects with the error's stable code.
    const parsed = parseConfig(['--host', '127.0.0.1', '--port', '0', '--camera', 'libcamera'], {});
    assert.equal(parsed.kind, 'run');
    if (parsed.kind !== 'run') return;
    await assert.rejects(
      startServer(parsed.config, { log: createLogger('error', () => {}) }),
      (err: unknown) => err instanceof UnavailableError && err.code === 'ERR_FRAMERING_UNAVAILABLE',
    );
  });
});

describe('the tool never outlives the server', () => {
  test('server killed with SIGKILL: the tool dies at its next write (SIGPIPE / EPIPE)', { timeout: 15_000 }, async (t) => {
    const fakes = await useFakeTools(t, ['rpicam-vid']);
    const server = await startCli(['--camera', 'libcamera', '--fps', '20'], fakes.env);
    t.after(() => server.kill());
    const client = await MjpegClient.connect({ port: server.port });
    t.after(() => client.close());
    await client.waitForFrames(2);
    const pid = fakes.starts()[0]!.pid;
    server.child.kill('SIGKILL');
    await server.exited;
    await waitUntilGone(pid, 3000);
    assert.ok(fakes.events().some((e) => e.pid === pid && e.event === 'exit' && e.why === 'EPIPE'));
  });

  test('process.exit() without shutting down: the main thread kills a tool that is not writing', { timeout: 15_000 }, async (t) => {
    // The fake stops writing after its first frame (a hung camera), which is all the fixture
    // waits for, so no broken pipe can end it: only the main thread's exit hook can. (A worker's
    // own 'exit' handlers do not run when the main thread exits.)
    const fakes = await useFakeTools(t, ['rpicam-vid'], { stallAfter: 1 });
    const child = spawn(process.execPath, [EXIT_WHILE_CAPTURING, '--camera', 'libcamera', '--fps', '20'], {
      env: { ...process.env, ...fakes.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const [status] = (await once(child, 'exit')) as [number | null];
    assert.equal(status, 0, stderr);
    const pid = fakes.starts()[0]!.pid;
    await waitUntilGone(pid, 2000);
    const mine = fakes.events().filter((e) => e.pid === pid);
    assert.ok(
      mine.some((e) => e.event === 'stall'),
      `it stalled: ${JSON.stringify(mine)}`,
    );
    assert.ok(!mine.some((e) => e.event === 'exit'), `it was killed, it did not exit: ${JSON.stringify(mine)}`);
  });
});

describe('the shared child-process module', () => {
  const silentContext = (logs: string[] = [], drops: { corrupt: number } = { corrupt: 0 }): DriverContext => ({
    countDrop: (reason, n = 1) => {
      if (reason === 'corrupt') drops.corrupt += n;
    },
    log: (level, message) => logs.push(`${level} ${message}`),
  });
  /** A small distinct JPEG-shaped frame: SOI, an APP0 segment carrying `n`, SOS, one data byte, EOI. */
  const frame = (n: number) =>
    Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, n >> 8, n & 0xff, 0xff, 0xda, 0x00, 0x02, 0x11, 0xff, 0xd9]);

  test('findOnPath finds the first executable file named so, skipping folders and non-executables', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'framering-path-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const [a, b, c] = ['a', 'b', 'c'].map((d) => join(dir, d));
    await Promise.all([a, b, c].map((d) => mkdir(d!)));
    await writeFile(join(a!, 'tool'), 'not executable');
    await mkdir(join(b!, 'tool')); // a folder of that name
    await writeFile(join(c!, 'tool'), '#!/bin/sh\n');
    await chmod(join(c!, 'tool'), 0o755);
    assert.equal(findOnPath('tool', [a, '', b, c].join(':')), join(c!, 'tool'));
    assert.equal(findOnPath('tool', [a, b].join(':')), undefined);
    assert.equal(findOnPath('other', [c].join(':')), undefined);
  });

  test('mjpegFrames keeps only the newest frames for a consumer that is behind', { timeout: 5000 }, async () => {
    const bytes = new PassThrough();
    const logs: string[] = [];
    const abort = new AbortController();
    const frames = mjpegFrames(bytes, {
      signal: abort.signal,
      context: silentContext(logs),
      finished: new Promise(() => {}),
      queueFrames: 2,
    });
    const first = frames.next(); // starts the generator: it is now reading
    bytes.write(frame(0));
    assert.deepEqual((await first).value, frame(0));
    // Ten frames arrive while nobody asks for one.
    for (let n = 1; n <= 10; n++) bytes.write(frame(n));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual((await frames.next()).value, frame(9));
    assert.deepEqual((await frames.next()).value, frame(10));
    const pending = frames.next();
    abort.abort();
    assert.deepEqual(await pending, { value: undefined, done: true });
    assert.ok(
      logs.some((l) => /^debug dropped 8 frame\(s\)/.test(l)),
      logs.join('\n'),
    );
  });

  test('mjpegFrames yields what is queued, then throws the error `finished` gives; corrupt frames are counted', {
    timeout: 5000,
  }, async () => {
    const bytes = new PassThrough();
    const drops = { corrupt: 0 };
    let finish!: (err: Error) => void;
    const frames = mjpegFrames(bytes, {
      signal: new AbortController().signal,
      context: silentContext([], drops),
      finished: new Promise((r) => (finish = r)),
    });
    const first = frames.next();
    // A frame cut short by the next SOI, then a whole one, then the source ends.
    bytes.write(Buffer.concat([frame(1).subarray(0, 12), frame(2)]));
    assert.deepEqual((await first).value, frame(2));
    bytes.write(frame(3));
    await new Promise((resolve) => setImmediate(resolve));
    finish(new Error('the tool exited'));
    assert.deepEqual((await frames.next()).value, frame(3));
    await assert.rejects(frames.next(), /the tool exited/);
    assert.equal(drops.corrupt, 1);
  });

  test('SupervisedChild: SIGKILL after the grace period; the exit message carries the last stderr line', { timeout: 5000 }, async () => {
    const script = "process.on('SIGTERM', () => {}); process.stderr.write('warming up\\nERROR: stuck\\n'); setInterval(() => {}, 1000);";
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const proc = new SupervisedChild(child, 'stuck-tool', { killGraceMs: 100, onStderrLine: (l) => lines.push(l) });
    await new Promise<void>((resolve) => child.stderr.on('data', () => lines.length >= 2 && resolve()));
    const exit = await proc.stop();
    assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: null, signal: 'SIGKILL' });
    assert.equal(proc.running, false);
    assert.deepEqual(lines, ['warming up', 'ERROR: stuck']);
    assert.equal(proc.describeExit(exit), 'stuck-tool was killed by SIGKILL: ERROR: stuck');
  });

  test('SupervisedChild: a tool that cannot be started', { timeout: 5000 }, async () => {
    const proc = new SupervisedChild(spawn('/nonexistent/rpicam-vid', [], { stdio: ['ignore', 'pipe', 'pipe'] }), 'rpicam-vid');
    const exit = await proc.exited;
    assert.match(proc.describeExit(exit), /^rpicam-vid could not be started: spawn \/nonexistent\/rpicam-vid ENOENT$/);
  });
});
