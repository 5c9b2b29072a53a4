import type { Dtype, Vec } from '../core/vec.js';
import { allocVec } from '../core/vec.js';
import type { LocalOptimizer } from './local-optimizer.js';
import { outerLoop, outerStep, pseudoGradient, type OuterLoop, type OuterOptions } from './outer.js';
import { restoreFields, type Algorithm, type CollectiveCapability, type GradientSource, type ParamRange, type SavedState, type WorkerState } from './types.js';

export { DILOCO_DEFAULTS, OUTER_OPTIMIZERS, type OuterOptimizer } from './outer.js';

export interface DilocoOptions extends OuterOptions {
  dim: number;
  dtype: Dtype;
}

export interface DilocoState extends WorkerState {
  readonly x: Vec;
  /** θ: the parameters of the last outer step, where every inner round starts. */
  readonly outer: Vec;
  /** The outer optimizer's momentum. */
  readonly momentum: Vec;
  /** Inner steps taken since the last outer step. */
  inner: number;
}

/**
 * DiLoCo (Douillard et al., *DiLoCo: Distributed Low-Communication Training of Language Models*, 2023,
 * arXiv 2311.08105). Every worker takes H inner steps from θ with its local optimizer (AdamW in the paper; its state
 * goes on across rounds), then the workers average their pseudo-gradients Δ_i = θ − θ_i — the only communication —
 * and every worker takes the same outer step from θ:
 *   nesterov: m ← μ m + Δ;  θ ← θ − lr (Δ + μ m)        sgd: m ← μ m + Δ;  θ ← θ − lr m
 * Outer SGD with lr 1 and μ = 0 is plain periodic model averaging (a test pins that sign).
 */
export class Diloco implements Algorithm<DilocoState> {
  readonly name = 'diloco';
  readonly collective: CollectiveCapability<DilocoState>;
  private readonly grad: Vec;
  private readonly loop: OuterLoop;
  private readonly whole: readonly ParamRange[];

  constructor(private readonly opts: DilocoOptions) {
    this.loop = outerLoop(opts);
    this.grad = allocVec(opts.dtype, opts.dim);
    this.whole = [{ start: 0, end: opts.dim }];
    this.collective = {
      overlaps: false,
      due: (s) => s.inner >= this.loop.H,
      ranges: () => this.whole,
      begin: (s, _t, out) => pseudoGradient(s.outer, s.x, this.whole, out),
      complete: (s, _t, mean) => {
        // Every inner round starts again from the new θ.
        outerStep(this.loop, s.outer, s.momentum, mean, this.whole);
        s.x.set(s.outer);
        s.inner = 0;
      },
    };
  }

  createState(x0: Vec): DilocoState {
    const { dtype, dim } = this.opts;
    const x = allocVec(dtype, dim);
    x.set(x0);
    const outer = allocVec(dtype, dim);
    outer.set(x0);
    return { x, outer, momentum: allocVec(dtype, dim), inner: 0 };
  }

  advance(): void {}

  localStep(s: DilocoState, _t: number, gradient: GradientSource, optimizer: LocalOptimizer): number {
    const loss = gradient(s.x, this.grad);
    optimizer.update(s.x, this.grad);
    s.inner++;
    return loss;
  }

  saved(s: DilocoState): SavedState {
    return { vectors: { outer: s.outer, momentum: s.momentum }, scalars: { inner: s.inner } };
  }

  restore(s: DilocoState, saved: SavedState): void {
    restoreFields(s, saved);
  }
}
