/** The topology benchmark's Markdown: machine and method, then one table per part. */

import type { MachineInfo } from '../lib/machine.js';
import { fixed } from '../lib/stats.js';
import type { CaptureStep } from './capture-cpu.js';
import type { LatencyRun, Quantiles } from './latency.js';
import type { PerViewerRun, PerViewerSummary } from './per-viewer.js';

export interface LoadNote {
  when: string;
  /** 1, 5 and 15 minute load averages. */
  loadavg: readonly number[];
}

export interface ReportContext {
  machine: MachineInfo;
  date: string;
  command: string;
  frames: string;
  method: readonly string[];
  load: readonly LoadNote[];
  notes: readonly string[];
}

const row = (cells: readonly (string | number)[]): string => `| ${cells.join(' | ')} |`;
const header = (cells: readonly string[]): string => `${row(cells)}\n${row(cells.map(() => '---'))}`;
const q = (x: Quantiles | null): string => (x === null ? '–' : `${fixed(x.p50, 2)} / ${fixed(x.p95, 2)}`);

export function machineSection(c: ReportContext): string {
  const m = c.machine;
  return [
    `Machine: ${m.cpu_model}, ${m.cores} cores, ${m.mem_gib} GiB, ${m.os}, Linux ${m.kernel}, Node.js ${m.node}; ${c.date}.`,
    `Load average (1, 5, 15 min): ${c.load.map((l) => `${l.when} ${l.loadavg.map((v) => v.toFixed(2)).join(', ')}`).join('; ')}.`,
    `Command: \`${c.command}\`. Frames: ${c.frames}.`,
  ].join('\n');
}

export function captureTable(steps: readonly CaptureStep[]): string {
  const lines = [
    header([
      'step',
      'viewers on edge-http + edge-nats',
      'capture node, % of a core',
      '× watched',
      'capture fps',
      'edge-http, %',
      'edge-nats, %',
      'NATS servers, %',
      'added viewers: fps p50 / min',
      'loadgen, %',
      'machine busy, %',
      'other, %',
    ]),
  ];
  for (const s of steps) {
    const fps = [s.load.edge_http, s.load.edge_nats]
      .filter((l) => l !== null)
      .map(
        (l) =>
          `${fixed(l!.fps_p50, 1)} / ${fixed(l!.fps_min, 1)}${l!.failed + l!.dropped > 0 ? ` (${l!.failed} failed, ${l!.dropped} dropped)` : ''}`,
      );
    lines.push(
      row([
        s.step === 'idle' || s.step === 'watched' ? s.step : `+${s.step} at ?fps=${s.viewer_fps_cap}`,
        `${s.viewers.edge_http} + ${s.viewers.edge_nats}`,
        fixed(s.capture_cpu_pct, 2),
        fixed(s.vs_watched, 2),
        s.capture.state === 'running' ? fixed(s.capture.fps, 1) : s.capture.state,
        fixed(s.edge_http_cpu_pct, 2),
        fixed(s.edge_nats_cpu_pct, 2),
        fixed(s.nats_servers_cpu_pct, 2),
        fps.length ? fps.join('; ') : '–',
        fixed(s.loadgen_cpu_pct, 1),
        fixed(s.window.machine_busy_pct, 0),
        fixed(s.window.other_pct, 0),
      ]),
    );
  }
  return lines.join('\n');
}

export function perViewerTables(runs: readonly PerViewerRun[], summary: readonly PerViewerSummary[]): string {
  const counts = [...new Set(runs.map((r) => r.viewers))];
  const a = [
    header([
      'server',
      'viewers',
      'CPU, % of a core',
      'per viewer, %',
      'upstream (capture + NATS), %',
      'fps min / p50',
      'latency p50 / p99, ms',
      'loadgen, %',
      'machine busy, %',
      'other, %',
    ]),
  ];
  for (const r of runs) {
    a.push(
      row([
        r.target,
        r.viewers,
        fixed(r.cpu_pct, 2),
        fixed(r.per_viewer_pct, 4),
        r.target === 'single' ? '–' : fixed(r.upstream_cpu_pct, 2),
        `${fixed(r.load.fps_min, 1)} / ${fixed(r.load.fps_p50, 1)}${r.load.failed + r.load.dropped > 0 ? ` (${r.load.failed} failed, ${r.load.dropped} dropped)` : ''}`,
        `${fixed(r.load.latency_p50_ms, 2)} / ${fixed(r.load.latency_p99_ms, 2)}`,
        fixed(r.load.loadgen_cpu_pct, 1),
        fixed(r.window.machine_busy_pct, 0),
        fixed(r.window.other_pct, 0),
      ]),
    );
  }
  const b = [
    header([
      'server',
      ...counts.map((n) => `CPU at ${n}, %`),
      ...(counts.length > 1 ? ['per extra viewer, µs per frame'] : []),
      ...counts.map((n) => `× single at ${n}`),
      ...(counts.length > 1 ? ['per extra viewer, × single'] : []),
    ]),
  ];
  for (const s of summary) {
    b.push(
      row([
        s.target,
        ...counts.map((n) => fixed(s.cpu_pct[String(n)], 2)),
        ...(counts.length > 1 ? [fixed(s.marginal_us_per_frame, 2)] : []),
        ...counts.map((n) => fixed(s.vs_single[String(n)], 2)),
        ...(counts.length > 1 ? [fixed(s.vs_single.marginal, 2)] : []),
      ]),
    );
  }
  return `${a.join('\n')}\n\n${b.join('\n')}`;
}

export function latencyTable(runs: readonly LatencyRun[]): string {
  const lines = [
    header([
      'condition',
      'viewer on',
      'frames matched',
      'hop: edge X-Timestamp − capture, p50 / p95 ms',
      'end to end: arrival − capture, p50 / p95 ms',
      'last hop: arrival − own X-Timestamp, p50 / p95 ms',
      'via',
    ]),
  ];
  for (const r of runs) {
    for (const p of r.paths) {
      lines.push(
        row([
          r.condition,
          p.path,
          `${p.matched} / ${p.frames}`,
          p.path === 'origin' ? '(capture)' : q(p.hop_ms),
          q(p.end_to_end_ms),
          q(p.last_hop_ms),
          p.via,
        ]),
      );
    }
  }
  return lines.join('\n');
}

export function markdownReport(
  c: ReportContext,
  parts: {
    capture: readonly CaptureStep[] | null;
    perViewer: { runs: readonly PerViewerRun[]; summary: readonly PerViewerSummary[] } | null;
    latency: readonly LatencyRun[] | null;
  },
): string {
  const out = [
    '# framering past one machine: topology benchmark',
    '',
    machineSection(c),
    '',
    '## Method',
    '',
    ...c.method.map((m) => `- ${m}`),
    '',
  ];
  if (parts.capture) out.push('## 1. Capture node CPU against viewers on the edges', '', captureTable(parts.capture), '');
  if (parts.perViewer)
    out.push(
      '## 2. Per-edge CPU per viewer against a single server',
      '',
      perViewerTables(parts.perViewer.runs, parts.perViewer.summary),
      '',
    );
  if (parts.latency) out.push('## 3. Latency each hop adds', '', latencyTable(parts.latency), '');
  if (c.notes.length) out.push('## Notes', '', ...c.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}
