/** Figures from samples: rounding, formatting, percentiles, a summary of a series and its trend. */

/** `v` rounded to `decimals` places. */
export function round(v: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(v * f) / f;
}

/** `v` with `decimals` places for tables and summaries; "–" for a missing or non-finite figure. */
export function fixed(v: number | null | undefined, decimals = 1): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(decimals);
}

/** The sample below which a share `p` (0 to 1) of `sorted` (ascending, not empty) lies: nearest rank, rounded down. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

export interface SeriesSummary {
  min: number | null;
  max: number | null;
  first: number | null;
  final: number | null;
  mean: number | null; // rounded to 2 places
}

/** Min, max, first, final and mean of `values` in their order; nulls for an empty series. */
export function summarize(values: readonly number[]): SeriesSummary {
  if (!values.length) return { min: null, max: null, first: null, final: null, mean: null };
  return {
    min: Math.min(...values),
    max: Math.max(...values),
    first: values[0]!,
    final: values.at(-1)!,
    mean: round(values.reduce((a, b) => a + b, 0) / values.length, 2),
  };
}

/** Least-squares slope of y against x; null with fewer than two points or all at one x. */
export function slope(points: readonly (readonly [x: number, y: number])[]): number | null {
  if (points.length < 2) return null;
  const mx = points.reduce((a, [x]) => a + x, 0) / points.length;
  const my = points.reduce((a, [, y]) => a + y, 0) / points.length;
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return sxx > 0 ? points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / sxx : null;
}
