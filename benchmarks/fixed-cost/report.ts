/** The fixed-cost benchmark's Markdown: machine, method, the table, notes. */

import type { MachineInfo } from '../lib/machine.js';
import type { CameraResult } from './measure.js';

export interface ReportContext {
  machine: MachineInfo;
  date: string; // ISO
  command: string;
  warmup: number; // s
  settle: number; // s
  duration: number; // s
  fps: number;
  frames: string;
  skipped: string[];
}

/** ms figures: enough digits to tell a small number from zero. */
const ms = (v: number | null | undefined): string => {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (v >= 1) return v.toFixed(2);
  if (v === 0) return '0';
  return v.toFixed(3);
};
const pct = (v: number | null | undefined): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : v >= 1 ? v.toFixed(2) : v.toFixed(3);

/** The table, in Markdown. */
export function resultsTable(results: readonly CameraResult[]): string {
  const withHttp = results.some((r) => (r.cpu_ms_per_frame?.http ?? 0) > 0);
  const head = [
    'camera',
    'fps published / delivered',
    'CPU per frame, ms',
    'capture worker',
    'encoder threads',
    'main thread',
    ...(withHttp ? ['HTTP threads'] : []),
    'V8 / libuv helpers',
    'CPU, % of a core',
    'idle CPU, % of a core',
    'not counted, ms per frame',
  ];
  const rows = results.map((r) => {
    if (r.error || !r.cpu_ms_per_frame) return [r.label, `failed: ${(r.error ?? '').split('\n')[0]}`, ...head.slice(2).map(() => '')];
    const c = r.cpu_ms_per_frame;
    const framering = !r.reference;
    return [
      r.label,
      `${r.fps_published?.toFixed(1)} / ${r.fps_delivered?.toFixed(1)}`,
      `**${ms(c.total)}**`,
      framering ? ms(c.capture) : '–',
      framering ? ms(c.encoder) : '–',
      ms(c.main),
      ...(withHttp ? [ms(c.http)] : []),
      ms(c.helpers),
      pct(r.cpu_pct),
      pct(r.idle_cpu_pct?.total),
      r.companions.map((x) => `${x.label} ${ms(x.cpu_ms_per_frame)}`).join('; ') || '',
    ];
  });
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Times each group's threads were scheduled in per frame: about their wake-ups. */
export function wakeupsTable(results: readonly CameraResult[]): string {
  const head = ['camera', 'capture worker', 'encoder threads', 'main thread', 'V8 / libuv helpers', 'all threads'];
  const n = (v: number | undefined): string => (v === undefined ? '–' : v.toFixed(1));
  const rows = results
    .filter((r) => r.runs_per_frame)
    .map((r) => {
      const w = r.runs_per_frame!;
      const all = Object.values(w).reduce((a, b) => a + b, 0);
      return [r.label, r.reference ? '–' : n(w.capture), r.reference ? '–' : n(w.encoder), n(w.main), n(w.helpers + w.http), n(all)];
    });
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The whole report. */
export function markdownReport(results: readonly CameraResult[], ctx: ReportContext): string {
  const m = ctx.machine;
  const notes = results.filter((r) => r.note).map((r) => `- **${r.label}**: ${r.note}.`);
  const unquiet = results.filter((r) => r.quiet === false).map((r) => `${r.label} (${r.machine_idle_before_pct} % idle)`);
  const other = results
    .filter((r) => r.other_cpu_pct !== null)
    .map((r) => `${r.label} ${r.other_cpu_pct}`)
    .join(', ');
  return `# framering fixed cost per frame

What the server spends on each published frame with exactly one viewer, split by thread, for
each camera path, with the C floor server${results.some((r) => r.camera === 'flask-gevent') ? ' and the original Flask + gevent design' : ''} as reference lines.

- **Machine**: ${m.cpu_model}, ${m.cores} cores, ${m.mem_gib} GiB, ${m.os}, Linux ${m.kernel}, Node.js ${m.node}
- **Date**: ${ctx.date}
- **Command**: \`${ctx.command}\`
- **Frames**: ${ctx.frames}, at ${ctx.fps} fps

${resultsTable(results)}

Times each thread group was scheduled in per published frame (schedstat's third field: one per
wake-up, plus one per resumption after preemption):

${wakeupsTable(results)}

## Method

Each camera path gets fresh processes on 127.0.0.1 (framering with the uWebSockets.js front end
and one HTTP thread) after a check that the machine is quiet. ${ctx.settle} s after the server starts (past the one
garbage collection Node.js makes in every thread about 8 s after start), its CPU is measured
for ${ctx.duration} s with no viewer ("idle CPU"); then one viewer connects (a
separate process reading the stream as a browser's \`<img>\` asks, so its CPU is not the
server's), and after the first frame and ${ctx.warmup} s more the viewer window of ${ctx.duration} s
is measured. CPU is exact per thread, from \`/proc/PID/task/TID/schedstat\`; frames published
come from framering's \`/metrics\` (\`framering_frames_published_total\`), read at both ends of
the window outside the CPU window, and for the reference servers (no \`/metrics\`) from the
frames the viewer received. "CPU per frame" is the server's CPU over the window divided by the
frames published.

Thread groups: Node.js 20 names every thread "node" in \`/proc/PID/task/TID/comm\`, so
framering is started with a small probe (\`node --import\`, inherited by worker threads) that
records each JavaScript thread's Linux thread id and script once, at its start. The **capture
worker** runs \`workers/capture.js\`; **encoder threads** are the synthetic camera's piscina
workers and the libvips threads sharp starts for them; the **main thread** (the process's own
thread id) runs the front end, the frame feed and \`/metrics\`; **V8 / libuv helpers** are all
other threads: V8's platform workers (garbage collection, compilation), libuv's threadpool and
Node's delayed-task thread. A reference server's own thread is its main thread. "Not counted"
are processes that run for the path but are not the server: the camera tool, the relay's
source. Other load on the machine during the viewer windows (busy time minus server,
companions and viewer, tick-sampled, % of a core): ${other || '–'}.

${notes.length ? `## Notes\n\n${notes.join('\n')}\n` : ''}${unquiet.length ? `\nNot quiet before the run: ${unquiet.join(', ')}.\n` : ''}${ctx.skipped.length ? `\nNot run: ${ctx.skipped.join('; ')}.\n` : ''}`;
}
