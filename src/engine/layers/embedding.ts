import type { Backend } from '../backend.js';
import { normalInit, type Param, type Scope } from '../layout.js';
import { Slot } from './layer.js';

/**
 * Token embedding: ids (Int32) → rows of a [vocab, dim] table. Initialised N(0, 0.02²) as in GPT-2 (PyTorch's
 * own default, N(0, 1), trains transformers poorly). Not a Layer: its input is integer ids and it has no input
 * gradient.
 */
export class Embedding {
  readonly weight: Param;
  private ids: Int32Array = new Int32Array(0);
  private readonly out = new Slot();

  constructor(readonly backend: Backend, scope: Scope, readonly vocab: number, readonly dim: number, std = 0.02) {
    this.weight = scope.param('weight', [vocab, dim], 'embedding', normalInit(std));
  }

  forward(ids: Int32Array): Float32Array {
    const y = this.out.get(ids.length * this.dim);
    this.ids = ids;
    this.backend.embeddingGather(this.weight.value, ids, y, this.dim);
    return y;
  }

  backward(dy: Float32Array): void {
    this.backend.embeddingScatterAdd(dy, this.ids, this.weight.grad, this.dim);
  }
}
