/**
 * Loads uWebSockets.js's native binary directly. The package's own entry point silently falls
 * back to a slow pure-JS implementation when its binary does not load (any Node.js other than
 * 16/18/20, musl, unsupported platforms); framering refuses to run on that fallback.
 */

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Uws from '@trufflesuite/uws-js-unofficial';
import { describeError, UnavailableError } from '../errors.js';

export type UwsModule = typeof Uws;

const PACKAGE = '@trufflesuite/uws-js-unofficial';
let cached: UwsModule | null = null;

export function loadUws(): UwsModule {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  try {
    const dir = dirname(require.resolve(`${PACKAGE}/package.json`));
    cached = require(join(dir, 'binaries', binary)) as UwsModule;
    return cached;
  } catch (err) {
    throw new UnavailableError(
      `uWebSockets.js cannot load its native binary ${binary} for Node.js ${process.version} on ${process.platform}-${process.arch} ` +
        `(${describeError(err)}); it supports Node.js 16, 18 and 20 on Linux and macOS (x64, arm64, armhf)`,
      { cause: err },
    );
  }
}
