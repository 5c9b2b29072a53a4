import type { Backend } from '../backend.js';
import { kaimingUniformDefault, type Param, type Scope } from '../layout.js';
import { Layer, Slot } from './layer.js';

/**
 * y = x · Wᵀ + b over rows of x [rows, in] (rows = batch × positions, so the same layer serves per-token use in
 * the transformer). W is stored [out, in] as in PyTorch; initialised U(±1/√in) (PyTorch's default).
 */
export class Linear extends Layer {
  readonly weight: Param;
  readonly bias: Param | null;
  private x: Float32Array = new Float32Array(0);
  private rows = 0;
  private readonly out = new Slot();
  private readonly dx = new Slot();

  constructor(backend: Backend, scope: Scope, readonly inFeatures: number, readonly outFeatures: number, bias = true) {
    super(backend);
    const init = kaimingUniformDefault(inFeatures);
    this.weight = scope.param('weight', [outFeatures, inFeatures], 'weight', init);
    this.bias = bias ? scope.param('bias', [outFeatures], 'bias', init) : null;
  }

  forward(x: Float32Array): Float32Array {
    const rows = x.length / this.inFeatures;
    if (!Number.isInteger(rows)) throw new Error(`Linear: input length ${x.length} is not a multiple of ${this.inFeatures}`);
    this.x = x;
    this.rows = rows;
    const y = this.out.get(rows * this.outFeatures);
    const b = this.backend;
    b.sgemm(false, true, rows, this.outFeatures, this.inFeatures, 1, x, this.inFeatures, this.weight.value, this.inFeatures, 0, y, this.outFeatures);
    if (this.bias) b.addBias(y, this.bias.value, rows, this.outFeatures, 1);
    return y;
  }

  backward(dy: Float32Array): Float32Array | null {
    const { rows, inFeatures: n, outFeatures: m } = this;
    const b = this.backend;
    b.sgemm(true, false, m, n, rows, 1, dy, m, this.x, n, 1, this.weight.grad, n);
    if (this.bias) b.biasGrad(dy, this.bias.grad, rows, m, 1);
    if (!this.computeInputGrad) return null;
    const dx = this.dx.get(rows * n);
    b.sgemm(false, false, rows, n, m, 1, dy, m, this.weight.value, n, 0, dx, n);
    return dx;
  }
}
