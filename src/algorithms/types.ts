import type { Vec } from '../core/vec.js';
import type { LocalOptimizer } from './local-optimizer.js';

/**
 * "One algorithm, two clocks": every distributed algorithm is written as reactions to the events of ONE worker,
 * against its own state. The simulator calls these handlers in virtual time; the runtime calls the very same
 * handlers in wall-clock time (time measured in expected local gradient steps). Algorithms never know which.
 *
 * An algorithm declares what it can do, and the drivers dispatch on that: every algorithm takes local steps; it may
 * exchange with one neighbour at a time (`pairwise`), take part in collectives (`collective`), or push its rounds
 * to a server that one of the workers holds (`server`).
 */

/** Computes the gradient of the worker's local objective at x into grad and returns the loss there. */
export type GradientSource = (x: Vec, grad: Vec) => number;

export interface WorkerState {
  /** The model: where gradients are taken, what is averaged and evaluated. */
  readonly x: Vec;
}

/** Every vector and scalar of a worker's state besides x: what a checkpoint holds to resume it exactly. */
export interface SavedState {
  vectors: Record<string, Vec>;
  scalars: Record<string, number>;
}

import type { ParamRange } from './param-range.js';
export type { ParamRange };

/** Exchanges with one neighbour at a time (A2CiD2, gossip, DADAO). */
export interface PairwiseCapability<S extends WorkerState> {
  /** Length of the message a worker sends in an exchange. */
  messageLength(): number;
  /** Writes what this worker sends to its peer when an exchange starts at time t. */
  message(s: S, t: number, out: Vec): void;
  /** Applies the peer's message when the exchange completes at time t. */
  receive(s: S, t: number, peer: Vec): void;
}

/**
 * Collectives among all live workers: after a local step the worker may owe one (`due`); it writes its
 * contribution (`begin`), the driver averages the contributions of all workers, and the worker applies the mean
 * (`complete`).
 */
export interface CollectiveCapability<S extends WorkerState> {
  /** Whether local steps go on while this worker's collective is in flight (otherwise the worker waits for it). */
  readonly overlaps: boolean;
  /** Is a collective due after the local step just taken? */
  due(s: S): boolean;
  /**
   * The parts of the flat vector the next contribution covers, in order: the contribution is as long as they are
   * together (a streaming algorithm sends a fragment of the model).
   */
  ranges(s: S): readonly ParamRange[];
  /**
   * Scalars the contribution carries after the ranges' values (ACCO's and DPU's micro-batch count, averaged with the
   * rest). @default 0
   */
  readonly extra?: number;
  /**
   * Gradients of all workers that the collectives completed so far covered, the same on every worker (ACCO and DPU,
   * whose workers take different numbers of steps): drivers that stop every worker after the same collective stop
   * once it reaches the run's budget of steps of all workers. Without it, every worker stops after its own share.
   */
  progress?(s: S): number;
  /** Writes this worker's contribution at time t. */
  begin(s: S, t: number, out: Vec): void;
  /** Applies the mean of the workers' contributions at time t. */
  complete(s: S, t: number, mean: Vec, optimizer: LocalOptimizer): void;
  /**
   * Collectives that overlap computation: must the worker wait, after the local step just taken (or the collective
   * just begun), for its collective in flight to complete before it takes another step? (Streaming DiLoCo applies a
   * fragment's mean exactly τ steps after it began.) Without it, the worker never waits for it.
   */
  waits?(s: S): boolean;
  /**
   * The collective that closes a run, once every worker has taken its last local step and its collective in flight
   * has completed (e.g. an average of the whole models, so that the workers end in consensus). Without it, a run
   * ends with the last local step.
   */
  readonly closing?: ClosingCollective<S>;
  /**
   * A sharded optimizer (ZeRO-1; shards.ts): when present, the drivers run every collective but the closing one as a
   * reduce-scatter, a step on each worker's own shard, an all-gather — and never call `complete`. Each worker's local
   * optimizer then covers its shard only.
   */
  readonly sharded?: ShardedCompletion<S>;
}

/**
 * The two halves of a sharded collective's completion. The driver hands worker w the mean of its shard of the
 * contributions (the values of shardOf(dim, n, w), then the extra scalars), gathers every worker's `out` in shard
 * order, and hands the whole vector back to every worker.
 */
export interface ShardedCompletion<S extends WorkerState> {
  /**
   * Steps on the mean of this worker's shard at time t: writes this worker's part of the vector to gather into out.
   * It changes nothing but the optimizer's state: should the all-gather fail, the driver puts that back and the
   * round leaves no trace.
   */
  completeShard(s: S, t: number, shard: ParamRange, mean: Vec, optimizer: LocalOptimizer, out: Vec): void;
  /** Puts the gathered vector (dim values) in place; `mean` is the one completeShard had. The round is done. */
  gathered(s: S, t: number, shard: ParamRange, whole: Vec, mean: Vec): void;
}

/** A last collective after the last local step: the same handlers as a collective's. */
export type ClosingCollective<S extends WorkerState> = Pick<CollectiveCapability<S>, 'ranges' | 'begin' | 'complete'>;
/** A worker's round as the server receives it. */
export interface Push {
  worker: number;
  /** The worker's round, from 1: (worker, round) names the push, and the server applies each one once. */
  round: number;
  /** Inner steps the round took. */
  steps: number;
  /** The worker's measured speed, in local steps per unit of time (any unit, the same for all; 0: unknown). */
  speed: number;
  /** The round's pseudo-gradient. */
  delta: Vec;
}

/** The server's answer to a push: the model to start the next round from, and that round's inner steps. */
export interface Pulled {
  model: Vec;
  innerSteps: number;
}

/**
 * The server's state and rule (held by one worker, replicated to another): it applies the pushes one at a time, in
 * the order given, and answers each with the current model.
 */
export interface ServerRole {
  /** θ: the global model. */
  readonly model: Vec;
  /** Pushes applied. */
  readonly pushes: number;
  /** Applies a push unless its (worker, round) was applied already (then it changes nothing): whether it applied it. */
  apply(push: Push): boolean;
  /** Pushes applied between worker w's last answer and its push just applied (its staleness). */
  staleness(worker: number): number;
  /** Answers worker w (after its push): the model, its next round's inner steps; records when w pulled. */
  answer(worker: number): Pulled;
  /** A worker left: its speed no longer counts. */
  forget(worker: number): void;
  /** Every vector and scalar of the server's state (references): what a replica holds. */
  saved(): SavedState;
  restore(saved: SavedState): void;
}

/**
 * Rounds pushed to a server: after a local step the worker may owe a push (`due`); it writes its pseudo-gradient
 * (`push`), the driver hands it to the server, and the worker starts its next round from the server's answer (`pull`).
 * The worker waits for the answer (no local steps meanwhile).
 */
export interface ServerCapability<S extends WorkerState> {
  /** Is a push due after the local step just taken? */
  due(s: S): boolean;
  /** Writes the round's pseudo-gradient into out (as long as the model) at time t; returns its round and steps. */
  push(s: S, t: number, out: Vec): { round: number; steps: number };
  /** Starts the next round at time t from the server's model, for the given inner steps. */
  pull(s: S, t: number, pulled: Pulled): void;
  /** The server's state and rule at the initial model x0. */
  createServer(x0: Vec): ServerRole;
}

export interface Algorithm<S extends WorkerState = WorkerState> {
  readonly name: string;
  /** Worker state, starting from the (global average) initial point x0, at time t0. */
  createState(x0: Vec, t0?: number): S;
  /** Brings the worker's continuous dynamics up to time t (idempotent; a no-op for discrete algorithms). */
  advance(s: S, t: number): void;
  /** One local step at time t with the gradient at s.x, through the worker's local optimizer; returns the loss. */
  localStep(s: S, t: number, gradient: GradientSource, optimizer: LocalOptimizer): number;
  readonly pairwise?: PairwiseCapability<S>;
  readonly collective?: CollectiveCapability<S>;
  readonly server?: ServerCapability<S>;
  /** Every vector (besides x) and scalar of the state, as references: a checkpoint copies them. */
  saved(s: S): SavedState;
  /** Puts a saved state back (vectors copied in place; a missing or mis-sized vector is an error). */
  restore(s: S, saved: SavedState): void;
}

/** Puts saved vectors and scalars back into the fields of the same names of a plain state object. */
export function restoreFields(s: object, saved: SavedState): void {
  const fields = s as Record<string, unknown>;
  for (const [k, v] of Object.entries(saved.vectors)) {
    const into = fields[k];
    if (!(into instanceof Float32Array || into instanceof Float64Array)) throw new Error(`the saved state has a vector ${k} this algorithm does not keep`);
    if (into.length !== v.length) throw new Error(`the saved vector ${k} has ${v.length} values, the state ${into.length}`);
    into.set(v);
  }
  for (const [k, v] of Object.entries(saved.scalars)) {
    if (typeof fields[k] !== 'number') throw new Error(`the saved state has a scalar ${k} this algorithm does not keep`);
    fields[k] = v;
  }
}

/** The length of a worker's next contribution to a collective: its ranges' values, then its extra scalars. */
export function contributionLength<S extends WorkerState>(c: Pick<CollectiveCapability<S>, 'ranges' | 'extra'>, s: S): number {
  return rangesLength(c.ranges(s)) + (c.extra ?? 0);
}

/**
 * Has a worker of a run with collectives taken its part of the budget (`share` steps per worker, of `workers`)? Its
 * own steps, or the steps of all workers its collectives covered when the algorithm counts them (progress).
 */
export function collectivesDone<S extends WorkerState>(c: CollectiveCapability<S>, s: S, ownSteps: number, share: number, workers: number): boolean {
  return c.progress ? c.progress(s) >= share * workers : ownSteps >= share;
}

/**
 * The step a worker of a run with collectives reads its learning rate at: its own steps, or — when the algorithm
 * counts every worker's steps (progress), whose workers take different numbers of them — that count over the
 * workers, the same on every worker, so that they all take the same step.
 */
export function collectiveSchedulePoint<S extends WorkerState>(c: CollectiveCapability<S>, s: S, ownSteps: number, workers: number): number {
  return c.progress ? Math.floor(c.progress(s) / workers) : ownSteps;
}

/** The number of values in a list of ranges. */
export function rangesLength(ranges: readonly ParamRange[]): number {
  let n = 0;
  for (const r of ranges) n += r.end - r.start;
  return n;
}
