/**
 * A plain float64 transcription of A2CiD2's rules (docs/algorithms.md §2), independent of src/algorithms, and a
 * wrapper that replays every event of a production run through it with the production run's own gradients.
 */
import assert from 'node:assert/strict';
import type { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';
import type { Algorithm, GradientSource, PairwiseCapability, SavedState, WorkerState } from '../../src/algorithms/types.js';
import type { Vec } from '../../src/core/vec.js';

export interface Rules {
  eta: number;
  alphaTilde: number;
  official: boolean;
  tracking: boolean;
  lr: number;
  momentum: number;
  weightDecay: number;
  /** Per value: 1 where the weight decay applies, 0 where it does not (biases, unless decayAll). */
  decays: Float64Array;
}

/** One worker of the float64 reference: x, x̃, the momentum buffer and the time up to which it is mixed. */
export interface RefState {
  x: Float64Array;
  xt: Float64Array;
  buf: Float64Array;
  t: number;
}

/** docs/algorithms.md §2, in float64, as plainly as it is written there. */
export class Reference {
  constructor(private readonly r: Rules) {}

  state(x0: Vec): RefState {
    return { x: Float64Array.from(x0), xt: Float64Array.from(x0), buf: new Float64Array(x0.length), t: 0 };
  }

  /** §2.2: e = exp(−2η dt); x' = ½(1+e) x + ½(1−e) x̃; x̃' = ½(1−e) x + ½(1+e) x̃. */
  mix(s: RefState, t: number): void {
    const dt = t - s.t;
    s.t = t;
    if (!this.r.tracking || dt <= 0) return;
    const e = Math.exp(-2 * this.r.eta * dt);
    for (let k = 0; k < s.x.length; k++) {
      const a = s.x[k];
      const b = s.xt[k];
      s.x[k] = 0.5 * (1 + e) * a + 0.5 * (1 - e) * b;
      s.xt[k] = 0.5 * (1 - e) * a + 0.5 * (1 + e) * b;
    }
  }

  /** §2.3: mix, then buf ← μ buf + (g + wd x) and u = −lr buf added to x and to x̃ (μ = 0: u = −lr (g + wd x)). */
  step(s: RefState, t: number, g: Float64Array): void {
    this.mix(s, t);
    const { lr, momentum, weightDecay } = this.r;
    for (let k = 0; k < s.x.length; k++) {
      const d = g[k] + weightDecay * this.r.decays[k] * s.x[k];
      s.buf[k] = momentum === 0 ? d : momentum * s.buf[k] + d;
      const u = -lr * s.buf[k];
      s.x[k] += u;
      s.xt[k] += u;
    }
  }

  /** §2.4: the ideal exchange mixes the sender first; the official one sends x as it stands. */
  message(s: RefState, t: number): Float64Array {
    if (!this.r.official) this.mix(s, t);
    return Float64Array.from(s.x);
  }

  /** §2.4: mix, Δ = x_peer − x, x ← x + ½ Δ, x̃ ← x̃ + α̃ Δ. */
  receive(s: RefState, t: number, peer: Float64Array): void {
    this.mix(s, t);
    for (let k = 0; k < s.x.length; k++) {
      const delta = peer[k] - s.x[k];
      s.x[k] += 0.5 * delta;
      s.xt[k] += this.r.alphaTilde * delta;
    }
  }
}

/**
 * The production algorithm with the reference replaying each of its events beside it: the workers' states (the
 * first n created; later ones are the metrics' copies) each have a reference twin, every local step hands the
 * reference the gradient the production step computed, and every message is followed from the buffer it was
 * written to until the peer receives it.
 */
export function replaying<S extends WorkerState>(inner: Algorithm<S>, ref: Reference, workers: number) {
  const twins = new Map<S, RefState>();
  const messages = new Map<Vec, Float64Array>();
  let grad = new Float64Array(0);
  const pairwise: PairwiseCapability<S> = {
    messageLength: () => inner.pairwise!.messageLength(),
    message: (s, t, out) => {
      inner.pairwise!.message(s, t, out);
      messages.set(out, ref.message(twins.get(s)!, t));
    },
    receive: (s, t, peer) => {
      inner.pairwise!.receive(s, t, peer);
      const m = messages.get(peer);
      assert.ok(m, 'every received message was sent');
      ref.receive(twins.get(s)!, t, m);
    },
  };
  const algorithm: Algorithm<S> = {
    name: inner.name,
    createState: (x0: Vec, t0?: number) => {
      const s = inner.createState(x0, t0);
      if (twins.size < workers) twins.set(s, ref.state(x0));
      return s;
    },
    advance: (s: S, t: number) => inner.advance(s, t),
    localStep: (s: S, t: number, gradient: GradientSource, optimizer: LocalOptimizer) => {
      const loss = inner.localStep(s, t, (x, g) => {
        const l = gradient(x, g);
        if (grad.length !== g.length) grad = new Float64Array(g.length);
        grad.set(g);
        return l;
      }, optimizer);
      const twin = twins.get(s);
      if (twin) ref.step(twin, t, grad);
      return loss;
    },
    pairwise,
    saved: (s: S): SavedState => inner.saved(s),
    restore: (s: S, saved: SavedState) => inner.restore(s, saved),
  };
  return { algorithm, twins };
}

/** max_k |a_k − b_k| / max_k |b_k| over all the workers' vectors. */
export function relativeGap(a: Vec[], b: Float64Array[]): number {
  let gap = 0;
  let scale = 0;
  for (let w = 0; w < a.length; w++) {
    for (let k = 0; k < b[w].length; k++) {
      gap = Math.max(gap, Math.abs(a[w][k] - b[w][k]));
      scale = Math.max(scale, Math.abs(b[w][k]));
    }
  }
  return gap / scale;
}

