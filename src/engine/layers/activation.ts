import type { Backend } from '../backend.js';
import type { Rng } from '../../core/rng.js';
import { Layer, Slot } from './layer.js';

/** max(x, 0). */
export class ReLU extends Layer {
  private y: Float32Array = new Float32Array(0);
  private readonly out = new Slot();
  private readonly dx = new Slot();

  forward(x: Float32Array): Float32Array {
    const y = this.out.get(x.length);
    this.backend.relu(x, y);
    this.y = y;
    return y;
  }

  backward(dy: Float32Array): Float32Array | null {
    if (!this.computeInputGrad) return null;
    const dx = this.dx.get(dy.length);
    this.backend.reluBackward(this.y, dy, dx);
    return dx;
  }
}

/** GELU, tanh approximation (see Backend.gelu). */
export class GELU extends Layer {
  private x: Float32Array = new Float32Array(0);
  private readonly out = new Slot();
  private readonly dx = new Slot();

  forward(x: Float32Array): Float32Array {
    const y = this.out.get(x.length);
    this.backend.gelu(x, y);
    this.x = x;
    return y;
  }

  backward(dy: Float32Array): Float32Array | null {
    if (!this.computeInputGrad) return null;
    const dx = this.dx.get(dy.length);
    this.backend.geluBackward(this.x, dy, dx);
    return dx;
  }
}

/**
 * Inverted dropout: in training, each element is zeroed with probability p and the rest scaled by 1/(1 − p); the
 * mask comes from the backend's counter-based stream with a fresh 32-bit seed drawn from this layer's Rng at each
 * forward, so a run is reproducible from its seed. In evaluation (or with p = 0) it is the identity.
 */
export class Dropout extends Layer {
  private active = false;
  private mask: Float32Array = new Float32Array(0);
  private readonly out = new Slot();
  private readonly maskSlot = new Slot();
  private readonly dx = new Slot();

  constructor(backend: Backend, readonly p: number, private readonly rng: Rng) {
    super(backend);
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: probability ${p} is not in [0, 1)`);
  }

  forward(x: Float32Array, _batch: number, train: boolean): Float32Array {
    this.active = train && this.p > 0;
    if (!this.active) return x;
    const y = this.out.get(x.length);
    this.mask = this.maskSlot.get(x.length);
    this.backend.dropout(x, y, this.mask, this.p, this.rng.nextUint32());
    return y;
  }

  backward(dy: Float32Array): Float32Array | null {
    if (!this.computeInputGrad) return null;
    if (!this.active) return dy;
    const dx = this.dx.get(dy.length);
    this.backend.mul(dy, this.mask, dx);
    return dx;
  }
}
