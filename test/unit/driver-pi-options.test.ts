/**
 * The pi driver's options as pi-camera-connect StreamOptions, without raspivid. The driver with a
 * fake raspivid is test/integration/driver-pi.test.ts.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as piCameraConnect from 'pi-camera-connect';
import { streamOptions } from '../../src/drivers/pi.js';
import { UNSET_DRIVER_OPTIONS } from '../../src/drivers/types.js';

describe('pi driver: options as pi-camera-connect StreamOptions', () => {
  test('MJPEG always; size, rate, rotation and flips mapped; nothing else set', () => {
    const map = (o: Partial<typeof UNSET_DRIVER_OPTIONS>) => streamOptions(piCameraConnect, { ...UNSET_DRIVER_OPTIONS, ...o });
    assert.deepEqual(map({}), { codec: piCameraConnect.Codec.MJPEG });
    assert.deepEqual(map({ width: 1296, height: 972, fps: 42, rotate: 270, flip: 'both' }), {
      codec: piCameraConnect.Codec.MJPEG,
      width: 1296,
      height: 972,
      fps: 42,
      rotation: piCameraConnect.Rotation.Rotate270,
      flip: piCameraConnect.Flip.Both,
    });
    assert.equal(map({ flip: 'h' }).flip, piCameraConnect.Flip.Horizontal);
    assert.equal(map({ flip: 'v' }).flip, piCameraConnect.Flip.Vertical);
    assert.equal(map({ rotate: 90 }).rotation, piCameraConnect.Rotation.Rotate90);
  });
});
