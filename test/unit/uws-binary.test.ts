/**
 * The uWebSockets.js package silently falls back to a slow pure-JS server when its binary does
 * not load; framering loads the binary itself and must refuse clearly instead.
 */

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { UnavailableError } from '../../src/core/errors.js';
import { loadUws } from '../../src/server/uws/binary.js';

it('loads the native binary on this Node.js', () => {
  const uws = loadUws();
  assert.equal(typeof uws.App, 'function');
  assert.equal(typeof uws.us_listen_socket_close, 'function');
});

it('a Node.js without a binary (ABI 127, Node 22) gets a one-line UnavailableError, not the fallback', () => {
  assert.throws(
    () => loadUws({ platform: 'linux', arch: 'x64', modules: '127' }),
    (err: unknown) => {
      assert.ok(err instanceof UnavailableError);
      assert.equal(err.code, 'ERR_FRAMERING_UNAVAILABLE');
      assert.match(err.message, /no usable native binary for Node\.js ABI 127 on linux-x64/);
      assert.match(err.message, /uws_linux_x64_127\.node: no such binary in the package/);
      assert.ok(!err.message.includes('\n'));
      return true;
    },
  );
});

it('a platform without a binary (musl-less names too) is refused the same way', () => {
  assert.throws(() => loadUws({ platform: 'freebsd', arch: 'x64', modules: '115' }), /on freebsd-x64/);
});
