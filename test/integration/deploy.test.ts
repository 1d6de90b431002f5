/**
 * What a Raspberry Pi deployment relies on, checked here without a Pi: the systemd unit
 * (deploy/framering.service) is valid for systemd and as locked down as intended; the example
 * configuration (deploy/framering.yaml) is one the server accepts; and the pinned uWebSockets.js
 * package ships native binaries for both Raspberry Pi OS flavours (64-bit arm64 and 32-bit armhf)
 * for Node.js 20 and 18, built for the right machine and ABI and for a glibc the Pi has.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/app/config.js';
import { runCli } from '../helpers/server.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { useFakeTools } from '../helpers/fake-camera.js';
import { hasCommand, missing } from '../helpers/requirements.js';

const UNIT = fileURLToPath(new URL('deploy/framering.service', REPO_ROOT));
const EXAMPLE_CONFIG = fileURLToPath(new URL('deploy/framering.yaml', REPO_ROOT));
/** Where the unit expects the checkout (the README's install location). */
const INSTALL_DIR = '/opt/framering';
/** The folders systemd searches for a bare ExecStart command (its compiled-in default PATH). */
const SYSTEMD_SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

const noSystemd = missing({ 'systemd-analyze (apt-get install systemd)': hasCommand('systemd-analyze', ['--version']) });

/** The unit's [Service] settings: key → every value given (a key may repeat). */
function serviceSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    if (section !== 'Service' || eq < 0) continue;
    const key = line.slice(0, eq);
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1)]);
  }
  return settings;
}

function only(settings: Map<string, string[]>, key: string): string | undefined {
  const values = settings.get(key);
  assert.ok(!values || values.length === 1, `${key} is set ${values?.length} times`);
  return values?.[0];
}

describe('deploy/framering.service', () => {
  const text = readFileSync(UNIT, 'utf8');
  const settings = serviceSettings(text);
  const work = mkdtempSync(join(tmpdir(), 'framering-unit-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  /**
   * systemd-analyze verify on a copy named framering.service. It checks that ExecStart's program
   * exists: the unit runs a bare `node`, which systemd finds in its search path on a Pi; where
   * this machine keeps node elsewhere, the copy names this node instead, and nothing else changes.
   */
  function verify(unitText: string): { status: number | null; output: string } {
    const nodeFound = SYSTEMD_SEARCH_PATH.some((d) => existsSync(join(d, 'node')));
    const file = join(work, 'framering.service');
    writeFileSync(file, nodeFound ? unitText : unitText.replace(/^ExecStart=node /m, `ExecStart=${process.execPath} `));
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }

  it('passes systemd-analyze verify without a warning', { skip: noSystemd }, () => {
    const { status, output } = verify(text);
    assert.equal(status, 0, output);
    // Warnings (unknown keys, bad values) are printed with the file's name but do not fail verify.
    assert.doesNotMatch(output, /framering/, output);
  });

  it('systemd-analyze verify does flag a mistake in a copy (so the check above can fail)', { skip: noSystemd }, () => {
    const { output } = verify(text.replace('ProtectHome=yes', 'ProtectHome=yes\nProtectHomme=yes\nRestartSec=soon'));
    assert.match(output, /framering\.service:\d+: Unknown key .*ProtectHomme/);
    assert.match(output, /framering\.service:\d+: Failed to parse sec value.*soon/);
  });

  it("systemd rates the service's exposure OK (under 4 on its 0-10 scale)", { skip: noSystemd }, () => {
    const file = join(work, 'framering.service');
    writeFileSync(file, text);
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', file], { encoding: 'utf8', timeout: 60_000 });
    const m = /Overall exposure level for framering\.service: ([0-9.]+)/.exec(r.stdout);
    assert.ok(m, `no exposure level in:\n${r.stdout}${r.stderr}`);
    assert.ok(Number(m[1]) < 4, `exposure ${m[1]}:\n${r.stdout}`);
  });

  it('runs the installed build as user framering in group video, configured from /etc/framering', () => {
    const exec = only(settings, 'ExecStart')!;
    const [program, script, ...args] = exec.split(/\s+/);
    assert.equal(program, 'node');
    assert.ok(script!.startsWith(`${INSTALL_DIR}/`), exec);
    // The script is the file the build produces, at the same place in the checkout.
    assert.ok(existsSync(fileURLToPath(new URL(script!.slice(INSTALL_DIR.length + 1), REPO_ROOT))), `${script} is not built by tsc`);
    assert.deepEqual(args, ['--config', '/etc/framering/framering.yaml']);
    assert.equal(only(settings, 'User'), 'framering');
    assert.equal(only(settings, 'Group'), 'framering');
    assert.equal(only(settings, 'SupplementaryGroups'), 'video');
  });

  it('restarts whenever it ends unasked, exit 0 included, but not for an invalid configuration, and outlasts the 2 s shutdown', () => {
    // Not on-failure: that leaves the service down after an unexpected exit with status 0.
    assert.equal(only(settings, 'Restart'), 'always');
    assert.ok(Number(only(settings, 'RestartSec')) > 0);
    // framering exits 2 for an invalid option: restarting cannot fix the file.
    assert.equal(only(settings, 'RestartPreventExitStatus'), '2');
    assert.equal(only(settings, 'KillSignal'), 'SIGTERM');
    const stop = Number(only(settings, 'TimeoutStopSec'));
    assert.ok(stop > 2 && stop <= 10, `TimeoutStopSec=${stop}`);
    assert.equal(only(settings, 'StandardOutput'), 'journal');
    assert.equal(only(settings, 'StandardError'), 'journal');
    assert.equal(only(settings, 'SyslogIdentifier'), 'framering');
  });

  it('grants no privileges, and leaves V8 the writable-executable memory it needs', () => {
    assert.equal(only(settings, 'CapabilityBoundingSet'), '');
    assert.equal(only(settings, 'AmbientCapabilities'), '');
    assert.equal(only(settings, 'NoNewPrivileges'), 'yes');
    assert.equal(only(settings, 'ProtectSystem'), 'strict');
    assert.equal(only(settings, 'ProtectHome'), 'yes');
    assert.equal(only(settings, 'PrivateTmp'), 'yes');
    // Camera devices are needed, so no PrivateDevices; only these classes may be opened.
    assert.notEqual(only(settings, 'PrivateDevices'), 'yes');
    assert.deepEqual(settings.get('DeviceAllow'), ['char-video4linux rw', 'char-media rw', 'char-dma_heap rw', '/dev/vchiq rw']);
    // Node.js aborts under MemoryDenyWriteExecute as soon as V8 compiles code.
    assert.equal(settings.get('MemoryDenyWriteExecute'), undefined);
  });

  it('the command line it runs is one the server accepts (with the example configuration)', () => {
    const args = only(settings, 'ExecStart')!
      .split(/\s+/)
      .slice(2)
      .map((a) => (a === '/etc/framering/framering.yaml' ? EXAMPLE_CONFIG : a));
    const parsed = parseConfig(args, {});
    assert.equal(parsed.kind, 'run');
  });
});

describe('deploy/framering.yaml', () => {
  it('is the suggested Pi 4 setup: one libcamera camera, 1280x720 at 30 fps, quality 80', () => {
    const parsed = parseConfig(['--config', EXAMPLE_CONFIG], {});
    assert.equal(parsed.kind, 'run');
    if (parsed.kind !== 'run') return;
    assert.equal(parsed.config.port, 5000);
    assert.deepEqual(
      parsed.config.cameras.map((c) => [c.driver, c.width, c.height, c.fps, c.quality]),
      [['libcamera', 1280, 720, 30, 80]],
    );
  });

  it('framering doctor says its camera can start where rpicam-vid is installed', { timeout: 120_000 }, async (t) => {
    const fakes = await useFakeTools(t, ['rpicam-vid']);
    const r = await runCli(['doctor', '--config', EXAMPLE_CONFIG], fakes.env, 60_000);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^camera default: +libcamera: ok$/m);
  });
});

describe('uWebSockets.js binaries for Raspberry Pi OS', () => {
  const pkg = dirname(createRequire(import.meta.url).resolve('@trufflesuite/uws-js-unofficial/package.json'));
  /** ELF e_machine values (elf.h). */
  const EM_ARM = 40;
  const EM_AARCH64 = 183;
  /** ARM e_flags: EABI version 5 with the hard-float ABI, i.e. armhf (Raspberry Pi OS 32-bit). */
  const EF_ARM_EABI_VER5 = 0x05000000;
  const EF_ARM_ABI_FLOAT_HARD = 0x00000400;
  /** glibc of Raspberry Pi OS Buster (2.28), the oldest release the README covers (the pi driver). */
  const OLDEST_PI_GLIBC = [2, 28];

  function elf(file: string): { bits: number; littleEndian: boolean; machine: number; flags: number; glibc: number[] } {
    const b = readFileSync(file);
    assert.deepEqual([...b.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${file} is not an ELF file`);
    const bits = b[4] === 1 ? 32 : b[4] === 2 ? 64 : 0;
    const littleEndian = b[5] === 1;
    // e_machine follows e_ident (16 bytes) and e_type (2); e_flags sits after the entry point
    // and two offsets, which are 4 or 8 bytes each.
    const machine = b.readUInt16LE(18);
    const flags = b.readUInt32LE(bits === 32 ? 36 : 48);
    // The versioned glibc symbols it needs are named in its dynamic string table as GLIBC_2.N.
    const versions = [...b.toString('latin1').matchAll(/GLIBC_2\.([0-9]+)/g)].map((m) => Number(m[1]));
    return { bits, littleEndian, machine, flags, glibc: [2, Math.max(...versions)] };
  }

  for (const abi of ['115', '108']) {
    const node = abi === '115' ? 'Node.js 20' : "Node.js 18, Debian Bookworm's own";
    it(`uws_linux_arm64_${abi}.node (${node}) is a 64-bit AArch64 library`, () => {
      const e = elf(join(pkg, 'binaries', `uws_linux_arm64_${abi}.node`));
      assert.deepEqual([e.bits, e.littleEndian, e.machine], [64, true, EM_AARCH64]);
      assert.ok(e.glibc[1]! <= OLDEST_PI_GLIBC[1]!, `needs glibc ${e.glibc.join('.')}`);
    });

    it(`uws_linux_arm_${abi}.node (${node}) is a 32-bit ARM hard-float (armhf) library`, () => {
      const e = elf(join(pkg, 'binaries', `uws_linux_arm_${abi}.node`));
      assert.deepEqual([e.bits, e.littleEndian, e.machine], [32, true, EM_ARM]);
      assert.equal(e.flags & 0xff000000, EF_ARM_EABI_VER5, `e_flags 0x${e.flags.toString(16)}`);
      assert.equal(e.flags & EF_ARM_ABI_FLOAT_HARD, EF_ARM_ABI_FLOAT_HARD, 'soft-float build: would not load on armhf');
      assert.ok(e.glibc[1]! <= OLDEST_PI_GLIBC[1]!, `needs glibc ${e.glibc.join('.')}`);
    });
  }

  // @btc-vision/uwebsockets.js (uNetworking's 20.57) is what 64-bit Raspberry Pi OS trixie loads
  // with Node.js 20-25; it has no 32-bit build.
  const TRIXIE_GLIBC = [2, 41];
  const btc = dirname(createRequire(import.meta.url).resolve('@btc-vision/uwebsockets.js'));
  for (const [abi, node] of [
    ['115', 'Node.js 20, trixie'],
    ['127', 'Node.js 22'],
    ['137', 'Node.js 24'],
    ['141', 'Node.js 25'],
  ] as const) {
    it(`@btc-vision/uwebsockets.js uws_linux_arm64_${abi}.node (${node}) is a 64-bit AArch64 library for trixie's glibc`, () => {
      const e = elf(join(btc, `uws_linux_arm64_${abi}.node`));
      assert.deepEqual([e.bits, e.littleEndian, e.machine], [64, true, EM_AARCH64]);
      assert.ok(e.glibc[1]! <= TRIXIE_GLIBC[1]!, `needs glibc ${e.glibc.join('.')}`);
    });
  }

  it('the same reading of the x86-64 builds gives x86-64 (so the checks above can fail)', () => {
    const EM_X86_64 = 62;
    assert.equal(elf(join(pkg, 'binaries', 'uws_linux_x64_115.node')).machine, EM_X86_64);
    assert.equal(elf(join(btc, 'uws_linux_x64_137.node')).machine, EM_X86_64);
    assert.notEqual(elf(join(btc, 'uws_linux_x64_137.node')).machine, EM_AARCH64);
  });
});
