/**
 * The C half of the benchmark suite (native-bench/): it builds with the system compiler, the load
 * generator's MJPEG parser passes its self-test, and the load generator, run for about 2 s with
 * 3 clients against the C floor server and against an in-process framering server, prints one
 * well-formed JSON line with sane values. No timing assertions: the machine may be busy.
 *
 * Every child process has a deadline (SIGKILL) and is ended when its test ends.
 */

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test, type TestContext } from 'node:test';
import { type CliResult, createTestServer, runProgram } from '../helpers/server.js';
import { EMULATED_ASSETS, REPO_ROOT } from '../helpers/paths.js';
import { hasCommand, missing } from '../helpers/requirements.js';

const NATIVE = fileURLToPath(new URL('native-bench/', REPO_ROOT));
const BUILD = join(NATIVE, 'build');
const FRAMES = fileURLToPath(EMULATED_ASSETS);
const CLIENTS = 3;

// The skip goes on each test, not on the suite: node's runner counts only skipped tests, and
// .ci/run fails on that count.
const skip = missing({ 'cc and make': hasCommand('cc', ['--version']) && hasCommand('make', ['--version']) });

let built: { status: number | null; output: string } | undefined;

/** Runs `make -C native-bench` once per file (a minute at most); later calls return the first result. */
function build(): { status: number | null; output: string } {
  if (!built) {
    const r = spawnSync('make', ['-C', NATIVE], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
    built = { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
  }
  return built;
}

function assertBuilt(): void {
  const b = build();
  assert.equal(b.status, 0, `make -C native-bench failed:\n${b.output}`);
}

type Run = CliResult;

/** Runs a program to completion, asynchronously (an in-process server must keep serving); SIGKILL after timeoutMs. */
function run(file: string, args: readonly string[], timeoutMs: number): Promise<Run> {
  return runProgram(file, args, { timeoutMs });
}

/** Resolves with the exit of `child` (at once if it has exited), or undefined after timeoutMs. */
function exitOf(child: ChildProcess, timeoutMs: number): Promise<{ status: number | null; signal: NodeJS.Signals | null } | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ status: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    child.once('exit', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal });
    });
  });
}

/** Starts the floor server on a free port; it is stopped (SIGTERM, then SIGKILL) when the test ends. */
async function startFloor(t: TestContext): Promise<{ child: ChildProcess; port: number; stderr: () => string }> {
  const child = spawn(join(BUILD, 'floor'), ['--frames', FRAMES, '--fps', '30', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exitOf(child, 5000);
  });
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`floor did not print its port within 5 s:\n${stderr}`)), 5000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const m = /^listening (\d+)$/m.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (status) => {
      clearTimeout(timer);
      reject(new Error(`floor exited with ${status} before listening:\n${stderr}`));
    });
  });
  return { child, port, stderr: () => stderr };
}

/** loadgen's JSON result line as this test reads it (the assertions below check that it is so). */
interface LoadgenLine {
  tool: string;
  schema: number;
  clients: number;
  connected: number;
  failed: number;
  dropped: number;
  first_error: string | null;
  window_clients: number;
  window_s: number;
  fps: Record<string, number>;
  frames: number;
  latency_ms: { samples: number; p50: number; p99: number; max: number };
  bytes: number;
  window_bytes: number;
  server: { pid: number; alive: boolean; cpu_pct: number; threads: number; vm_hwm_kb: number; vm_rss_kb: number };
  loadgen: { cpu_pct: number };
}

/** Runs loadgen for about 2 s against `port` and returns its JSON result, checked for shape and sane values. */
async function loadgen(port: number, serverPid: number): Promise<LoadgenLine> {
  const args = [
    '--url',
    `http://127.0.0.1:${port}/video_feed`,
    '--clients',
    String(CLIENTS),
    '--warmup',
    '0.5',
    '--duration',
    '2',
    '--server-pid',
    String(serverPid),
  ];
  const r = await run(join(BUILD, 'loadgen'), args, 30_000);
  assert.equal(r.status, 0, `loadgen exited with ${r.status} (${r.signal}):\n${r.stdout}\n${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `loadgen printed ${lines.length} lines on stdout, not one:\n${r.stdout}`);
  const result = JSON.parse(lines[0]!) as LoadgenLine;

  assert.equal(result.tool, 'loadgen');
  assert.equal(result.schema, 1);
  assert.equal(result.clients, CLIENTS);
  assert.equal(result.connected, CLIENTS, `first error: ${result.first_error}`);
  assert.equal(result.failed, 0);
  assert.equal(result.dropped, 0);
  assert.equal(result.first_error, null);
  assert.equal(result.window_clients, CLIENTS);
  assert.ok(result.window_s > 0);
  for (const key of ['min', 'p50', 'mean', 'max']) assert.equal(typeof result.fps[key], 'number', `fps.${key}`);
  assert.ok(result.fps.min! > 0, `every client received frames in the window (fps min ${result.fps.min})`);
  assert.ok(result.fps.min! <= result.fps.p50! && result.fps.p50! <= result.fps.max!);
  assert.ok(result.frames > 0);
  assert.ok(result.latency_ms.samples > 0, 'frames carry X-Timestamp');
  assert.ok(result.latency_ms.p50 >= 0 && result.latency_ms.p99 >= result.latency_ms.p50 && result.latency_ms.max >= result.latency_ms.p99);
  assert.ok(result.bytes >= result.window_bytes && result.window_bytes > 0);
  assert.equal(result.server.pid, serverPid);
  assert.equal(result.server.alive, true);
  assert.ok(result.server.cpu_pct >= 0, `server cpu_pct ${result.server.cpu_pct}`);
  assert.ok(result.server.threads >= 1);
  assert.ok(result.server.vm_hwm_kb > 0 && result.server.vm_rss_kb > 0);
  assert.ok(result.loadgen.cpu_pct >= 0, `loadgen cpu_pct ${result.loadgen.cpu_pct}`);
  return result;
}

describe('native-bench (C load generator and floor server)', { timeout: 120_000 }, () => {
  test('builds with make -C native-bench, and a fresh build has no warnings', { skip }, async (t) => {
    assertBuilt();
    // The warning check builds from scratch elsewhere: native-bench/build/ may be in use.
    const dir = await mkdtemp(join(tmpdir(), 'framering-native-bench-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const fresh = spawnSync('make', ['-C', NATIVE, `BUILD=${dir}`], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
    const output = `${fresh.stdout ?? ''}${fresh.stderr ?? ''}`;
    assert.equal(fresh.status, 0, output);
    assert.doesNotMatch(output, /warning:/, output);
  });

  test('the MJPEG parser passes its self-test', { skip }, async () => {
    assertBuilt();
    const r = await run(join(BUILD, 'parser-selftest'), [], 60_000);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^parser-selftest: ok/m);
  });

  test('loadgen refuses a host that is not loopback, without a result line', { skip }, async () => {
    assertBuilt();
    for (const url of ['http://192.0.2.1:80/video_feed', 'http://example.com/', 'http://[2001:db8::1]:80/']) {
      const r = await run(join(BUILD, 'loadgen'), ['--url', url, '--duration', '1', '--warmup', '0'], 10_000);
      assert.equal(r.status, 2, `${url}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /refusing/);
    }
  });

  test('loadgen measures the floor server; the floor exits 0 on SIGTERM', { skip }, async (t) => {
    assertBuilt();
    const floor = await startFloor(t);
    const result = await loadgen(floor.port, floor.child.pid!);
    assert.equal(result.server.threads, 1, 'the floor is one thread');
    floor.child.kill('SIGTERM');
    const exit = await exitOf(floor.child, 5000);
    assert.deepEqual(exit, { status: 0, signal: null }, floor.stderr());
  });

  test('loadgen measures an in-process framering server', { skip }, async () => {
    assertBuilt();
    const ts = await createTestServer(['--camera', 'files', '--source', FRAMES, '--fps', '30']);
    try {
      await loadgen(ts.port, process.pid);
    } finally {
      await ts.close();
    }
  });
});
