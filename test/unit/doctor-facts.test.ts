/**
 * What `framering doctor` reports about things this machine cannot show, called directly without
 * a child process: uWebSockets.js failing to load, and video devices (a made-up /dev and /sys in
 * a temporary folder). The command itself is test/integration/doctor.test.ts.
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { findUws, type UwsSearch } from '../../src/server/uws/binary.js';
import { frontEndFacts, listDeviceNodes } from '../../src/app/doctor.js';

/** A new temporary folder, removed when the test ends. */
async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-doctor-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('doctor: what this machine cannot show', () => {
  it('uWebSockets.js that cannot load: node:http is reported, with the reason', () => {
    const cannot = (): UwsSearch => findUws({ platform: 'linux', arch: 'x64', modules: '127', glibc: '2.36' });
    const facts = frontEndFacts(undefined, cannot);
    assert.equal(facts.uws.loads, false);
    assert.match(facts.uws.error!, /ABI 127/);
    assert.equal(facts.uws.package, null);
    assert.deepEqual(
      facts.uws.candidates.map((c) => c.outcome),
      ['not installed', 'does not load', 'no build'],
    );
    assert.equal(facts.frontEnd.name, 'node');
    assert.match(facts.frontEnd.why, /because uWebSockets\.js cannot load here/);
    // Asked for explicitly, it is an error: the server would not start.
    const asked = frontEndFacts('uws', cannot);
    assert.equal(asked.frontEnd.name, null);
    assert.match(asked.frontEnd.error!, /ABI 127/);
  });

  it('video devices in natural order with their V4L2 names, and the other camera nodes', async (t) => {
    const root = await tempDir(t);
    const dev = join(root, 'dev');
    const sys = join(root, 'sys');
    await mkdir(join(dev, 'dma_heap'), { recursive: true });
    const v4l = join(sys, 'class', 'video4linux');
    const names: Record<string, string> = {
      video0: 'unicam',
      video2: 'bcm2835-codec-encode',
      video10: 'bcm2835-codec-decode',
      'v4l-subdev0': 'imx219 10-0010',
    };
    for (const [node, name] of Object.entries(names)) {
      await writeFile(join(dev, node), '');
      await mkdir(join(v4l, node), { recursive: true });
      await writeFile(join(v4l, node, 'name'), `${name}\n`);
    }
    await writeFile(join(dev, 'video1'), ''); // no sysfs entry: listed without a name
    await writeFile(join(dev, 'media0'), '');
    await mkdir(join(sys, 'bus', 'media', 'devices', 'media0'), { recursive: true });
    await writeFile(join(sys, 'bus', 'media', 'devices', 'media0', 'model'), 'unicam\n');
    await writeFile(join(dev, 'dma_heap', 'linux,cma'), '');
    await writeFile(join(dev, 'vchiq'), '');
    await writeFile(join(dev, 'videonot'), ''); // not a video device node name
    const { video, other } = listDeviceNodes({ dev, sys });
    assert.deepEqual(
      video.map((d) => [d.path.slice(dev.length), d.name]),
      [
        ['/video0', 'unicam'],
        ['/video1', null],
        ['/video2', 'bcm2835-codec-encode'],
        ['/video10', 'bcm2835-codec-decode'],
      ],
    );
    assert.deepEqual(
      other.map((d) => [d.path.slice(dev.length), d.name]),
      [
        ['/media0', 'unicam'],
        ['/v4l-subdev0', 'imx219 10-0010'],
        ['/dma_heap/linux,cma', null],
        ['/vchiq', null],
      ],
    );
    assert.ok(video.every((d) => d.readable && d.writable));
  });
});
