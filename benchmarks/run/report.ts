/**
 * The benchmark's outputs from its results: a Markdown report (machine, method, the table, the
 * targets of the issue checked against the figures, notes) and an SVG chart of server CPU
 * against clients drawn with vega-lite.
 */

import { chartSpec, renderSvg } from '../lib/chart.js';
import type { MachineInfo } from '../lib/machine.js';
import { SERVER_NAMES } from '../lib/servers.js';
import { fixed as num } from '../lib/stats.js';
import type { RunResult } from './results.js';

export interface ReportContext {
  machine: MachineInfo;
  date: string; // ISO
  command: string;
  warmup: number; // s
  duration: number; // s
  fps: number;
  quietIdlePct: number;
  maxOtherPct: number;
  retries: number;
  /** Runs of the matrix that were not made, with the reason. */
  skipped: string[];
  /** Frame sets used: "640x480: 90 frames, 21.1 KB, q 5". */
  frames: string[];
}

/** CPU figures: enough digits to tell a small number from zero. */
const cpu = (v: number | null | undefined): string => {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (v >= 10) return v.toFixed(1);
  if (v >= 1) return v.toFixed(2);
  return v.toPrecision(2);
};

/** The table of results, in Markdown. */
export function resultsTable(results: readonly RunResult[]): string {
  const head = [
    'server',
    'frames',
    'clients',
    'fps min / p50',
    'CPU, % of a core',
    'per client',
    '× floor',
    'peak RSS, MB',
    'latency p50 / p99, ms',
    'loadgen CPU, %',
    'other CPU, %',
    'attempts',
  ];
  const rows = results.map((r) => {
    if (r.error && r.cpu_pct === null) {
      return [
        r.server,
        r.resolution,
        String(r.clients),
        `failed: ${r.error.split('\n')[0]}`,
        '',
        '',
        '',
        '',
        '',
        '',
        '',
        String(r.attempts),
      ];
    }
    const lost = r.failed + r.dropped > 0 ? ` (${r.connected - r.dropped} streamed)` : '';
    return [
      r.server,
      `${r.resolution} (${Math.round(r.frame_bytes / 1000)} KB)`,
      `${r.clients}${lost}`,
      `${num(r.fps_min, 1)} / ${num(r.fps_p50, 1)}`,
      cpu(r.cpu_pct),
      cpu(r.cpu_pct_per_client),
      num(r.cpu_vs_floor, 2),
      num(r.rss_peak_mb, 1),
      `${num(r.latency_p50_ms, 2)} / ${num(r.latency_p99_ms, 2)}`,
      cpu(r.loadgen_cpu_pct),
      `${cpu(r.other_cpu_pct)}${r.spoiled ? ' (over the limit)' : ''}`,
      String(r.attempts),
    ];
  });
  return [head, head.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

export interface TargetCheck {
  target: string;
  measured: string;
  /** true / false, or null when the runs it needs are missing. */
  holds: boolean | null;
}

/** The issue's targets for framering-uws, checked against the 640x480 (21 KB) runs. */
export function checkTargets(results: readonly RunResult[]): TargetCheck[] {
  const res = '640x480';
  const find = (server: string, clients: number): RunResult | undefined =>
    results.find((r) => r.server === server && r.resolution === res && r.clients === clients && r.cpu_pct !== null);
  const checks: TargetCheck[] = [];
  const all = (parts: (boolean | null)[]): boolean | null => (parts.some((p) => p === null) ? null : parts.every(Boolean));

  const fpsParts: string[] = [];
  const fpsOk: (boolean | null)[] = [];
  for (const n of [500, 1000, 2000]) {
    const u = find('framering-uws', n);
    fpsParts.push(`${n}: ${u ? `${num(u.fps_p50, 2)} / ${num(u.fps_min, 2)}` : 'not run'}`);
    // "30 fps p50": the median client got every frame of the window, give or take one
    fpsOk.push(u && u.fps_p50 !== null && u.fps_min !== null ? u.fps_p50 >= 29.9 && u.fps_min >= 29.5 && u.failed + u.dropped === 0 : null);
  }
  checks.push({
    target: 'framering-uws at 500 / 1000 / 2000 clients: 30 fps p50 (≥ 29.9), min ≥ 29.5',
    measured: `p50 / min: ${fpsParts.join('; ')}`,
    holds: all(fpsOk),
  });

  const ratioParts: string[] = [];
  const ratioOk: (boolean | null)[] = [];
  for (const n of [500, 2000]) {
    const u = find('framering-uws', n);
    const f = find('floor', n);
    ratioParts.push(`${n}: ${u && f ? `${cpu(u.cpu_pct)} % vs ${cpu(f.cpu_pct)} % = ${num(u.cpu_vs_floor, 2)}×` : 'not run'}`);
    ratioOk.push(u && u.cpu_vs_floor !== null ? u.cpu_vs_floor <= 1.25 : null);
  }
  checks.push({
    target: 'framering-uws CPU ≤ 1.25× the floor’s at 500 and 2000 clients',
    measured: ratioParts.join('; '),
    holds: all(ratioOk),
  });

  {
    const u = find('framering-uws', 500);
    const fl = find('flask-gevent', 500);
    const x = u && fl && u.cpu_pct && fl.cpu_pct !== null ? fl.cpu_pct / u.cpu_pct : null;
    const fpsNote = fl ? ` (Flask delivered p50 ${num(fl.fps_p50, 1)}, min ${num(fl.fps_min, 1)} fps)` : '';
    checks.push({
      target: 'framering-uws CPU ≥ 3× lower than Flask + gevent at 500 clients',
      measured: u && fl ? `${cpu(u.cpu_pct)} % vs ${cpu(fl.cpu_pct)} % = ${num(x, 1)}× lower${fpsNote}` : 'not run',
      holds: x === null ? null : x >= 3,
    });
  }
  {
    const u = find('framering-uws', 2000);
    checks.push({
      target: 'framering-uws peak RSS < 100 MB at 2000 clients',
      measured: u ? `${num(u.rss_peak_mb, 1)} MB` : 'not run',
      holds: u && u.rss_peak_mb !== null ? u.rss_peak_mb < 100 : null,
    });
  }
  {
    const u = find('framering-uws', 500);
    checks.push({
      target: 'framering-uws latency p50 < 5 ms at 500 clients',
      measured: u ? `${num(u.latency_p50_ms, 2)} ms` : 'not run',
      holds: u && u.latency_p50_ms !== null ? u.latency_p50_ms < 5 : null,
    });
    const f = find('floor', 500);
    checks.push({
      target: 'framering-uws latency p99 ≤ 1.25× the floor’s at 500 clients',
      measured:
        u && f ? `${num(u.latency_p99_ms, 2)} ms vs ${num(f.latency_p99_ms, 2)} ms = ${num(u.latency_p99_vs_floor, 2)}×` : 'not run',
      holds: u && u.latency_p99_vs_floor !== null ? u.latency_p99_vs_floor <= 1.25 : null,
    });
  }
  return checks;
}

export function targetsTable(checks: readonly TargetCheck[]): string {
  const rows = checks.map((c) => `| ${c.target} | ${c.measured} | ${c.holds === null ? 'not measured' : c.holds ? 'yes' : '**no**'} |`);
  return ['| target | measured | holds |', '| --- | --- | --- |', ...rows].join('\n');
}

/** results.md: everything needed to read the figures without the code. */
export function markdownReport(results: readonly RunResult[], ctx: ReportContext): string {
  const m = ctx.machine;
  const notes: string[] = [];
  for (const r of results) {
    if (r.retried_for.length) notes.push(`${r.server}, ${r.resolution}, ${r.clients} clients: repeated (${r.retried_for.join('; ')}).`);
    if (r.spoiled)
      notes.push(
        `${r.server}, ${r.resolution}, ${r.clients} clients: other processes used ${cpu(r.other_cpu_pct)} % of a core during the kept attempt, over the ${ctx.maxOtherPct} % limit (retries exhausted).`,
      );
    if (r.error) notes.push(`${r.server}, ${r.resolution}, ${r.clients} clients: ${r.error.split('\n')[0]}`);
    if (r.failed + r.dropped > 0)
      notes.push(
        `${r.server}, ${r.resolution}, ${r.clients} clients: ${r.failed} clients failed to connect and ${r.dropped} lost their stream.`,
      );
  }
  for (const s of ctx.skipped) notes.push(`Not run: ${s}.`);
  return `# framering benchmark results

Generated by \`${ctx.command}\` on ${ctx.date}.

**Machine:** ${m.cpu_model}, ${m.cores} cores, ${m.mem_gib} GiB, ${m.os}, Linux ${m.kernel}, Node.js ${m.node.replace(/^v/, '')}.

**Frames:** ${ctx.frames.join('; ')}. Every server plays the same folder at ${ctx.fps} fps.

**Method:** each run starts a fresh server on 127.0.0.1, waits for a quiet machine (a 1 s
sample of /proc/stat at least ${ctx.quietIdlePct} % idle, bounded wait), then
native-bench/build/loadgen opens the clients (1 per ms), waits ${ctx.warmup} s and measures
for ${ctx.duration} s: frames per client, capture-to-receipt latency (X-Timestamp), the
server's CPU over all its threads (/proc/PID/task/∗/schedstat), its peak RSS (VmHWM) and
loadgen's own CPU. "other CPU" is the machine's busy time (/proc/stat) minus server and
loadgen: everything else that ran meanwhile. A run where it exceeds ${ctx.maxOtherPct} % of a core
is repeated, up to ${ctx.retries} times. CPU is in % of one core; "× floor" divides by the C
floor server's CPU at the same frames and clients in this matrix.

## Results

${resultsTable(results)}

## Targets (framering-uws, 640x480)

${targetsTable(checkTargets(results))}
${notes.length ? `\n## Notes\n\n${notes.map((n) => `- ${n}`).join('\n')}\n` : ''}`;
}

/** The chart: server CPU against clients, log-log, one line per server and frame size. */
export async function cpuChartSvg(results: readonly RunResult[], subtitle: string): Promise<string> {
  const values = results
    .filter((r) => r.cpu_pct !== null && r.cpu_pct > 0)
    .map((r) => ({
      server: r.server,
      frames: `${r.resolution} (${Math.round(r.frame_bytes / 1000)} KB)`,
      clients: r.clients,
      cpu: r.cpu_pct!,
    }));
  const clients = [...new Set(values.map((v) => v.clients))].sort((a, b) => a - b);
  const cpus = values.map((v) => v.cpu);
  // 1-2-5 ticks over the data: a log axis left to itself labels too few or too many
  const cpuTicks = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200].filter(
    (t) => cpus.length > 0 && t >= Math.min(...cpus) / 2 && t <= Math.max(...cpus) * 2,
  );
  // the smaller frames solid, the larger dashed, whatever their names sort to
  const frameSets = [
    ...new Set(
      results
        .slice()
        .sort((a, b) => a.frame_bytes - b.frame_bytes)
        .map((r) => `${r.resolution} (${Math.round(r.frame_bytes / 1000)} KB)`),
    ),
  ];
  const dashes = frameSets.map((f, i) => `${['solid', 'dashed', 'dotted'][i] ?? 'dotted'}: ${f} frames`).join(', ');
  const spec = chartSpec('Server CPU against MJPEG clients at 30 fps', [subtitle, dashes], {
    width: 560,
    height: 340,
    data: { values },
    mark: { type: 'line', point: true, strokeWidth: 2 },
    encoding: {
      x: {
        field: 'clients',
        type: 'quantitative',
        scale: { type: 'log', domain: clients.length ? [clients[0]!, clients.at(-1)!] : [1, 10], nice: false },
        axis: { values: clients, format: 'd', title: 'clients (log scale)', grid: true },
      },
      y: {
        field: 'cpu',
        type: 'quantitative',
        scale: { type: 'log' },
        axis: { values: cpuTicks, format: '~g', title: 'server CPU, % of one core (log scale)' },
      },
      color: { field: 'server', type: 'nominal', sort: [...SERVER_NAMES], title: 'server' },
      // no legend for the dashes: the subtitle says which frames are which
      strokeDash: {
        field: 'frames',
        type: 'nominal',
        scale: {
          domain: frameSets,
          range: [
            [1, 0],
            [6, 4],
            [2, 2],
          ],
        },
        legend: null,
      },
      tooltip: [{ field: 'server' }, { field: 'frames' }, { field: 'clients' }, { field: 'cpu' }],
    },
  });
  return renderSvg(spec);
}
