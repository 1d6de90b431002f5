/**
 * CaptureLoop in this thread, with a fake driver whose every capture session the test scripts
 * (fail at once, deliver given frames, stall until aborted) and a real FrameRing. The test plays
 * the viewers' side through CaptureControl's DEMAND, as the front ends do, and waits on the
 * loop's state and log events: gates, not sleeps.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test, type TestContext } from 'node:test';
import { CaptureLoop, type CaptureLoopOptions } from '../../src/capture/capture-loop.js';
import { CaptureControl, type CaptureStateName } from '../../src/core/capture-control.js';
import { FrameRing } from '../../src/core/ring.js';
import { RingStats } from '../../src/core/ring-stats.js';
import { isCompleteJpeg, jpegDimensions } from '../../src/core/jpeg.js';
import type { CameraDriver, DriverContext } from '../../src/drivers/types.js';
import { EMULATED_ASSETS } from '../helpers/paths.js';
import { Waiters } from '../helpers/wait.js';

const JPEG = readFileSync(new URL('1.jpg', EMULATED_ASSETS)); // a real JPEG: NO SIGNAL takes its size
const WAIT_MS = 5000;

/** What one capture session of the fake driver does. */
type Session =
  /** Throws `fail`, at once or once `after` resolves. */
  | { fail: string; after?: Promise<void> }
  /**
   * Yields `frames`; then, with `later`, waits for it and yields what it gives; then stalls until
   * the session is aborted (or returns, with `end`).
   */
  | { frames: readonly Uint8Array[]; later?: Promise<Uint8Array>; end?: boolean };

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** A driver session that yields nothing until aborted. */
// biome-ignore lint/correctness/useYield: a session that delivers nothing is the point
async function* stalled(signal: AbortSignal): AsyncGenerator<Uint8Array> {
  await aborted(signal);
}

function setUp(t: TestContext, script: (session: number) => Session, options: Partial<CaptureLoopOptions> = {}) {
  const ring = FrameRing.create({ slots: 4, slotBytes: 256 * 1024 });
  const control = new CaptureControl(ring.buffer);
  const stats = new RingStats(ring.buffer);
  const waiters = new Waiters();
  const states: CaptureStateName[] = [];
  const logs: string[] = [];
  const signals: AbortSignal[] = [];
  let created = 0;
  const driver: CameraDriver = {
    async *frames(signal) {
      signals.push(signal);
      waiters.notify();
      const session = script(signals.length);
      if ('fail' in session) {
        if (session.after) await session.after;
        throw new Error(session.fail);
      }
      // The loop asks for the next frame only after admitting the last one, so each resume after
      // a yield is the moment to let waiting checks look at the ring.
      for (const jpeg of session.frames) {
        if (signal.aborted) return;
        yield jpeg;
        waiters.notify();
      }
      if (session.later) {
        const jpeg = await Promise.race([session.later, aborted(signal).then(() => null)]);
        if (jpeg === null) return;
        yield jpeg;
        waiters.notify();
      }
      if (!session.end) await aborted(signal);
    },
  };
  const loop = new CaptureLoop({
    ring,
    createDriver: () => {
      created++;
      return driver;
    },
    idleTimeoutMs: 10_000,
    events: {
      state: (s) => {
        states.push(s);
        waiters.notify();
      },
      log: (level, message) => {
        logs.push(`${level} ${message}`);
        waiters.notify();
      },
    },
    ...options,
  });
  const running = loop.run();
  t.after(async () => {
    await loop.stop();
    await running;
  });
  const describe = () => `states: ${states.join(' ')}; sessions: ${signals.length}; log:\n${logs.join('\n')}`;
  const until = (check: () => boolean, what: string) => waiters.until(() => (check() ? true : undefined), what, WAIT_MS, describe);
  const waitForLog = (pattern: RegExp) =>
    waiters.until(() => logs.find((l) => pattern.test(l)), `a log line matching ${pattern}`, WAIT_MS, describe);
  return { ring, control, stats, states, logs, signals, loop, until, waitForLog, created: () => created };
}

describe('CaptureLoop', { timeout: 10_000 }, () => {
  test('nothing starts without demand; the first viewer starts the driver and frames reach the ring', async (t) => {
    const { ring, control, stats, states, signals, until, created } = setUp(t, () => ({ frames: [JPEG, JPEG, JPEG] }));
    await until(() => states.includes('idle'), 'the idle state');
    // Nothing to wait for that would show a start: the loop is parked on DEMAND. One turn of the
    // event loop lets a wrongly started session show itself.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(signals.length, 0);
    assert.equal(created(), 0, 'the driver is created on the first start, not before');
    assert.equal(ring.latestSeq(), 0);

    control.addDemand(1);
    await until(() => stats.published() === 3, 'three frames published');
    assert.deepEqual(states, ['idle', 'starting', 'running']);
    assert.equal(control.state(), 'running');
    assert.equal(signals.length, 1);
    assert.ok(ring.readJpeg()?.dest.bytes.subarray(0, ring.latestLength()).equals(JPEG));
  });

  test('stops the driver after the idle timeout once demand falls to 0, not before', async (t) => {
    const IDLE_MS = 200;
    const { control, states, signals, until, waitForLog } = setUp(t, () => ({ frames: [JPEG] }), { idleTimeoutMs: IDLE_MS });
    control.addDemand(1);
    await until(() => states.at(-1) === 'running', 'running');
    control.addDemand(1);
    control.addDemand(-1); // one of two viewers leaves: nothing changes
    const leftAt = performance.now();
    control.addDemand(-1);
    await until(() => states.at(-1) === 'idle', 'idle again');
    // A lower bound only: the loop may stop late on a busy machine, never early.
    assert.ok(performance.now() - leftAt >= IDLE_MS - 5, `stopped ${performance.now() - leftAt} ms after the last viewer left`);
    assert.equal(signals[0]!.aborted, true, "the driver's session was aborted");
    await waitForLog(/^info capture stopped: no viewers$/);
    assert.equal(control.state(), 'idle');

    // The next viewer starts a new session of the same driver.
    control.addDemand(1);
    await until(() => signals.length === 2 && states.at(-1) === 'running', 'a second session');
  });

  test('a viewer returning within the idle timeout keeps the session running', async (t) => {
    const { control, states, signals, until } = setUp(t, () => ({ frames: [JPEG] }), { idleTimeoutMs: 60_000 });
    control.addDemand(1);
    await until(() => states.at(-1) === 'running', 'running');
    control.addDemand(-1);
    control.addDemand(1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(signals.length, 1);
    assert.equal(signals[0]!.aborted, false);
    assert.equal(states.at(-1), 'running');
  });

  test('a failing driver is restarted with backoff doubling from the initial delay, reset by a good session', async (t) => {
    const script = (n: number): Session =>
      n <= 2 ? { fail: `simulated unplugged ${n}` } : n === 3 ? { frames: [JPEG], end: true } : { frames: [JPEG] };
    const { control, states, logs, signals, until, created } = setUp(t, script, { backoffInitialMs: 100 });
    control.addDemand(1);
    await until(() => signals.length === 4 && states.at(-1) === 'running', 'the fourth session running');
    const relevant = logs.filter((l) => /capture failed|restarting capture/.test(l));
    assert.deepEqual(relevant, [
      'error capture failed: simulated unplugged 1',
      'info restarting capture in 0.1 s',
      'error capture failed: simulated unplugged 2',
      'info restarting capture in 0.2 s',
      // Session 3 delivered a frame, then ended: the backoff starts over.
      'error capture failed: the driver stopped delivering frames',
      'info restarting capture in 0.1 s',
    ]);
    assert.deepEqual(states, ['idle', 'starting', 'error', 'starting', 'error', 'starting', 'running', 'error', 'starting', 'running']);
    assert.equal(created(), 1, 'the driver is created once and restarted in place');
  });

  test('a failure with nobody watching is not retried until a viewer comes', async (t) => {
    let fail: () => void = () => {};
    const failing = new Promise<void>((resolve) => {
      fail = resolve;
    });
    const script = (n: number): Session => (n === 1 ? { fail: 'gone', after: failing } : { frames: [JPEG] });
    const { control, states, logs, signals, until } = setUp(t, script, { backoffInitialMs: 10 });
    control.addDemand(1);
    await until(() => signals.length === 1, 'the first session');
    control.addDemand(-1); // the viewer leaves before the camera fails
    fail();
    await until(() => states.at(-1) === 'error', 'the error state');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(signals.length, 1);
    assert.ok(!logs.some((l) => l.includes('restarting capture')), logs.join('\n'));
    control.addDemand(1);
    await until(() => states.at(-1) === 'running', 'running after a viewer came');
    assert.equal(signals.length, 2);
  });

  test('frames that are not whole JPEGs are dropped, counted as corrupt and logged once per burst', async (t) => {
    const broken = [JPEG.subarray(0, 100), Buffer.from('not a jpeg'), JPEG.subarray(2)];
    const { control, stats, logs, until } = setUp(t, () => ({ frames: [JPEG, ...broken, JPEG] }));
    control.addDemand(1);
    await until(() => stats.published() === 2, 'the two whole frames published');
    assert.equal(stats.dropped('corrupt'), 3);
    const warnings = logs.filter((l) => l.startsWith('warn '));
    assert.deepEqual(warnings, [
      'warn dropping frames that are not complete JPEGs (this one: 100 bytes)',
      'warn dropped 3 broken frame(s) in a row',
    ]);
  });

  test('a driver alternating broken and good frames gets one burst logged per interval, not two lines per frame', async (t) => {
    // Issue 17: each broken frame between good ones was a burst of its own, announced and summed
    // up: two lines, two messages to the main thread, per broken frame.
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) frames.push(Buffer.from('not a jpeg'), JPEG);
    const { control, stats, logs, until } = setUp(t, () => ({ frames }));
    control.addDemand(1);
    await until(() => stats.published() === 200, 'the 200 whole frames published');
    assert.equal(stats.dropped('corrupt'), 200);
    assert.deepEqual(
      logs.filter((l) => l.startsWith('warn ')),
      ['warn dropping frames that are not complete JPEGs (this one: 10 bytes)', 'warn dropped 1 broken frame(s) in a row'],
    );
  });

  test("the driver learns the ring's slot size (the largest frame worth assembling) and can count oversize drops", async (t) => {
    // Issue 17: the http driver collected parts up to the largest possible slot (256 MiB) since
    // nothing told it the ring's; a hostile source made the relay hold 200 MB per camera.
    let created!: (context: DriverContext) => void;
    const driverContext = new Promise<DriverContext>((resolve) => (created = resolve));
    const { ring, control, stats } = setUp(t, () => ({ frames: [] }), {
      createDriver: (context) => {
        created(context);
        return { frames: (signal) => stalled(signal) };
      },
    });
    control.addDemand(1);
    const context = await Promise.race([
      driverContext,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the driver was not created')), WAIT_MS).unref()),
    ]);
    assert.equal(context.maxFrameBytes, ring.slotBytes);
    assert.equal(context.maxFrameBytes, 256 * 1024);
    context.countDrop('oversize', 2);
    assert.equal(stats.dropped('oversize'), 2);
  });

  test('NO SIGNAL: a stalled driver gets a generated frame at the camera size after noSignalAfterMs; a good frame clears it', async (t) => {
    let resume: (jpeg: Uint8Array) => void = () => {};
    const later = new Promise<Uint8Array>((resolve) => {
      resume = resolve;
    });
    const { ring, control, until, waitForLog } = setUp(t, () => ({ frames: [JPEG], later }), { noSignalAfterMs: 200 });
    control.addDemand(1);
    await until(() => ring.latestSeq() === 1, 'the first frame');
    await waitForLog(/^warn no frame for 0\.2 s: showing NO SIGNAL$/);
    assert.equal(ring.latestSeq(), 2);
    const shown = ring.readJpeg();
    assert.ok(shown);
    const noSignal = Buffer.from(shown.dest.bytes.subarray(shown.dest.jpegOffset, shown.dest.jpegOffset + shown.length));
    assert.ok(isCompleteJpeg(noSignal), 'NO SIGNAL is a whole JPEG');
    assert.ok(!noSignal.equals(JPEG), 'NO SIGNAL is not the last frame again');
    assert.deepEqual(jpegDimensions(noSignal), jpegDimensions(JPEG), "NO SIGNAL has the camera's size");

    resume(JPEG); // the cable is back
    await waitForLog(/^info frames again: NO SIGNAL cleared$/);
    assert.equal(ring.latestSeq(), 3);
  });

  test('noSignalAfterMs 0: a stalled driver keeps its last frame', async (t) => {
    const { ring, control, logs, until } = setUp(t, () => ({ frames: [JPEG] }), { noSignalAfterMs: 0 });
    control.addDemand(1);
    await until(() => ring.latestSeq() === 1, 'the first frame');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(ring.latestSeq(), 1);
    assert.ok(!logs.some((l) => l.includes('NO SIGNAL')));
  });
});
