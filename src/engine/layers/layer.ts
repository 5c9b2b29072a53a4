/**
 * The layer contract. A layer owns its output and input-gradient buffers (allocated for the largest batch seen and
 * reused, so a training step allocates no large arrays), caches what its backward pass needs during forward, and
 * calls backend kernels for all element-wise work.
 *
 * forward(x, batch, train) returns a view the layer owns, valid until its next forward. backward(dy) must follow
 * the forward it differentiates; it ACCUMULATES parameter gradients into the bound gradient views and returns the
 * input gradient in a buffer it owns — or null when computeInputGrad is false (the first layer of a model, whose
 * input is data). Layers never modify their input x or the incoming gradient dy.
 */
import type { Backend } from '../backend.js';

export abstract class Layer {
  /** Whether backward must produce the gradient with respect to the input. */
  computeInputGrad = true;

  constructor(readonly backend: Backend) {}

  abstract forward(x: Float32Array, batch: number, train: boolean): Float32Array;
  abstract backward(dy: Float32Array): Float32Array | null;

  /** Sets computeInputGrad (containers pass it on to their first child). */
  setComputeInputGrad(value: boolean): void {
    this.computeInputGrad = value;
  }
}

/**
 * A reusable float buffer: get(n) returns a view of exactly n floats, growing the storage only when n exceeds
 * every size asked before; asking the same size again returns the same view object.
 */
export class Slot {
  private data = new Float32Array(0);
  private view = this.data;

  get(size: number): Float32Array {
    if (this.view.length === size) return this.view;
    if (this.data.length < size) this.data = new Float32Array(size);
    this.view = this.data.subarray(0, size);
    return this.view;
  }
}

/** Slot for Int32 indices (pooling argmax). */
export class IntSlot {
  private data = new Int32Array(0);
  private view = this.data;

  get(size: number): Int32Array {
    if (this.view.length === size) return this.view;
    if (this.data.length < size) this.data = new Int32Array(size);
    this.view = this.data.subarray(0, size);
    return this.view;
  }
}

/** Shape of one sample (without the batch dimension). */
export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throws when x does not hold `batch` samples of `perSample` values. */
export function checkInput(x: { length: number }, batch: number, perSample: number, layer: string): void {
  if (x.length !== batch * perSample) {
    throw new Error(`${layer}: input has ${x.length} values, expected ${batch} × ${perSample}`);
  }
}
