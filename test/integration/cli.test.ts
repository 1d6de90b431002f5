/**
 * The framering command as a user runs it: option errors, help, signals, and no busy loops.
 */

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { runCli, startCli } from '../helpers/server.js';
import { MjpegClient } from '../helpers/mjpeg-client.js';
import { processCpuNs } from '../helpers/proc.js';

describe('invalid options', { timeout: 60_000 }, () => {
  const cases: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
    ['non-numeric --fps', ['--fps', 'abc'], {}, /--fps "abc"/],
    ['zero --fps', ['--fps', '0'], {}, /--fps "0"/],
    ['--port out of range', ['--port', '70000'], {}, /--port "70000".*0 to 65535/],
    ['--ring-slots below 2', ['--ring-slots', '1'], {}, /--ring-slots "1".*2 to 1024/],
    ['--max-frame-bytes with a bad unit', ['--max-frame-bytes', '3X'], {}, /--max-frame-bytes "3X"/],
    ['negative --idle-timeout', ['--idle-timeout', '-1'], {}, /--idle-timeout/],
    ['unknown option', ['--bogus'], {}, /unknown option --bogus/],
    ['option without its value', ['--port'], {}, /--port needs a value/],
    ['stray argument', ['stray'], {}, /unexpected argument stray/],
    ['unknown camera', ['--camera', 'nope'], {}, /--camera "nope".*emulated, files/],
    ['files without --source', ['--camera', 'files'], {}, /missing --source/],
    ['files with a missing folder', ['--camera', 'files', '--source', '/nonexistent/frames'], {}, /--source "\/nonexistent\/frames"/],
    ['bad value in the environment', [], { FRAMERING_FPS: 'fast' }, /FRAMERING_FPS "fast"/],
    ['unknown CAMERA in the environment', [], { CAMERA: 'webcam9' }, /--camera "webcam9"/],
    ['an option the driver cannot honour', ['--rotate', '90'], {}, /--rotate: the emulated camera cannot honour it \(it takes: --fps\)/],
    ['--quality out of range', ['--quality', '0'], {}, /--quality "0".*1 to 100/],
    ['--rotate not a right angle', ['--rotate', '45'], {}, /--rotate "45".*0, 90, 180, 270/],
    ['--flip not an axis', ['--flip', 'x'], {}, /--flip "x".*none, h, v, both/],
    ['--log-level not a level', ['--log-level', 'loud'], {}, /--log-level "loud".*debug, info, warn, error/],
  ];
  for (const [title, args, env, message] of cases) {
    it(`${title}: one line naming it, exit status 2`, async () => {
      const r = await runCli(args, env);
      assert.equal(r.status, 2, r.stderr);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`);
      assert.match(lines[0]!, /^framering: /);
      assert.match(lines[0]!, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  it('--help prints every option and exits 0', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.status, 0);
    for (const opt of ['--port', '--host', '--camera', '--source', '--fps', '--idle-timeout', '--ring-slots', '--max-frame-bytes']) {
      assert.match(r.stdout, new RegExp(`${opt} `));
    }
    assert.match(r.stdout, /\[CAMERA\]/);
  });

  it('a port already in use: one line, exit status 1', async () => {
    const first = await startCli([]);
    try {
      const r = await runCli(['--host', '127.0.0.1', '--port', String(first.port)]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`framering: .*cannot listen on 127\\.0\\.0\\.1:${first.port}`));
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    } finally {
      first.kill();
    }
  });
});

/** Opens a stream and resolves when its first body bytes arrive; `ended` resolves when it ends. */
async function openStream(port: number): Promise<{ ended: Promise<void>; destroy(): void }> {
  const client = await MjpegClient.connect({ port, path: '/video_feed' });
  await client.waitUntil(() => client.bodyBytes > 0, { what: 'the first bytes of the stream' });
  return { ended: client.whenClosed(), destroy: () => void client.close() };
}

describe('signals', { timeout: 30_000 }, () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} ends the streams and exits 0 within 2 seconds`, async () => {
      const server = await startCli(['--fps', '20']);
      try {
        const stream = await openStream(server.port);
        const t0 = performance.now();
        server.child.kill(signal);
        const { status } = await server.exited;
        const elapsed = performance.now() - t0;
        assert.equal(status, 0, server.stderr());
        assert.ok(elapsed < 2000, `exited after ${elapsed.toFixed(0)} ms`);
        await stream.ended; // the viewer's stream was ended, not left hanging
        assert.match(server.stderr(), new RegExp(`${signal}: shutting down`));
      } finally {
        server.kill();
      }
    });
  }
});

describe('idle CPU', { timeout: 30_000 }, () => {
  it('one viewer at 1 fps keeps the process near 0% CPU (no busy loop)', async () => {
    const server = await startCli(['--fps', '1']);
    const pid = server.child.pid!;
    try {
      const stream = await openStream(server.port);
      await sleep(500); // let start-up work settle
      const before = processCpuNs(pid);
      const t0 = performance.now();
      await sleep(3000);
      const cpuMs = (processCpuNs(pid) - before) / 1e6;
      const wallMs = performance.now() - t0;
      const percent = (100 * cpuMs) / wallMs;
      // A busy loop anywhere costs ~100% of a core; the real figure is well under 1%.
      assert.ok(percent < 10, `server used ${percent.toFixed(1)}% of a core with one 1 fps viewer`);
      stream.destroy();
    } finally {
      server.kill();
    }
  });

  it('with no viewer, no frames are captured', async () => {
    const server = await startCli(['--fps', '30', '--log-level', 'debug']);
    const pid = server.child.pid!;
    try {
      await sleep(300);
      const before = processCpuNs(pid);
      await sleep(2000);
      const cpuMs = (processCpuNs(pid) - before) / 1e6;
      assert.ok(cpuMs < 100, `idle server used ${cpuMs.toFixed(0)} ms of CPU in 2 s`);
      assert.doesNotMatch(server.stderr(), /starting|running/, 'capture never started');
    } finally {
      server.kill();
    }
  });
});
