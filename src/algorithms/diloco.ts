import type { Dtype, Vec } from '../core/vec.js';
import { UsageError } from '../core/errors.js';
import { allocVec } from '../core/vec.js';
import type { LocalOptimizer } from './local-optimizer.js';
import { restoreFields, type Algorithm, type CollectiveCapability, type GradientSource, type ParamRange, type SavedState, type WorkerState } from './types.js';

/** The outer optimizers; delayed-nesterov is asynchronous Local-SGD's (outer-server.ts), the others every member's. */
export const OUTER_OPTIMIZERS = ['sgd', 'nesterov', 'delayed-nesterov'] as const;
export type OuterOptimizer = (typeof OUTER_OPTIMIZERS)[number];

/** The paper's outer step and round length. */
export const DILOCO_DEFAULTS = { innerSteps: 500, outerLr: 0.7, outerMomentum: 0.9, outerOptimizer: 'nesterov' as OuterOptimizer };

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
}

/** An outer step's settings, checked: H, lr, μ and the rule. */
export interface OuterSettings {
  H: number;
  lr: number;
  mu: number;
  optimizer: OuterOptimizer;
}

/**
 * The outer settings with their defaults, checked (UsageErrors naming the field); `rules` are the outer optimizers
 * the algorithm has, `defaultRule` the one it takes when none is given.
 */
export function outerSettings(
  opts: Omit<DilocoOptions, 'dim' | 'dtype'>, algorithm: string, rules: readonly OuterOptimizer[], defaultRule: OuterOptimizer = DILOCO_DEFAULTS.outerOptimizer,
): OuterSettings {
  const H = opts.innerSteps ?? DILOCO_DEFAULTS.innerSteps;
  const lr = opts.outerLr ?? DILOCO_DEFAULTS.outerLr;
  const mu = opts.outerMomentum ?? DILOCO_DEFAULTS.outerMomentum;
  const optimizer = opts.outerOptimizer ?? defaultRule;
  if (!(Number.isInteger(H) && H >= 1)) throw new UsageError(`the inner steps per round must be a positive integer (got ${H})`, { field: 'innerSteps' });
  if (!(lr > 0)) throw new UsageError(`the outer learning rate must be positive (got ${lr})`, { field: 'outerLr' });
  if (!(mu >= 0 && mu < 1)) throw new UsageError(`the outer momentum must be in [0, 1) (got ${mu})`, { field: 'outerMomentum' });
  if (!rules.includes(optimizer)) throw new UsageError(`${algorithm}'s outer optimizer is ${rules.join(' or ')}, not ${optimizer}`, { field: 'outerOptimizer' });
  return { H, lr, mu, optimizer };
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
  private readonly H: number;
  private readonly lr: number;
  private readonly mu: number;
  private readonly nesterov: boolean;

  constructor(private readonly opts: DilocoOptions) {
    const o = outerSettings(opts, 'diloco', ['sgd', 'nesterov']);
    this.H = o.H;
    this.lr = o.lr;
    this.mu = o.mu;
    this.nesterov = o.optimizer === 'nesterov';
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
  private outerStep(s: DilocoState, delta: Vec): void {
    const { outer, momentum: m, x } = s;
    const { lr, mu } = this;
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
