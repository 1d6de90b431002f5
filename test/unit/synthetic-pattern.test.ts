/**
 * The synthetic camera's test pattern, rendered in this thread: any size, the frame index
 * readable back, and a picture that moves. Encoding and the driver are
 * test/integration/driver-synthetic.test.ts.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PatternRenderer, readFrameIndex } from '../../src/drivers/synthetic/pattern.js';

describe('the synthetic pattern', () => {
  test('renders any size, with the frame index readable back from the top strip', () => {
    for (const [w, h] of [
      [16, 16],
      [1, 1],
      [333, 187],
      [1280, 720],
    ] as const) {
      const r = new PatternRenderer(w, h);
      const pixels = r.render(12345, Date.UTC(2024, 0, 1, 12, 34, 56, 789));
      assert.equal(pixels.length, w * h * 3);
      if (w >= 64) assert.equal(readFrameIndex(pixels, w, h, 3), 12345);
    }
  });

  test('moves: frames at different times or counts differ, and the same inputs draw the same picture', () => {
    const r = new PatternRenderer(320, 240);
    const a = Buffer.from(r.render(1, 1_000_000));
    const b = Buffer.from(r.render(2, 1_000_000));
    const c = Buffer.from(r.render(1, 1_000_500));
    const a2 = Buffer.from(r.render(1, 1_000_000));
    assert.ok(!a.equals(b), 'the counter does not change the picture');
    assert.ok(!a.equals(c), 'the time does not change the picture');
    assert.ok(a.equals(a2), 'the background was not restored between frames');
  });
});
