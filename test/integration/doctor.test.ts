/**
 * `framering doctor` as a user runs it, the real command in a child process, on this machine:
 * what it reports, how it reads the server's options, environment and config file, and its exit
 * status (the server's at start: 0 can start, 1 something missing, 2 invalid options). Fake
 * camera tools (test/fixtures/bin/) stand in for a Raspberry Pi's rpicam-vid and raspivid.
 * Also native modules that crash or hang while loading (each probed in a child process), called
 * directly. uWebSockets.js failing to load and the video device listing are
 * test/unit/doctor-facts.test.ts.
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import { BUILTIN_DRIVERS } from '../../src/drivers/registry.js';
import { probeModule, type DoctorReport } from '../../src/app/doctor.js';
import { findUws } from '../../src/server/uws/binary.js';
import { type CliResult, runCli } from '../helpers/server.js';
import { FRONT_ENDS } from '../helpers/http.js';
import { FAKE_BIN, useFakeTools } from '../helpers/fake-camera.js';
import { hasModule, missing } from '../helpers/requirements.js';

/** Generous: doctor loads native modules in child processes, on a machine others share. */
const RUN_TIMEOUT_MS = 60_000;

/** Runs `framering doctor ARGS`; every run, whatever its outcome, must be free of stack traces. */
async function doctor(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const r = await runCli(['doctor', ...args], env, RUN_TIMEOUT_MS);
  assert.equal(r.signal, null, `doctor was killed (${r.signal}):\n${r.stderr}`);
  assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /, 'no stack trace');
  return r;
}

/** The value of the `label:` line of doctor's text report. */
function line(stdout: string, label: string): string {
  const m = new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: +(.*)$`, 'm').exec(stdout);
  assert.ok(m, `no "${label}:" line in:\n${stdout}`);
  return m[1]!;
}

/** PATH with no camera tool at all (only node), for the rest of the test. */
async function withoutTools(t: TestContext): Promise<NodeJS.ProcessEnv> {
  return (await useFakeTools(t, [])).env;
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'framering-doctor-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('framering doctor on this machine', { timeout: 180_000 }, () => {
  it('the emulated camera: exit 0, and the platform, Node.js, uWebSockets.js and drivers named', async (t) => {
    const r = await doctor([], await withoutTools(t));
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(line(r.stdout, 'platform'), process.platform);
    assert.match(line(r.stdout, 'architecture'), new RegExp(`^${process.arch}, (32|64)-bit`));
    // uWebSockets.js binaries are per Node.js ABI, architecture and C library: doctor names the
    // one this test process finds too (CI runs Node.js 20 on Debian 12, 24 and 26 on Debian 13).
    assert.match(line(r.stdout, 'Node.js'), new RegExp(`^${process.versions.node}, ABI ${process.versions.modules}\\b`));
    const uws = findUws();
    if (uws.picked) {
      assert.equal(
        line(r.stdout, 'uWebSockets.js'),
        `native binary loads: ${uws.picked.package} ${uws.picked.version} (${uws.picked.path})`,
      );
      assert.equal(line(r.stdout, 'front end'), 'uws (uWebSockets.js)');
    } else {
      assert.equal(line(r.stdout, 'uWebSockets.js'), `does not load: ${uws.summary}`);
      assert.match(line(r.stdout, 'front end'), /^node \(node:http\), because uWebSockets\.js cannot load here/);
    }
    assert.match(line(r.stdout, 'CPU'), /, [0-9]+ cores$/);
    assert.match(line(r.stdout, 'memory'), /^[0-9]+\.[0-9] GiB$/);
    for (const tool of ['rpicam-vid', 'libcamera-vid', 'raspivid']) assert.equal(line(r.stdout, tool), 'not found on PATH');
    for (const driver of BUILTIN_DRIVERS) assert.match(line(r.stdout, `driver ${driver}`), /^(usable|not usable): /);
    assert.match(line(r.stdout, 'driver libcamera'), /^not usable: neither rpicam-vid nor libcamera-vid is on PATH/);
    assert.match(line(r.stdout, 'driver pi'), /^not usable: raspivid is not on PATH/);
    assert.match(line(r.stdout, 'driver emulated'), /^usable/);
    assert.match(line(r.stdout, 'driver synthetic'), /^usable: sharp loads \(libvips [0-9.]+\)$/);
    assert.equal(line(r.stdout, 'config file'), 'none');
    assert.equal(line(r.stdout, 'camera default'), 'emulated: ok');
    assert.equal(line(r.stdout, 'result'), 'every camera can start');
  });

  // The skip goes on this test alone: CI installs the binding, and fails on any skip.
  it('finds the OpenCV binding and loads it (in a child process)', {
    skip: missing({ '@u4/opencv4nodejs': hasModule('@u4/opencv4nodejs') }),
  }, async (t) => {
    const r = await doctor(['--camera', 'opencv', '--source', '/dev/null'], await withoutTools(t));
    assert.match(line(r.stdout, 'driver opencv'), /^usable: the OpenCV binding @u4\/opencv4nodejs loads \(OpenCV 4\.[0-9]+\.[0-9]+\)$/);
    // /dev/null exists, so the server's check passes; whether it is a camera shows at the first viewer.
    assert.equal(line(r.stdout, 'camera default'), 'opencv: ok');
    assert.equal(r.status, 0);
  });

  it('reports fake rpicam-vid and raspivid on PATH as found, and --camera libcamera can start', async (t) => {
    const fakes = await useFakeTools(t, ['rpicam-vid', 'raspivid']);
    const r = await doctor(['--camera', 'libcamera', '--width', '1280', '--height', '720', '--fps', '30', '--quality', '80'], fakes.env);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(line(r.stdout, 'rpicam-vid'), `found: ${join(FAKE_BIN['rpicam-vid'], 'rpicam-vid')}`);
    assert.equal(line(r.stdout, 'raspivid'), `found: ${join(FAKE_BIN.raspivid, 'raspivid')}`);
    assert.equal(line(r.stdout, 'libcamera-vid'), 'not found on PATH');
    assert.equal(line(r.stdout, 'driver libcamera'), `usable: rpicam-vid at ${join(FAKE_BIN['rpicam-vid'], 'rpicam-vid')}`);
    assert.match(line(r.stdout, 'driver pi'), /^usable: raspivid at /);
    assert.equal(line(r.stdout, 'camera default'), 'libcamera: ok');
    // Only looked up: doctor never runs a camera tool.
    assert.deepEqual(fakes.starts(), []);
  });

  it('falls back to libcamera-vid (Bullseye) when rpicam-vid is missing', async (t) => {
    const fakes = await useFakeTools(t, ['libcamera-vid']);
    const r = await doctor(['--camera', 'libcamera'], fakes.env);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(line(r.stdout, 'driver libcamera'), `usable: libcamera-vid at ${join(FAKE_BIN['libcamera-vid'], 'libcamera-vid')}`);
  });

  it('--camera libcamera without the tool: exit 1, the camera line says what to install', async (t) => {
    const r = await doctor(['--camera', 'libcamera'], await withoutTools(t));
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(
      line(r.stdout, 'camera default'),
      /^libcamera: --camera libcamera needs rpicam-vid or libcamera-vid, and neither is on PATH: .*sudo apt install rpicam-apps/,
    );
    assert.equal(line(r.stdout, 'result'), 'the server cannot start as configured');
  });

  it('--json: the same report as one JSON document, cameras from a config file each with its own answer', async (t) => {
    const dir = await tempDir(t);
    const config = join(dir, 'framering.yaml');
    await writeFile(
      config,
      'port: 5000\ncameras:\n  door: { driver: emulated }\n  front: { driver: libcamera, width: 1280, height: 720 }\n',
    );
    const r = await doctor(['--json', '--config', config], await withoutTools(t));
    assert.equal(r.status, 1, r.stderr);
    const report = JSON.parse(r.stdout) as DoctorReport;
    assert.equal(report.platform, process.platform);
    assert.equal(report.arch, process.arch);
    assert.deepEqual(report.node, { version: process.versions.node, abi: process.versions.modules, glibc: report.node.glibc });
    const uws = findUws();
    assert.equal(report.uws.loads, uws.picked !== null);
    assert.equal(report.uws.package, uws.picked?.package ?? null);
    assert.deepEqual(
      report.uws.candidates.map((c) => [c.package, c.outcome]),
      uws.candidates.map((c) => [c.package, c.outcome]),
    );
    assert.equal(report.frontEnd.name, uws.picked ? 'uws' : 'node');
    assert.deepEqual(
      report.drivers.map((d) => d.name),
      [...BUILTIN_DRIVERS],
    );
    assert.deepEqual(report.tools, [
      { name: 'rpicam-vid', path: null },
      { name: 'libcamera-vid', path: null },
      { name: 'raspivid', path: null },
    ]);
    assert.ok(Array.isArray(report.videoDevices));
    assert.equal(report.config, config);
    assert.deepEqual(
      report.cameras.map((c) => [c.name, c.driver, c.ok]),
      [
        ['door', 'emulated', true],
        ['front', 'libcamera', false],
      ],
    );
    assert.match(report.cameras[1]!.error!, /needs rpicam-vid or libcamera-vid/);
    assert.equal(report.status, 1);
  });

  it('reads the environment like the server: CAMERA and FRAMERING_HTTP', async (t) => {
    const env = { ...(await withoutTools(t)), CAMERA: 'libcamera', FRAMERING_HTTP: 'node' };
    const r = await doctor(['--json'], env);
    const report = JSON.parse(r.stdout) as DoctorReport;
    assert.equal(report.cameras[0]!.driver, 'libcamera');
    assert.equal(report.frontEnd.name, 'node');
    assert.equal(r.status, 1);
  });

  for (const http of FRONT_ENDS) {
    it(`--http ${http} is the front end reported`, async (t) => {
      const r = await doctor(['--http', http], await withoutTools(t));
      if (http === 'uws' && findUws().picked === null) {
        // Where no build loads (Node.js 26), asking for uWS is what would stop the server.
        assert.equal(r.status, 1, r.stdout + r.stderr);
        assert.match(line(r.stdout, 'front end'), /^none: --http uws was asked for and cannot load: no uWebSockets\.js build loads for /);
        return;
      }
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.equal(line(r.stdout, 'front end'), http === 'node' ? 'node (node:http), as asked with --http node' : 'uws (uWebSockets.js)');
    });
  }

  it('an invalid option: one line on stderr, exit 2, no report', async () => {
    for (const args of [['--port', 'nope'], ['--no-such-option'], ['--http', 'apache']]) {
      const r = await doctor(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^framering: /);
    }
  });

  it('HTTP threads: the count the server would run, and a count the front end refuses is exit 2', async (t) => {
    const env = await withoutTools(t);
    const ok = JSON.parse((await doctor(['--json', '--http-threads', '2'], env)).stdout) as DoctorReport;
    // Where uWS cannot load, node:http serves from one thread and declines the second.
    assert.equal(ok.httpThreads.count, findUws().picked ? 2 : 1);
    const r = await doctor(['--http', 'node', '--http-threads', '2'], env);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(line(r.stdout, 'HTTP threads'), /^invalid --http-threads 2: /);
  });

  it('an option the camera cannot honour: the report names it, exit 2 as the server would', async (t) => {
    const fakes = await useFakeTools(t, ['rpicam-vid']);
    const r = await doctor(['--camera', 'libcamera', '--rotate', '90'], fakes.env);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(line(r.stdout, 'camera default'), /^libcamera: invalid --rotate 90: libcamera rotates only by 0 or 180/);
    assert.equal(line(r.stdout, 'result'), 'invalid options: the server would not start');
  });

  it('rules across cameras are checked too (two cameras with one name)', async (t) => {
    const r = await doctor(['--camera', 'a=emulated', '--camera', 'b=emulated', '--camera', 'a=emulated'], await withoutTools(t));
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(line(r.stdout, 'cameras'), /two cameras are named "a"/);
  });

  it('--help describes doctor and --json', async () => {
    const r = await doctor(['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^Usage: framering doctor \[--json\]/);
    assert.match(r.stdout, /--json/);
  });
});

describe('doctor: what this machine cannot show', () => {
  it('a native module that crashes, hangs or throws while loading is reported, never fatal', async (t) => {
    const dir = await tempDir(t);
    const modules: Record<string, string> = {
      crasher: "process.kill(process.pid, 'SIGSEGV');",
      hanger: 'for (;;) {}',
      thrower: "throw 'plain string, as the OpenCV binding throws\\nsecond line';",
      fine: 'module.exports = { versions: { vips: "8.0.0" } };',
    };
    for (const [name, code] of Object.entries(modules)) {
      await mkdir(join(dir, 'node_modules', name), { recursive: true });
      await writeFile(join(dir, 'node_modules', name, 'index.js'), code);
    }
    const from = pathToFileURL(join(dir, 'doctor.js')).href;
    const [crasher, hanger, thrower, fine, absent] = await Promise.all([
      probeModule('crasher', { from }),
      probeModule('hanger', { from, timeoutMs: 1000 }),
      probeModule('thrower', { from }),
      probeModule('fine', { from }),
      probeModule('absent', { from }),
    ]);
    assert.deepEqual(crasher, { installed: true, loads: false, version: null, error: 'crashed while loading (SIGSEGV)' });
    assert.deepEqual(hanger, { installed: true, loads: false, version: null, error: 'did not finish loading within 1 s' });
    assert.deepEqual(thrower, { installed: true, loads: false, version: null, error: 'plain string, as the OpenCV binding throws' });
    assert.deepEqual(fine, { installed: true, loads: true, version: 'libvips 8.0.0', error: null });
    assert.deepEqual(absent, { installed: false, loads: false, version: null, error: 'not installed' });
  });
});
