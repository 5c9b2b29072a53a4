/**
 * Deterministic discrete-event simulation in virtual time. The algorithm reacts to its events through the same
 * handlers the runtime calls; a driver per kind of schedule generates the events: free-running Poisson clocks and
 * edges (free.ts), the runtime's rate control (paced.ts), rounds of collectives that wait (collective.ts),
 * collectives that overlap computation (overlap.ts), or rounds pushed to a server (server.ts).
 */
import type { GradientSource } from '../algorithms/types.js';
import { checkContributionCodec } from '../core/contribution.js';
import { UsageError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { Vec } from '../core/vec.js';
import { edgeRates as graphEdgeRates } from '../graph/rates.js';
import type { MetricsRow } from '../report/metrics.js';
import { runCollective } from './collective.js';
import { checkGradientDelay, delayedSource, delays } from './delay.js';
import { runFree } from './free.js';
import { runOverlap } from './overlap.js';
import { measure } from './metrics.js';
import { runPaced } from './paced.js';
import { runServer, type ServerStats } from './server.js';
import { workerOptimizers, type ChurnEvent, type DriverContext, type SimOptions } from './run.js';

export type { ChurnEvent, LinkModel, MessageCodec, SimOptions } from './run.js';
export { parseGradientDelay, type GradientDelay } from './delay.js';
export { roundingMessages, exchangeDuration } from './run.js';

export interface SimSummary {
  algorithm: string;
  problem: string;
  workers: number;
  time: number;
  consensus: number;
  optimality: number | null;
  steadyOptimality: number | null;
  /** The final row's loss at the average: held-out (neural problems) or the objective (convex ones). */
  testLoss?: number;
  objective?: number;
  gradients: number;
  communications: number;
  /** Payload bytes sent by all workers together (encoded, under a codec). */
  bytesSent: number;
  /** Collectives completed, or pushes applied to the server (null: the algorithm has neither). */
  outerSteps: number | null;
  /** Exchanges that could not start because a peer was busy (faithful mode). */
  skipped: number;
  /** The first metrics time at which the models were no longer finite (the run diverged); null: they stayed finite. */
  divergedAt: number | null;
  events: number;
  /** Algorithms with collectives: the largest contribution of one worker to a collective, in bytes (null: none). */
  peakSyncBytes: number | null;
  wallSeconds: number;
  eventsPerSecond: number;
  /** Algorithms with a server: its pushes and their staleness. */
  server?: ServerStats;
}

/** Simulates a run; `final` holds the workers' models at the last metrics row. */
export function simulate(opts: SimOptions): { summary: SimSummary; rows: MetricsRow[]; final: Vec[] } {
  const started = performance.now();
  const { objective, graph } = opts;
  const n = graph.n;
  const rng = new Rng(opts.seed);
  const eventRng = rng.fork('events');
  const noiseRng = rng.fork('noise');
  const initRng = rng.fork('init');
  const speeds = opts.speeds ?? new Float64Array(n).fill(1);
  const gradients = opts.gradients ?? true;
  const sources: GradientSource[] = [];
  for (let i = 0; i < n; i++) sources.push((x, g) => objective.gradient(i, x, g, noiseRng));
  const delay = opts.gradientDelay && checkGradientDelay(opts.gradientDelay);
  if (delays(delay)) {
    if (opts.churn) throw new UsageError('--gradient-delay is not simulated with churn');
    const delayRng = rng.fork('delays');
    for (let i = 0; i < n; i++) sources[i] = delayedSource(sources[i], delay, delayRng.fork(i), objective.dtype);
  }

  const starts: Vec[] = [];
  if (opts.init === 'random') for (let i = 0; i < n; i++) starts.push(objective.initial(initRng));
  else {
    const x0 = opts.init === undefined || opts.init === 'shared' ? objective.initial(initRng) : opts.init;
    for (let i = 0; i < n; i++) starts.push(x0);
  }

  const rows: MetricsRow[] = [];
  const counts = { gradients: 0, communications: 0, skipped: 0, events: 0, largestCollective: 0, bytes: 0, outerSteps: 0 };
  let final: Vec[] = [];
  const emit = (t: number, models: Vec[]) => {
    final = models;
    const row = measure(objective, models, t, counts);
    if (opts.churn) row.live = models.length;
    rows.push(row);
    opts.onMetrics?.(row);
  };

  checkChurn(opts);
  const algo = opts.built.algorithm;
  const ctx: DriverContext = { opts, starts, speeds, gradients, sources, optimizers: workerOptimizers(opts), rng: eventRng, counts, emit };
  checkContributionCodec(opts.codec?.name, opts.errorFeedback, algo);
  if (algo.pairwise && algo.collective) throw new UsageError(`${algo.name} both exchanges pairwise and takes part in collectives: the simulator has no driver for that yet`);
  let server: ServerStats | undefined;
  if (algo.server) {
    if (opts.churn) throw new UsageError(`churn is simulated for pairwise algorithms: ${algo.name}'s workers all push to its server`);
    if (opts.pacing === 'quota') throw new UsageError(`the paced mode paces pairwise exchanges: ${algo.name} has none`);
    if (!gradients) throw new UsageError(`${algo.name} pushes the progress of gradient steps: it needs them`);
    server = runServer(ctx);
  } else if (algo.collective) {
    if (opts.churn) throw new UsageError(`churn is simulated for pairwise algorithms: ${algo.name}'s collectives need every worker`);
    if (opts.pacing === 'quota') throw new UsageError(`the paced mode paces pairwise exchanges: ${algo.name} has none`);
    if (algo.collective.overlaps || opts.rounds === 'events') runOverlap(ctx);
    else runCollective(ctx);
  } else if (opts.rounds !== undefined) {
    throw new UsageError(`rounds are those of collectives: ${algo.name} has none`);
  } else if (opts.pacing === 'quota') {
    if (opts.churn) throw new UsageError('churn is simulated in the free pacing only');
    if (!gradients) throw new UsageError('the paced mode needs gradient steps (it paces exchanges by them)');
    if (opts.built.edgeRates) throw new UsageError(`${algo.name} prescribes its own communication rates: it runs in the free mode only`);
    runPaced(ctx);
  } else {
    runFree(ctx, opts.built.edgeRates ?? graphEdgeRates(graph, opts.rate));
  }

  const wallSeconds = (performance.now() - started) / 1000;
  const last = rows[rows.length - 1];
  const secondHalf = rows.filter((r) => r.t >= opts.time / 2 && r.optimality !== undefined);
  const summary: SimSummary = {
    algorithm: opts.built.algorithm.name,
    problem: objective.name,
    workers: n,
    time: opts.time,
    consensus: last.consensus,
    optimality: last.optimality ?? null,
    steadyOptimality: secondHalf.length > 0 ? secondHalf.reduce((s, r) => s + r.optimality!, 0) / secondHalf.length : null,
    ...(objective.heldOut ? { testLoss: last.testLoss } : { objective: last.objective }),
    gradients: counts.gradients,
    communications: counts.communications,
    bytesSent: counts.bytes,
    outerSteps: algo.collective || server ? counts.outerSteps : null,
    skipped: counts.skipped,
    divergedAt: rows.find((r) => !Number.isFinite(r.consensus) || !Number.isFinite(r.objective ?? r.testLoss ?? 0))?.t ?? null,
    events: counts.events,
    peakSyncBytes: algo.collective ? counts.largestCollective * (objective.dtype === 'f64' ? 8 : 4) : null,
    wallSeconds,
    eventsPerSecond: counts.events / Math.max(wallSeconds, 1e-9),
    ...(server ? { server } : {}),
  };
  return { summary, rows, final };
}

/** Checks the churn events: workers in range, times within the run, a worker's absences apart. */
function checkChurn(opts: SimOptions): void {
  const n = opts.graph.n;
  const byWorker = new Map<number, ChurnEvent[]>();
  for (const c of opts.churn ?? []) {
    if (!(Number.isInteger(c.worker) && c.worker >= 0 && c.worker < n)) throw new UsageError(`churn names worker ${c.worker}, outside 0…${n - 1}`);
    if (!(c.leave >= 0 && c.leave <= opts.time)) throw new UsageError(`worker ${c.worker} leaves at ${c.leave}, outside the run (0…${opts.time})`);
    if (c.back !== undefined && !(c.back > c.leave)) throw new UsageError(`worker ${c.worker} comes back at ${c.back}, not after it leaves (${c.leave})`);
    byWorker.set(c.worker, [...(byWorker.get(c.worker) ?? []), c]);
  }
  for (const [w, list] of byWorker) {
    list.sort((a, b) => a.leave - b.leave);
    for (let k = 1; k < list.length; k++) {
      if (list[k - 1].back === undefined || list[k - 1].back! > list[k].leave) throw new UsageError(`worker ${w} leaves at ${list[k].leave} before it is back`);
    }
  }
}

