/**
 * A one-minute soak run (benchmarks/soak.ts, what `npm run soak` runs for ten): the server with
 * 500 viewers held by the native load generator, 20 connect/disconnect cycles a second and 5
 * slow readers, sampled every 5 s. From its CSV and JSON: memory does not grow over the second
 * half, descriptors and threads stay flat, the server never died and stopped cleanly, viewers
 * received frames throughout; and the outputs are there and well-formed.
 *
 * The soak runs as a child process with a deadline; if it must be killed, SIGTERM lets it kill
 * its own children first, and the server (whose pid it prints first) is killed here too.
 */

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/paths.js';
import { hasCommand, missing } from '../helpers/requirements.js';

const SOAK = fileURLToPath(new URL('dist/benchmarks/soak.js', REPO_ROOT));
const DURATION_S = 60;
const INTERVAL_S = 5;
const VIEWERS = 500;
/** The soak's own hard deadline is the duration plus 2 minutes; this one comes first. */
const RUN_TIMEOUT_MS = 130_000;

/**
 * RSS may rise by at most this from the first sample of the second half to any later one. With
 * nothing accumulating it moves by a few MB as V8 collects (measured: within ±4 MB). What a leak
 * on the paths the soak exercises would add over those 30 s: 600 churned viewers, each holding
 * a socket, a Viewer and a response (uWS keeps some 16 KB of buffers per socket), 10 MB and up;
 * frames queued for the 5 slow readers instead of skipped, 5 × 30 fps × 21 KB, 90 MB.
 */
const RSS_GROWTH_BOUND_MB = 12;
/**
 * Open descriptors after the warm-up may vary by at most this: the 500 viewers and 5 slow
 * readers hold theirs for the run; what comes and goes is the churn's connections in flight
 * (20 a second, each open a few ms) and a slow reader between sessions. One descriptor leaked
 * per churn cycle would be 1000 over the run.
 */
const FD_RANGE_BOUND = 40;
/** Threads do not come and go under load: the capture worker, V8's and libuv's are fixed. */
const THREAD_RANGE_BOUND = 2;

const COLUMNS = [
  'elapsed_s',
  'server_alive',
  'rss_mb',
  'heap_used_mb',
  'external_mb',
  'cpu_pct',
  'fds',
  'threads',
  'clients',
  'loadgen_clients',
  'viewer_fps_p50',
  'viewer_fps_min',
  'frames_sent_per_s',
  'slow_disconnects',
  'churn_ok',
  'churn_failed',
  'slow_frames',
  'loadgen_cpu_pct',
  'soak_cpu_pct',
  'machine_busy_pct',
  'other_cpu_pct',
] as const;
type Row = Record<(typeof COLUMNS)[number], number | null>;

const skip = missing({ 'cc and make': hasCommand('cc', ['--version']) && hasCommand('make', ['--version']) });

/** Parses soak.csv strictly: the header, then rows of numbers or empty fields. */
function parseCsv(text: string): Row[] {
  assert.ok(text.endsWith('\n'), 'soak.csv ends with a newline');
  const [header, ...lines] = text.slice(0, -1).split('\n');
  assert.deepEqual(header?.split(','), [...COLUMNS], 'soak.csv header');
  return lines.map((line, i) => {
    const cells = line.split(',');
    assert.equal(cells.length, COLUMNS.length, `soak.csv row ${i + 1} has ${cells.length} fields: ${line}`);
    const row = {} as Row;
    COLUMNS.forEach((c, k) => {
      const cell = cells[k]!;
      assert.ok(cell === '' || /^-?\d+(\.\d+)?$/.test(cell), `soak.csv row ${i + 1}, ${c}: ${JSON.stringify(cell)} is not a number`);
      row[c] = cell === '' ? null : Number(cell);
    });
    return row;
  });
}

const values = (rows: readonly Row[], key: keyof Row): number[] => rows.map((r) => r[key]).filter((v): v is number => v !== null);

describe('soak run (60 s)', { timeout: 150_000 }, () => {
  it(`${VIEWERS} viewers, churn and slow readers: memory, descriptors and threads stay flat, frames keep flowing`, { skip }, async (t) => {
    const build = spawnSync('make', ['-C', fileURLToPath(new URL('native-bench/', REPO_ROOT))], {
      encoding: 'utf8',
      timeout: 60_000,
      killSignal: 'SIGKILL',
    });
    assert.equal(build.status, 0, `make -C native-bench failed:\n${build.stdout}${build.stderr}`);
    const out = await mkdtemp(join(tmpdir(), 'framering-soak-'));
    t.after(() => rm(out, { recursive: true, force: true }));

    const args = [
      SOAK,
      '--duration',
      String(DURATION_S),
      '--viewers',
      String(VIEWERS),
      '--sample-interval',
      String(INTERVAL_S),
      '--out',
      out,
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    const serverPid = (): number | undefined => Number(/server pid (\d+)/.exec(stderr)?.[1]) || undefined;
    t.after(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      const pid = serverPid();
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone, as it should be
        }
      }
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), RUN_TIMEOUT_MS);
    const [status, signal] = await exited;
    clearTimeout(timer);
    assert.equal(status, 0, `soak exited with ${status ?? signal}:\n${stderr.slice(-4000)}`);

    // The outputs.
    const [csv, svg, md, jsonText] = await Promise.all(
      ['soak.csv', 'soak.svg', 'summary.md', 'soak.json'].map((f) => readFile(join(out, f), 'utf8')),
    );
    const report = JSON.parse(jsonText!) as {
      steady_from_s: number;
      server: { died: boolean; exit: { status: number | null; signal: string | null } };
      loadgen: {
        status: number;
        error: string | null;
        result: { connected: number; failed: number; dropped: number; fps: { min: number; p50: number } };
      };
      churn: { ok: number; failed: number; firstFailure: string | null };
      slow_readers: { connections: number; frames: number; errors: number; firstError: string | null };
    };
    assert.match(
      svg!,
      /^<svg[^>]*>[\s\S]*server RSS[\s\S]*open descriptors[\s\S]*CPU, % of one core[\s\S]*<\/svg>$/,
      'soak.svg is the chart, with its three panels',
    );
    assert.match(md!, /^# framering soak run\n[\s\S]*\n## Figures\n[\s\S]*\| server RSS, MB \|[\s\S]*\n## Outcome\n/);
    assert.equal(stdout, md, 'the summary is printed');

    const rows = parseCsv(csv!);
    // A row at the start (before any load), then one per interval up to the duration.
    assert.equal(rows.length, DURATION_S / INTERVAL_S + 1, `${rows.length} samples`);
    for (const [i, r] of rows.entries()) if (i > 0) assert.ok(r.elapsed_s! > rows[i - 1]!.elapsed_s!, 'samples in time order');
    const steady = rows.filter((r) => r.elapsed_s! >= report.steady_from_s);
    assert.ok(steady.length >= 8, `${steady.length} samples after the warm-up`);

    // The server never died, and stopped cleanly at the end.
    assert.ok(
      rows.every((r) => r.server_alive === 1),
      'the server was alive at every sample',
    );
    assert.equal(report.server.died, false);
    assert.deepEqual(report.server.exit, { status: 0, signal: null }, 'the server exited 0 on SIGTERM after the run');

    // Memory over the second half.
    const secondHalf = rows.filter((r) => r.elapsed_s! >= DURATION_S / 2);
    const rss = values(secondHalf, 'rss_mb');
    assert.equal(rss.length, secondHalf.length, 'RSS read at every sample');
    const growth = Math.max(...rss) - rss[0]!;
    t.diagnostic(`RSS over the second half: ${rss.join(', ')} MB (growth ${growth.toFixed(1)} MB)`);
    assert.ok(
      growth <= RSS_GROWTH_BOUND_MB,
      `RSS rose ${growth.toFixed(1)} MB over the second half (bound ${RSS_GROWTH_BOUND_MB} MB): ${rss.join(', ')}`,
    );

    // Descriptors and threads after the warm-up.
    const fds = values(steady, 'fds');
    const threads = values(steady, 'threads');
    assert.equal(fds.length, steady.length);
    t.diagnostic(`fds ${Math.min(...fds)}-${Math.max(...fds)}, threads ${Math.min(...threads)}-${Math.max(...threads)}`);
    assert.ok(Math.min(...fds) >= VIEWERS, `the ${VIEWERS} viewers hold a descriptor each: ${fds.join(', ')}`);
    assert.ok(
      Math.max(...fds) - Math.min(...fds) <= FD_RANGE_BOUND,
      `open descriptors ranged ${Math.min(...fds)}-${Math.max(...fds)} (bound ${FD_RANGE_BOUND}): ${fds.join(', ')}`,
    );
    assert.ok(
      Math.max(...threads) - Math.min(...threads) <= THREAD_RANGE_BOUND,
      `threads ranged ${Math.min(...threads)}-${Math.max(...threads)}: ${threads.join(', ')}`,
    );

    // Viewers kept receiving frames, at every sample and over loadgen's whole window.
    for (const r of steady) {
      assert.equal(r.loadgen_clients, VIEWERS, `at ${r.elapsed_s} s: ${r.loadgen_clients} loadgen viewers in /status`);
      assert.ok(r.viewer_fps_p50 !== null && r.viewer_fps_p50 > 0, `at ${r.elapsed_s} s: median viewer at ${r.viewer_fps_p50} fps`);
      assert.ok(
        r.frames_sent_per_s !== null && r.frames_sent_per_s > 0,
        `at ${r.elapsed_s} s: ${r.frames_sent_per_s} frames sent per second`,
      );
    }
    const lg = report.loadgen;
    assert.equal(lg.error, null);
    assert.equal(lg.result.connected, VIEWERS);
    assert.equal(lg.result.failed, 0);
    assert.equal(lg.result.dropped, 0, 'no viewer lost its stream');
    assert.ok(lg.result.fps.min > 0, `every viewer received frames over the window (slowest ${lg.result.fps.min} fps)`);
    t.diagnostic(`loadgen fps min ${lg.result.fps.min}, p50 ${lg.result.fps.p50}`);

    // The churn and the slow readers ran, without a failure or a malformed frame.
    assert.ok(report.churn.ok >= 100, `${report.churn.ok} churn cycles`);
    assert.equal(report.churn.failed, 0, `churn failures: first ${report.churn.firstFailure}`);
    assert.ok(report.slow_readers.frames > 0, 'the slow readers received frames');
    assert.equal(report.slow_readers.errors, 0, `slow reader errors: first ${report.slow_readers.firstError}`);
  });
});
