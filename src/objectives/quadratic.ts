import { Rng } from '../core/rng.js';
import type { Vec } from '../core/vec.js';
import { gaussianPoint } from './linear-model.js';
import type { Objective } from './objective.js';

export interface QuadraticOptions {
  workers: number;
  dim: number;
  seed: number;
  /** Curvatures are drawn log-uniformly in [mu, L]. */
  mu?: number;
  L?: number;
  /** Spread of the local minimisers b_i around 0 (heterogeneity between workers). */
  spread?: number;
  /** Standard deviation of additive Gaussian gradient noise. */
  noise?: number;
}

/**
 * Heterogeneous quadratics: f_i(x) = ½ Σ_k a_ik (x_k − b_ik)², a_ik ∈ [μ, L].
 * The global optimum is exact: x*_k = Σ_i a_ik b_ik / Σ_i a_ik.
 */
export class Quadratic implements Objective {
  readonly name = 'quadratic';
  readonly dtype = 'f64' as const;
  readonly dim: number;
  readonly workers: number;
  readonly smoothness: number;
  readonly strongConvexity: number;
  readonly optimum: Float64Array;
  private readonly a: Float64Array;
  private readonly b: Float64Array;
  private readonly noise: number;
  private readonly minLoss: number;

  constructor(opts: QuadraticOptions) {
    const { workers: n, dim: d } = opts;
    const mu = opts.mu ?? 0.1;
    const L = opts.L ?? 1;
    const spread = opts.spread ?? 1;
    this.dim = d;
    this.workers = n;
    this.noise = opts.noise ?? 0;
    this.smoothness = L;
    this.strongConvexity = mu;
    const rng = new Rng(opts.seed).fork('quadratic');
    this.a = new Float64Array(n * d);
    this.b = new Float64Array(n * d);
    for (let k = 0; k < n * d; k++) {
      this.a[k] = mu * Math.pow(L / mu, rng.uniform());
      this.b[k] = spread * rng.normal();
    }
    this.optimum = new Float64Array(d);
    for (let k = 0; k < d; k++) {
      let num = 0;
      let den = 0;
      for (let i = 0; i < n; i++) {
        num += this.a[i * d + k] * this.b[i * d + k];
        den += this.a[i * d + k];
      }
      this.optimum[k] = num / den;
    }
    this.minLoss = 0;
    this.minLoss = this.loss(this.optimum);
  }

  initial(rng: Rng): Vec {
    return gaussianPoint(rng, this.dim);
  }

  gradient(i: number, x: Vec, grad: Vec, rng: Rng): number {
    const d = this.dim;
    const off = i * d;
    let f = 0;
    for (let k = 0; k < d; k++) {
      const r = x[k] - this.b[off + k];
      const ar = this.a[off + k] * r;
      f += 0.5 * ar * r;
      grad[k] = ar;
    }
    if (this.noise > 0) for (let k = 0; k < d; k++) grad[k] += this.noise * rng.normal();
    return f;
  }

  /** f(x) − f(x*): the suboptimality, zero at the optimum. */
  loss(x: Vec): number {
    const d = this.dim;
    let f = 0;
    for (let i = 0; i < this.workers; i++) {
      for (let k = 0; k < d; k++) {
        const r = x[k] - this.b[i * d + k];
        f += 0.5 * this.a[i * d + k] * r * r;
      }
    }
    return f / this.workers - this.minLoss;
  }
}
