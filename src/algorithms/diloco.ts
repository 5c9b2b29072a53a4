import type { Dtype, Vec } from '../core/vec.js';
import { allocVec } from '../core/vec.js';
import type { Backend } from '../engine/backend.js';
import { brake, checkBraking, DEFAULT_BRAKING, tensorRanges, type TensorRange } from '../engine/optim/braking.js';
import type { LocalOptimizer } from './local-optimizer.js';
import { outerLoop, outerStep, pseudoGradient, type OuterLoop, type OuterOptions } from './outer.js';
import { restoreFields, type Algorithm, type CollectiveCapability, type GradientSource, type ParamRange, type SavedState, type WorkerState } from './types.js';

export { DILOCO_DEFAULTS, OUTER_OPTIMIZERS, type OuterOptimizer } from './outer.js';

export interface DilocoOptions extends OuterOptions {
  dim: number;
  dtype: Dtype;
  /** Adaptive Braking's ρ on the outer step, against the outer momentum (needs μ > 0). @default 0 (off) */
  outerBraking?: number;
  /** The model's tensors, for the outer braking (default: the whole vector is one). */
  layout?: readonly { offset: number; size: number }[];
  /** Vector kernels of float32 models (the outer braking's dot products). */
  backend?: Backend | null;
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
 * Outer SGD with lr 1 and μ = 0 is plain periodic model averaging (a test pins that sign). With outer braking
 * (ρ > 0), Δ is first braked against m tensor by tensor, Δ_T ← (1 − ρ cos(Δ_T, m_T)) Δ_T (engine/optim/braking.ts):
 * every worker brakes the same mean with the same momentum, so the outer steps stay identical.
 */
export class Diloco implements Algorithm<DilocoState> {
  readonly name = 'diloco';
  readonly collective: CollectiveCapability<DilocoState>;
  private readonly grad: Vec;
  private readonly loop: OuterLoop;
  private readonly whole: readonly ParamRange[];
  private readonly braking: number;
  private readonly tensors: readonly TensorRange[];
  /** The braked pseudo-gradient (the mean is shared by every worker and stays as it is). */
  private readonly braked: Vec;

  constructor(private readonly opts: DilocoOptions) {
    this.loop = outerLoop(opts);
    this.braking = opts.outerBraking ?? DEFAULT_BRAKING;
    checkBraking(this.braking, this.loop.mu > 0, '--outer-braking', 'an outer momentum above 0');
    this.tensors = this.braking > 0 ? tensorRanges(opts.layout, opts.dim) : [];
    this.braked = allocVec(opts.dtype, this.braking > 0 ? opts.dim : 0);
    this.grad = allocVec(opts.dtype, opts.dim);
    this.whole = [{ start: 0, end: opts.dim }];
    this.collective = {
      overlaps: false,
      due: (s) => s.inner >= this.loop.H,
      ranges: () => this.whole,
      begin: (s, _t, out) => pseudoGradient(s.outer, s.x, this.whole, out),
      complete: (s, _t, mean) => {
        // Every inner round starts again from the new θ.
        outerStep(this.loop, s.outer, s.momentum, this.brakedMean(mean, s.momentum), this.whole);
        s.x.set(s.outer);
        s.inner = 0;
      },
    };
  }

  /** The mean pseudo-gradient, braked against the outer momentum when asked (a copy: the mean is shared). */
  private brakedMean(mean: Vec, m: Vec): Vec {
    if (this.braking === 0) return mean;
    this.braked.set(mean);
    brake(this.braked, m, this.tensors, this.braking, this.opts.dtype === 'f32' ? (this.opts.backend ?? null) : null);
    return this.braked;
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
