import { Rng } from '../core/rng.js';
import type { Vec } from '../core/vec.js';
import type { Objective } from './objective.js';

export interface LinearDataOptions {
  workers: number;
  dim: number;
  seed: number;
  /** Samples held by each worker. */
  samples?: number;
  /** ℓ2 regularisation λ (makes every f_i strongly convex). */
  l2?: number;
  /** How far each worker's inputs are shifted from the others' (heterogeneity). */
  shift?: number;
  /** Standard deviation of additive Gaussian gradient noise. */
  noise?: number;
}

/** A point drawn from N(0, I): the starting point of the convex problems. */
export function gaussianPoint(rng: Rng, dim: number): Float64Array {
  const x = new Float64Array(dim);
  for (let k = 0; k < dim; k++) x[k] = rng.normal();
  return x;
}

/** (1/m) AᵀA for one worker's m×d design. */
export function gram(a: Float64Array, m: number, d: number): Float64Array {
  const g = new Float64Array(d * d);
  for (let r = 0; r < m; r++) {
    for (let p = 0; p < d; p++) {
      const ap = a[r * d + p];
      for (let q = 0; q < d; q++) g[p * d + q] += (ap * a[r * d + q]) / m;
    }
  }
  return g;
}

/**
 * A generalised linear model on seeded synthetic data: worker i holds m rows a_ij ~ N(shift_i, I) and
 * f_i(x) = (1/m) Σ_j ℓ(a_ijᵀx, target_ij) + (λ/2)‖x‖². Subclasses define the loss ℓ, the targets and the optimum.
 */
export abstract class LinearModelObjective implements Objective {
  readonly dtype = 'f64' as const;
  abstract readonly name: string;
  readonly dim: number;
  readonly workers: number;
  abstract readonly smoothness: number;
  abstract readonly strongConvexity: number;
  abstract readonly optimum: Float64Array;
  protected readonly features: Float64Array[];
  protected readonly m: number;
  protected readonly l2: number;
  /** Generator of the targets, continuing the stream that drew the features. */
  protected readonly rng: Rng;
  private readonly noise: number;
  private minLoss = 0;

  constructor(opts: LinearDataOptions, label: string) {
    this.dim = opts.dim;
    this.workers = opts.workers;
    this.l2 = opts.l2 ?? 0.1;
    this.noise = opts.noise ?? 0;
    this.rng = new Rng(opts.seed).fork(label);
    this.m = opts.samples ?? 20;
    const d = opts.dim;
    const shift = opts.shift ?? 0.5;
    this.features = [];
    for (let i = 0; i < opts.workers; i++) {
      const center = gaussianPoint(this.rng, d).map((v) => shift * v);
      const a = new Float64Array(this.m * d);
      for (let r = 0; r < this.m; r++) for (let k = 0; k < d; k++) a[r * d + k] = center[k] + this.rng.normal();
      this.features.push(a);
    }
  }

  /** f_i at x, and its gradient into grad when given. */
  protected abstract local(i: number, x: Vec, grad: Vec | null): number;

  /** Call once the optimum is known, so that loss() reports the suboptimality. */
  protected setMinimum(): void {
    this.minLoss = this.loss(this.optimum);
  }

  initial(rng: Rng): Vec {
    return gaussianPoint(rng, this.dim);
  }

  gradient(i: number, x: Vec, grad: Vec, rng: Rng): number {
    const f = this.local(i, x, grad);
    if (this.noise > 0) for (let k = 0; k < this.dim; k++) grad[k] += this.noise * rng.normal();
    return f;
  }

  /** f(x) − f(x*). */
  loss(x: Vec): number {
    let f = 0;
    for (let i = 0; i < this.workers; i++) f += this.local(i, x, null);
    return f / this.workers - this.minLoss;
  }
}
