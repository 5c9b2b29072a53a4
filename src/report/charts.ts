/**
 * The charts of the report and of the live dashboard, as Vega-Lite specifications. Each chart reads one named data
 * set, "points", that holds exactly its own points (so that a page, or a test, can count what a chart shows), and
 * says which points it takes: curves of metrics rows (Point) against steps, seconds or bytes, or bars of per-worker
 * counts (WorkerPoint). Loss and consensus span decades: log axes; accuracy shows the range it covers, not [0, 1].
 */
import { LOSS_METRICS, type Metric, type Point, type WorkerPoint } from './points.js';

export type Axis = 'step' | 'seconds' | 'bytes';

const AXIS_TITLES: Record<Axis, string> = {
  step: 'gradient steps (all workers; a network peer: its own)',
  seconds: 'wall-clock time (s)',
  bytes: 'bytes sent (all workers)',
};

export interface CurveChart {
  id: string;
  title: string;
  kind: 'curve';
  /** Whether a point belongs to the chart. */
  takes: (p: Point) => boolean;
  spec: object;
}

export interface BarChart {
  id: string;
  title: string;
  kind: 'workers';
  field: 'steps' | 'exchanges' | 'idle';
  spec: object;
}

export type Chart = CurveChart | BarChart;

const WIDTH = 380;
const HEIGHT = 220;

/** The colour of the runs: one per run, the same on every chart when the runs are known up front. */
const colour = (runs?: readonly string[]) => ({
  field: 'run', type: 'nominal', title: 'run', legend: { orient: 'bottom', columns: 1, labelLimit: 360 }, ...(runs ? { scale: { domain: runs } } : {}),
});

function curve(id: string, title: string, metrics: readonly Metric[], x: Axis, y: { title: string; log?: boolean; zero?: boolean }, dash: boolean, runs?: readonly string[]): CurveChart {
  return {
    id, title, kind: 'curve',
    takes: (p) => metrics.includes(p.metric) && p[x] !== undefined,
    spec: {
      width: WIDTH, height: HEIGHT,
      title,
      data: { name: 'points' },
      mark: { type: 'line', strokeWidth: 1.6, point: { size: 14 }, tooltip: true },
      encoding: {
        x: { field: x, type: 'quantitative', title: AXIS_TITLES[x] },
        y: {
          field: 'value', type: 'quantitative', title: y.title,
          scale: y.log ? { type: 'log' } : { zero: y.zero ?? false, nice: true },
          ...(y.log ? { axis: { format: '~g' } } : {}),
        },
        color: colour(runs),
        ...(dash ? { strokeDash: { field: 'metric', type: 'nominal', title: null, legend: { orient: 'bottom', symbolType: 'stroke', symbolStrokeWidth: 1.5, encode: { symbols: { update: { stroke: { value: '#333' }, fill: { value: 'transparent' } } } } } } } : {}),
        detail: { field: 'metric', type: 'nominal' },
        order: { field: x, type: 'quantitative' },
      },
    },
  };
}

function bars(id: string, title: string, field: BarChart['field'], yTitle: string, format?: string, runs?: readonly string[]): BarChart {
  return {
    id, title, kind: 'workers', field,
    spec: {
      width: WIDTH, height: HEIGHT,
      title,
      data: { name: 'points' },
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x: { field: 'worker', type: 'ordinal', title: 'worker' },
        xOffset: { field: 'run', type: 'nominal' },
        y: { field: field, type: 'quantitative', title: yTitle, ...(format ? { axis: { format } } : {}) },
        color: colour(runs),
      },
    },
  };
}

/** The curves: loss and accuracy against steps, time and bytes; consensus and idle share against steps. */
export function curveCharts(runs?: readonly string[]): CurveChart[] {
  const loss = 'loss (train, test; objective on convex problems)';
  return [
    curve('loss-steps', 'Loss against gradient steps', LOSS_METRICS, 'step', { title: loss, log: true }, true, runs),
    curve('loss-seconds', 'Loss against wall-clock time', LOSS_METRICS, 'seconds', { title: loss, log: true }, true, runs),
    curve('loss-bytes', 'Loss against bytes sent', LOSS_METRICS, 'bytes', { title: loss, log: true }, true, runs),
    curve('accuracy-steps', 'Test accuracy against gradient steps', ['test accuracy'], 'step', { title: 'test accuracy' }, false, runs),
    curve('accuracy-seconds', 'Test accuracy against wall-clock time', ['test accuracy'], 'seconds', { title: 'test accuracy' }, false, runs),
    curve('accuracy-bytes', 'Test accuracy against bytes sent', ['test accuracy'], 'bytes', { title: 'test accuracy' }, false, runs),
    curve('consensus-steps', 'Consensus distance (1/n) Σ‖xᵢ − x̄‖²', ['consensus'], 'step', { title: 'consensus distance (log)', log: true }, false, runs),
    curve('optimality-steps', 'Distance to the optimum (1/n) Σ‖xᵢ − x*‖²', ['optimality'], 'step', { title: 'distance to the optimum (log)', log: true }, false, runs),
    curve('idle-steps', 'Idle share of the compute loops', ['idle fraction'], 'step', { title: 'idle fraction', zero: true }, false, runs),
  ];
}

/** The per-worker bars: steps, exchanges and idle share of every worker. */
export function workerCharts(runs?: readonly string[]): BarChart[] {
  return [
    bars('workers-steps', 'Gradient steps per worker', 'steps', 'steps', undefined, runs),
    bars('workers-exchanges', 'Exchanges per worker', 'exchanges', 'exchanges', undefined, runs),
    bars('workers-idle', 'Idle fraction per worker', 'idle', 'idle fraction', '.0%', runs),
  ];
}

/** The points of a curve chart among all points. */
export const curvePoints = (chart: CurveChart, points: readonly Point[]): Point[] => points.filter(chart.takes);

/** The points of a bar chart among all workers' counts. */
export const barPoints = (chart: BarChart, workers: readonly WorkerPoint[]): WorkerPoint[] =>
  workers.filter((w) => typeof w[chart.field] === 'number');

/**
 * The range of an accuracy axis that shows where runs differ: from a little below the 5th percentile of the
 * accuracies after the first step (the untrained model's chance level would squash the curves into a strip at the
 * top) to the best one, on multiples of 0.05. Null when there is nothing to range.
 */
export function accuracyRange(points: readonly Point[]): [number, number] | null {
  const values = points.filter((p) => p.metric === 'test accuracy' && p.step > 0).map((p) => p.value).sort((a, b) => a - b);
  if (values.length < 2) return null;
  const low = values[Math.floor(0.05 * (values.length - 1))];
  const high = values[values.length - 1];
  const lo = Math.max(0, Math.floor((low - 0.05 * (high - low)) * 20) / 20);
  const hi = Math.min(1, Math.ceil(high * 20) / 20);
  return hi > lo ? [lo, hi] : null;
}

/** An accuracy chart zoomed to a range: what lies below is cut at the axis. */
export function zoomed(spec: object, range: [number, number]): object {
  const s = spec as { mark: object; encoding: { y: object } };
  return {
    ...s, mark: { ...s.mark, clip: true },
    encoding: { ...s.encoding, y: { ...s.encoding.y, scale: { domain: range }, title: `test accuracy (from ${range[0]})` } },
  };
}

const LOSS_NAMES: ReadonlyArray<[Metric, string]> = [['train loss', 'train loss'], ['test loss', 'test loss'], ['objective', 'objective f(x̄)']];

/** A loss chart's axis title naming the losses it shows: train, test, or the simulator's objective. */
export function lossTitle(points: readonly Point[]): string {
  const present = new Set(points.map((p) => p.metric));
  const names = LOSS_NAMES.filter(([m]) => present.has(m)).map(([, name]) => name);
  return names.length === 0 ? 'loss' : `${names.join(', ')} (log)`;
}

/** A loss chart with its axis titled after the losses it shows. */
export function titledLoss(spec: object, points: readonly Point[]): object {
  const s = spec as { encoding: { y: object } };
  return { ...s, encoding: { ...s.encoding, y: { ...s.encoding.y, title: lossTitle(points) } } };
}

/** A curve's specification fitted to its points: the losses it shows named on its axis, accuracy zoomed to `range`. */
export function fitted(chart: CurveChart, values: readonly Point[], range: [number, number] | null): object {
  if (chart.id.startsWith('loss-')) return titledLoss(chart.spec, values);
  if (chart.id.startsWith('accuracy-') && range) return zoomed(chart.spec, range);
  return chart.spec;
}
