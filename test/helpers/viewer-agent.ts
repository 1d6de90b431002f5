/**
 * Stream viewers that run in a test host (test/helpers/topology.ts), driven by the test over
 * Node's IPC channel. Viewers that measure must sit where a user's would, behind the network
 * the test built (the balancer, a shaped link), while the test process keeps the plan and the
 * assertions; so this module is both the agent (run as a script in the host: `ViewerAgent.start`)
 * and the test's handle on it.
 *
 * Each viewer is an MjpegClient (a raw socket, every part checked against its Content-Length)
 * and records per frame its arrival, its X-Timestamp, and what it is: byte for byte one of the
 * frames the test declared known (`know`: the source's files, the NO SIGNAL frame), 'unknown',
 * or 'torn' (not a whole JPEG, or not as long as its Content-Length says). Bodies are not kept.
 * Arrival times are Unix epoch ms: the hosts of a topology share the machine's clock, so they
 * compare directly with the test's Date.now() and with the servers' X-Timestamp.
 */

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { isCompleteJpeg, MjpegClient } from './mjpeg-client.js';
import type { Host, HostProcess } from './topology.js';

/** One frame as a viewer received it. */
export interface FrameRecord {
  /** Arrival, Unix epoch ms. */
  at: number;
  /** Its X-Timestamp, epoch ms; null if it had none. */
  ts: number | null;
  /** The label of the known frame it is, 'unknown', or 'torn'. */
  kind: string;
}

export interface ViewerReport {
  /** The answer's HTTP status; 0 if none came. */
  status: number;
  /** A failure to connect, protocol errors, socket errors. */
  errors: string[];
  /** The connection has closed. */
  closed: boolean;
  frames: FrameRecord[];
}

export interface StreamTarget {
  host: string;
  port: number;
  path: string;
}

/** How long the test waits for the agent to answer a request. */
const REQUEST_TIMEOUT_MS = 20_000;
const READY_LINE = 'viewer agent ready';

type Request =
  | { id: number; op: 'know'; labels: Record<string, string[]> }
  | { id: number; op: 'open'; group: string; target: StreamTarget; count: number }
  | { id: number; op: 'report'; group: string; since: number }
  | { id: number; op: 'close'; group: string };
type Reply = { id: number; result?: unknown; error?: string };
type Op = Request['op'];
type Args<O extends Op> = Omit<Extract<Request, { op: O }>, 'id' | 'op'>;

/** The test's handle on an agent running in a host. */
export class ViewerAgent {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(readonly proc: HostProcess) {
    proc.child.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(`viewer agent: ${m.error}`));
      else p.resolve(m.result);
    });
    proc.child.on('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error(`the viewer agent exited:\n${proc.output()}`));
      this.pending.clear();
    });
  }

  /** Starts an agent in `host` (killed with the host's other processes when the test ends). */
  static async start(host: Host): Promise<ViewerAgent> {
    const proc = await host.node([fileURLToPath(import.meta.url)], { ipc: true, ready: new RegExp(READY_LINE) });
    return new ViewerAgent(proc);
  }

  private call<O extends Op>(op: O, args: Args<O>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`viewer agent: no answer to ${op} within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.child.send({ id, op, ...args });
    });
  }

  /** Declares known frames: each label's files (read by the agent), recognised byte for byte in every stream. */
  async know(labels: Record<string, string[]>): Promise<void> {
    await this.call('know', { labels });
  }

  /**
   * Opens `count` viewers of `target` as group `group` (added to it if it exists); resolves once
   * each has its answer's head or has failed (its report says why).
   */
  async open(group: string, target: StreamTarget, count = 1): Promise<void> {
    await this.call('open', { group, target, count });
  }

  /** Each viewer of `group`, with the frames that arrived from `since` (epoch ms) on. */
  async report(group: string, since = 0): Promise<ViewerReport[]> {
    return (await this.call('report', { group, since })) as ViewerReport[];
  }

  /** Closes every viewer of `group` and forgets it. */
  async close(group: string): Promise<void> {
    await this.call('close', { group });
  }
}

// Measures over records, for tests and benchmarks alike.

/** Frames of `kind` (any kind if undefined) that arrived in [from, to), per second. */
export function fpsBetween(frames: readonly FrameRecord[], from: number, to: number, kind?: string): number {
  const n = frames.filter((f) => f.at >= from && f.at < to && (kind === undefined || f.kind === kind)).length;
  return (n * 1000) / (to - from);
}

/**
 * The longest time without a frame of `kind` within [from, to], ms: between `from` and the first
 * such frame, between two of them, and between the last and `to`.
 */
export function longestGap(frames: readonly FrameRecord[], from: number, to: number, kind?: string): number {
  let last = from;
  let gap = 0;
  for (const f of frames) {
    if (f.at < from || f.at > to || (kind !== undefined && f.kind !== kind)) continue;
    gap = Math.max(gap, f.at - last);
    last = f.at;
  }
  return Math.max(gap, to - last);
}

/** The `p`-th percentile (0-100) of `values`, NaN if empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// The agent, when this file is run as a script.

interface Group {
  clients: (MjpegClient | null)[];
  reports: ViewerReport[];
}

function runAgent(): void {
  /** Known frames by length, then compared byte for byte. */
  const known = new Map<number, { label: string; body: Buffer }[]>();
  const groups = new Map<string, Group>();

  const classify = (body: Buffer, contentLength: number | undefined): string => {
    if (!isCompleteJpeg(body) || contentLength !== body.length) return 'torn';
    return known.get(body.length)?.find((k) => k.body.equals(body))?.label ?? 'unknown';
  };

  const openOne = async (target: StreamTarget, report: ViewerReport): Promise<MjpegClient | null> => {
    try {
      const client = await MjpegClient.connect({
        host: target.host,
        port: target.port,
        path: target.path,
        retainBodies: 0,
        headTimeoutMs: 10_000,
        onFrame: (f) => {
          report.frames.push({
            // The clock framering stamps X-Timestamp with, to the microsecond (Date.now() is
            // whole ms, which biases a few-ms latency by half a ms); the same epoch.
            at: performance.timeOrigin + f.receivedAt,
            ts: f.timestamp === undefined ? null : f.timestamp * 1000,
            kind: classify(f.body, f.contentLength),
          });
        },
      });
      report.status = client.status;
      void client.whenClosed().then(() => {
        report.closed = true;
        report.errors.push(...client.errors.map((e) => e.message));
      });
      return client;
    } catch (err) {
      report.errors.push(err instanceof Error ? err.message : String(err));
      report.closed = true;
      return null;
    }
  };

  const handle = async (req: Request): Promise<unknown> => {
    switch (req.op) {
      case 'know':
        for (const [label, files] of Object.entries(req.labels)) {
          for (const file of files) {
            const body = await readFile(file);
            known.set(body.length, [...(known.get(body.length) ?? []), { label, body }]);
          }
        }
        return null;
      case 'open': {
        const group = groups.get(req.group) ?? { clients: [], reports: [] };
        groups.set(req.group, group);
        const reports = Array.from({ length: req.count }, (): ViewerReport => ({ status: 0, errors: [], closed: false, frames: [] }));
        group.reports.push(...reports);
        group.clients.push(...(await Promise.all(reports.map((r) => openOne(req.target, r)))));
        return null;
      }
      case 'report': {
        const group = groups.get(req.group);
        if (!group) throw new Error(`no group "${req.group}"`);
        return group.reports.map((r) => ({ ...r, frames: r.frames.filter((f) => f.at >= req.since) }));
      }
      case 'close': {
        const group = groups.get(req.group);
        groups.delete(req.group);
        await Promise.all((group?.clients ?? []).map((c) => c?.close()));
        return null;
      }
    }
  };

  // The test is gone (or closed the channel): nothing more to do here.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (req: Request) => {
    handle(req).then(
      (result) => process.send?.({ id: req.id, result }),
      (err: unknown) => process.send?.({ id: req.id, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  console.log(READY_LINE);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) runAgent();
