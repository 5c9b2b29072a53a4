import { solveSpd, symmetricEigenvalues } from '../core/linalg.js';
import type { Vec } from '../core/vec.js';
import { gaussianPoint, gram, LinearModelObjective, type LinearDataOptions } from './linear-model.js';

/**
 * Least squares: f_i(x) = (1/2m) ‖A_i x − y_i‖² + (λ/2) ‖x‖², targets from a shared planted model plus noise.
 * Optimum from the normal equations; L and μ from the local Hessians' extreme eigenvalues.
 */
export class LeastSquares extends LinearModelObjective {
  readonly name = 'least-squares';
  readonly smoothness: number;
  readonly strongConvexity: number;
  readonly optimum: Float64Array;
  private readonly targets: Float64Array[];
  private readonly residual: Float64Array;

  constructor(opts: LinearDataOptions) {
    super(opts, 'least-squares');
    const d = this.dim;
    const m = this.m;
    this.residual = new Float64Array(m);
    const planted = gaussianPoint(this.rng, d);
    this.targets = this.features.map((a) => {
      const y = new Float64Array(m);
      for (let r = 0; r < m; r++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += a[r * d + k] * planted[k];
        y[r] = s + 0.5 * this.rng.normal();
      }
      return y;
    });
    const hessian = new Float64Array(d * d);
    const rhs = new Float64Array(d);
    let L = 0;
    let mu = Infinity;
    for (let i = 0; i < this.workers; i++) {
      const g = gram(this.features[i], m, d);
      for (let k = 0; k < d; k++) g[k * d + k] += this.l2;
      const eig = symmetricEigenvalues(g, d);
      mu = Math.min(mu, eig[0]);
      L = Math.max(L, eig[d - 1]);
      for (let k = 0; k < d * d; k++) hessian[k] += g[k];
      const a = this.features[i];
      const y = this.targets[i];
      for (let r = 0; r < m; r++) for (let k = 0; k < d; k++) rhs[k] += (a[r * d + k] * y[r]) / m;
    }
    this.smoothness = L;
    this.strongConvexity = mu;
    this.optimum = solveSpd(hessian, rhs, d);
    this.setMinimum();
  }

  protected local(i: number, x: Vec, grad: Vec | null): number {
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
}
