import { writeFileSync } from 'node:fs';
import { accuracyRange, curveCharts, curvePoints, fitted } from './charts.js';
import type { WrittenRow } from './metrics.js';
import { runPoints } from './points.js';
import type { RunKind } from './run-data.js';

/** The charts of a run's own plot, in this order, when it has their data. */
const PLOT_CHARTS = ['loss-steps', 'loss-seconds', 'accuracy-steps', 'accuracy-seconds', 'consensus-steps', 'optimality-steps', 'idle-steps'];

export interface RunPlot {
  name: string;
  kind: RunKind;
  rows: readonly WrittenRow[];
  title: string;
}

/**
 * A run's metrics as one SVG, with Vega-Lite, headless: the report's charts of the run that have data — loss (train
 * and test, named) and accuracy against gradient steps and wall-clock time, the consensus distance and the distance
 * to the optimum on log axes (without the starting point, where every worker is at the same place), the idle share —
 * two a row.
 */
export async function runPlotSvg(run: RunPlot): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const points = runPoints(run.name, run.kind, run.rows);
  const range = accuracyRange(points);
  const charts = curveCharts()
    .filter((c) => PLOT_CHARTS.includes(c.id))
    .map((c) => ({ c, values: curvePoints(c, points) }))
    .filter(({ values }) => values.length > 0)
    .map(({ c, values }) => {
      const spec = fitted(c, values, range) as { encoding: Record<string, unknown> };
      // One run: no colour legend; the kinds of loss in a corner of their own chart.
      const { color: _color, strokeDash, ...encoding } = spec.encoding;
      const given = strokeDash as { legend?: object } | undefined;
      const dash = given ? { strokeDash: { ...given, legend: { ...given.legend, orient: 'top-right', fillColor: 'white' } } } : {};
      return { ...spec, width: 320, height: 200, encoding: { ...encoding, ...dash }, data: { values } };
    });
  if (charts.length === 0) throw new Error('no metrics rows to draw');
  const spec = vl.compile({ title: run.title, columns: 2, concat: charts, resolve: { legend: { strokeDash: 'independent' } } } as never).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  return view.toSVG();
}

/** Writes a run's plot (runPlotSvg) to `file`. */
export async function writeRunPlot(file: string, run: RunPlot): Promise<void> {
  writeFileSync(file, await runPlotSvg(run));
}
