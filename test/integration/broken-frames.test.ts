/**
 * A driver that yields truncated or non-JPEG frames: they are dropped and counted as corrupt,
 * logged once per burst, and never forwarded; the whole frames around them still arrive.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { startTestServer } from '../helpers/server.js';
import { EMULATED_ASSETS } from '../helpers/paths.js';

const BROKEN = new URL('../fixtures/broken-frames-driver.js', import.meta.url).pathname;

it('broken frames from a driver never reach viewers and are counted', { timeout: 20_000 }, async (t) => {
  const one = readFileSync(new URL('1.jpg', EMULATED_ASSETS));
  const two = readFileSync(new URL('2.jpg', EMULATED_ASSETS));
  const ts = await startTestServer(t, ['--camera', BROKEN, '--fps', '50']);
  const client = await ts.connect();
  const frames = await client.waitForFrames(12, { timeoutMs: 10_000 });
  for (const f of frames)
    assert.ok(f.body.equals(one) || f.body.equals(two), `frame ${f.index} is one of the whole JPEGs (${f.bodyLength} bytes)`);
  const corrupt = ts.camera.stats.dropped('corrupt');
  assert.ok(corrupt >= 3 * 5, `corrupt drops counted: ${corrupt}`);
  const log = ts.logs.join('\n');
  const warnings = log.match(/dropping frames that are not complete JPEGs/g) ?? [];
  const bursts = log.match(/dropped 3 broken frame\(s\) in a row/g) ?? [];
  assert.ok(warnings.length >= 1);
  assert.ok(warnings.length === bursts.length || warnings.length === bursts.length + 1, 'one warning per burst, not per frame');
});
