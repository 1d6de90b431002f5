/**
 * The benchmark runner (benchmarks/run.ts) end to end with tiny parameters: the C floor and
 * framering on uWebSockets.js, 640x480, 2 clients, a 2 s window, into a temporary folder (frames
 * included). It must print one well-formed JSON line per run, write the same lines to
 * results.jsonl, and write results.md and the SVG chart. No timing assertions: the machine may
 * be busy, so figures are only checked for type, not value.
 *
 * The runner bounds every process it starts; this test also kills the runner after 150 s.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { type CliResult, runProgram } from '../helpers/server.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { hasCommand, missing } from '../helpers/requirements.js';

const RUNNER = fileURLToPath(new URL('../../benchmarks/run.js', import.meta.url));
const NATIVE = fileURLToPath(new URL('native-bench/', REPO_ROOT));
const RUN_TIMEOUT_MS = 150_000;

// The skip goes on each test, not on the suite: node's runner counts only skipped tests, and
// .ci/run fails on that count.
const skip = missing({
  'cc and make': hasCommand('cc', ['--version']) && hasCommand('make', ['--version']),
  ffmpeg: hasCommand('ffmpeg'),
});

type Run = CliResult;

/** Runs the benchmark runner to completion; SIGKILL after timeoutMs. */
function runner(args: readonly string[], timeoutMs = RUN_TIMEOUT_MS): Promise<Run> {
  return runProgram(process.execPath, [RUNNER, ...args], { timeoutMs });
}

const isNumberOrNull = (v: unknown): boolean => v === null || (typeof v === 'number' && Number.isFinite(v));

describe('benchmark runner', { timeout: 240_000 }, () => {
  test('refuses an unknown server, with exit status 2 and the usage', async () => {
    const r = await runner(['--servers', 'floor,nginx'], 30_000);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /--servers: unknown server nginx/);
    assert.match(r.stderr, /usage:/);
  });

  test('a tiny matrix gives one well-formed JSON line per run, the Markdown report and the chart', { skip }, async (t) => {
    const made = spawnSync('make', ['-C', NATIVE], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
    assert.equal(made.status, 0, `make -C native-bench failed:\n${made.stdout}${made.stderr}`);
    const dir = await mkdtemp(join(tmpdir(), 'framering-bench-harness-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const out = join(dir, 'out');

    const r = await runner([
      '--servers',
      'floor,framering-uws',
      '--resolutions',
      '640x480',
      '--clients',
      '2',
      '--warmup',
      '0.5',
      '--duration',
      '2',
      '--retries',
      '0',
      '--quiet-wait',
      '0',
      '--time-limit',
      '2',
      '--cache',
      join(dir, 'frames'),
      '--out',
      out,
    ]);
    assert.equal(r.status, 0, `runner exited with ${r.status} (${r.signal}):\n${r.stderr}`);

    const stdoutLines = r.stdout.split('\n').filter((l) => l.length > 0);
    const fileLines = (await readFile(join(out, 'results.jsonl'), 'utf8')).split('\n').filter((l) => l.length > 0);
    assert.deepEqual(fileLines, stdoutLines, 'results.jsonl holds the lines printed on stdout');
    assert.equal(fileLines.length, 2, `one line per run:\n${r.stdout}\n${r.stderr}`);

    const results = fileLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      results.map((x) => x.server),
      ['floor', 'framering-uws'],
      'the floor runs first',
    );
    for (const x of results) {
      assert.equal(x.schema, 1);
      assert.equal(x.resolution, '640x480');
      assert.equal(x.clients, 2);
      assert.equal(x.fps_target, 30);
      assert.equal(x.error, null, `${x.server}: ${String(x.error)}`);
      assert.equal(x.connected, 2);
      assert.equal(x.failed, 0);
      assert.equal(x.dropped, 0);
      assert.ok(typeof x.frame_bytes === 'number' && x.frame_bytes > 10_000, `frame_bytes ${String(x.frame_bytes)}`);
      for (const key of [
        'fps_min',
        'fps_p50',
        'cpu_pct',
        'cpu_pct_per_client',
        'rss_peak_mb',
        'latency_p50_ms',
        'latency_p99_ms',
        'loadgen_cpu_pct',
      ]) {
        assert.equal(typeof x[key], 'number', `${x.server}: ${key} is ${String(x[key])}`);
      }
      for (const key of ['cpu_vs_floor', 'latency_p99_vs_floor', 'other_cpu_pct', 'machine_busy_pct', 'window_s', 'threads']) {
        assert.ok(isNumberOrNull(x[key]), `${x.server}: ${key} is ${String(x[key])}`);
      }
      assert.ok((x.cpu_pct as number) >= 0);
      assert.ok((x.rss_peak_mb as number) > 0);
      assert.equal(x.attempts, 1);
      assert.deepEqual(x.retried_for, []);
      assert.equal(typeof x.spoiled, 'boolean');
      assert.ok(!Number.isNaN(Date.parse(x.started_at as string)));
    }
    assert.equal(results[0]!.cpu_vs_floor, 1);
    assert.equal(results[0]!.threads, 1, 'the floor is one thread');

    const md = await readFile(join(out, 'results.md'), 'utf8');
    assert.match(md, /^# framering benchmark results/);
    assert.match(md, /\| floor \| 640x480/);
    assert.match(md, /\| framering-uws \| 640x480/);
    assert.match(md, /## Targets/);
    const svg = await readFile(join(out, 'cpu-vs-clients.svg'), 'utf8');
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\s*$/);
  });
});
