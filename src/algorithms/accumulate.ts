import type { Dtype, Vec } from '../core/vec.js';
import { allocVec } from '../core/vec.js';
import type { Backend } from '../engine/backend.js';
import type { LocalOptimizer } from './local-optimizer.js';
import { restoreFields, type ClosingCollective, type CollectiveCapability, type GradientSource, type ParamRange, type SavedState, type WorkerState } from './types.js';

/**
 * An algorithm's step in the sharded form (--shard-optimizer, types.ts ShardedCompletion): `step` steps on the mean
 * of this worker's shard ([its values, count]) into out, changing nothing but the optimizer's state; `gathered` puts
 * the whole gathered vector, and what else the round leaves, in place.
 */
export interface ShardedSteps<S extends AccumulateState> {
  step(s: S, shard: ParamRange, mean: Vec, optimizer: LocalOptimizer, out: Vec): void;
  gathered(s: S, shard: ParamRange, whole: Vec, mean: Vec): void;
}

/**
 * What ACCO and the one-step-delayed update (DPU) share: the compute loop never waits for the all-reduce. Between two
 * collectives a worker computes micro-batch gradients at x and sums them, with a counter; the contribution is
 * [Σ g, count], so that the mean of the contributions, divided by its last value, is the mean gradient over every
 * micro-batch of every worker (a faster worker weighs in with more of them). The parameters a collective produces
 * wait in `next` until the worker finishes the micro-batch under way: the next collective begins there, with the
 * sum just completed, and x switches to `next` (x never changes under a gradient being computed).
 */
export interface AccumulateState extends WorkerState {
  readonly x: Vec;
  /** θ: the committed parameters. */
  readonly base: Vec;
  /** The parameters x switches to when the next collective begins. */
  readonly next: Vec;
  /** Σ g of the micro-batches computed at x since the last collective began. */
  readonly sum: Vec;
  /** Micro-batches in that sum. */
  count: number;
  /** Collectives begun. */
  rounds: number;
  /** 1 while a collective is in flight (begun, its mean not applied). */
  flight: number;
  /** Micro-batches of all workers that the completed collectives covered. */
  total: number;
}

/** The collective's contribution: the whole gradient sum and one scalar, the micro-batch count. */
export const COUNT_SLOTS = 1;

export function accumulateState(dtype: Dtype, dim: number, x0: Vec): AccumulateState {
  const vec = () => {
    const v = allocVec(dtype, dim);
    v.set(x0);
    return v;
  };
  return { x: vec(), base: vec(), next: vec(), sum: allocVec(dtype, dim), count: 0, rounds: 0, flight: 0, total: 0 };
}

/** y ← y + x over x's length: the engine's kernel on float32 models, a loop on float64 problems. */
export function addTo(k: Backend | null, x: Vec, y: Vec): void {
  if (k) k.axpy(1, x as Float32Array, y as Float32Array);
  else for (let i = 0; i < x.length; i++) y[i] += x[i];
}

/** The gradient mean of a collective of [Σ g, count]: Σ g / count into out (the kernels multiply by 1/count). */
export function meanGradient(k: Backend | null, mean: Vec, dim: number, out: Vec): void {
  const count = mean[dim];
  if (k) {
    k.copy((mean as Float32Array).subarray(0, dim), out as Float32Array);
    k.scale(out as Float32Array, 1 / count);
    return;
  }
  for (let i = 0; i < dim; i++) out[i] = mean[i] / count;
}

/** Computes one micro-batch gradient at x and adds it to the sum: returns the loss. */
function accumulate(s: AccumulateState, gradient: GradientSource, grad: Vec, k: Backend | null): number {
  const loss = gradient(s.x, grad);
  addTo(k, grad, s.sum);
  s.count++;
  return loss;
}

/** A local step of ACCO or DPU: a micro-batch into the sum, or, for one worker alone, a plain local step. */
export function microBatch(s: AccumulateState, gradient: GradientSource, grad: Vec, optimizer: LocalOptimizer, workers: number, k: Backend | null): number {
  if (workers > 1) return accumulate(s, gradient, grad, k);
  const loss = gradient(s.x, grad);
  optimizer.update(s.x, grad);
  return loss;
}

/**
 * The collective ACCO and DPU share: the sum of micro-batches and its count over the whole model, due after a
 * micro-batch once none is in flight, overlapping the next micro-batches, every worker stopping after the same one
 * (progress), closed by an average at the committed parameters. `complete` is each algorithm's own step, after which
 * the round is done; `waits` holds a worker until its collective in flight completes.
 */
export function accumulatingCollective<S extends AccumulateState>(
  opts: { dim: number; workers: number },
  complete: (s: S, mean: Vec, optimizer: LocalOptimizer) => void,
  waits?: (s: S) => boolean,
  sharded?: ShardedSteps<S>,
): CollectiveCapability<S> {
  const whole = wholeRange(opts.dim);
  return {
    overlaps: true,
    extra: COUNT_SLOTS,
    due: (s) => opts.workers > 1 && dueAfterMicroBatch(s),
    ranges: () => whole,
    begin: (s, _t, out) => beginRound(s, out),
    complete: (s, _t, mean, optimizer) => {
      complete(s, mean, optimizer);
      roundDone(s, mean[opts.dim], opts.workers);
    },
    progress: (s) => s.total,
    ...(waits ? { waits } : {}),
    closing: opts.workers > 1 ? closingAtBase(opts.dim) : undefined,
    ...(sharded ? {
      sharded: {
        completeShard: (s: S, _t: number, shard: ParamRange, mean: Vec, optimizer: LocalOptimizer, out: Vec) => sharded.step(s, shard, mean, optimizer, out),
        gathered: (s: S, _t: number, shard: ParamRange, whole: Vec, mean: Vec) => {
          sharded.gathered(s, shard, whole, mean);
          roundDone(s, mean[mean.length - COUNT_SLOTS], opts.workers);
        },
      },
    } : {}),
  };
}

/** A collective is due after a micro-batch once none is in flight. */
function dueAfterMicroBatch(s: AccumulateState): boolean {
  return s.flight === 0 && s.count > 0;
}

/** Begins a collective: writes [Σ g, count], clears the sum and moves x to the parameters last produced. */
function beginRound(s: AccumulateState, out: Vec): void {
  out.set(s.sum);
  out[s.sum.length] = s.count;
  s.sum.fill(0);
  s.count = 0;
  s.rounds++;
  s.flight = 1;
  s.x.set(s.next);
}

/**
 * The collective that closes a run: every worker ends at the committed θ (not at a prediction θ̃ nor with a result it
 * has not switched to), the same everywhere. The micro-batches summed since the last collective are dropped.
 */
function closingAtBase(dim: number): ClosingCollective<AccumulateState> {
  const whole = wholeRange(dim);
  return {
    ranges: () => whole,
    begin: (s, _t, out) => out.set(s.base),
    complete: (s, _t, mean) => {
      s.base.set(mean);
      s.next.set(mean);
      s.x.set(mean);
    },
  };
}

/** A collective's mean has been applied: none in flight; its micro-batches (mean count × n) added to the total. */
function roundDone(s: AccumulateState, count: number, workers: number): void {
  s.total += Math.round(count * workers);
  s.flight = 0;
}

/** The whole vector: the contribution's range (its count slot follows it). */
function wholeRange(dim: number): readonly ParamRange[] {
  return [{ start: 0, end: dim }];
}

export function savedAccumulate(s: AccumulateState, extra: Record<string, Vec> = {}, scalars: Record<string, number> = {}): SavedState {
  return { vectors: { base: s.base, next: s.next, sum: s.sum, ...extra }, scalars: { count: s.count, rounds: s.rounds, flight: s.flight, total: s.total, ...scalars } };
}

/** A collective whose mean had not arrived is not resumed: x goes on from the parameters it had produced last. */
export function restoreAccumulate(s: AccumulateState, saved: SavedState): void {
  restoreFields(s, saved);
  s.flight = 0;
}
