/**
 * Where the uWebSockets.js binary cannot load (Node.js 22+, musl), framering serves on node:http
 * with a one-line warning instead of failing or running the package's slow fallback.
 */

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { UnavailableError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/log.js';
import { chooseFrontEnd } from '../../src/app/front-end-choice.js';

const unavailable = (): never => {
  throw new UnavailableError('uWebSockets.js has no usable native binary for Node.js ABI 127 on linux-x64');
};

function capture(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, log: createLogger('debug', (l) => lines.push(l)) };
}

it('uses uWebSockets.js by default when its binary loads', () => {
  const { lines, log } = capture();
  assert.equal(
    chooseFrontEnd(undefined, () => ({}), log),
    'uws',
  );
  assert.deepEqual(lines, []);
});

it('falls back to node:http with one warning line when the binary cannot load', () => {
  const { lines, log } = capture();
  assert.equal(chooseFrontEnd(undefined, unavailable, log), 'node');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, / warn .*ABI 127.*; using the node:http front end instead\n$/);
});

it('an explicit --http uws that cannot load is an error, not a silent fallback', () => {
  const { log } = capture();
  assert.throws(() => chooseFrontEnd('uws', unavailable, log), UnavailableError);
});

it('--http node never touches uWebSockets.js', () => {
  const { log } = capture();
  assert.equal(
    chooseFrontEnd('node', () => assert.fail('probed uWS'), log),
    'node',
  );
});
