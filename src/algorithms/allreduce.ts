import type { Dtype, Vec } from '../core/vec.js';
import { allocVec } from '../core/vec.js';
import { localIncrement, type LocalStepOptions } from './local-step.js';
import type { GradientSource, RoundAlgorithm, WorkerState } from './types.js';

export interface AllReduceOptions extends LocalStepOptions {
  dim: number;
  dtype: Dtype;
}

export interface AllReduceState extends WorkerState {
  readonly x: Vec;
  readonly buf: Vec | null;
}

/** Synchronous AllReduce SGD: every round, the mean of all workers' gradients, the same update everywhere. */
export class AllReduce implements RoundAlgorithm<AllReduceState> {
  readonly name = 'allreduce';
  private readonly opts: AllReduceOptions;
  private readonly increment: Vec;

  constructor(opts: AllReduceOptions) {
    this.opts = opts;
    this.increment = allocVec(opts.dtype, opts.dim);
  }

  createState(x0: Vec): AllReduceState {
    const x = allocVec(this.opts.dtype, this.opts.dim);
    x.set(x0);
    const buf = (this.opts.momentum ?? 0) !== 0 ? allocVec(this.opts.dtype, this.opts.dim) : null;
    return { x, buf };
  }

  contribute(s: AllReduceState, gradient: GradientSource, out: Vec): number {
    return gradient(s.x, out);
  }

  apply(s: AllReduceState, mean: Vec): void {
    const u = this.increment;
    localIncrement(this.opts, mean, s.x, s.buf, u);
    for (let k = 0; k < u.length; k++) s.x[k] += u[k];
  }
}
