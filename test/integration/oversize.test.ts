/**
 * A frame larger than a ring slot is dropped and counted, logged once per burst, never
 * truncated; the frames around it still reach viewers.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { parseConfig, type Config } from '../../src/app/config.js';
import { createLogger } from '../../src/core/log.js';
import { startServer } from '../../src/app/main.js';
import { fakeJpeg } from '../helpers/jpeg.js';
import { isCompleteJpeg, MjpegClient } from '../helpers/mjpeg-client.js';

it('oversize frames are dropped, counted and logged once per burst; viewers get only whole frames', { timeout: 20_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'framering-oversize-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Frames 1-2 fit in a 4 KiB slot; 3-5 do not (one burst of three); 6 fits again.
  const sizes = [1000, 2000, 5000, 6000, 7000, 3000];
  for (const [i, size] of sizes.entries()) writeFileSync(join(dir, `${i + 1}.jpg`), fakeJpeg(size, 0x10 + i));

  const lines: string[] = [];
  const parsed = parseConfig(
    ['--host', '127.0.0.1', '--port', '0', '--camera', 'files', '--source', dir, '--fps', '30', '--max-frame-bytes', '4096'],
    {},
  );
  const server = await startServer((parsed as { config: Config }).config, { log: createLogger('debug', (l) => lines.push(l)) });
  t.after(() => server.close());

  const viewer = await MjpegClient.connect({ port: server.port, path: '/video_feed' });
  t.after(() => viewer.close());
  const frames = await viewer.waitForFrames(9, { timeoutMs: 15_000 });
  for (const f of frames) assert.ok(isCompleteJpeg(f.body), 'whole JPEG');
  const bodies = frames.map((f) => f.bodyLength);
  await viewer.close();

  // Only the sizes that fit ever arrive, each whole.
  assert.ok(
    bodies.every((n) => n === 1000 || n === 2000 || n === 3000),
    `sizes seen: ${bodies.join(',')}`,
  );
  const stats = server.cameras[0]!.stats;
  assert.ok(stats.dropped('oversize') >= 3, `dropped ${stats.dropped('oversize')}`);
  const log = lines.join('');
  const warnings = log.match(/dropping frames larger than the ring's 4096-byte slots/g) ?? [];
  const bursts = log.match(/dropped 3 oversize frame\(s\) in a row/g) ?? [];
  // One warning per burst of three, not one per frame.
  assert.ok(warnings.length >= 1, log);
  // The last burst may still be running when the viewer stops.
  assert.ok(warnings.length === bursts.length || warnings.length === bursts.length + 1, log);
  assert.ok(stats.dropped('oversize') >= 3 * bursts.length);
});
