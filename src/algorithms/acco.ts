import type { Dtype, Vec } from '../core/vec.js';
import type { Backend } from '../engine/backend.js';
import { allocVec } from '../core/vec.js';
import { accumulateState, accumulatingCollective, addTo, COUNT_SLOTS, meanGradient, microBatch, restoreAccumulate, savedAccumulate, type AccumulateState, type ShardedSteps } from './accumulate.js';
import type { LocalOptimizer } from './local-optimizer.js';
import type { Algorithm, CollectiveCapability, GradientSource, ParamRange, SavedState } from './types.js';

export interface AccoOptions {
  dim: number;
  dtype: Dtype;
  /** n: with one worker there is nothing to hide, and ACCO is plain local training. */
  workers: number;
  /** The engine backend whose vector kernels float32 models use. */
  backend?: Backend | null;
  /**
   * The optimizer's state sharded over the workers (ZeRO-1): a reduce-scatter of the sums, each worker's step on its
   * own shard, an all-gather of the parameters (types.ts ShardedCompletion). @default false
   */
  shardOptimizer?: boolean;
}

export interface AccoState extends AccumulateState {
  /** The mean [Σ g, count] of the last estimate round: the first half of the next real step. */
  readonly estimate: Vec;
}

/**
 * ACCO, Accumulate While You Communicate (Nabli, Fournier, Erbacher, Serrano, Belilovsky, Oyallon, 2024, arXiv
 * 2406.02613). Communication never blocks computation: while the all-reduce of one round's gradient sums runs, every
 * worker computes micro-batches at its current x and sums them with a counter (accumulate.ts). Rounds alternate,
 * odd ones estimate, even ones are real; with ḡ(·) the mean over every micro-batch of every worker:
 *   estimate (the sums computed at θ̃_t): θ̃_{t+1} = Opt(θ_t, ḡ(θ̃_t)), a trial step after which the optimizer's state
 *            and step count are put back bit for bit (θ_t is not touched); the next micro-batches are computed at θ_t.
 *   real     (the sums computed at θ_t):  θ_{t+1} = Opt(θ_t, ḡ(θ̃_t) ∪ ḡ(θ_t)) — both halves, divided by their
 *            total micro-batch count; the next micro-batches are computed at θ̃_{t+1}, a prediction of θ_{t+1}.
 * So every committed step uses fresh gradients (at θ_t) and gradients at a prediction of θ_t; it needs no warm-up
 * (θ̃_0 = θ_0). The optimizer's state is that of the real steps only.
 * Sharded (shardOptimizer), each worker takes both rounds' steps on its own shard of θ with its shard's optimizer
 * state only, and the all-gather brings the others' shards: of θ̃_{t+1} after an estimate round, of θ_{t+1} after a
 * real one. The optimizers being elementwise, every value takes the same arithmetic as unsharded.
 */
export class Acco implements Algorithm<AccoState> {
  readonly name = 'acco';
  readonly collective: CollectiveCapability<AccoState>;
  private readonly grad: Vec;
  private readonly scratch: Vec;
  /** The optimizer's state before a trial step (allocated at the first one: its length is the optimizer's). */
  private snapshot: Vec | null = null;

  constructor(private readonly opts: AccoOptions) {
    const { dim, dtype } = opts;
    this.grad = allocVec(dtype, dim);
    this.scratch = allocVec(dtype, dim);
    const k = opts.backend ?? null;
    this.collective = accumulatingCollective<AccoState>(opts, (s, mean, optimizer) => {
      if (Acco.isEstimate(s.rounds)) {
        s.estimate.set(mean);
        meanGradient(k, mean, dim, this.scratch);
        s.next.set(s.base);
        this.trialStep(s.next, this.scratch, optimizer);
      } else {
        const both = s.estimate;
        addTo(k, mean.subarray(0, dim), both.subarray(0, dim));
        both[dim] += mean[dim];
        meanGradient(k, both, dim, this.scratch);
        optimizer.update(s.base, this.scratch);
        s.next.set(s.base);
      }
    }, undefined, opts.shardOptimizer ? this.shardedSteps() : undefined);
  }

  /**
   * The same two rounds on this worker's shard only (the mean is [its values, count]), in the same arithmetic. The
   * step touches nothing but the optimizer (the estimate round's mean is kept once the all-gather is done).
   */
  private shardedSteps(): ShardedSteps<AccoState> {
    const k = this.opts.backend ?? null;
    const dim = this.opts.dim;
    return {
      step: (s, { start, end }: ParamRange, mean, optimizer, out) => {
        const len = end - start;
        const g = this.scratch.subarray(0, len);
        out.set(s.base.subarray(start, end));
        if (Acco.isEstimate(s.rounds)) {
          meanGradient(k, mean, len, g);
          this.trialStep(out, g, optimizer);
          return;
        }
        // Both halves, as the unsharded step sums them: the estimate's values plus this round's, over both counts.
        const both = s.estimate[dim] + mean[len];
        const count = s.estimate instanceof Float32Array ? Math.fround(both) : both;
        g.set(s.estimate.subarray(start, end));
        addTo(k, mean.subarray(0, len), g);
        if (k) k.scale(g as Float32Array, 1 / count);
        else for (let i = 0; i < len; i++) g[i] = g[i] / count;
        optimizer.update(out, g);
      },
      gathered: (s, { start, end }, whole, mean) => {
        if (Acco.isEstimate(s.rounds)) {
          s.estimate.set(mean.subarray(0, end - start), start);
          s.estimate[dim] = mean[end - start];
        } else s.base.set(whole);
        s.next.set(whole);
      },
    };
  }

  /** Round r (from 1) is an estimate round when odd, a real one when even. */
  static isEstimate(round: number): boolean {
    return round % 2 === 1;
  }

  /** θ̃ ← Opt(θ̃, g) with the optimizer's state and step count put back afterwards, bit for bit. */
  trialStep(into: Vec, g: Vec, optimizer: LocalOptimizer): void {
    if (this.snapshot === null || this.snapshot.length !== optimizer.state.length) this.snapshot = allocVec(this.opts.dtype, optimizer.state.length);
    this.snapshot.set(optimizer.state);
    const steps = optimizer.steps;
    optimizer.update(into, g);
    optimizer.loadState(this.snapshot, steps);
  }

  createState(x0: Vec): AccoState {
    return { ...accumulateState(this.opts.dtype, this.opts.dim, x0), estimate: allocVec(this.opts.dtype, this.opts.dim + COUNT_SLOTS) };
  }

  advance(): void {}

  /** A micro-batch into the sum (one worker: a plain local step). */
  localStep(s: AccoState, _t: number, gradient: GradientSource, optimizer: LocalOptimizer): number {
    return microBatch(s, gradient, this.grad, optimizer, this.opts.workers, this.opts.backend ?? null);
  }

  saved(s: AccoState): SavedState {
    return savedAccumulate(s, { estimate: s.estimate });
  }

  restore(s: AccoState, saved: SavedState): void {
    restoreAccumulate(s, saved);
  }
}
