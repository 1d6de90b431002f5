/**
 * Charts: vega-lite specs rendered to SVG with vega, headless (no browser, no canvas). Every
 * chart is built with chartSpec, so they share one vega-lite schema (the installed version's)
 * and one look: a white background, the title and subtitle at the left.
 */

import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

/** The schema of the vega-lite that compiles the charts (devDependencies), "…/vega-lite/v5.json". */
export const VEGA_LITE_SCHEMA = `https://vega.github.io/schema/vega-lite/v${vl.version.split('.')[0]}.json`;

/** TopLevelSpec is a union (single view, concatenation, layer...): omit from each member. */
type Without<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A chart's own part: data, marks, encodings, sizes; chartSpec adds the rest. */
export type ChartBody = Without<TopLevelSpec, '$schema' | 'title' | 'background'>;

/** The whole vega-lite spec of a chart titled `title`, with `subtitle` line(s) under it. */
export function chartSpec(title: string, subtitle: string | string[], body: ChartBody): TopLevelSpec {
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: { text: title, subtitle, anchor: 'start' },
    background: 'white',
    ...body,
  } as TopLevelSpec;
}

/** Compiles `spec` and renders it to an SVG document. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
