import type { Dtype, Vec } from '../core/vec.js';
import { allocVec } from '../core/vec.js';
import { restoreFields, type Algorithm, type CollectiveCapability, type GradientSource, type ParamRange, type SavedState, type WorkerState } from './types.js';

export interface AllReduceOptions {
  dim: number;
  dtype: Dtype;
}

export interface AllReduceState extends WorkerState {
  readonly x: Vec;
  /** The gradient of the last local step, this worker's contribution to the next all-reduce. */
  readonly g: Vec;
}

/**
 * Synchronous AllReduce SGD: a collective due after every local step, which waits for every worker; the contribution
 * is the gradient, and the mean gradient takes one step of the local optimizer: the same update everywhere.
 */
export class AllReduce implements Algorithm<AllReduceState> {
  readonly name = 'allreduce';
  readonly collective: CollectiveCapability<AllReduceState>;
  private readonly whole: readonly ParamRange[];

  constructor(private readonly opts: AllReduceOptions) {
    this.whole = [{ start: 0, end: opts.dim }];
    const scratch = allocVec(opts.dtype, opts.dim);
    this.collective = {
      overlaps: false,
      due: () => true,
      ranges: () => this.whole,
      begin: (s, _t, out) => out.set(s.g),
      complete: (s, _t, mean, optimizer) => {
        // The optimizer may overwrite the gradient it is given; the mean may be shared by every worker.
        scratch.set(mean);
        optimizer.update(s.x, scratch);
      },
    };
  }

  createState(x0: Vec): AllReduceState {
    const x = allocVec(this.opts.dtype, this.opts.dim);
    x.set(x0);
    return { x, g: allocVec(this.opts.dtype, this.opts.dim) };
  }

  advance(): void {}

  /** Computes the gradient only: the update waits for the all-reduce. */
  localStep(s: AllReduceState, _t: number, gradient: GradientSource): number {
    return gradient(s.x, s.g);
  }

  saved(s: AllReduceState): SavedState {
    return { vectors: { g: s.g }, scalars: {} };
  }

  restore(s: AllReduceState, saved: SavedState): void {
    restoreFields(s, saved);
  }
}
