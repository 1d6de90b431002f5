/**
 * Which uWebSockets.js binary framering loads: the first of its packages with a binary for this
 * Node.js ABI, architecture and C library, never a package's pure-JS fallback, and one line
 * naming why when none fits. Other platforms are described as targets; a made-up node_modules
 * holds packages this machine does not have.
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { it, type TestContext } from 'node:test';
import { UnavailableError } from '../../src/core/errors.js';
import { findUws, loadUws, UWS_PACKAGES, type UwsTarget } from '../../src/server/uws/binary.js';

const REAL_NODE_MODULES = dirname(dirname(dirname(createRequire(import.meta.url).resolve('@trufflesuite/uws-js-unofficial/package.json'))));
const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime ?? null;
const target = (modules: string, arch = 'x64', libc: string | null = glibc): UwsTarget => ({
  platform: 'linux',
  arch,
  modules,
  glibc: libc,
});

async function fakeNodeModules(t: TestContext, packages: Record<string, Record<string, string>>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'framering-uws-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  for (const [name, files] of Object.entries(packages)) {
    await mkdir(join(root, name), { recursive: true });
    await writeFile(join(root, name, 'package.json'), JSON.stringify({ name, version: '20.99.0' }));
    for (const [file, content] of Object.entries(files)) await writeFile(join(root, name, file), content);
  }
  return root;
}

/** The packages installed here that ship a binary for this process (what should load, if anything). */
function withBinaryHere(): string[] {
  const file = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  return UWS_PACKAGES.filter((p) => existsSync(join(REAL_NODE_MODULES, p.name, p.binaries, file))).map((p) => p.name);
}

const glibcAtLeast = (minor: number): boolean =>
  glibc !== null && Number(glibc.split('.')[0]) === 2 && Number(glibc.split('.')[1]) >= minor;

it('on this Node.js: the first package with a binary that loads here, else one line saying why none', () => {
  const search = findUws();
  // uNetworking's own package is looked at first; npm does not install it.
  assert.equal(search.candidates[0]!.package, 'uWebSockets.js');
  // What should load follows from the files alone: the newer package needs glibc 2.38.
  const expected = withBinaryHere().find((name) => name !== '@btc-vision/uwebsockets.js' || glibcAtLeast(38));
  if (expected === undefined) {
    assert.equal(search.picked, null);
    assert.throws(
      () => loadUws(),
      (err: unknown) => err instanceof UnavailableError && err.message === search.summary,
    );
    assert.match(
      search.summary,
      new RegExp(`^no uWebSockets\\.js build loads for Node\\.js ${process.versions.node} \\(ABI ${process.versions.modules}\\)`),
    );
    return;
  }
  const uws = loadUws();
  assert.equal(typeof uws.App, 'function');
  assert.equal(typeof uws.us_listen_socket_close, 'function');
  assert.equal(search.picked?.package, expected);
  assert.equal(search.picked.outcome, 'loaded');
  assert.match(
    search.summary,
    new RegExp(`^${expected} [\\d.]+\\S* \\(uws_${process.platform}_${process.arch}_${process.versions.modules}\\.node\\)$`),
  );
  const btc = search.candidates.find((c) => c.package === '@btc-vision/uwebsockets.js')!;
  if (withBinaryHere().includes(btc.package) && !glibcAtLeast(38)) {
    // Debian 12 (glibc 2.36): the newer build says what it needs.
    assert.equal(btc.outcome, 'does not load');
    assert.equal(btc.reason, `needs glibc 2.38, this system has ${glibc}`);
  }
});

it('Node.js 26 (ABI 147): one line naming every package and the builds it has, not the fallback', () => {
  assert.throws(
    () => loadUws(target('147')),
    (err: unknown) => {
      assert.ok(err instanceof UnavailableError);
      assert.equal(err.code, 'ERR_FRAMERING_UNAVAILABLE');
      assert.ok(!err.message.includes('\n'));
      assert.match(err.message, /^no uWebSockets\.js build loads for Node\.js 26 \(ABI 147\) on linux-x64: /);
      assert.match(
        err.message,
        /@btc-vision\/uwebsockets\.js 20\.57\.0: no build for ABI 147 \(it has 115 \(Node\.js 20\), 127 \(Node\.js 22\), 137 \(Node\.js 24\), 141 \(Node\.js 25\)\)/,
      );
      assert.match(
        err.message,
        /@trufflesuite\/uws-js-unofficial 20\.30\.0-unofficial\.0: no build for ABI 147 \(it has 93 \(Node\.js 16\), 108 \(Node\.js 18\), 115 \(Node\.js 20\)\)/,
      );
      return true;
    },
  );
});

it('32-bit ARM with Node.js 22: the newer package has no 32-bit build, the older no Node.js 22', () => {
  const search = findUws(target('127', 'arm'));
  assert.equal(search.module, null);
  const [upstream, btc, truffle] = search.candidates;
  assert.equal(upstream!.outcome, 'not installed');
  assert.equal(btc!.reason, 'no build for linux-arm');
  assert.match(truffle!.reason!, /^no build for ABI 127 \(it has 93/);
  assert.match(search.summary, /on linux-arm: /);
});

it('a package that is looked at first but does not load is passed over, with its reason', async (t) => {
  const bogus = await fakeNodeModules(t, { 'uWebSockets.js': { [`uws_linux_x64_${process.versions.modules}.node`]: 'not an ELF file' } });
  const search = findUws(undefined, UWS_PACKAGES, [bogus, REAL_NODE_MODULES]);
  const [first] = search.candidates;
  assert.equal(first!.outcome, 'does not load');
  assert.equal(first!.version, '20.99.0');
  assert.match(first!.reason!, /invalid ELF header|file too short/);
  assert.notEqual(search.picked?.package, 'uWebSockets.js');
  // The others are looked at in turn; those after the one picked are not tried, and say so.
  assert.deepEqual(
    search.candidates.map((c) => c.package),
    UWS_PACKAGES.map((p) => p.name),
  );
  if (search.picked) {
    const after = search.candidates.slice(search.candidates.indexOf(search.picked) + 1);
    for (const c of after) assert.equal(c.outcome, 'not tried');
  } else
    assert.match(search.summary, /^no uWebSockets\.js build loads for .*uWebSockets\.js 20\.99\.0: (invalid ELF header|file too short)/);
});

it('a binary that fails on a system without glibc says which C library it needs', async (t) => {
  const bogus = await fakeNodeModules(t, { 'uWebSockets.js': { 'uws_linux_x64_137.node': 'not an ELF file' } });
  const search = findUws(target('137', 'x64', null), UWS_PACKAGES.slice(0, 1), [bogus]);
  assert.match(search.candidates[0]!.reason!, /^built for glibc, this system uses another C library/);
});

it('no package installed at all is said as such', async (t) => {
  const empty = await fakeNodeModules(t, {});
  const search = findUws(undefined, UWS_PACKAGES, [empty]);
  assert.equal(search.module, null);
  assert.match(
    search.summary,
    /^no uWebSockets\.js package is installed \(uWebSockets\.js, @btc-vision\/uwebsockets\.js, @trufflesuite\/uws-js-unofficial\)$/,
  );
});
