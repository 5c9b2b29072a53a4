import type { Dtype, Vec } from '../core/vec.js';
import { allocVec } from '../core/vec.js';
import type { Backend } from '../engine/backend.js';
import type { LocalOptimizer } from './local-optimizer.js';
import { restoreFields, type Algorithm, type GradientSource, type PairwiseCapability, type SavedState, type WorkerState } from './types.js';

export interface AcidOptions {
  dim: number;
  dtype: Dtype;
  /** Vector kernels for float32 models (null: plain loops, as float64 convex problems use). */
  backend: Backend | null;
  /** Mixing rate of the continuous momentum (docs/algorithms.md §2); 0 with tracking off is the baseline. */
  eta: number;
  /** Step of x̃ in an exchange. */
  alphaTilde: number;
  /**
   * 'ideal': both peers mix up to the exchange time, then send x (the symmetric rule of the paper).
   * 'official': a peer sends x as it was before its own mixing step (what the authors' code does).
   */
  exchange?: 'ideal' | 'official';
  /** Keep x̃ at all. Without it the algorithm is the asynchronous gossip baseline. */
  tracking?: boolean;
}

export interface AcidState extends WorkerState {
  readonly x: Vec;
  /** x̃, the second copy (null for the baseline). */
  readonly xt: Vec | null;
  /** Time up to which the mixing has been applied. */
  t: number;
}

/**
 * A2CiD2 (Nabli, Belilovsky, Oyallon — NeurIPS 2023): asynchronous pairwise gossip with a continuous momentum.
 * With tracking off (and so η = 0, no x̃) it is the paper's asynchronous baseline.
 */
export class Acid implements Algorithm<AcidState> {
  readonly name: string;
  readonly pairwise: PairwiseCapability<AcidState>;
  private readonly opts: AcidOptions;
  private readonly grad: Vec;
  private readonly tracking: boolean;
  private readonly official: boolean;
  /**
   * float32 models (neural networks, often millions of parameters) run the vector work on the engine's kernels;
   * float64 convex problems use the plain loops below, which the bit-for-bit invariant tests pin down.
   */
  private readonly kernels: Backend | null;

  constructor(opts: AcidOptions) {
    this.opts = opts;
    this.tracking = opts.tracking ?? true;
    this.official = opts.exchange === 'official';
    this.name = this.tracking ? 'acid' : 'gossip';
    this.grad = allocVec(opts.dtype, opts.dim);
    this.kernels = opts.dtype === 'f32' ? opts.backend : null;
    this.pairwise = {
      messageLength: () => opts.dim,
      message: (s, t, out) => this.message(s, t, out),
      receive: (s, t, peer) => this.receive(s, t, peer),
    };
  }

  /**
   * New constants for the exchanges and mixing from now on (a graph that changed under a running worker: open
   * membership). The baseline (no x̃) stays the baseline.
   */
  retune(eta: number, alphaTilde: number): void {
    if (!this.tracking) return;
    this.opts.eta = eta;
    this.opts.alphaTilde = alphaTilde;
  }

  createState(x0: Vec, t0 = 0): AcidState {
    const { dtype, dim } = this.opts;
    const x = allocVec(dtype, dim);
    x.set(x0);
    let xt: Vec | null = null;
    if (this.tracking) {
      xt = allocVec(dtype, dim);
      xt.set(x0);
    }
    return { x, xt, t: t0 };
  }

  saved(s: AcidState): SavedState {
    return { vectors: s.xt ? { xt: s.xt } : {}, scalars: { t: s.t } };
  }

  restore(s: AcidState, saved: SavedState): void {
    restoreFields(s, saved);
  }

  /** Closed-form mixing over dt: e = exp(−2η dt); x' = ½(1+e) x + ½(1−e) x̃; x̃' = ½(1−e) x + ½(1+e) x̃. */
  advance(s: AcidState, t: number): void {
    const e = this.decay(s, t);
    const xt = s.xt;
    if (e === 1 || !xt) return;
    const p = 0.5 * (1 + e);
    const q = 0.5 * (1 - e);
    const x = s.x;
    if (this.kernels) {
      this.kernels.acidMix(x as Float32Array, xt as Float32Array, x as Float32Array, p, q, 0, 0, 0);
      return;
    }
    for (let k = 0; k < x.length; k++) {
      const a = x[k];
      const b = xt[k];
      x[k] = p * a + q * b;
      xt[k] = q * a + p * b;
    }
  }

  /** Moves the state's time to t and returns the decay e = exp(−2η dt) of the mixing still to apply (1: none). */
  private decay(s: AcidState, t: number): number {
    const dt = t - s.t;
    s.t = t;
    if (!s.xt || dt <= 0 || this.opts.eta === 0) return 1;
    return Math.exp(-2 * this.opts.eta * dt);
  }

  /** Mixes up to t, then adds the optimizer's increment −s·d to x and to x̃ alike. */
  localStep(s: AcidState, t: number, gradient: GradientSource, optimizer: LocalOptimizer): number {
    this.advance(s, t);
    const loss = gradient(s.x, this.grad);
    optimizer.step(s.x, this.grad);
    const kernels = this.kernels;
    if (kernels && s.xt) {
      const k = -optimizer.scale;
      kernels.acidMix(s.x as Float32Array, s.xt as Float32Array, optimizer.direction as Float32Array, 1, 0, 0, k, k);
      return loss;
    }
    optimizer.applyTo(s.x);
    if (s.xt) optimizer.applyTo(s.xt);
    return loss;
  }

  private message(s: AcidState, t: number, out: Vec): void {
    if (!this.official) this.advance(s, t);
    out.set(s.x);
  }

  /** Δ = x_peer − x; x ← x + ½ Δ; x̃ ← x̃ + α̃ Δ (after the mixing up to t). */
  private receive(s: AcidState, t: number, peer: Vec): void {
    const at = this.opts.alphaTilde;
    const kernels = this.kernels;
    if (kernels) {
      const e = this.decay(s, t);
      if (s.xt) kernels.acidMix(s.x as Float32Array, s.xt as Float32Array, peer as Float32Array, 0.5 * (1 + e), 0.5 * (1 - e), 1, 0.5, at);
      else kernels.average(s.x as Float32Array, peer as Float32Array);
      return;
    }
    this.advance(s, t);
    const x = s.x;
    const xt = s.xt;
    if (xt) {
      for (let k = 0; k < x.length; k++) {
        const delta = peer[k] - x[k];
        x[k] += 0.5 * delta;
        xt[k] += at * delta;
      }
    } else {
      for (let k = 0; k < x.length; k++) x[k] += 0.5 * (peer[k] - x[k]);
    }
  }
}
