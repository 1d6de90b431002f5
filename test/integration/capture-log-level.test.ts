/**
 * Issue 17, item 7: log lines below the log level cost nothing across threads. The capture
 * worker posted every line to the main thread, which then dropped those below its level: a
 * relay source sending empty parts at line rate made millions of such messages, and the main
 * thread (which serves every viewer) spent 0.46 cores receiving them. The worker now gets the
 * main thread's level with its start data and posts only the lines that will be written.
 *
 * A Camera (ring + capture worker) is run directly with a logger that records every call, so a
 * debug line that crossed the thread shows up as a debug() call whatever the logger's level.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CaptureControl } from '../../src/core/capture-control.js';
import type { Logger, LogLevel } from '../../src/core/log.js';
import { UNSET_DRIVER_OPTIONS } from '../../src/drivers/types.js';
import { Camera } from '../../src/stream/camera.js';
import { waitFor } from '../helpers/wait.js';

const CHATTY = new URL('../fixtures/chatty-driver.js', import.meta.url).pathname;

/** Runs the chatty driver until 30 frames are published; returns the lines the logger was handed, by level. */
async function linesFromWorker(level: LogLevel | undefined): Promise<Record<LogLevel, string[]>> {
  const calls: Record<LogLevel, string[]> = { debug: [], info: [], warn: [], error: [] };
  const log: Logger = {
    debug: (m) => calls.debug.push(m),
    info: (m) => calls.info.push(m),
    warn: (m) => calls.warn.push(m),
    error: (m) => calls.error.push(m),
    level,
  };
  const camera = new Camera({
    name: 'chatty',
    driver: CHATTY,
    driverOptions: { ...UNSET_DRIVER_OPTIONS, fps: 100 },
    ringSlots: 4,
    maxFrameBytes: 1024 * 1024,
    idleTimeoutMs: 10_000,
    noSignalAfterMs: 0,
    log,
  });
  try {
    new CaptureControl(camera.ring.buffer).addDemand(1); // a viewer: capture starts
    await waitFor(() => camera.stats.published() >= 30, '30 frames published', 10_000);
    // Messages posted before the 30th frame have arrived once a later one has: the info line
    // comes first, and the worker's port delivers in order.
    await waitFor(() => calls.info.some((l) => /chatty driver started/.test(l)), 'the info line', 5000);
  } finally {
    await camera.close();
  }
  return calls;
}

describe('the capture worker posts only the lines its logger writes', () => {
  test('at info: the driver info line arrives, none of its 30+ debug lines crosses to the main thread', { timeout: 20_000 }, async () => {
    const calls = await linesFromWorker('info');
    assert.deepEqual(
      calls.debug.filter((l) => /chatty frame/.test(l)),
      [],
    );
    assert.equal(calls.info.filter((l) => /camera chatty: chatty driver started/.test(l)).length, 1);
  });

  test('at debug, and with a logger that does not say its level: every line arrives', { timeout: 20_000 }, async () => {
    for (const level of ['debug', undefined] as const) {
      const calls = await linesFromWorker(level);
      const frames = calls.debug.filter((l) => /chatty frame/.test(l)).length;
      assert.ok(frames >= 25, `${level ?? 'no level'}: ${frames} debug lines`);
    }
  });
});
