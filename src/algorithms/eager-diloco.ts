import type { Dtype, Vec } from '../core/vec.js';
import { allocVec } from '../core/vec.js';
import type { LocalOptimizer } from './local-optimizer.js';
import { outerLoop, outerStep, pseudoGradient, type OuterLoop, type OuterOptions } from './outer.js';
import { restoreFields, type Algorithm, type CollectiveCapability, type GradientSource, type ParamRange, type SavedState, type WorkerState } from './types.js';

export interface EagerDilocoOptions extends OuterOptions {
  dim: number;
  dtype: Dtype;
  /** k: the number of workers whose pseudo-gradients the all-reduce averages. */
  workers: number;
}

export interface EagerDilocoState extends WorkerState {
  readonly x: Vec;
  /** θ_i: this worker's outer parameters (the workers' differ by their own proxies). */
  readonly outer: Vec;
  /** The outer optimizer's momentum. */
  readonly momentum: Vec;
  /** Δ_i(t − 1): this worker's pseudo-gradient of the last round. */
  readonly local: Vec;
  /** Δ̄(t − 1): the mean pseudo-gradient of the last round whose all-reduce completed. */
  readonly mean: Vec;
  /** Inner steps taken since the last outer step. */
  inner: number;
}

/**
 * DiLoCo with eager updates (Kale, Douillard, Donchev, *Eager Updates For Overlapped Communication and Computation
 * in DiLoCo*, 2025, arXiv 2502.12996): the all-reduce of round t's pseudo-gradients overlaps round t + 1's inner
 * steps, and the outer step of round t does not wait for it. At the end of round t, worker i sends
 * Δ_i(t) = θ_i − x_i and at once takes the outer step with the proxy
 *   Δ̃_i(t) = Δ̄(t − 1) + (Δ_i(t) − Δ_i(t − 1)) / k
 * — the mean of round t − 1 (complete by then: a worker waits for it if not), in which its own share Δ_i(t − 1)/k is
 * replaced by the fresh one Δ_i(t)/k, as if the others' pseudo-gradients had not changed (Δ̄(0) = Δ_i(0) = 0). When
 * round t's mean arrives, during round t + 1, it enters the next proxy: the correction. The workers' θ_i differ by
 * their own proxies; the closing collective averages the whole models at the end of a run.
 */
export class EagerDiloco implements Algorithm<EagerDilocoState> {
  readonly name = 'eager-diloco';
  readonly collective: CollectiveCapability<EagerDilocoState>;
  private readonly loop: OuterLoop;
  private readonly grad: Vec;
  private readonly proxy: Vec;

  constructor(private readonly opts: EagerDilocoOptions) {
    this.loop = outerLoop(opts, 'eager-diloco');
    if (!(Number.isInteger(opts.workers) && opts.workers >= 1)) throw new RangeError(`the number of workers must be a positive integer (got ${opts.workers})`);
    this.grad = allocVec(opts.dtype, opts.dim);
    this.proxy = allocVec(opts.dtype, opts.dim);
    const whole: readonly ParamRange[] = [{ start: 0, end: opts.dim }];
    const k = opts.workers;
    this.collective = {
      overlaps: true,
      due: (s) => s.inner >= this.loop.H,
      ranges: () => whole,
      begin: (s, _t, out) => {
        pseudoGradient(s.outer, s.x, whole, out);
        const { proxy } = this;
        for (let j = 0; j < proxy.length; j++) proxy[j] = s.mean[j] + (out[j] - s.local[j]) / k;
        outerStep(this.loop, s.outer, s.momentum, proxy, whole);
        s.local.set(out);
        s.x.set(s.outer);
        s.inner = 0;
      },
      complete: (s, _t, mean) => s.mean.set(mean),
      closing: {
        ranges: () => whole,
        begin: (s, _t, out) => out.set(s.x),
        complete: (s, _t, mean) => {
          s.x.set(mean);
          s.outer.set(mean);
        },
      },
    };
  }

  createState(x0: Vec): EagerDilocoState {
    const { dtype, dim } = this.opts;
    const x = allocVec(dtype, dim);
    x.set(x0);
    const outer = allocVec(dtype, dim);
    outer.set(x0);
    return { x, outer, momentum: allocVec(dtype, dim), local: allocVec(dtype, dim), mean: allocVec(dtype, dim), inner: 0 };
  }

  advance(): void {}

  localStep(s: EagerDilocoState, _t: number, gradient: GradientSource, optimizer: LocalOptimizer): number {
    const loss = gradient(s.x, this.grad);
    optimizer.update(s.x, this.grad);
    s.inner++;
    return loss;
  }

  saved(s: EagerDilocoState): SavedState {
    return { vectors: { outer: s.outer, momentum: s.momentum, local: s.local, mean: s.mean }, scalars: { inner: s.inner } };
  }

  restore(s: EagerDilocoState, saved: SavedState): void {
    restoreFields(s, saved);
  }
}
