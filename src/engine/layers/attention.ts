import type { Backend } from '../backend.js';
import type { Scope } from '../layout.js';
import { checkInput, Layer, Slot } from './layer.js';
import { Linear } from './linear.js';

/**
 * Causal multi-head self-attention over x [batch, seq, dim]:
 *   [Q | K | V] = x · Wqkvᵀ + bqkv   (one Linear dim → 3·dim; head h uses columns h·dh … (h+1)·dh of each part)
 *   P_h = softmax(Q_h K_hᵀ / √dh) with a causal mask,  O_h = P_h V_h,  y = [O_0 … O_{H−1}] · Wprojᵀ + bproj.
 * Per head, the products over the batch are one sgemmBatched call each (strided views into the qkv buffer), so
 * the only JavaScript loop is over heads. Scores and probabilities are kept as [heads, batch, seq, seq].
 */
export class CausalSelfAttention extends Layer {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly headDim: number;
  private batch = 0;
  private qkvOut: Float32Array = new Float32Array(0);
  private probs: Float32Array = new Float32Array(0);
  private readonly probsSlot = new Slot();
  private readonly attSlot = new Slot();
  private readonly dprobsSlot = new Slot();
  private readonly dqkvSlot = new Slot();

  constructor(backend: Backend, scope: Scope, readonly dim: number, readonly heads: number, readonly seq: number) {
    super(backend);
    if (dim % heads !== 0) throw new Error(`CausalSelfAttention: dim ${dim} is not divisible by ${heads} heads`);
    this.headDim = dim / heads;
    this.qkv = new Linear(backend, scope.child('qkv'), dim, 3 * dim);
    this.proj = new Linear(backend, scope.child('proj'), dim, dim);
  }

  override setComputeInputGrad(value: boolean): void {
    super.setComputeInputGrad(value);
    this.qkv.setComputeInputGrad(value);
  }

  forward(x: Float32Array, batch: number): Float32Array {
    const { dim: d, heads: nh, seq: t, headDim: dh } = this;
    checkInput(x, batch, t * d, 'CausalSelfAttention');
    const b = this.backend;
    this.batch = batch;
    const qkv = this.qkv.forward(x);
    this.qkvOut = qkv;
    const tt = t * t;
    const probs = this.probsSlot.get(nh * batch * tt);
    this.probs = probs;
    const att = this.attSlot.get(batch * t * d);
    const ld = 3 * d;
    const sampleStride = t * ld;
    for (let h = 0; h < nh; h++) {
      const s = probs.subarray(h * batch * tt);
      // S_h[b] = Q_h[b] · K_h[b]ᵀ  (T×T)
      b.sgemmBatched(false, true, t, t, dh, 1, qkv.subarray(h * dh), ld, sampleStride, qkv.subarray(d + h * dh), ld, sampleStride, 0, s, t, tt, batch);
    }
    b.softmax(probs, probs, nh * batch * t, t, 1 / Math.sqrt(dh), true);
    for (let h = 0; h < nh; h++) {
      // O_h[b] = P_h[b] · V_h[b]  written into columns h·dh … of att [batch·T, D]
      b.sgemmBatched(false, false, t, dh, t, 1, probs.subarray(h * batch * tt), t, tt, qkv.subarray(2 * d + h * dh), ld, sampleStride, 0, att.subarray(h * dh), d, t * d, batch);
    }
    return this.proj.forward(att);
  }

  backward(dy: Float32Array): Float32Array | null {
    const { dim: d, heads: nh, seq: t, headDim: dh, batch } = this;
    const b = this.backend;
    const datt = this.proj.backward(dy) as Float32Array;
    const qkv = this.qkvOut;
    const probs = this.probs;
    const tt = t * t;
    const ld = 3 * d;
    const sampleStride = t * ld;
    const dprobs = this.dprobsSlot.get(nh * batch * tt);
    const dqkv = this.dqkvSlot.get(batch * t * ld);
    for (let h = 0; h < nh; h++) {
      const p = probs.subarray(h * batch * tt);
      const dp = dprobs.subarray(h * batch * tt);
      const dO = datt.subarray(h * dh);
      // dP_h[b] = dO_h[b] · V_h[b]ᵀ
      b.sgemmBatched(false, true, t, t, dh, 1, dO, d, t * d, qkv.subarray(2 * d + h * dh), ld, sampleStride, 0, dp, t, tt, batch);
      // dV_h[b] = P_h[b]ᵀ · dO_h[b]
      b.sgemmBatched(true, false, t, dh, t, 1, p, t, tt, dO, d, t * d, 0, dqkv.subarray(2 * d + h * dh), ld, sampleStride, batch);
    }
    b.softmaxBackward(probs, dprobs, dprobs, nh * batch * t, t, 1 / Math.sqrt(dh));
    for (let h = 0; h < nh; h++) {
      const ds = dprobs.subarray(h * batch * tt);
      // dQ_h[b] = dS_h[b] · K_h[b];  dK_h[b] = dS_h[b]ᵀ · Q_h[b]
      b.sgemmBatched(false, false, t, dh, t, 1, ds, t, tt, qkv.subarray(d + h * dh), ld, sampleStride, 0, dqkv.subarray(h * dh), ld, sampleStride, batch);
      b.sgemmBatched(true, false, t, dh, t, 1, ds, t, tt, qkv.subarray(h * dh), ld, sampleStride, 0, dqkv.subarray(d + h * dh), ld, sampleStride, batch);
    }
    return this.qkv.backward(dqkv);
  }
}
