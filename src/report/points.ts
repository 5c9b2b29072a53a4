/**
 * Metrics rows as chart points, the same for the report of finished runs and the live dashboard: one point per
 * measured quantity of a row (long format), with every x it can be drawn against — gradient steps, wall-clock
 * seconds, bytes sent. Rows name their losses apart (trainLoss, testLoss, objective); files written before they did
 * hold one `loss`, whose meaning depended on who wrote it.
 */
import type { WrittenRow } from './metrics.js';
import type { RunKind } from './run-data.js';

export type Metric = 'train loss' | 'test loss' | 'objective' | 'test accuracy' | 'consensus' | 'optimality' | 'idle fraction';

export interface Point {
  run: string;
  metric: Metric;
  /** Gradient steps of all workers. */
  step: number;
  /** Wall-clock seconds (not in the simulator). */
  seconds?: number;
  /** Bytes sent by all workers (where the run counts them). */
  bytes?: number;
  value: number;
}

/** One worker's counts: from a cluster's summary, a peer's, or the live statistics. */
export interface WorkerPoint {
  run: string;
  worker: number;
  steps: number;
  exchanges: number;
  /** Share of its time the compute loop waited for communication. */
  idle?: number;
}

export const LOSS_METRICS: readonly Metric[] = ['train loss', 'test loss', 'objective'];

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * What an older row's single `loss` measured in runs of this kind (one worker or a peer: its training loss; the
 * simulator: its objective at the average); null where the row's testLoss says it already (a cluster).
 */
function legacyLossMetric(kind: RunKind): Metric | null {
  if (kind === 'sim') return 'objective';
  if (kind === 'cluster') return null;
  return 'train loss';
}

/**
 * The points of one row. The consensus distance is left out where it means nothing (one worker) and at the start,
 * where every worker holds the same parameters (the simulator's zero, or rounding noise, would stretch a log axis
 * over tens of decades).
 */
export function rowPoints(run: string, kind: RunKind, row: WrittenRow): Point[] {
  if (!finite(row.gradients)) return [];
  const base = { run, step: row.gradients } as { run: string; step: number; seconds?: number; bytes?: number };
  if (finite(row.seconds)) base.seconds = row.seconds;
  const bytes = row.bytes ?? row.bytesSent;
  if (finite(bytes)) base.bytes = bytes;
  const out: Point[] = [];
  const add = (metric: Metric, value: unknown) => {
    if (finite(value)) out.push({ ...base, metric, value });
  };
  const legacy = legacyLossMetric(kind);
  if (legacy && row.trainLoss === undefined && row.objective === undefined) add(legacy, row.loss);
  add('train loss', row.trainLoss);
  add('objective', row.objective);
  add('test loss', row.testLoss);
  add('test accuracy', row.testAccuracy);
  if (kind !== 'train' && row.gradients > 0 && finite(row.consensus) && row.consensus > 0) add('consensus', row.consensus);
  if (row.gradients > 0 && finite(row.optimality) && row.optimality > 0) add('optimality', row.optimality);
  add('idle fraction', row.idleFraction);
  return out;
}

/**
 * Drops consensus points far below the run's largest one (more than twelve decades: values at the floor of float
 * rounding, not a distance worth an axis).
 */
export function trimConsensus(points: Point[]): Point[] {
  const top = new Map<string, number>();
  for (const p of points) if (p.metric === 'consensus') top.set(p.run, Math.max(top.get(p.run) ?? 0, p.value));
  return points.filter((p) => p.metric !== 'consensus' || p.value >= (top.get(p.run) ?? 0) * 1e-12);
}

/** Every point of a run's rows. */
export function runPoints(run: string, kind: RunKind, rows: readonly WrittenRow[]): Point[] {
  return trimConsensus(rows.flatMap((r) => rowPoints(run, kind, r)));
}

/** The per-worker counts a run's summary holds: a cluster's perWorker list, or a peer's own counts. */
export function summaryWorkers(run: string, kind: RunKind, summary: Record<string, unknown>, config: Record<string, unknown>): WorkerPoint[] {
  if (Array.isArray(summary.perWorker)) {
    return summary.perWorker.flatMap((w: Record<string, unknown>, i: number) => {
      if (typeof w !== 'object' || w === null || !finite(w.steps)) return [];
      return [{ run, worker: finite(w.id) ? w.id : i, steps: w.steps, exchanges: finite(w.exchanges) ? w.exchanges : 0, ...(finite(w.idleFraction) ? { idle: w.idleFraction } : {}) }];
    });
  }
  if (kind === 'peer' && finite(summary.steps)) {
    const worker = finite(summary.index) ? summary.index : finite(config.index) ? config.index : 0;
    return [{ run, worker, steps: summary.steps, exchanges: finite(summary.exchanges) ? summary.exchanges : 0 }];
  }
  return [];
}
