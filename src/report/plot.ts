import { writeFileSync } from 'node:fs';
import type { MetricsRow } from './metrics.js';

export interface PlotOptions {
  title?: string;
  /** Field on the x axis (default t). */
  x?: string;
  xTitle?: string;
  /** Fields plotted as lines (one panel each). */
  y: string[];
  /** Logarithmic y axis (default true). */
  logY?: boolean;
  width?: number;
  height?: number;
}

/**
 * Renders metrics rows of one or several runs as an SVG line chart (one panel per field, one colour per run),
 * with Vega-Lite, headless.
 */
export async function metricsSvg(runs: Array<{ name: string; rows: MetricsRow[] }>, opts: PlotOptions): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const x = opts.x ?? 't';
  const logY = opts.logY ?? true;
  const values: Array<Record<string, number | string>> = [];
  for (const run of runs) {
    for (const row of run.rows) {
      for (const field of opts.y) {
        const v = row[field];
        if (typeof v !== 'number' || !Number.isFinite(v) || (logY && v <= 0)) continue;
        values.push({ run: run.name, metric: field, x: row[x] as number, value: v });
      }
    }
  }
  const spec = vl.compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: opts.title,
    data: { values },
    facet: { column: { field: 'metric', type: 'nominal', title: null } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: opts.width ?? 360,
      height: opts.height ?? 240,
      mark: { type: 'line', strokeWidth: 1.5 },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: opts.xTitle ?? x },
        y: { field: 'value', type: 'quantitative', title: null, scale: logY ? { type: 'log' } : {} },
        color: { field: 'run', type: 'nominal', title: null },
      },
    },
  } as never).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  return view.toSVG();
}

export async function writeMetricsSvg(path: string, runs: Array<{ name: string; rows: MetricsRow[] }>, opts: PlotOptions): Promise<void> {
  writeFileSync(path, await metricsSvg(runs, opts));
}
