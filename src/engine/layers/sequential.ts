import type { Backend } from '../backend.js';
import { Layer } from './layer.js';

/** Layers applied in order; backward runs them in reverse. */
export class Sequential extends Layer {
  readonly layers: Layer[];

  constructor(backend: Backend, layers: Layer[]) {
    super(backend);
    if (layers.length === 0) throw new Error('Sequential: no layers');
    this.layers = layers;
  }

  override setComputeInputGrad(value: boolean): void {
    super.setComputeInputGrad(value);
    this.layers[0].setComputeInputGrad(value);
  }

  forward(x: Float32Array, batch: number, train: boolean): Float32Array {
    let h = x;
    for (const layer of this.layers) h = layer.forward(h, batch, train);
    return h;
  }

  backward(dy: Float32Array): Float32Array | null {
    let g: Float32Array | null = dy;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      g = this.layers[i].backward(g as Float32Array);
      if (g === null && i > 0) throw new Error('Sequential: an inner layer returned no input gradient');
    }
    return g;
  }
}
