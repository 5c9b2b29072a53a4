import type { Backend } from '../backend.js';
import { kaimingUniformDefault, type Param, type Scope } from '../layout.js';
import { checkInput, Layer, Slot, type Shape } from './layer.js';

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride?: number;
  padding?: number;
  bias?: boolean;
  /** Input height and width (the layer preallocates for this image size). */
  height: number;
  width: number;
}

/**
 * 2-D convolution over NCHW images by im2col + one batched sgemm: per image, Y[cout, oh·ow] = W[cout, cin·k·k] ·
 * cols[cin·k·k, oh·ow]. Weights [cout, cin, k, k] initialised U(±1/√(cin·k·k)) (PyTorch's default).
 */
export class Conv2d extends Layer {
  readonly weight: Param;
  readonly bias: Param | null;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: number;
  readonly stride: number;
  readonly padding: number;
  readonly height: number;
  readonly width: number;
  readonly outHeight: number;
  readonly outWidth: number;
  private batch = 0;
  private cols: Float32Array = new Float32Array(0);
  private readonly colsSlot = new Slot();
  private readonly dcolsSlot = new Slot();
  private readonly out = new Slot();
  private readonly dx = new Slot();

  constructor(backend: Backend, scope: Scope, options: Conv2dOptions) {
    super(backend);
    this.inChannels = options.inChannels;
    this.outChannels = options.outChannels;
    this.kernel = options.kernel;
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.height = options.height;
    this.width = options.width;
    this.outHeight = Math.floor((this.height + 2 * this.padding - this.kernel) / this.stride) + 1;
    this.outWidth = Math.floor((this.width + 2 * this.padding - this.kernel) / this.stride) + 1;
    if (this.outHeight <= 0 || this.outWidth <= 0) throw new Error(`Conv2d: ${this.height}×${this.width} input is smaller than the kernel`);
    const fanIn = this.inChannels * this.kernel * this.kernel;
    const init = kaimingUniformDefault(fanIn);
    this.weight = scope.param('weight', [this.outChannels, this.inChannels, this.kernel, this.kernel], 'weight', init);
    this.bias = options.bias === false ? null : scope.param('bias', [this.outChannels], 'bias', init);
  }

  get outputShape(): Shape {
    return [this.outChannels, this.outHeight, this.outWidth];
  }

  forward(x: Float32Array, batch: number): Float32Array {
    const { inChannels: c, height: h, width: w, kernel: k, stride, padding } = this;
    checkInput(x, batch, c * h * w, 'Conv2d');
    const ckk = c * k * k;
    const ohw = this.outHeight * this.outWidth;
    const cout = this.outChannels;
    const b = this.backend;
    this.batch = batch;
    const cols = this.colsSlot.get(batch * ckk * ohw);
    this.cols = cols;
    b.im2col(x, cols, batch, c, h, w, k, k, stride, padding);
    const y = this.out.get(batch * cout * ohw);
    b.sgemmBatched(false, false, cout, ohw, ckk, 1, this.weight.value, ckk, 0, cols, ohw, ckk * ohw, 0, y, ohw, cout * ohw, batch);
    if (this.bias) b.addBias(y, this.bias.value, batch, cout, ohw);
    return y;
  }

  backward(dy: Float32Array): Float32Array | null {
    const { inChannels: c, height: h, width: w, kernel: k, stride, padding, batch } = this;
    const ckk = c * k * k;
    const ohw = this.outHeight * this.outWidth;
    const cout = this.outChannels;
    const b = this.backend;
    if (this.bias) b.biasGrad(dy, this.bias.grad, batch, cout, ohw);
    // dW[cout, ckk] += Σ_img dY_img[cout, ohw] · cols_imgᵀ[ohw, ckk]
    b.sgemmBatched(false, true, cout, ckk, ohw, 1, dy, ohw, cout * ohw, this.cols, ohw, ckk * ohw, 1, this.weight.grad, ckk, 0, batch);
    if (!this.computeInputGrad) return null;
    // dcols_img[ckk, ohw] = Wᵀ[ckk, cout] · dY_img[cout, ohw]
    const dcols = this.dcolsSlot.get(batch * ckk * ohw);
    b.sgemmBatched(true, false, ckk, ohw, cout, 1, this.weight.value, ckk, 0, dy, ohw, cout * ohw, 0, dcols, ohw, ckk * ohw, batch);
    const dx = this.dx.get(batch * c * h * w);
    b.col2im(dcols, dx, batch, c, h, w, k, k, stride, padding);
    return dx;
  }
}
