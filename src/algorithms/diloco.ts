import type { Dtype, Vec } from '../core/vec.js';
import { allocVec } from '../core/vec.js';
import type { Backend } from '../engine/backend.js';
import { brake, checkBraking, DEFAULT_BRAKING, tensorRanges, type TensorRange } from '../engine/optim/braking.js';
import type { LocalOptimizer } from './local-optimizer.js';
import { restoreFields, type Algorithm, type CollectiveCapability, type GradientSource, type ParamRange, type SavedState, type WorkerState } from './types.js';

export const OUTER_OPTIMIZERS = ['sgd', 'nesterov'] as const;
export type OuterOptimizer = (typeof OUTER_OPTIMIZERS)[number];

/** The paper's outer step and round length; no braking of the outer step. */
export const DILOCO_DEFAULTS = { innerSteps: 500, outerLr: 0.7, outerMomentum: 0.9, outerOptimizer: 'nesterov' as OuterOptimizer, outerBraking: DEFAULT_BRAKING };

/** DiLoCo's settings that a command line gives (the same names as its options). */
export const DILOCO_SETTINGS = ['innerSteps', 'outerLr', 'outerMomentum', 'outerOptimizer', 'outerBraking'] as const;

export interface DilocoOptions {
  dim: number;
  dtype: Dtype;
  /** H: inner steps between two outer steps. @default 500 */
  innerSteps?: number;
  /** Outer learning rate. @default 0.7 */
  outerLr?: number;
  /** Outer momentum μ. @default 0.9 */
  outerMomentum?: number;
  /** 'nesterov' (the paper's) or 'sgd' (heavy-ball momentum, or none with μ = 0). @default 'nesterov' */
  outerOptimizer?: OuterOptimizer;
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
  private readonly H: number;
  private readonly lr: number;
  private readonly mu: number;
  private readonly nesterov: boolean;
  private readonly braking: number;
  private readonly tensors: readonly TensorRange[];
  /** The braked pseudo-gradient (the mean is shared by every worker and stays as it is). */
  private readonly braked: Vec;

  constructor(private readonly opts: DilocoOptions) {
    this.H = opts.innerSteps ?? DILOCO_DEFAULTS.innerSteps;
    this.lr = opts.outerLr ?? DILOCO_DEFAULTS.outerLr;
    this.mu = opts.outerMomentum ?? DILOCO_DEFAULTS.outerMomentum;
    this.nesterov = (opts.outerOptimizer ?? DILOCO_DEFAULTS.outerOptimizer) === 'nesterov';
    if (!(Number.isInteger(this.H) && this.H >= 1)) throw new RangeError(`the inner steps per round must be a positive integer (got ${this.H})`);
    if (!(this.lr > 0)) throw new RangeError(`the outer learning rate must be positive (got ${this.lr})`);
    if (!(this.mu >= 0 && this.mu < 1)) throw new RangeError(`the outer momentum must be in [0, 1) (got ${this.mu})`);
    this.braking = opts.outerBraking ?? DILOCO_DEFAULTS.outerBraking;
    checkBraking(this.braking, this.mu > 0, '--outer-braking', 'an outer momentum above 0');
    this.tensors = this.braking > 0 ? tensorRanges(opts.layout, opts.dim) : [];
    this.braked = allocVec(opts.dtype, this.braking > 0 ? opts.dim : 0);
    this.grad = allocVec(opts.dtype, opts.dim);
    const whole: readonly ParamRange[] = [{ start: 0, end: opts.dim }];
    this.collective = {
      overlaps: false,
      due: (s) => s.inner >= this.H,
      ranges: () => whole,
      begin: (s, _t, out) => {
        for (let k = 0; k < out.length; k++) out[k] = s.outer[k] - s.x[k];
      },
      complete: (s, _t, mean) => this.outerStep(s, mean),
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

  /** The outer step from θ with the mean pseudo-gradient; every inner round starts again from the new θ. */
  private outerStep(s: DilocoState, mean: Vec): void {
    const { outer, momentum: m, x } = s;
    const { lr, mu } = this;
    let delta = mean;
    if (this.braking > 0) {
      delta = this.braked;
      delta.set(mean);
      brake(delta, m, this.tensors, this.braking, this.opts.dtype === 'f32' ? (this.opts.backend ?? null) : null);
    }
    for (let k = 0; k < outer.length; k++) {
      const d = delta[k];
      const b = mu * m[k] + d;
      m[k] = b;
      outer[k] -= lr * (this.nesterov ? d + mu * b : b);
    }
    x.set(outer);
    s.inner = 0;
  }

  saved(s: DilocoState): SavedState {
    return { vectors: { outer: s.outer, momentum: s.momentum }, scalars: { inner: s.inner } };
  }

  restore(s: DilocoState, saved: SavedState): void {
    restoreFields(s, saved);
  }
}
