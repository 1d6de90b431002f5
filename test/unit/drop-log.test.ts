/**
 * DropLog (src/drivers/mjpeg/drop-log.ts): every dropped frame counted, few lines. Issue 17,
 * item 7: a relay logged every dropped part (a warn line for the first, a debug line for each
 * other), and an upstream sending empty parts at line rate made millions of lines, each a
 * message to the main thread. On a made-up clock, so the interval is exact.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DropLog } from '../../src/drivers/mjpeg/drop-log.js';

function setUp(intervalMs = 10_000) {
  let now = 0;
  const lines: string[] = [];
  const counted: Record<string, number> = {};
  const log = new DropLog(
    {
      countDrop: (reason, frames = 1) => {
        counted[reason] = (counted[reason] ?? 0) + frames;
      },
      log: (level, message) => lines.push(`${level} ${message}`),
    },
    'from source http://cam/x',
    intervalMs,
    () => now,
  );
  return { log, lines, counted, advance: (ms: number) => (now += ms) };
}

describe('DropLog', () => {
  test('a million drops in one burst: all counted, one line when it starts and one when it ends', () => {
    const { log, lines, counted, advance } = setUp();
    let details = 0;
    for (let i = 0; i < 1_000_000; i++) {
      log.drop('corrupt', () => `part ${++details} holds no complete JPEG`);
      if (i % 1000 === 0) advance(1); // 1000 s in all: a burst is announced once, however long
    }
    log.frame();
    assert.deepEqual(counted, { corrupt: 1_000_000 });
    assert.equal(details, 1, 'the detail of a drop is only made for a line');
    assert.deepEqual(lines, [
      'warn dropped a frame from source http://cam/x: part 1 holds no complete JPEG',
      'warn dropped 1000000 frames in a row from source http://cam/x',
    ]);
  });

  test('a source alternating good and broken frames: at most two lines per interval, the rest counted and reported', () => {
    const { log, lines, counted, advance } = setUp();
    for (let i = 0; i < 10_000; i++) {
      log.drop(i % 2 ? 'oversize' : 'corrupt', `bad ${i}`);
      log.frame();
      advance(2); // 20 s in all
    }
    assert.deepEqual(counted, { corrupt: 5000, oversize: 5000 });
    assert.deepEqual(lines, [
      'warn dropped a frame from source http://cam/x: bad 0',
      'warn dropped a frame from source http://cam/x: bad 5000 (and 4999 more since the last report)',
    ]);
    advance(10_000);
    log.end();
    assert.equal(lines.at(-1), 'warn dropped 4999 more frame(s) from source http://cam/x');
  });

  test('a burst that begins in a quiet period is announced once the interval has passed', () => {
    const { log, lines, advance } = setUp();
    log.drop('corrupt', 'first');
    log.frame();
    advance(1000);
    for (let i = 0; i < 100; i++) {
      log.drop('corrupt', `flood ${i}`);
      advance(100); // the interval ends at drop 90
    }
    log.frame();
    assert.deepEqual(lines, [
      'warn dropped a frame from source http://cam/x: first',
      'warn dropped a frame from source http://cam/x: flood 90 (and 90 more since the last report)',
      'warn dropped 10 frames in a row from source http://cam/x',
    ]);
  });

  test('the end of a stream sums up the burst; a line for what was not logged waits for the interval', () => {
    const { log, lines, advance } = setUp();
    log.drop('oversize', 'big', 3);
    log.drop('oversize', 'big');
    log.end();
    assert.deepEqual(lines, [
      'warn dropped 3 frames from source http://cam/x: big',
      'warn dropped 4 frames in a row from source http://cam/x',
    ]);
    // Reconnecting in a loop buys no line per connection.
    for (let i = 0; i < 100; i++) {
      log.drop('corrupt', 'again');
      log.end();
      advance(10);
    }
    assert.equal(lines.length, 2);
  });
});
