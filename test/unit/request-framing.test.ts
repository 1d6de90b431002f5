/**
 * Which request heads the uWebSockets.js front end refuses for their body framing
 * (src/server/uws/request-framing.ts): any that announce a body, and the ambiguous shapes used
 * for request smuggling. Headers are given as uWS gives them: names lowercased, each occurrence.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refusedFraming } from '../../src/server/uws/request-framing.js';

const headers =
  (...pairs: [string, string][]) =>
  (cb: (name: string, value: string) => void): void => {
    for (const [n, v] of pairs) cb(n, v);
  };

describe('refusedFraming', () => {
  it('accepts a head without framing headers, and a single Content-Length of zero', () => {
    assert.equal(refusedFraming(headers(['host', 'x'], ['accept', '*/*'])), undefined);
    assert.equal(refusedFraming(headers(['host', 'x'], ['content-length', '0'])), undefined);
    assert.equal(refusedFraming(headers(['content-length', ' 00 '])), undefined);
  });

  it('refuses two Content-Lengths, equal or not', () => {
    assert.match(refusedFraming(headers(['content-length', '0'], ['content-length', '33'])) ?? '', /more than one Content-Length/);
    assert.match(refusedFraming(headers(['content-length', '5'], ['content-length', '5'])) ?? '', /more than one Content-Length/);
  });

  it('refuses any Transfer-Encoding, however written', () => {
    for (const value of ['chunked', 'chunked, identity', 'identity', '', 'gzip, chunked']) {
      assert.match(refusedFraming(headers(['transfer-encoding', value])) ?? '', /Transfer-Encoding not accepted/, value);
    }
    assert.ok(refusedFraming(headers(['transfer-encoding', 'chunked'], ['transfer-encoding', 'identity'])));
    assert.ok(refusedFraming(headers(['transfer-encoding', 'chunked'], ['content-length', '0'])));
  });

  it('refuses a body of any length, and a length that is not a number', () => {
    for (const value of ['1', '5', '1048576', '-1', 'abc', '0x10', '1e3', '99999999999999999999']) {
      assert.match(refusedFraming(headers(['content-length', value])) ?? '', /request body not accepted/, value);
    }
  });

  it('every reason is one line', () => {
    for (const h of [
      headers(['transfer-encoding', 'chunked']),
      headers(['content-length', '1'], ['content-length', '1']),
      headers(['content-length', '9']),
    ]) {
      assert.doesNotMatch(refusedFraming(h) ?? '', /\n/);
    }
  });
});
