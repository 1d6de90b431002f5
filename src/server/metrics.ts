/**
 * Prometheus metrics with prom-client. Nothing is counted on the per-frame, per-viewer path for
 * them: counters live as plain numbers in the ring (shared with the capture worker) and in each
 * Viewer, and prom-client reads them at scrape time through `collect` callbacks. The one
 * per-frame figure, capture-to-send latency, is kept by latency-histogram.ts.
 *
 * Two kinds of registry, because viewers live in several HTTP threads:
 * - ThreadMetrics, one per HTTP thread: its viewers, frames and bytes sent, slow disconnects,
 *   capture-to-send latency. Each thread hands over its registry as JSON when asked.
 * - ProcessMetrics, in the main thread: what is one per process (the rings' counters, capture
 *   rate, process CPU and memory), plus every thread's JSON summed with prom-client's
 *   AggregatorRegistry (per-thread series keep a `thread` label, so they stay apart).
 */

import {
  AggregatorRegistry,
  collectDefaultMetrics,
  Counter,
  Gauge,
  Registry,
  type MetricObjectWithValues,
  type MetricValue,
} from 'prom-client';
import type { CameraView } from '../stream/camera-view.js';
import { LatencyHistogram } from './latency-histogram.js';
import type { Lockout } from './lockout.js';
import type { Viewer } from '../stream/viewer.js';

/** One thread's metrics as prom-client JSON (structured-clone safe). */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

export class ThreadMetrics {
  readonly registry = new Registry();
  /** Viewers disconnected by the slow-client timeout. */
  slowDisconnects = 0;
  /** Totals of viewers that have left, so counters never go down. */
  private readonly departed = new Map<string, { frames: number; bytes: number }>();

  constructor(
    readonly thread: number,
    private readonly cameras: readonly CameraView[],
    private readonly viewers: () => Iterable<Viewer>,
    lockout: Lockout | null = null,
    /** Requests this thread refused for their Host header (the router's count). */
    refusedHosts: () => number = () => 0,
  ) {
    const r = this.registry;
    const self = this;
    const threadLabel = { thread: String(thread) };
    if (lockout !== null) {
      new Counter({
        name: 'framering_auth_failures_total',
        help: 'Failed Basic credentials (kind="basic"), refused signed links (kind="link") and wrong /metrics tokens (kind="bearer")',
        labelNames: ['kind'],
        registers: [r],
        collect() {
          setTotals(this, [
            [{ kind: 'basic' }, lockout.failures.basic],
            [{ kind: 'link' }, lockout.failures.link],
            [{ kind: 'bearer' }, lockout.failures.bearer],
          ]);
        },
      });
      new Counter({
        name: 'framering_lockouts_total',
        help: 'Addresses refused after --lockout-attempts failures within --lockout-window',
        registers: [r],
        collect() {
          setTotals(this, [[{}, lockout.lockouts]]);
        },
      });
      new Gauge({
        name: 'framering_locked_addresses',
        help: 'Addresses refused now by the brute-force lockout',
        registers: [r],
        collect() {
          this.set(lockout.lockedNow());
        },
      });
    }
    new Counter({
      name: 'framering_host_refused_total',
      help: 'Requests refused with 421 for a Host header not in --allowed-hosts (DNS rebinding)',
      registers: [r],
      collect() {
        setTotals(this, [[{}, refusedHosts()]]);
      },
    });
    new Gauge({
      name: 'framering_clients',
      help: 'Stream viewers connected now',
      labelNames: ['camera'],
      registers: [r],
      collect() {
        const counts = new Map(cameras.map((c) => [c.name, 0]));
        for (const v of viewers()) counts.set(v.info.camera, (counts.get(v.info.camera) ?? 0) + 1);
        for (const [camera, n] of counts) this.set({ camera }, n);
      },
    });
    new Counter({
      name: 'framering_frames_sent_total',
      help: 'Frames written to viewers (all viewers, including those gone)',
      labelNames: ['camera'],
      registers: [r],
      collect() {
        setTotals(
          this,
          [...self.totals()].map(([camera, t]) => [{ camera }, t.frames]),
        );
      },
    });
    new Counter({
      name: 'framering_bytes_sent_total',
      help: 'Stream bytes written to viewers',
      labelNames: ['camera'],
      registers: [r],
      collect() {
        setTotals(
          this,
          [...self.totals()].map(([camera, t]) => [{ camera }, t.bytes]),
        );
      },
    });
    new Counter({
      name: 'framering_slow_clients_disconnected_total',
      help: 'Viewers disconnected for keeping a frame in flight longer than --slow-client-timeout',
      registers: [r],
      collect() {
        setTotals(this, [[{}, self.slowDisconnects]]);
      },
    });
    new Gauge({
      name: 'framering_http_thread_clients',
      help: 'Stream viewers connected now, per HTTP thread',
      labelNames: ['thread'],
      registers: [r],
      collect() {
        let n = 0;
        for (const _ of viewers()) n++;
        this.set(threadLabel, n);
      },
    });
    new Counter({
      name: 'framering_http_thread_bytes_sent_total',
      help: 'Stream bytes written to viewers, per HTTP thread',
      labelNames: ['thread'],
      registers: [r],
      collect() {
        let bytes = 0;
        for (const t of self.totals().values()) bytes += t.bytes;
        setTotals(this, [[threadLabel, bytes]]);
      },
    });
    const latency = new LatencyHistogram(
      'framering_capture_to_send_seconds',
      "Time from a frame's capture to its fan-out to viewers (once per frame per HTTP thread)",
      'camera',
      [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      r,
    );
    for (const c of cameras) {
      const series = latency.labels(c.name);
      c.feed.onFanout = (frame) => series.observe(Math.max(0, (Date.now() - frame.captureTime) / 1000));
    }
  }

  /** Call when a viewer leaves, so its frames and bytes stay counted. */
  viewerLeft(v: Viewer): void {
    if (v.disconnectedSlow) this.slowDisconnects++;
    const t = this.departed.get(v.info.camera) ?? { frames: 0, bytes: 0 };
    t.frames += v.framesSent;
    t.bytes += v.bytesSent;
    this.departed.set(v.info.camera, t);
  }

  json(): Promise<MetricsJson> {
    return this.registry.getMetricsAsJSON() as Promise<MetricsJson>;
  }

  private totals(): Map<string, { frames: number; bytes: number }> {
    const out = new Map(this.cameras.map((c) => [c.name, { ...(this.departed.get(c.name) ?? { frames: 0, bytes: 0 }) }]));
    for (const v of this.viewers()) {
      const t = out.get(v.info.camera);
      if (!t) continue;
      t.frames += v.framesSent;
      t.bytes += v.bytesSent;
    }
    return out;
  }
}

export class ProcessMetrics {
  readonly registry = new Registry();

  constructor(cameras: readonly CameraView[]) {
    const r = this.registry;
    // The event-loop lag histogram samples with a timer: at prom-client's default 10 ms that is
    // 100 wake-ups a second of an otherwise idle loop, measured as most of the server's fixed CPU
    // cost at 30 fps. Once a second is plenty for a lag gauge.
    collectDefaultMetrics({ register: r, prefix: 'framering_', eventLoopMonitoringPrecision: 1000 });
    const perCamera = (fn: (c: CameraView) => number) =>
      function (this: Gauge<'camera'>) {
        for (const c of cameras) this.set({ camera: c.name }, fn(c));
      };
    new Counter({
      name: 'framering_frames_published_total',
      help: 'Frames the capture worker published into the ring',
      labelNames: ['camera'],
      registers: [r],
      collect() {
        setTotals(
          this,
          cameras.map((c) => [{ camera: c.name }, c.stats.published()]),
        );
      },
    });
    new Counter({
      name: 'framering_frames_dropped_total',
      help: 'Frames that never reached viewers, by reason',
      labelNames: ['camera', 'reason'],
      registers: [r],
      collect() {
        setTotals(
          this,
          cameras.flatMap((c) =>
            (['oversize', 'encoder-busy', 'corrupt'] as const).map(
              (reason) => [{ camera: c.name, reason }, c.stats.dropped(reason)] as const,
            ),
          ),
        );
      },
    });
    new Gauge({
      name: 'framering_capture_fps',
      help: 'Measured capture rate',
      labelNames: ['camera'],
      registers: [r],
      collect: perCamera((c) => c.stats.sourceInfo().fps),
    });
    new Gauge({
      name: 'framering_frame_bytes',
      help: 'Size of the newest frame',
      labelNames: ['camera'],
      registers: [r],
      collect: perCamera((c) => c.ring.latestLength()),
    });
    new Gauge({
      name: 'framering_camera_up',
      help: '1 while the camera is capturing (state running)',
      labelNames: ['camera'],
      registers: [r],
      collect: perCamera((c) => (c.state === 'running' ? 1 : 0)),
    });
  }

  /** The exposition text: this registry plus the HTTP threads' metrics, summed. */
  async render(threads: readonly MetricsJson[]): Promise<{ contentType: string; body: string }> {
    const merged = Registry.merge([this.registry, AggregatorRegistry.aggregate(threads as MetricsJson[])]);
    return { contentType: this.registry.contentType, body: await merged.metrics() };
  }
}

/** Sets a counter to absolute totals read from elsewhere (prom-client counters can only inc). */
function setTotals<L extends string>(counter: Counter<L>, totals: readonly (readonly [Partial<Record<L, string>>, number])[]): void {
  counter.reset();
  for (const [labels, total] of totals) counter.inc(labels, total);
}
