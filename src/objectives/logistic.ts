import { solveSpd, symmetricEigenvalues } from '../core/linalg.js';
import type { Vec } from '../core/vec.js';
import { gaussianPoint, gram, LinearModelObjective, type LinearDataOptions } from './linear-model.js';

/**
 * ℓ2-regularised logistic regression: f_i(x) = (1/m) Σ_r log(1 + exp(−y_r a_rᵀx)) + (λ/2) ‖x‖², labels ±1 from a
 * planted separator with label noise. The optimum is found by Newton's method to machine precision at set-up;
 * L_i = λmax(A_iᵀA_i)/(4m) + λ and μ = λ.
 */
export class Logistic extends LinearModelObjective {
  readonly name = 'logistic';
  readonly smoothness: number;
  readonly strongConvexity: number;
  readonly optimum: Float64Array;
  private readonly labels: Float64Array[];

  constructor(opts: LinearDataOptions) {
    super(opts, 'logistic');
    const d = this.dim;
    const m = this.m;
    const planted = gaussianPoint(this.rng, d);
    this.labels = this.features.map((a) => {
      const y = new Float64Array(m);
      for (let r = 0; r < m; r++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += a[r * d + k] * planted[k];
        y[r] = s + 0.5 * this.rng.normal() >= 0 ? 1 : -1;
      }
      return y;
    });
    let L = 0;
    for (const a of this.features) {
      const eig = symmetricEigenvalues(gram(a, m, d), d);
      L = Math.max(L, eig[d - 1] / 4 + this.l2);
    }
    this.smoothness = L;
    this.strongConvexity = this.l2;
    this.optimum = this.newton();
    this.setMinimum();
  }

  private newton(): Float64Array {
    const d = this.dim;
    const x = new Float64Array(d);
    const g = new Float64Array(d);
    for (let iter = 0; iter < 100; iter++) {
      const h = new Float64Array(d * d);
      g.fill(0);
      for (let i = 0; i < this.workers; i++) {
        const a = this.features[i];
        const y = this.labels[i];
        for (let r = 0; r < this.m; r++) {
          let z = 0;
          for (let k = 0; k < d; k++) z += a[r * d + k] * x[k];
          const s = sigmoid(-y[r] * z);
          const w = (s * (1 - s)) / this.m;
          for (let p = 0; p < d; p++) {
            g[p] -= (y[r] * s * a[r * d + p]) / this.m;
            for (let q = 0; q < d; q++) h[p * d + q] += w * a[r * d + p] * a[r * d + q];
          }
        }
      }
      for (let p = 0; p < d; p++) {
        g[p] = g[p] / this.workers + this.l2 * x[p];
        for (let q = 0; q < d; q++) h[p * d + q] /= this.workers;
        h[p * d + p] += this.l2;
      }
      const step = solveSpd(h, g, d);
      let norm = 0;
      for (let k = 0; k < d; k++) {
        x[k] -= step[k];
        norm += step[k] * step[k];
      }
      if (norm < 1e-30) break;
    }
    return x;
  }

  protected local(i: number, x: Vec, grad: Vec | null): number {
    const d = this.dim;
    const a = this.features[i];
    const y = this.labels[i];
    let f = 0;
    if (grad) for (let k = 0; k < d; k++) grad[k] = this.l2 * x[k];
    for (let r = 0; r < this.m; r++) {
      let z = 0;
      for (let k = 0; k < d; k++) z += a[r * d + k] * x[k];
      const margin = y[r] * z;
      f += (margin > 0 ? Math.log1p(Math.exp(-margin)) : -margin + Math.log1p(Math.exp(margin))) / this.m;
      if (grad) {
        const c = (-y[r] * sigmoid(-margin)) / this.m;
        for (let k = 0; k < d; k++) grad[k] += c * a[r * d + k];
      }
    }
    let reg = 0;
    for (let k = 0; k < d; k++) reg += x[k] * x[k];
    return f + 0.5 * this.l2 * reg;
  }
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}
