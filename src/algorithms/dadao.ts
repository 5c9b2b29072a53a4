import type { Vec } from '../core/vec.js';
import { restoreFields, type Algorithm, type GradientSource, type PairwiseCapability, type SavedState, type WorkerState } from './types.js';

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
 * matrix exponential); gradient and communication events jump them (docs/algorithms.md §3).
 */
export class Dadao implements Algorithm<DadaoState> {
  readonly name = 'dadao';
  readonly pairwise: PairwiseCapability<DadaoState> = {
    messageLength: () => this.dim,
    message: (s, t, out) => this.message(s, t, out),
    receive: (s, t, peer) => this.receive(s, t, peer),
  };
  private readonly dim: number;
  private readonly nu: number;
  private readonly gamma: number;
  private readonly gammaTilde: number;
  private readonly deltaSum: number;
  private readonly betaTilde: number;
  private readonly grad: Float64Array;
  private readonly c: { eta: number; alpha: number; alphaTilde: number; theta: number };
  /** exp(M·dt) of the last advance (row-major 6×6), overwritten by the next. */
  private readonly e = new Float64Array(36);
  private readonly responses = new Float64Array(6);
  private readonly betas = new Float64Array(3);

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
    this.c = { eta: rho / 8, alpha: rho / 4, alphaTilde: rho / 8, theta: 1 / (2 * rho) };
    this.grad = new Float64Array(opts.dim);
  }

  /** The generator M of the ODE in the state order (x, x̃, y, ỹ, z, z̃), row-major 6×6. */
  generator(): Float64Array {
    const { eta, alpha, alphaTilde, theta } = this.c;
    const nu = this.nu;
    return Float64Array.from([
      -eta, eta, 0, 0, 0, 0,
      eta, -eta, 0, 0, 0, 0,
      0, 0, -alpha, alpha, 0, 0,
      0, -theta * nu, -theta, 0, -theta, 0,
      0, 0, 0, 0, -alpha, alpha,
      0, 0, 0, 0, alphaTilde, -alphaTilde,
    ]);
  }

  /**
   * exp(M·dt) in closed form. M is block-triangular: (x, x̃) and (z, z̃) relax on their own; (y, ỹ) is a damped
   * 2×2 system A driven by ν x̃ + z = g0 + g1 e^{−β1 t} + g2 e^{−β2 t} (β1 = 2η, β2 = α + α̃), whose response to
   * e^{−βt} is (A + βI)⁻¹ (e^{At} − e^{−βt} I) b with b = (0, −θ).
   */
  propagator(dt: number): Float64Array {
    const { eta, alpha, alphaTilde, theta } = this.c;
    const nu = this.nu;
    const e = this.e;
    e.fill(0);
    // (x, x̃): mean kept, difference decays at 2η.
    const ex = Math.exp(-2 * eta * dt);
    e[0] = e[7] = 0.5 * (1 + ex);
    e[1] = e[6] = 0.5 * (1 - ex);
    // (z, z̃): α̃ z + α z̃ kept, difference decays at α + α̃.
    const s = alpha + alphaTilde;
    const ez = Math.exp(-s * dt);
    e[28] = (alphaTilde + alpha * ez) / s;
    e[29] = (alpha - alpha * ez) / s;
    e[34] = (alphaTilde - alphaTilde * ez) / s;
    e[35] = (alpha + alphaTilde * ez) / s;
    // e^{A dt} for A = [[−α, α], [−θ, 0]] (trace τ = −α, determinant αθ).
    const a11 = -alpha, a12 = alpha, a21 = -theta, a22 = 0;
    const half = -alpha / 2;
    const disc = half * half - alpha * theta;
    const w = Math.sqrt(Math.abs(disc));
    let c0: number;
    let c1: number;
    if (disc < 0) {
      c0 = Math.cos(w * dt);
      c1 = Math.sin(w * dt) / w;
    } else if (disc > 0) {
      c0 = Math.cosh(w * dt);
      c1 = Math.sinh(w * dt) / w;
    } else {
      c0 = 1;
      c1 = dt;
    }
    const decay = Math.exp(half * dt);
    const E11 = decay * (c0 + c1 * (a11 - half)), E12 = decay * c1 * a12;
    const E21 = decay * c1 * a21, E22 = decay * (c0 + c1 * (a22 - half));
    // Responses P(β) = (A + βI)⁻¹ (E − e^{−β dt} I) b, b = (0, −θ), for β = 0, 2η, α + α̃; then the (y, ỹ) rows
    // through g0 = ν(x + x̃)/2 + (α̃ z + α z̃)/s,  g1 = −ν(x − x̃)/2,  g2 = α(z − z̃)/s.
    const p = this.responses;
    const betas = this.betas;
    betas[1] = 2 * eta;
    betas[2] = s;
    for (let r = 0; r < 3; r++) {
      const beta = betas[r];
      const q = Math.exp(-beta * dt);
      const r1 = -theta * E12;
      const r2 = -theta * (E22 - q);
      const m11 = a11 + beta, m12 = a12, m21 = a21, m22 = a22 + beta;
      const det = m11 * m22 - m12 * m21;
      p[2 * r] = (m22 * r1 - m12 * r2) / det;
      p[2 * r + 1] = (m11 * r2 - m21 * r1) / det;
    }
    for (let c = 0; c < 2; c++) {
      const row = 12 + 6 * c;
      const p0 = p[c], p1 = p[2 + c], p2 = p[4 + c];
      e[row] = (nu / 2) * (p0 - p1);
      e[row + 1] = (nu / 2) * (p0 + p1);
      e[row + 4] = (alphaTilde / s) * p0 + (alpha / s) * p2;
      e[row + 5] = (alpha / s) * p0 - (alpha / s) * p2;
    }
    e[14] = E11;
    e[15] = E12;
    e[20] = E21;
    e[21] = E22;
    return e;
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
    const e = this.propagator(dt);
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

  saved(s: DadaoState): SavedState {
    const { xt, y, yt, z, zt } = s;
    return { vectors: { xt, y, yt, z, zt }, scalars: { t: s.t } };
  }

  restore(s: DadaoState, saved: SavedState): void {
    restoreFields(s, saved);
  }

  /**
   * g = ∇f_i(x) − ν x − ỹ;  x −= g/(4L);  x̃ −= g/(4√(Lν));  ỹ += (ρ/4 + 1) g. DADAO's step sizes are part of the
   * method: it takes no local optimizer.
   */
  localStep(s: DadaoState, t: number, gradient: GradientSource): number {
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

  /** Sends y + z. */
  private message(s: DadaoState, t: number, out: Vec): void {
    this.advance(s, t);
    for (let k = 0; k < this.dim; k++) out[k] = s.y[k] + s.z[k];
  }

  /** m = (y + z) − peer;  z −= ½ m;  z̃ −= β̃ m. */
  private receive(s: DadaoState, t: number, peer: Vec): void {
    this.advance(s, t);
    const { y, z, zt } = s;
    for (let k = 0; k < this.dim; k++) {
      const m = y[k] + z[k] - peer[k];
      z[k] -= 0.5 * m;
      zt[k] -= this.betaTilde * m;
    }
  }
}
