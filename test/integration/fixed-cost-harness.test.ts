/**
 * The fixed-cost benchmark (benchmarks/fixed-cost.ts) end to end on the files camera only, with
 * a 2 s window, into a temporary folder (frames included). It must print the results as JSON
 * with --json, write the same to results.json and the Markdown report to results.md. No timing
 * assertions: the machine may be busy, so figures are only checked for type and sign.
 *
 * The benchmark bounds every process it starts; this test also kills it after 90 s.
 */

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { type CliResult, runProgram } from '../helpers/server.js';
import { hasCommand, missing } from '../helpers/requirements.js';

const BENCH = fileURLToPath(new URL('../../benchmarks/fixed-cost.js', import.meta.url));
const RUN_TIMEOUT_MS = 90_000;

const skip = missing({ ffmpeg: hasCommand('ffmpeg') });

function bench(args: readonly string[], timeoutMs = RUN_TIMEOUT_MS): Promise<CliResult> {
  return runProgram(process.execPath, [BENCH, ...args], { timeoutMs });
}

const GROUPS = ['capture', 'encoder', 'main', 'http', 'helpers'];

describe('fixed-cost benchmark', { timeout: 150_000 }, () => {
  test('refuses an unknown camera, with exit status 2 and the usage', async () => {
    const r = await bench(['--cameras', 'files,webcam'], 30_000);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /--cameras: unknown camera webcam/);
    assert.match(r.stderr, /usage:/);
  });

  test('the files camera gives CPU per frame by thread group, idle CPU, results.json and results.md', { skip }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'framering-fixed-cost-harness-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const out = join(dir, 'out');
    const r = await bench([
      '--cameras',
      'files',
      '--duration',
      '2',
      '--warmup',
      '0.5',
      '--settle',
      '1',
      '--quiet-wait',
      '0',
      '--cache',
      join(dir, 'frames'),
      '--out',
      out,
      '--json',
    ]);
    assert.equal(r.status, 0, `exited with ${r.status} (${r.signal}):\n${r.stderr}`);

    const printed = JSON.parse(r.stdout) as Record<string, unknown>;
    const report = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(printed, report, 'results.json holds what --json printed');
    assert.equal(report.schema, 1);
    assert.equal(report.fps, 30);
    assert.equal(report.duration_s, 2);
    assert.match(String(report.command), /^node dist\/benchmarks\/fixed-cost\.js --cameras files /);
    assert.equal(typeof (report.machine as Record<string, unknown>).cpu_model, 'string');

    const results = report.results as Record<string, unknown>[];
    assert.equal(results.length, 1);
    const x = results[0]!;
    assert.equal(x.camera, 'files');
    assert.equal(x.error, null);
    assert.equal(x.reference, false);
    assert.equal(x.frames_source, 'metrics');
    assert.ok(typeof x.frames_published === 'number' && x.frames_published > 0, `frames_published ${String(x.frames_published)}`);
    for (const key of ['fps_published', 'fps_delivered', 'cpu_pct', 'window_s', 'viewer_cpu_pct', 'other_cpu_pct']) {
      assert.equal(typeof x[key], 'number', `${key} is ${String(x[key])}`);
    }
    const perFrame = x.cpu_ms_per_frame as Record<string, number>;
    const idle = x.idle_cpu_pct as Record<string, number>;
    const threads = x.threads as Record<string, number>;
    for (const g of ['total', ...GROUPS]) {
      assert.ok(typeof perFrame[g] === 'number' && perFrame[g] >= 0, `cpu_ms_per_frame.${g} is ${String(perFrame[g])}`);
      assert.ok(typeof idle[g] === 'number' && idle[g] >= 0, `idle_cpu_pct.${g} is ${String(idle[g])}`);
    }
    const parts = GROUPS.reduce((s, g) => s + perFrame[g]!, 0);
    assert.ok(Math.abs(parts - perFrame.total!) < 0.01, `the groups (${parts}) add up to the total (${perFrame.total})`);
    assert.equal(threads.main, 1, 'one main thread');
    assert.equal(threads.capture, 1, 'the probe found the capture worker');
    assert.equal(threads.encoder, 0, 'no encoder threads for the files camera');
    assert.ok(perFrame.capture! > 0 && perFrame.main! > 0, 'capture worker and main thread both worked');
    assert.deepEqual(x.companions, []);

    const md = await readFile(join(out, 'results.md'), 'utf8');
    assert.match(md, /^# framering fixed cost per frame/);
    assert.match(md, /\*\*Machine\*\*: /);
    assert.match(md, /^\| camera \| fps published \/ delivered \| CPU per frame, ms \| capture worker \|/m);
    assert.match(md, /^\| files \| \d+\.\d \/ \d+\.\d \| \*\*[\d.]+\*\* \|/m);
    assert.match(md, /## Method/);
  });
});
