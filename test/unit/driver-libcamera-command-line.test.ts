/**
 * The libcamera driver's command line for rpicam-vid / libcamera-vid, without running it: what
 * every option maps to. The driver with a fake rpicam-vid is test/integration/driver-libcamera.test.ts.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { commandLine } from '../../src/drivers/libcamera.js';
import { UNSET_DRIVER_OPTIONS } from '../../src/drivers/types.js';

const BASE_ARGS = ['--codec', 'mjpeg', '-t', '0', '-n', '--flush', '-o', '-'];

describe('libcamera driver: the command line', () => {
  const opts = (o: Partial<typeof UNSET_DRIVER_OPTIONS>) => ({ ...UNSET_DRIVER_OPTIONS, ...o });

  test('streams MJPEG to stdout, forever, without preview, flushing every frame', () => {
    assert.deepEqual(commandLine(opts({})), BASE_ARGS);
  });

  test('--source, --width, --height, --fps and --quality map to --camera, --width, --height, --framerate, --quality', () => {
    assert.deepEqual(commandLine(opts({ source: '1', width: 1280, height: 720, fps: 7.5, quality: 85 })), [
      ...BASE_ARGS,
      ...['--camera', '1', '--width', '1280', '--height', '720', '--framerate', '7.5', '--quality', '85'],
    ]);
  });

  test('--rotate 180 is both flips, and --flip composes with it', () => {
    const cases: [0 | 180, 'none' | 'h' | 'v' | 'both', string[]][] = [
      [0, 'none', []],
      [0, 'h', ['--hflip']],
      [0, 'v', ['--vflip']],
      [0, 'both', ['--hflip', '--vflip']],
      [180, 'none', ['--hflip', '--vflip']],
      [180, 'h', ['--vflip']],
      [180, 'v', ['--hflip']],
      [180, 'both', []],
    ];
    for (const [rotate, flip, flags] of cases) {
      assert.deepEqual(commandLine(opts({ rotate, flip })).slice(BASE_ARGS.length), flags, `--rotate ${rotate} --flip ${flip}`);
    }
  });
});
