import { expm } from '../core/linalg.js';
import type { Vec } from '../core/vec.js';
import type { GradientSource, PairwiseAlgorithm, WorkerState } from './types.js';

export interface DadaoOptions {
  dim: number;
  /** Smoothness L and strong convexity μ of every local function. */
  L: number;
  mu: number;
  /** χ1 of the communication Laplacian at its actual rate (χ1* in the paper). */
  chi1Star: number;
}

export interface DadaoState extends WorkerState {
  readonly x: Float64Array;
  readonly xt: Float64Array;
  readonly y: Float64Array;
  readonly yt: Float64Array;
  readonly z: Float64Array;
  readonly zt: Float64Array;
  t: number;
}

/**
 * DADAO (Nabli, Oyallon — ICML 2023): decoupled accelerated decentralized asynchronous optimization for smooth
 * strongly convex sums. Six vectors per node follow a linear ODE between events (integrated exactly with the 6×6
 * matrix exponential); gradient and communication events jump them (ALGORITHMS.md §3).
 */
export class Dadao implements PairwiseAlgorithm<DadaoState> {
  readonly name = 'dadao';
  private readonly dim: number;
  private readonly nu: number;
  private readonly gamma: number;
  private readonly gammaTilde: number;
  private readonly deltaSum: number;
  private readonly betaTilde: number;
  private readonly ode: Float64Array;
  private readonly grad: Float64Array;
  private cachedDt = NaN;
  private cachedExp: Float64Array = new Float64Array(36);

  constructor(opts: DadaoOptions) {
    const { L, mu } = opts;
    this.dim = opts.dim;
    const nu = mu / 2;
    const rho = Math.sqrt(nu / L);
    this.nu = nu;
    this.gamma = 1 / (4 * L);
    this.gammaTilde = 1 / (4 * Math.sqrt(L * nu));
    this.deltaSum = rho / 4 + 1;
    this.betaTilde = 2 * opts.chi1Star * Math.sqrt(L / nu);
    const eta = rho / 8;
    const alpha = rho / 4;
    const alphaTilde = rho / 8;
    const theta = 1 / (2 * rho);
    // State order (x, x̃, y, ỹ, z, z̃).
    const m = new Float64Array(36);
    const set = (r: number, c: number, v: number) => (m[r * 6 + c] = v);
    set(0, 0, -eta); set(0, 1, eta);
    set(1, 0, eta); set(1, 1, -eta);
    set(2, 2, -alpha); set(2, 3, alpha);
    set(3, 1, -theta * nu); set(3, 2, -theta); set(3, 4, -theta);
    set(4, 4, -alpha); set(4, 5, alpha);
    set(5, 4, alphaTilde); set(5, 5, -alphaTilde);
    this.ode = m;
    this.grad = new Float64Array(opts.dim);
  }

  /** x starts at x0, every other variable at 0. */
  createState(x0: Vec, t0 = 0): DadaoState {
    const d = this.dim;
    const x = new Float64Array(d);
    x.set(x0);
    return { x, xt: new Float64Array(d), y: new Float64Array(d), yt: new Float64Array(d), z: new Float64Array(d), zt: new Float64Array(d), t: t0 };
  }

  advance(s: DadaoState, t: number): void {
    const dt = t - s.t;
    s.t = t;
    if (dt <= 0) return;
    if (dt !== this.cachedDt) {
      this.cachedExp = expm(this.ode.map((v) => v * dt), 6);
      this.cachedDt = dt;
    }
    const e = this.cachedExp;
    const { x, xt, y, yt, z, zt } = s;
    for (let k = 0; k < this.dim; k++) {
      const v0 = x[k], v1 = xt[k], v2 = y[k], v3 = yt[k], v4 = z[k], v5 = zt[k];
      x[k] = e[0] * v0 + e[1] * v1 + e[2] * v2 + e[3] * v3 + e[4] * v4 + e[5] * v5;
      xt[k] = e[6] * v0 + e[7] * v1 + e[8] * v2 + e[9] * v3 + e[10] * v4 + e[11] * v5;
      y[k] = e[12] * v0 + e[13] * v1 + e[14] * v2 + e[15] * v3 + e[16] * v4 + e[17] * v5;
      yt[k] = e[18] * v0 + e[19] * v1 + e[20] * v2 + e[21] * v3 + e[22] * v4 + e[23] * v5;
      z[k] = e[24] * v0 + e[25] * v1 + e[26] * v2 + e[27] * v3 + e[28] * v4 + e[29] * v5;
      zt[k] = e[30] * v0 + e[31] * v1 + e[32] * v2 + e[33] * v3 + e[34] * v4 + e[35] * v5;
    }
  }

  /** g = ∇f_i(x) − ν x − ỹ;  x −= g/(4L);  x̃ −= g/(4√(Lν));  ỹ += (ρ/4 + 1) g. */
  gradientStep(s: DadaoState, t: number, gradient: GradientSource): number {
    this.advance(s, t);
    const loss = gradient(s.x, this.grad);
    const { x, xt, yt } = s;
    const g = this.grad;
    for (let k = 0; k < this.dim; k++) {
      const gk = g[k] - this.nu * x[k] - yt[k];
      x[k] -= this.gamma * gk;
      xt[k] -= this.gammaTilde * gk;
      yt[k] += this.deltaSum * gk;
    }
    return loss;
  }

  messageLength(): number {
    return this.dim;
  }

  /** Sends y + z. */
  message(s: DadaoState, t: number, out: Vec): void {
    this.advance(s, t);
    for (let k = 0; k < this.dim; k++) out[k] = s.y[k] + s.z[k];
  }

  /** m = (y + z) − peer;  z −= ½ m;  z̃ −= β̃ m. */
  receive(s: DadaoState, t: number, peer: Vec): void {
    this.advance(s, t);
    const { y, z, zt } = s;
    for (let k = 0; k < this.dim; k++) {
      const m = y[k] + z[k] - peer[k];
      z[k] -= 0.5 * m;
      zt[k] -= this.betaTilde * m;
    }
  }
}
