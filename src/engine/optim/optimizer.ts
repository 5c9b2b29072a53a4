import type { Backend } from '../backend.js';
import type { LayoutEntry, ParamKind } from '../layout.js';
import { brake, DEFAULT_BRAKING, tensorRanges, type TensorRange } from './braking.js';

/** What an optimizer updates: a flat parameter vector, its gradient and (for weight-decay masks) its layout. */
export interface OptimTarget {
  readonly params: Float32Array;
  readonly grads: Float32Array;
  readonly layout: readonly LayoutEntry[];
  readonly backend: Backend;
}

/** A contiguous range of the flat vector with or without weight decay. */
export interface DecayRange {
  readonly start: number;
  readonly end: number;
  readonly decay: boolean;
}

/** Parameter kinds that are conventionally excluded from weight decay. */
export const NO_DECAY_BIAS_NORM: readonly ParamKind[] = ['bias', 'norm'];

/**
 * The weight-decay mask of a layout as maximal contiguous ranges covering [0, size): a tensor is decayed unless
 * its kind is listed in noDecay.
 */
export function decayRanges(layout: readonly LayoutEntry[], size: number, noDecay: readonly ParamKind[] = []): DecayRange[] {
  const entries = [...layout].sort((a, b) => a.offset - b.offset);
  const ranges: DecayRange[] = [];
  const push = (start: number, end: number, decay: boolean) => {
    if (end <= start) return;
    const last = ranges[ranges.length - 1];
    if (last && last.decay === decay && last.end === start) ranges[ranges.length - 1] = { start: last.start, end, decay };
    else ranges.push({ start, end, decay });
  };
  let at = 0;
  for (const e of entries) {
    push(at, e.offset, true);
    push(e.offset, e.offset + e.size, !noDecay.includes(e.kind));
    at = Math.max(at, e.offset + e.size);
  }
  push(at, size, true);
  return ranges;
}

/** A named part of an optimizer's flat state (for checkpoints). */
export interface StateEntry {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

/**
 * An optimizer over a flat vector. Its state (momentum, Adam moments) is one flat Float32Array described by
 * stateLayout, so that checkpoints save and restore it as is; `steps` counts the updates taken. The first slot of the
 * state is the momentum (SGD's buffer, AdamW's first moment): with Adaptive Braking (ρ = `braking` > 0, braking.ts)
 * every step first brakes the gradient against it, tensor by tensor of the layout, in place.
 */
export abstract class Optimizer {
  /** Learning rate used by the next step() (set it from a schedule before each step). */
  lr: number;
  /** Number of updates taken so far. */
  steps = 0;
  abstract readonly kind: string;
  readonly state: Float32Array;
  abstract readonly stateLayout: readonly StateEntry[];
  /** Length of the parameter vector. */
  readonly size: number;
  /** Adaptive Braking's ρ (0: off). */
  readonly braking: number;
  protected readonly ranges: DecayRange[];
  private readonly tensors: readonly TensorRange[];
  private boundParams: Float32Array | null = null;
  private boundGrads: Float32Array | null = null;
  protected paramViews: Float32Array[] = [];
  protected gradViews: Float32Array[] = [];
  protected stateViews: Float32Array[][] = [];

  constructor(
    protected readonly target: OptimTarget,
    lr: number,
    stateSlots: number,
    noDecay: readonly ParamKind[],
    braking = DEFAULT_BRAKING,
  ) {
    if (!(lr >= 0)) throw new Error(`learning rate must be non-negative (got ${lr})`);
    this.lr = lr;
    const size = target.params.length;
    this.size = size;
    this.braking = braking;
    this.tensors = braking > 0 ? tensorRanges(target.layout, size) : [];
    this.ranges = decayRanges(target.layout, size, noDecay);
    this.state = new Float32Array(stateSlots * size);
    this.stateViews = this.ranges.map((r) =>
      Array.from({ length: stateSlots }, (_, s) => this.state.subarray(s * size + r.start, s * size + r.end)));
  }

  /** Views of params and grads per decay range, rebuilt only when the target's buffers change. */
  protected bind(): void {
    const { params, grads } = this.target;
    if (params === this.boundParams && grads === this.boundGrads) return;
    if (params.length !== this.size || grads.length !== this.size) {
      throw new Error(`optimizer: parameter or gradient vector of length ${params.length}/${grads.length}, expected ${this.size}`);
    }
    this.paramViews = this.ranges.map((r) => params.subarray(r.start, r.end));
    this.gradViews = this.ranges.map((r) => grads.subarray(r.start, r.end));
    this.boundParams = params;
    this.boundGrads = grads;
  }

  /** One update of target.params from target.grads (the learning rate is `lr`, or the argument when given). */
  step(lr?: number): void {
    if (lr !== undefined) this.lr = lr;
    this.bind();
    this.steps++;
    if (this.braking > 0) brake(this.target.grads, this.state.subarray(0, this.size), this.tensors, this.braking, this.target.backend);
    this.update();
  }

  protected abstract update(): void;

  /** Restores state and step count (e.g. from a checkpoint). */
  loadState(state: Float32Array, steps: number): void {
    if (state.length !== this.state.length) throw new Error(`optimizer state has length ${state.length}, expected ${this.state.length}`);
    this.state.set(state);
    this.steps = steps;
  }

  /** Zero state, zero steps. */
  reset(): void {
    this.state.fill(0);
    this.steps = 0;
  }
}
