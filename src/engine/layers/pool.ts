import type { Backend } from '../backend.js';
import { checkInput, IntSlot, Layer, Slot, type Shape } from './layer.js';

/** Max pooling k×k with the given stride (default k), no padding, over NCHW images of a fixed size. */
export class MaxPool2d extends Layer {
  readonly outHeight: number;
  readonly outWidth: number;
  readonly stride: number;
  private argmax: Int32Array = new Int32Array(0);
  private inputLength = 0;
  private readonly out = new Slot();
  private readonly argSlot = new IntSlot();
  private readonly dx = new Slot();

  constructor(
    backend: Backend, readonly channels: number, readonly height: number, readonly width: number,
    readonly kernel: number, stride?: number,
  ) {
    super(backend);
    this.stride = stride ?? kernel;
    this.outHeight = Math.floor((height - kernel) / this.stride) + 1;
    this.outWidth = Math.floor((width - kernel) / this.stride) + 1;
    if (this.outHeight <= 0 || this.outWidth <= 0) throw new Error(`MaxPool2d: ${height}×${width} input is smaller than the window`);
  }

  get outputShape(): Shape {
    return [this.channels, this.outHeight, this.outWidth];
  }

  forward(x: Float32Array, batch: number): Float32Array {
    checkInput(x, batch, this.channels * this.height * this.width, 'MaxPool2d');
    const n = batch * this.channels * this.outHeight * this.outWidth;
    const y = this.out.get(n);
    this.argmax = this.argSlot.get(n);
    this.inputLength = x.length;
    this.backend.maxPool2d(x, y, this.argmax, batch, this.channels, this.height, this.width, this.kernel, this.stride);
    return y;
  }

  backward(dy: Float32Array): Float32Array | null {
    if (!this.computeInputGrad) return null;
    const dx = this.dx.get(this.inputLength);
    this.backend.maxPool2dBackward(dy, this.argmax, dx);
    return dx;
  }
}

/** Global average pooling: [N, C, H, W] → [N, C]. */
export class GlobalAvgPool extends Layer {
  private planes = 0;
  private readonly out = new Slot();
  private readonly dx = new Slot();

  constructor(backend: Backend, readonly channels: number, readonly height: number, readonly width: number) {
    super(backend);
  }

  forward(x: Float32Array, batch: number): Float32Array {
    const hw = this.height * this.width;
    checkInput(x, batch, this.channels * hw, 'GlobalAvgPool');
    this.planes = batch * this.channels;
    const y = this.out.get(this.planes);
    this.backend.avgPoolGlobal(x, y, this.planes, hw);
    return y;
  }

  backward(dy: Float32Array): Float32Array | null {
    if (!this.computeInputGrad) return null;
    const hw = this.height * this.width;
    const dx = this.dx.get(this.planes * hw);
    this.backend.avgPoolGlobalBackward(dy, dx, this.planes, hw);
    return dx;
  }
}
