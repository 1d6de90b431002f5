/**
 * Loads uWebSockets.js's native binary directly. The package's own entry point silently falls
 * back to a slow pure-JS implementation when its binary does not load (any Node.js other than
 * 16/18/20, musl, unsupported platforms); framering refuses to run on that fallback.
 */

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Uws from '@trufflesuite/uws-js-unofficial';
import { describeError, UnavailableError } from '../../core/errors.js';

export type UwsModule = typeof Uws;

const PACKAGE = '@trufflesuite/uws-js-unofficial';
let cached: UwsModule | null = null;

/** Which binary to load; the defaults describe this process (tests pass others). */
export interface UwsTarget {
  platform: string;
  arch: string;
  /** Node.js ABI version (process.versions.modules). */
  modules: string;
}

const thisProcess: UwsTarget = { platform: process.platform, arch: process.arch, modules: process.versions.modules };

/** Loads the native uWebSockets.js binary, or throws UnavailableError saying why in one line. */
export function loadUws(target: UwsTarget = thisProcess): UwsModule {
  const isThisProcess = target === thisProcess;
  if (isThisProcess && cached) return cached;
  const require = createRequire(import.meta.url);
  const binary = `uws_${target.platform}_${target.arch}_${target.modules}.node`;
  let mod: UwsModule;
  try {
    const dir = dirname(require.resolve(`${PACKAGE}/package.json`));
    mod = require(join(dir, 'binaries', binary)) as UwsModule;
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' ? 'no such binary in the package' : describeError(err);
    throw new UnavailableError(
      `uWebSockets.js has no usable native binary for Node.js ABI ${target.modules} on ${target.platform}-${target.arch} ` +
        `(${binary}: ${reason}); it supports Node.js 16, 18 and 20 on Linux (x64, arm64, armhf) and macOS`,
      { cause: err },
    );
  }
  if (isThisProcess) cached = mod;
  return mod;
}
