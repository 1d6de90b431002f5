/** The files driver: a folder of JPEGs, played in natural order, checked at start. */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createDriver, validate } from '../../src/drivers/files.js';
import { UNSET_DRIVER_OPTIONS } from '../../src/drivers/types.js';
import { ConfigError } from '../../src/core/errors.js';

/** A minimal byte sequence the driver accepts as a whole JPEG, tagged so frames can be told apart. */
const jpeg = (tag: string): Buffer => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from(tag), Buffer.from([0xff, 0xd9])]);

function folder(files: Record<string, Buffer | string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'framering-files-'));
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('files driver', () => {
  it('plays every *.jpg and *.jpeg in natural sort order, looping, ignoring other files', async () => {
    const dir = folder({ 'f10.jpg': jpeg('10'), 'f2.jpg': jpeg('2'), 'f1.JPEG': jpeg('1'), 'notes.txt': 'x' });
    const driver = createDriver({ ...UNSET_DRIVER_OPTIONS, source: dir, fps: 200 });
    const ac = new AbortController();
    const seen: string[] = [];
    for await (const frame of driver.frames(ac.signal)) {
      seen.push(Buffer.from(frame.subarray(4, -2)).toString());
      if (seen.length === 7) break;
    }
    assert.deepEqual(seen, ['1', '2', '10', '1', '2', '10', '1']);
  });

  it('stops promptly when its signal aborts, even between frames', async () => {
    const dir = folder({ 'a.jpg': jpeg('a') });
    const driver = createDriver({ ...UNSET_DRIVER_OPTIONS, source: dir, fps: 0.5 }); // one frame per 2 s
    const ac = new AbortController();
    const it = driver.frames(ac.signal);
    await it.next(); // first frame comes at once
    const pending = it.next();
    const t0 = performance.now();
    ac.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    assert.ok(performance.now() - t0 < 500);
  });

  it('refuses a missing --source, a missing folder, a file, an empty folder', () => {
    const file = join(folder({ 'x.jpg': jpeg('x') }), 'x.jpg');
    assert.throws(() => validate({ ...UNSET_DRIVER_OPTIONS, source: undefined, fps: undefined }), /missing --source/);
    assert.throws(
      () => validate({ ...UNSET_DRIVER_OPTIONS, source: '/no/such/dir', fps: undefined }),
      /invalid --source "\/no\/such\/dir": cannot read the folder \(ENOENT\)/,
    );
    assert.throws(() => validate({ ...UNSET_DRIVER_OPTIONS, source: file, fps: undefined }), /not a folder/);
    assert.throws(() => validate({ ...UNSET_DRIVER_OPTIONS, source: folder({ 'a.png': 'x' }), fps: undefined }), /has no \*\.jpg files/);
  });

  it('refuses a file that is not a whole JPEG, naming the frame', () => {
    const dir = folder({ 'a.jpg': jpeg('a'), 'b.jpg': Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]) });
    assert.throws(
      () => validate({ ...UNSET_DRIVER_OPTIONS, source: dir, fps: undefined }),
      (err: unknown) => err instanceof ConfigError && /invalid frame .*b\.jpg: not a complete JPEG/.test(err.message),
    );
  });
});
