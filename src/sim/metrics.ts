/**
 * The metrics of a simulated run. Rows are taken on copies of the workers' states, brought up to the grid time: how
 * often metrics are taken never changes the trajectory (advancing a state in place would, e.g. with the authors'
 * exchange, where what a worker sends depends on when it was last advanced).
 */
import type { Algorithm, WorkerState } from '../algorithms/types.js';
import { sqDist, type Vec } from '../core/vec.js';
import type { Objective } from '../objectives/objective.js';
import type { MetricsRow } from '../report/metrics.js';
import type { Counts, SimOptions } from './run.js';

/** Consensus, optimality and loss at the average, over the workers' models. */
export function measure(objective: Objective, models: Vec[], t: number, counts: Counts): MetricsRow {
  const n = models.length;
  const d = objective.dim;
  const mean = new Float64Array(d);
  for (const x of models) for (let k = 0; k < d; k++) mean[k] += x[k] / n;
  let consensus = 0;
  let optimality = 0;
  for (const x of models) {
    consensus += sqDist(x, mean);
    if (objective.optimum) optimality += sqDist(x, objective.optimum);
  }
  const meanVec = objective.dtype === 'f64' ? mean : Float32Array.from(mean);
  const row: MetricsRow = {
    t,
    consensus: consensus / n,
    [objective.heldOut ? 'testLoss' : 'objective']: objective.loss(meanVec),
    gradients: counts.gradients,
    communications: counts.communications,
    bytes: counts.bytes,
    events: counts.events,
  };
  if (objective.optimum) row.optimality = optimality / n;
  if (objective.metrics) Object.assign(row, objective.metrics(meanVec));
  return row;
}

/** A copy of a worker's model brought up to time t; the worker's own state is left as it is. */
export function modelAt<S extends WorkerState>(algo: Algorithm<S>, s: S, t: number): Vec {
  const copy = algo.createState(s.x);
  algo.restore(copy, algo.saved(s));
  algo.advance(copy, t);
  return copy.x;
}

/**
 * The metrics of an event-driven run: record(until) emits a row at every grid time up to `until` over the (live)
 * workers' models at that time, and reports progress. `clock` gives worker i's own time at virtual time t, when
 * the workers' handlers run on their own clocks (default: the virtual time).
 */
export function gridRecorder<S extends WorkerState>(
  opts: SimOptions, algo: Algorithm<S>, states: S[], emit: (t: number, models: Vec[]) => void, live?: Uint8Array,
  clock: (i: number, t: number) => number = (_i, t) => t,
): (until: number) => void {
  return modelGrid(opts, (t) => {
    const models: Vec[] = [];
    states.forEach((s, i) => {
      if (!live || live[i]) models.push(modelAt(algo, s, clock(i, t)));
    });
    return models;
  }, emit);
}

/** record(until) emits a row at every grid time up to `until` over the models `models(t)` gives, and reports progress. */
export function modelGrid(opts: SimOptions, models: (t: number) => Vec[], emit: (t: number, models: Vec[]) => void): (until: number) => void {
  const T = opts.time;
  let nextMetric = 0;
  let nextProgress = 0;
  return (until) => {
    while (nextMetric <= until && nextMetric <= T + 1e-9) {
      emit(nextMetric, models(nextMetric));
      nextMetric += opts.every;
    }
    if (opts.onProgress && until >= nextProgress) {
      opts.onProgress(Math.min(until, T));
      nextProgress = until + T / 100;
    }
  };
}
