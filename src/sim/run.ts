/**
 * What every driver of the simulator shares: the options of a run, its counters, the link and codec models, and the
 * workers' local optimizers.
 */
import type { Built } from '../algorithms/index.js';
import { LocalOptimizer, type LocalStepSettings } from '../algorithms/local-optimizer.js';
import type { Algorithm, GradientSource, PairwiseCapability, WorkerState } from '../algorithms/types.js';
import { shardOf } from '../algorithms/shards.js';
import { ContributionEncoder } from '../core/contribution.js';
import type { Rng } from '../core/rng.js';
import type { Vec } from '../core/vec.js';
import type { Schedule } from '../engine/optim/schedule.js';
import type { Graph } from '../graph/topology.js';
import type { Objective } from '../objectives/objective.js';
import type { MetricsRow } from '../report/metrics.js';
import type { GradientDelay } from './delay.js';

export interface LinkModel {
  /** Fixed delay of an exchange, in time units (expected local steps). */
  latency: number;
  /** Floats moved per time unit; an exchange of d floats takes latency + d / bandwidth. */
  bandwidth: number;
}

/** How messages travel (a lossy wire codec). */
export interface MessageCodec {
  name: string;
  /** Rounds a message in place to what its receiver decodes. */
  round(message: Vec): void;
  /** Size on the link of a message of `count` values, in floats (what LinkModel.bandwidth moves). */
  floats(count: number): number;
}

export interface ChurnEvent {
  worker: number;
  leave: number;
  back?: number;
}

export interface SimOptions {
  objective: Objective;
  graph: Graph;
  built: Built;
  /** Every worker's local optimizer (its own instance, with its own state). */
  optimizer: LocalStepSettings;
  /** The learning rate of a worker's k-th step (default: the constant optimizer.lr). */
  schedule?: Schedule;
  /** Expected pairwise averagings per worker per unit time (for gossip and A2CiD2). */
  rate: number;
  /** Virtual time to simulate, in expected local steps. */
  time: number;
  seed: number;
  /** Gradient-clock rate of each worker (default: all 1). */
  speeds?: Float64Array;
  /** false: pure gossip, no gradient events. */
  gradients?: boolean;
  /**
   * Every gradient at the parameters of D local steps before (delay.ts): a fixed D, or one drawn per step. Default
   * (and D = 0): none.
   */
  gradientDelay?: GradientDelay;
  /** 'shared': all workers start at the same point; 'random': each worker at its own random point; or a given point. */
  init?: 'shared' | 'random' | Vec;
  /** Faithful mode: a worker is in at most one exchange at a time and an exchange takes time. */
  link?: LinkModel;
  /**
   * 'free' (default): independent Poisson gradient clocks and edges. 'quota': the runtime's rate control — a
   * worker's next step waits for its quota of exchanges, and free workers pair with free neighbours (paced.ts).
   */
  pacing?: 'free' | 'quota';
  /**
   * Collectives that wait for every worker: 'lockstep' (default) — rounds in which every worker takes its steps in
   * turn (collective.ts; a metrics row inside a round shows the models after its local steps and the counts before
   * it); 'events' — every worker on its own gradient clock, a collective beginning when the last worker is due and
   * rows at their times with their counts (overlap.ts, as for collectives that overlap computation).
   */
  rounds?: 'lockstep' | 'events';
  /**
   * What crosses the links — pairwise messages, contributions to collectives and their means, pushes to a server —
   * rounded by this codec and sized by it on the link (default: exact, full size); see core/contribution.ts.
   */
  codec?: MessageCodec;
  /** Contributions and pushes under a lossy codec carry what the rounding of the earlier ones dropped. @default false */
  errorFeedback?: boolean;
  /**
   * Churn (free pacing): worker `worker` leaves at time `leave` (no gradient steps, no exchanges; an exchange in
   * flight with it is lost on both sides) and, if `back` is given, returns then from a live neighbour's x, as a
   * late joiner pulls it. Metrics rows then cover the live workers, and say how many (`live`).
   */
  churn?: ChurnEvent[];
  /** Metrics grid step in virtual time. */
  every: number;
  onMetrics?: (row: MetricsRow) => void;
  onProgress?: (t: number) => void;
}

/**
 * largestCollective: the longest contribution to a collective, in values (0: none); bytes: payload bytes sent by all
 * workers together (messageBytes); outerSteps: collectives completed and pushes applied.
 */
export type Counts = { gradients: number; communications: number; skipped: number; events: number; largestCollective: number; bytes: number; outerSteps: number };

/** What a driver is handed: the workers' starting points, gradient sources, optimizers and the run's streams. */
export interface DriverContext {
  opts: SimOptions;
  starts: Vec[];
  speeds: Float64Array;
  gradients: boolean;
  sources: GradientSource[];
  optimizers: LocalOptimizer[];
  /** The stream of event times and choices. */
  rng: Rng;
  counts: Counts;
  /** Emits the metrics row of time t over the given workers' models (which the caller no longer changes). */
  emit: (t: number, models: Vec[]) => void;
}

/** One local optimizer per worker, for the objective's vectors (a sharded one: for the worker's shard of them). */
export function workerOptimizers(opts: SimOptions): LocalOptimizer[] {
  const { objective } = opts;
  const n = opts.graph.n;
  const init = { dim: objective.dim, dtype: objective.dtype, backend: objective.backend ?? null, layout: objective.layout, schedule: opts.schedule };
  const sharded = opts.built.algorithm.collective?.sharded !== undefined;
  return Array.from({ length: n }, (_, i) => new LocalOptimizer(opts.optimizer, sharded ? { ...init, shard: shardOf(objective.dim, n, i) } : init));
}

/** The pairwise capability with every message it sends rounded by the codec. */
export function roundingMessages<S extends WorkerState>(p: PairwiseCapability<S>, codec: MessageCodec): PairwiseCapability<S> {
  return {
    messageLength: () => p.messageLength(),
    message: (s, t, out) => {
      p.message(s, t, out);
      codec.round(out);
    },
    receive: (s, t, peer) => p.receive(s, t, peer),
  };
}

/** The pairwise part of an algorithm, rounded by the run's codec when it has one. */
export function pairwiseOf(opts: SimOptions, algo: Algorithm): PairwiseCapability<WorkerState> {
  if (!algo.pairwise) throw new Error(`${algo.name} does not exchange pairwise`);
  return opts.codec ? roundingMessages(algo.pairwise, opts.codec) : algo.pairwise;
}

/**
 * The payload bytes of a message of `len` values as the wire carries it: float32 values, or the codec's encoded size
 * when the run has one (`codec` false: a model pulled from a server, always float32).
 */
export function messageBytes(opts: SimOptions, len: number, codec = true): number {
  return 4 * (codec && opts.codec ? opts.codec.floats(len) : len);
}

/** Per worker, what its contributions and pushes go through under the run's codec. */
export function contributionEncoders(opts: SimOptions, n: number): ContributionEncoder[] {
  return Array.from({ length: n }, () => new ContributionEncoder(opts.codec ?? null, opts.objective.dim, opts.errorFeedback ?? false));
}

/** How long a ring all-reduce of `len` values among n workers lasts on the link (0 without one). */
export function allReduceDuration(opts: SimOptions, n: number, len: number): number {
  if (!opts.link || n < 2) return 0;
  return 2 * (n - 1) * opts.link.latency + (2 * (n - 1) * messageBytes(opts, len)) / (4 * n * opts.link.bandwidth);
}

/** How long an exchange of `len` values lasts on the link (0 without one). */
export function exchangeDuration(opts: SimOptions, len: number): number {
  return opts.link ? opts.link.latency + (opts.codec ? opts.codec.floats(len) : len) / opts.link.bandwidth : 0;
}
