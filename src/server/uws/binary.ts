/**
 * Finds and loads a native uWebSockets.js binary. uNetworking publishes uWebSockets.js only on
 * GitHub, so the builds npm can install come from republished packages, each with binaries for
 * some Node.js ABIs, architectures and C library versions; framering looks through them in a
 * fixed order and loads the first binary that fits this process. Each package's own entry point
 * silently falls back to a slow pure-JS server when its binary does not load; framering never
 * uses an entry point, only the binaries, and says in one line why none loaded.
 *
 * All the packages build the same C++ sources (uNetworking's v20 line), so the API framering
 * uses is the same in each; the typings come from one of them.
 */

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Uws from '@trufflesuite/uws-js-unofficial';
import { describeError, UnavailableError } from '../../core/errors.js';

export type UwsModule = typeof Uws;

/** A package that may hold uWebSockets.js binaries, and what its source is (for doctor and the README). */
export interface UwsPackage {
  name: string;
  /** Folder of the `uws_<platform>_<arch>_<abi>.node` files, relative to the package. */
  binaries: string;
  origin: string;
}

/**
 * In order of preference: uNetworking's own release where a user installed it by hand (it is
 * not in the npm registry), then the republication of the newest release, then the older build
 * that still has 32-bit ARM and glibc before 2.38.
 */
export const UWS_PACKAGES: readonly UwsPackage[] = Object.freeze([
  { name: 'uWebSockets.js', binaries: '.', origin: "uNetworking's own release, installed from GitHub" },
  {
    name: '@btc-vision/uwebsockets.js',
    binaries: '.',
    origin: "a republication of uNetworking's v20.57.0 on npm; Node.js 20-25, x64 and arm64, glibc 2.38 or newer",
  },
  {
    name: '@trufflesuite/uws-js-unofficial',
    binaries: 'binaries',
    origin: "a build of uNetworking's v20.30.0 on npm; Node.js 16-20, x64, arm64 and 32-bit ARM, glibc 2.27 or newer",
  },
]);

/** Which binary to load; the defaults describe this process (tests pass others). */
export interface UwsTarget {
  platform: string;
  arch: string;
  /** Node.js ABI version (process.versions.modules). */
  modules: string;
  /** The C library's version (glibc), null where it is another (musl) or not Linux. */
  glibc: string | null;
}

/** What became of one package when looking for a binary. */
export interface UwsCandidate {
  package: string;
  origin: string;
  /** The package's version, null when it is not installed. */
  version: string | null;
  /** The binary this process needs from it, and its full path when it exists. */
  binary: string;
  path: string | null;
  outcome: 'loaded' | 'not installed' | 'no build' | 'does not load' | 'not tried';
  /** Why it was not used, in a few words; null when it loaded. */
  reason: string | null;
}

export interface UwsSearch {
  target: UwsTarget;
  /** The candidate that loaded, or null. */
  picked: UwsCandidate | null;
  candidates: UwsCandidate[];
  module: UwsModule | null;
  /** One line: which binary serves, or why none can. */
  summary: string;
}

/** Node.js release lines by ABI, to name them in messages (ABIs are what binaries are built for). */
const NODE_BY_ABI: Readonly<Record<string, string>> = {
  '93': '16',
  '108': '18',
  '115': '20',
  '120': '21',
  '127': '22',
  '131': '23',
  '137': '24',
  '141': '25',
  '147': '26',
};

function glibcRuntime(): string | null {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ?? null;
}

const thisProcess: UwsTarget = Object.freeze({
  platform: process.platform,
  arch: process.arch,
  modules: process.versions.modules,
  glibc: process.platform === 'linux' ? glibcRuntime() : null,
});

/** "Node.js 24 (ABI 137)", or the exact version for this process. */
function nodeName(target: UwsTarget): string {
  const line = target === thisProcess ? process.versions.node : NODE_BY_ABI[target.modules];
  return line ? `Node.js ${line} (ABI ${target.modules})` : `Node.js ABI ${target.modules}`;
}

const abiList = (abis: string[]): string => abis.map((a) => (NODE_BY_ABI[a] ? `${a} (Node.js ${NODE_BY_ABI[a]})` : a)).join(', ');

/** The package's folder among node_modules folders, or null where it is not installed. */
function packageDir(name: string, nodeModules: readonly string[]): string | null {
  for (const dir of nodeModules) if (existsSync(join(dir, name, 'package.json'))) return join(dir, name);
  return null;
}

/** Why a binary that exists did not load, in a few words (the loader's messages are long). */
function loadFailure(err: unknown, target: UwsTarget, path: string): string {
  // dlopen's messages start with the file's path, which the candidate already names.
  const message = describeError(err).replace(`${path}: `, '');
  const glibc = /GLIBC_(\d+\.\d+)[^\s]*' not found/.exec(message);
  if (glibc) return `needs glibc ${glibc[1]}, this system has ${target.glibc ?? 'another C library'}`;
  if (target.platform === 'linux' && target.glibc === null)
    return `built for glibc, this system uses another C library (musl?): ${message}`;
  return message;
}

/**
 * Looks through `packages` (found in `nodeModules`, by default where Node would resolve them
 * from here) for a binary for `target`, loading the first that exists; the rest are 'not tried'.
 * Never throws: the outcome says what happened to each.
 */
export function findUws(
  target: UwsTarget = thisProcess,
  packages: readonly UwsPackage[] = UWS_PACKAGES,
  nodeModules?: readonly string[],
): UwsSearch {
  const require = createRequire(import.meta.url);
  const binary = `uws_${target.platform}_${target.arch}_${target.modules}.node`;
  const candidates: UwsCandidate[] = [];
  let picked: UwsCandidate | null = null;
  let module: UwsModule | null = null;
  for (const pkg of packages) {
    const c: UwsCandidate = {
      package: pkg.name,
      origin: pkg.origin,
      version: null,
      binary,
      path: null,
      outcome: 'not tried',
      reason: null,
    };
    candidates.push(c);
    if (picked) {
      c.reason = `${picked.package} was picked first`;
      continue;
    }
    const dir = packageDir(pkg.name, nodeModules ?? require.resolve.paths(pkg.name) ?? []);
    if (dir === null) {
      c.outcome = 'not installed';
      c.reason = 'not installed';
      continue;
    }
    try {
      c.version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? '?';
    } catch {
      c.version = '?';
    }
    const binDir = join(dir, pkg.binaries);
    const path = join(binDir, binary);
    if (!existsSync(path)) {
      c.outcome = 'no build';
      const prefix = `uws_${target.platform}_${target.arch}_`;
      let files: string[] = [];
      try {
        files = readdirSync(binDir);
      } catch {}
      const abis = files
        .filter((f) => f.startsWith(prefix) && f.endsWith('.node'))
        .map((f) => f.slice(prefix.length, -'.node'.length))
        .sort((a, b) => Number(a) - Number(b));
      c.reason =
        abis.length > 0 ? `no build for ABI ${target.modules} (it has ${abiList(abis)})` : `no build for ${target.platform}-${target.arch}`;
      continue;
    }
    c.path = path;
    try {
      module = require(path) as UwsModule;
      c.outcome = 'loaded';
      picked = c;
    } catch (err) {
      c.outcome = 'does not load';
      c.reason = loadFailure(err, target, path);
    }
  }
  const where = `${nodeName(target)} on ${target.platform}-${target.arch}`;
  const summary = picked
    ? `${picked.package} ${picked.version} (${binary})`
    : candidates.every((c) => c.outcome === 'not installed')
      ? `no uWebSockets.js package is installed (${packages.map((p) => p.name).join(', ')})`
      : `no uWebSockets.js build loads for ${where}: ${candidates
          .filter((c) => c.outcome !== 'not installed')
          .map((c) => `${c.package} ${c.version}: ${c.reason}`)
          .join('; ')}`;
  return { target, picked, candidates, module, summary };
}

let cached: UwsSearch | null = null;

/** The search for this process, done once (every HTTP thread does its own, with the same result). */
export function uwsForThisProcess(): UwsSearch {
  cached ??= findUws();
  return cached;
}

/** Loads the native uWebSockets.js binary, or throws UnavailableError saying why in one line. */
export function loadUws(target?: UwsTarget): UwsModule {
  const search = target === undefined ? uwsForThisProcess() : findUws(target);
  if (search.module === null) throw new UnavailableError(search.summary);
  return search.module;
}
