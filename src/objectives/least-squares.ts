import { solveSpd, symmetricEigenvalues } from '../core/linalg.js';
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

/** Seeded synthetic design matrices: worker i holds m rows a_ij ~ N(shift_i, I). */
export function linearData(opts: LinearDataOptions, label: string): { features: Float64Array[]; rng: Rng; m: number } {
  const rng = new Rng(opts.seed).fork(label);
  const m = opts.samples ?? 20;
  const d = opts.dim;
  const shift = opts.shift ?? 0.5;
  const features: Float64Array[] = [];
  for (let i = 0; i < opts.workers; i++) {
    const center = new Float64Array(d);
    for (let k = 0; k < d; k++) center[k] = shift * rng.normal();
    const a = new Float64Array(m * d);
    for (let r = 0; r < m; r++) for (let k = 0; k < d; k++) a[r * d + k] = center[k] + rng.normal();
    features.push(a);
  }
  return { features, rng, m };
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
 * Least squares: f_i(x) = (1/2m) ‖A_i x − y_i‖² + (λ/2) ‖x‖², targets from a shared planted model plus noise.
 * Optimum from the normal equations; L and μ from the local Hessians' extreme eigenvalues.
 */
export class LeastSquares implements Objective {
  readonly name = 'least-squares';
  readonly dtype = 'f64' as const;
  readonly dim: number;
  readonly workers: number;
  readonly smoothness: number;
  readonly strongConvexity: number;
  readonly optimum: Float64Array;
  private readonly features: Float64Array[];
  private readonly targets: Float64Array[];
  private readonly m: number;
  private readonly l2: number;
  private readonly noise: number;
  private readonly residual: Float64Array;
  private readonly minLoss: number;

  constructor(opts: LinearDataOptions) {
    const d = opts.dim;
    this.dim = d;
    this.workers = opts.workers;
    this.l2 = opts.l2 ?? 0.1;
    this.noise = opts.noise ?? 0;
    const { features, rng, m } = linearData(opts, 'least-squares');
    this.features = features;
    this.m = m;
    this.residual = new Float64Array(m);
    const planted = new Float64Array(d);
    for (let k = 0; k < d; k++) planted[k] = rng.normal();
    this.targets = features.map((a) => {
      const y = new Float64Array(m);
      for (let r = 0; r < m; r++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += a[r * d + k] * planted[k];
        y[r] = s + 0.5 * rng.normal();
      }
      return y;
    });
    const hessian = new Float64Array(d * d);
    const rhs = new Float64Array(d);
    let L = 0;
    let mu = Infinity;
    for (let i = 0; i < this.workers; i++) {
      const g = gram(features[i], m, d);
      for (let k = 0; k < d; k++) g[k * d + k] += this.l2;
      const eig = symmetricEigenvalues(g, d);
      mu = Math.min(mu, eig[0]);
      L = Math.max(L, eig[d - 1]);
      for (let k = 0; k < d * d; k++) hessian[k] += g[k];
      const a = features[i];
      const y = this.targets[i];
      for (let r = 0; r < m; r++) for (let k = 0; k < d; k++) rhs[k] += (a[r * d + k] * y[r]) / m;
    }
    this.smoothness = L;
    this.strongConvexity = mu;
    this.optimum = solveSpd(hessian, rhs, d);
    this.minLoss = 0;
    this.minLoss = this.loss(this.optimum);
  }

  initial(rng: Rng): Vec {
    const x = new Float64Array(this.dim);
    for (let k = 0; k < this.dim; k++) x[k] = rng.normal();
    return x;
  }

  private local(i: number, x: Vec, grad: Vec | null): number {
    const d = this.dim;
    const m = this.m;
    const a = this.features[i];
    const y = this.targets[i];
    const res = this.residual;
    let f = 0;
    for (let r = 0; r < m; r++) {
      let s = -y[r];
      for (let k = 0; k < d; k++) s += a[r * d + k] * x[k];
      res[r] = s;
      f += (0.5 * s * s) / m;
    }
    let reg = 0;
    for (let k = 0; k < d; k++) reg += x[k] * x[k];
    if (grad) {
      for (let k = 0; k < d; k++) grad[k] = this.l2 * x[k];
      for (let r = 0; r < m; r++) {
        const c = res[r] / m;
        for (let k = 0; k < d; k++) grad[k] += c * a[r * d + k];
      }
    }
    return f + 0.5 * this.l2 * reg;
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
