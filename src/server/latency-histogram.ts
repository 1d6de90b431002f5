/**
 * The capture-to-send latency histogram: observed once per frame per HTTP thread, the only
 * metric touched on the per-frame path. prom-client's Histogram checks labels and builds a label
 * hash on every observation (about 5 % of an HTTP thread's CPU with one viewer); this keeps
 * plain per-camera bucket counts, one comparison per bucket at most and no allocation, and gives
 * prom-client the same series (`_bucket{le}`, `_sum`, `_count`, summed across threads by its
 * AggregatorRegistry) only when /metrics is scraped.
 */

import type { Registry } from 'prom-client';

/** One camera's counts. */
export class LatencySeries {
  /** Per bucket (not cumulative); the last one is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

interface Value {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

export class LatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, LatencySeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelName: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    // prom-client takes any object with name, help, type, aggregator and get().
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** The series of one label value (a camera), created on first use. */
  labels(value: string): LatencySeries {
    let s = this.series.get(value);
    if (!s) {
      s = new LatencySeries(this.bounds);
      this.series.set(value, s);
    }
    return s;
  }

  /** prom-client's view at scrape time: cumulative buckets, sum and count per series. */
  get(): { name: string; help: string; type: string; aggregator: string; values: Value[] } {
    const values: Value[] = [];
    for (const [label, s] of this.series) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += s.counts[i]!;
        const le = i < this.bounds.length ? this.bounds[i]! : '+Inf';
        values.push({ metricName: `${this.name}_bucket`, labels: { le, [this.labelName]: label }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: { [this.labelName]: label }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { [this.labelName]: label }, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }
}
