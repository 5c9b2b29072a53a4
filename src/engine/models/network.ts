import type { Layer } from '../layers/layer.js';
import type { Network } from './model.js';

/** A Network made of one root layer taking float inputs (the first layer computes no input gradient). */
export class LayerNetwork implements Network {
  constructor(readonly root: Layer) {
    root.setComputeInputGrad(false);
  }

  forward(inputs: Float32Array | Int32Array, batch: number, train: boolean): Float32Array {
    return this.root.forward(inputs as Float32Array, batch, train);
  }

  backward(dlogits: Float32Array): void {
    this.root.backward(dlogits);
  }
}
