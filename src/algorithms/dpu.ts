import type { Dtype, Vec } from '../core/vec.js';
import type { Backend } from '../engine/backend.js';
import { allocVec } from '../core/vec.js';
import { accumulateState, accumulatingCollective, meanGradient, microBatch, restoreAccumulate, savedAccumulate, type AccumulateState, type ShardedSteps } from './accumulate.js';
import type { LocalOptimizer } from './local-optimizer.js';
import type { Algorithm, CollectiveCapability, GradientSource, ParamRange, SavedState } from './types.js';

/** Rounds of DPU that wait for their all-reduce before the delayed updates begin. */
export const DPU_DEFAULT_WARMUP = 20;

export interface DpuOptions {
  dim: number;
  dtype: Dtype;
  /** n: with one worker there is nothing to wait for, and the update is not delayed (plain local training). */
  workers: number;
  /** The engine backend whose vector kernels float32 models use. */
  backend?: Backend | null;
  /** Rounds that wait for their all-reduce (synchronous AllReduce) before the updates are delayed. @default DPU_DEFAULT_WARMUP */
  warmup?: number;
  /** The optimizer's state sharded over the workers (ZeRO-1; acco.ts, types.ts ShardedCompletion). @default false */
  shardOptimizer?: boolean;
}

/**
 * The one-step-delayed update (DPU, "delayed parameter update"; the baseline of Nabli et al., *ACCO: Accumulate
 * While You Communicate*, 2024, arXiv 2406.02613): the all-reduce of the gradients computed at θ_{t−1} runs while
 * the gradients at θ_t are computed, and
 *   θ_{t+1} = Opt(θ_t, ḡ(θ_{t−1}))
 * where ḡ is the mean over every micro-batch of every worker (accumulate.ts: a worker computes micro-batches until
 * the all-reduce in flight completes). Stale by one step, it needs a warm-up: the first `warmup` rounds wait for
 * their all-reduce (θ_{t+1} = Opt(θ_t, ḡ(θ_t)), AllReduce SGD over accumulated micro-batches).
 */
export class Dpu implements Algorithm<AccumulateState> {
  readonly name = 'dpu';
  readonly collective: CollectiveCapability<AccumulateState>;
  readonly warmup: number;
  private readonly grad: Vec;
  private readonly scratch: Vec;

  constructor(private readonly opts: DpuOptions) {
    const warmup = opts.warmup ?? DPU_DEFAULT_WARMUP;
    if (!(Number.isInteger(warmup) && warmup >= 0)) throw new RangeError(`the warm-up must be a non-negative integer number of rounds (got ${warmup})`);
    this.warmup = warmup;
    this.grad = allocVec(opts.dtype, opts.dim);
    this.scratch = allocVec(opts.dtype, opts.dim);
    this.collective = accumulatingCollective<AccumulateState>(opts, (s, mean, optimizer) => {
      meanGradient(opts.backend ?? null, mean, opts.dim, this.scratch);
      optimizer.update(s.base, this.scratch);
      s.next.set(s.base);
      // In the warm-up the worker waits for this mean: it goes on from the new parameters at once.
      if (s.rounds <= this.warmup) s.x.set(s.next);
    }, (s) => s.flight === 1 && s.rounds <= this.warmup, opts.shardOptimizer ? this.shardedSteps() : undefined);
  }

  /** The same step on this worker's shard only (the mean is [its values, count]); the all-gather brings θ_{t+1}. */
  private shardedSteps(): ShardedSteps<AccumulateState> {
    return {
      step: (s, { start, end }: ParamRange, mean, optimizer, out) => {
        const len = end - start;
        const g = this.scratch.subarray(0, len);
        meanGradient(this.opts.backend ?? null, mean, len, g);
        out.set(s.base.subarray(start, end));
        optimizer.update(out, g);
      },
      gathered: (s, _shard, whole) => {
        s.base.set(whole);
        s.next.set(whole);
        if (s.rounds <= this.warmup) s.x.set(s.next);
      },
    };
  }

  createState(x0: Vec): AccumulateState {
    return accumulateState(this.opts.dtype, this.opts.dim, x0);
  }

  advance(): void {}

  /** A micro-batch into the sum (one worker: a plain local step). */
  localStep(s: AccumulateState, _t: number, gradient: GradientSource, optimizer: LocalOptimizer): number {
    return microBatch(s, gradient, this.grad, optimizer, this.opts.workers, this.opts.backend ?? null);
  }

  saved(s: AccumulateState): SavedState {
    return savedAccumulate(s);
  }

  restore(s: AccumulateState, saved: SavedState): void {
    restoreAccumulate(s, saved);
  }
}
