/**
 * Prometheus metrics with prom-client. Nothing is counted on the per-frame, per-viewer path for
 * them: counters live as plain numbers in the ring (shared with the capture worker) and in each
 * Viewer, and prom-client reads them at scrape time through `collect` callbacks. Process CPU and
 * memory come from prom-client's default metrics.
 */

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Camera } from '../camera.js';
import type { Viewer } from './viewer.js';

export interface MetricsSources {
  cameras: readonly Camera[];
  viewers: () => Iterable<Viewer>;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly latency: Histogram<'camera'>;
  /** Viewers disconnected by the slow-client timeout. */
  slowDisconnects = 0;
  /** Totals of viewers that have left, so counters never go down. */
  private readonly departed = new Map<string, { frames: number; bytes: number }>();

  constructor(private readonly sources: MetricsSources) {
    const r = this.registry;
    const { cameras } = sources;
    // The event-loop lag histogram samples with a timer: at prom-client's default 10 ms that is
    // 100 wake-ups a second of an otherwise idle loop, measured as most of the server's fixed CPU
    // cost at 30 fps. Once a second is plenty for a lag gauge.
    collectDefaultMetrics({ register: r, prefix: 'framering_', eventLoopMonitoringPrecision: 1000 });
    const perCamera = (fn: (c: Camera) => number) =>
      function (this: Gauge<'camera'>) {
        for (const c of cameras) this.set({ camera: c.name }, fn(c));
      };
    new Gauge({ name: 'framering_clients', help: 'Stream viewers connected now', labelNames: ['camera'], registers: [r], collect() {
      const counts = new Map(cameras.map((c) => [c.name, 0]));
      for (const v of sources.viewers()) counts.set(v.info.camera, (counts.get(v.info.camera) ?? 0) + 1);
      for (const [camera, n] of counts) this.set({ camera }, n);
    } });
    new Counter({ name: 'framering_frames_published_total', help: 'Frames the capture worker published into the ring', labelNames: ['camera'], registers: [r], collect() {
      setTotals(this, cameras.map((c) => [{ camera: c.name }, c.ring.published()]));
    } });
    new Counter({ name: 'framering_frames_dropped_total', help: 'Frames that never reached viewers, by reason', labelNames: ['camera', 'reason'], registers: [r], collect() {
      setTotals(this, cameras.flatMap((c) => (['oversize', 'encoder-busy', 'corrupt'] as const).map((reason) => [{ camera: c.name, reason }, c.ring.dropped(reason)] as const)));
    } });
    const self = this;
    new Counter({ name: 'framering_frames_sent_total', help: 'Frames written to viewers (all viewers, including those gone)', labelNames: ['camera'], registers: [r], collect() {
      setTotals(this, [...self.totals()].map(([camera, t]) => [{ camera }, t.frames]));
    } });
    new Counter({ name: 'framering_bytes_sent_total', help: 'Stream bytes written to viewers', labelNames: ['camera'], registers: [r], collect() {
      setTotals(this, [...self.totals()].map(([camera, t]) => [{ camera }, t.bytes]));
    } });
    new Counter({ name: 'framering_slow_clients_disconnected_total', help: 'Viewers disconnected for keeping a frame in flight longer than --slow-client-timeout', registers: [r], collect() {
      this.reset();
      this.inc(self.slowDisconnects);
    } });
    new Gauge({ name: 'framering_capture_fps', help: 'Measured capture rate', labelNames: ['camera'], registers: [r], collect: perCamera((c) => c.ring.sourceInfo().fps) });
    new Gauge({ name: 'framering_frame_bytes', help: 'Size of the newest frame', labelNames: ['camera'], registers: [r], collect: perCamera((c) => c.feed.latest?.jpeg.length ?? 0) });
    new Gauge({ name: 'framering_camera_up', help: '1 while the camera is capturing (state running)', labelNames: ['camera'], registers: [r], collect: perCamera((c) => (c.state === 'running' ? 1 : 0)) });
    this.latency = new Histogram({
      name: 'framering_capture_to_send_seconds',
      help: 'Time from a frame\'s capture to its fan-out to viewers (once per frame per front-end thread)',
      labelNames: ['camera'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers: [r],
    });
    for (const c of cameras) {
      const child = this.latency.labels({ camera: c.name });
      c.feed.onFanout = (frame) => child.observe(Math.max(0, (Date.now() - frame.captureTime) / 1000));
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

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private totals(): Map<string, { frames: number; bytes: number }> {
    const out = new Map(this.sources.cameras.map((c) => [c.name, { ...(this.departed.get(c.name) ?? { frames: 0, bytes: 0 }) }]));
    for (const v of this.sources.viewers()) {
      const t = out.get(v.info.camera);
      if (!t) continue;
      t.frames += v.framesSent;
      t.bytes += v.bytesSent;
    }
    return out;
  }
}

/** Sets a counter to absolute totals read from elsewhere (prom-client counters can only inc). */
function setTotals<L extends string>(counter: Counter<L>, totals: readonly (readonly [Partial<Record<L, string>>, number])[]): void {
  counter.reset();
  for (const [labels, total] of totals) counter.inc(labels, total);
}
