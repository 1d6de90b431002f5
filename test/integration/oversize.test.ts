/**
 * A frame larger than a ring slot is dropped and counted, logged once per burst, never
 * truncated; the frames around it still reach viewers.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { parseConfig, type Config } from '../src/app/config.js';
import { createLogger } from '../src/core/log.js';
import { startServer } from '../src/app/main.js';
import { fakeJpeg } from './helpers/server.js';

it('oversize frames are dropped, counted and logged once per burst; viewers get only whole frames', { timeout: 20_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'framering-oversize-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Frames 1-2 fit in a 4 KiB slot; 3-5 do not (one burst of three); 6 fits again.
  const sizes = [1000, 2000, 5000, 6000, 7000, 3000];
  sizes.forEach((size, i) => writeFileSync(join(dir, `${i + 1}.jpg`), fakeJpeg(size, 0x10 + i)));

  const lines: string[] = [];
  const parsed = parseConfig(
    ['--host', '127.0.0.1', '--port', '0', '--camera', 'files', '--source', dir, '--fps', '30', '--max-frame-bytes', '4096'],
    {},
  );
  const server = await startServer((parsed as { config: Config }).config, { log: createLogger('debug', (l) => lines.push(l)) });
  t.after(() => server.close());

  const bodies: number[] = [];
  await new Promise<void>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: server.port, path: '/video_feed' }, (res) => {
      let buf = Buffer.alloc(0);
      res.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const head = buf.indexOf('\r\n\r\n');
          if (head < 0) break;
          const len = Number(/Content-Length: (\d+)/.exec(buf.subarray(0, head).toString('latin1'))?.[1]);
          if (buf.length < head + 4 + len + 2) break;
          const body = buf.subarray(head + 4, head + 4 + len);
          assert.ok(body[0] === 0xff && body[1] === 0xd8 && body.at(-2) === 0xff && body.at(-1) === 0xd9, 'whole JPEG');
          bodies.push(len);
          buf = buf.subarray(head + 4 + len + 2);
        }
        if (bodies.length >= 9) {
          req.destroy();
          resolve();
        }
      });
    });
    req.on('error', reject);
  });

  // Only the sizes that fit ever arrive, each whole.
  assert.ok(
    bodies.every((n) => n === 1000 || n === 2000 || n === 3000),
    `sizes seen: ${bodies.join(',')}`,
  );
  const ring = server.cameras[0]!.ring;
  assert.ok(ring.droppedOversize() >= 3, `dropped ${ring.droppedOversize()}`);
  const log = lines.join('');
  const warnings = log.match(/dropping frames larger than the ring's 4096-byte slots/g) ?? [];
  const bursts = log.match(/dropped 3 oversize frame\(s\) in a row/g) ?? [];
  // One warning per burst of three, not one per frame.
  assert.ok(warnings.length >= 1, log);
  // The last burst may still be running when the viewer stops.
  assert.ok(warnings.length === bursts.length || warnings.length === bursts.length + 1, log);
  assert.ok(ring.droppedOversize() >= 3 * bursts.length);
});
