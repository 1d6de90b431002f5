/**
 * The capture-to-send histogram keeps its own counts (one per frame per HTTP thread, no
 * allocation) but must read exactly like prom-client's Histogram: same series, same cumulative
 * buckets (a value equal to a bound counts in that bound's bucket), summed across threads.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { LatencyHistogram } from '../../src/server/latency-histogram.js';

const BOUNDS = [0.001, 0.01, 0.1, 1];
const SAMPLES = [0, 0.0005, 0.001, 0.0011, 0.01, 0.05, 0.1, 0.5, 1, 1.5, 30];

describe('LatencyHistogram', () => {
  test("reads like prom-client's Histogram for the same observations", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const h = new LatencyHistogram('x_seconds', 'help', 'camera', BOUNDS, ours);
    const ref = new Histogram({ name: 'x_seconds', help: 'help', labelNames: ['camera'], buckets: BOUNDS, registers: [theirs] });
    for (const [i, v] of SAMPLES.entries()) {
      const camera = i % 3 === 0 ? 'front' : 'back';
      h.labels(camera).observe(v);
      ref.labels({ camera }).observe(v);
    }
    const lines = (text: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith('x_seconds'))
        .sort();
    assert.deepEqual(lines(await ours.metrics()), lines(await theirs.metrics()));
  });

  test('threads are summed by the aggregator registry, per camera and bucket', async () => {
    const threads = [new Registry(), new Registry()];
    const hs = threads.map((r) => new LatencyHistogram('x_seconds', 'help', 'camera', BOUNDS, r));
    hs[0]!.labels('front').observe(0.0005);
    hs[1]!.labels('front').observe(0.05);
    hs[1]!.labels('front').observe(2);
    const merged = AggregatorRegistry.aggregate(await Promise.all(threads.map((r) => r.getMetricsAsJSON())));
    const text = await merged.metrics();
    assert.match(text, /^x_seconds_bucket\{le="0.001",camera="front"\} 1$/m);
    assert.match(text, /^x_seconds_bucket\{le="0.1",camera="front"\} 2$/m);
    assert.match(text, /^x_seconds_bucket\{le="\+Inf",camera="front"\} 3$/m);
    assert.match(text, /^x_seconds_count\{camera="front"\} 3$/m);
    assert.match(text, /^x_seconds_sum\{camera="front"\} 2.0505$/m);
  });
});
