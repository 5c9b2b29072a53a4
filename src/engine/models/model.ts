import type { Backend } from '../backend.js';
import { Rng } from '../../core/rng.js';
import type { FileBytes } from '../../data/file-bytes.js';
import { copyValues } from '../../data/pixels.js';
import { IntSlot, Slot } from '../layers/layer.js';
import { layoutHash, layoutOf, type LayoutEntry, type Registry, type StateKind } from '../layout.js';

/** The computation of a model: inputs of a batch → logits [batch · targetsPerSample, classes], and its backward. */
export interface Network {
  forward(inputs: Float32Array | Int32Array, batch: number, train: boolean): Float32Array;
  /** Accumulates parameter gradients from the gradient of the logits. */
  backward(dlogits: Float32Array): void;
}

/** A labelled data set in memory: `count` samples of `inputSize` values each, `targetsPerSample` labels each. */
export interface LabeledData {
  /** Floats, token ids, or stored bytes (in memory or in their file) whose float values are `decode` (data/pixels.ts: decoded a batch at a time). */
  readonly inputs: Float32Array | Int32Array | Uint8Array | FileBytes;
  readonly decode?: Float32Array;
  readonly targets: Int32Array;
  readonly count: number;
}

export interface Evaluation {
  /** Mean cross-entropy per target. */
  loss: number;
  /** Fraction of targets predicted exactly (argmax of the logits). */
  accuracy: number;
  /** Number of samples evaluated. */
  count: number;
}

/** What every model declares about its inputs and outputs. */
export interface ModelSpec {
  /** Registry name ('mlp', 'cnn', 'resnet20', 'transformer'). */
  readonly name: string;
  /** The options the model was built with, defaults filled in (enough to rebuild it: createModel(name, config)). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Shape of one input sample (e.g. [784], [1, 28, 28], [64] tokens). */
  readonly inputShape: readonly number[];
  /** Float inputs (images, features) or Int32 token ids. */
  readonly inputKind: 'f32' | 'i32';
  /** Labels per sample: 1 for classifiers, the sequence length for a language model. */
  readonly targetsPerSample: number;
  /** Number of classes (vocabulary size for a language model). */
  readonly classes: number;
}

export interface ModelBuffers {
  /** Parameter buffer to build the model over (length = model size); allocated when absent. */
  params?: Float32Array;
  /** Gradient buffer (length = model size); allocated when absent. */
  grads?: Float32Array;
  /** State buffer (BatchNorm running statistics; length = stateSize); allocated when absent. */
  state?: Float32Array;
  /** Allocate params and state on a SharedArrayBuffer (when they are not given). */
  shared?: boolean;
  /** Initialise parameters and state (default: true when params is not given). */
  initialize?: boolean;
  /** Seed of the initialisation and of dropout masks (default 0). */
  seed?: number;
}

function alloc(length: number, shared: boolean): Float32Array {
  return new Float32Array(shared ? new SharedArrayBuffer(length * 4) : new ArrayBuffer(length * 4));
}

/**
 * A model over flat buffers: `params`, `grads` (same layout) and `state` (non-learnable). Tensors are views at the
 * offsets listed in `layout`; setParams/setGrads/setState rebind every view to another buffer of the same size
 * (the simulator swaps in a worker's vector; the runtime puts parameters on shared memory).
 */
export class Model implements ModelSpec {
  readonly name: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly inputShape: readonly number[];
  readonly inputKind: 'f32' | 'i32';
  readonly targetsPerSample: number;
  readonly classes: number;
  /** Values per input sample. */
  readonly inputSize: number;
  /** Number of parameters (length of params and grads). */
  readonly size: number;
  /** Length of the state buffer. */
  readonly stateSize: number;
  readonly layout: readonly LayoutEntry[];
  readonly stateLayout: readonly LayoutEntry<StateKind>[];
  /**
   * sha256 (hex) of the canonical layout JSON (model name, configuration, tensor entries; see layout.ts): equal
   * hashes mean the same model with interchangeable flat vectors.
   */
  readonly layoutHash: string;

  private paramsBuf: Float32Array;
  private gradsBuf: Float32Array;
  private stateBuf: Float32Array;
  private readonly dlogits = new Slot();
  private readonly predictions = new IntSlot();
  /** A batch of byte inputs decoded to floats (evaluate). */
  private readonly decoded = new Slot();

  constructor(
    readonly backend: Backend,
    private readonly registry: Registry,
    private readonly network: Network,
    spec: ModelSpec,
    buffers: ModelBuffers = {},
  ) {
    this.name = spec.name;
    this.config = spec.config;
    this.inputShape = [...spec.inputShape];
    this.inputKind = spec.inputKind;
    this.targetsPerSample = spec.targetsPerSample;
    this.classes = spec.classes;
    this.inputSize = this.inputShape.reduce((a, b) => a * b, 1);
    this.size = registry.paramSize;
    this.stateSize = registry.stateSize;
    this.layout = layoutOf(registry.params);
    this.stateLayout = layoutOf(registry.states);
    this.layoutHash = layoutHash(this.layout, this.stateLayout, { name: this.name, config: this.config });
    const shared = buffers.shared ?? false;
    this.paramsBuf = buffers.params ?? alloc(this.size, shared);
    this.gradsBuf = buffers.grads ?? new Float32Array(this.size);
    this.stateBuf = buffers.state ?? alloc(this.stateSize, shared);
    this.setParams(this.paramsBuf);
    this.setGrads(this.gradsBuf);
    this.setState(this.stateBuf);
    if (buffers.initialize ?? buffers.params === undefined) this.initialize(buffers.seed ?? 0);
    else if (buffers.state === undefined) this.resetState();
  }

  get params(): Float32Array {
    return this.paramsBuf;
  }

  get grads(): Float32Array {
    return this.gradsBuf;
  }

  get state(): Float32Array {
    return this.stateBuf;
  }

  /** Rebinds every parameter view to `params` (length = size). */
  setParams(params: Float32Array): void {
    check(params, this.size, 'params');
    this.paramsBuf = params;
    for (const p of this.registry.params) p.value = params.subarray(p.offset, p.offset + p.size);
  }

  /** Rebinds every gradient view to `grads` (length = size). */
  setGrads(grads: Float32Array): void {
    check(grads, this.size, 'grads');
    this.gradsBuf = grads;
    for (const p of this.registry.params) p.grad = grads.subarray(p.offset, p.offset + p.size);
  }

  /** Rebinds every state view to `state` (length = stateSize). */
  setState(state: Float32Array): void {
    check(state, this.stateSize, 'state');
    this.stateBuf = state;
    for (const s of this.registry.states) s.value = state.subarray(s.offset, s.offset + s.size);
  }

  /**
   * Initialises parameters (PyTorch defaults: Kaiming-uniform Linear/Conv weights and biases, unit/zero norms;
   * N(0, 0.02²) embeddings) and resets the state. Each tensor draws from its own stream derived from the seed and
   * its name, so the values of a tensor do not depend on the other tensors of the model.
   */
  initialize(seed = 0): void {
    const root = new Rng(seed);
    for (const p of this.registry.params) p.init(p.value, root.fork(`init:${p.name}`));
    this.resetState();
  }

  /** Positions of the model's random streams (dropout masks), by stream name; empty without dropout. */
  randomState(): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const [name, rng] of this.registry.streams) out[name] = rng.words();
    return out;
  }

  /** Moves the random streams to saved positions (from randomState of a model with the same layout). */
  setRandomState(saved: Readonly<Record<string, readonly number[]>>): void {
    const names = Object.keys(saved);
    const missing = [...this.registry.streams.keys()].filter((n) => !(n in saved));
    const unknown = names.filter((n) => !this.registry.streams.has(n));
    if (missing.length > 0 || unknown.length > 0) {
      throw new Error(`${this.name}: random streams do not match (missing: ${missing.join(', ') || 'none'}; unknown: ${unknown.join(', ') || 'none'})`);
    }
    for (const name of names) this.registry.streams.get(name)!.setWords(saved[name]);
  }

  /** Running statistics back to their initial values (mean 0, variance 1). */
  resetState(): void {
    for (const s of this.registry.states) s.value.fill(s.initial);
  }

  /** The parameter view of a tensor by name. */
  tensor(name: string): Float32Array {
    return this.find(name).value;
  }

  /** The gradient view of a tensor by name. */
  gradient(name: string): Float32Array {
    return this.find(name).grad;
  }

  private find(name: string) {
    const p = this.registry.params.find((q) => q.name === name);
    if (!p) throw new Error(`model ${this.name} has no tensor ${name}`);
    return p;
  }

  /** Number of samples in an input array. */
  batchOf(inputs: Float32Array | Int32Array): number {
    const batch = inputs.length / this.inputSize;
    if (!Number.isInteger(batch) || batch <= 0) {
      throw new Error(`${this.name}: input length ${inputs.length} is not a positive multiple of ${this.inputSize}`);
    }
    return batch;
  }

  private checkKind(inputs: Float32Array | Int32Array): void {
    const ok = this.inputKind === 'i32' ? inputs instanceof Int32Array : inputs instanceof Float32Array;
    if (!ok) throw new Error(`${this.name}: inputs must be a ${this.inputKind === 'i32' ? 'Int32Array' : 'Float32Array'}`);
  }

  /** Logits [batch · targetsPerSample, classes] (a view owned by the model, valid until the next forward). */
  forward(inputs: Float32Array | Int32Array, train = false): Float32Array {
    this.checkKind(inputs);
    return this.network.forward(inputs, this.batchOf(inputs), train);
  }

  /**
   * One training evaluation: zeroes grads, runs forward in training mode, softmax cross-entropy against targets
   * (Int32, targetsPerSample per sample) and backward. Returns the mean loss per target; grads holds its gradient.
   */
  lossAndGradient(inputs: Float32Array | Int32Array, targets: Int32Array): number {
    const logits = this.forward(inputs, true);
    const rows = logits.length / this.classes;
    if (targets.length !== rows) throw new Error(`${this.name}: ${targets.length} targets for ${rows} outputs`);
    const dlogits = this.dlogits.get(logits.length);
    this.backend.fill(this.gradsBuf, 0);
    const loss = this.backend.softmaxCrossEntropy(logits, targets, rows, this.classes, dlogits, 1 / rows) / rows;
    this.network.backward(dlogits);
    return loss;
  }

  /**
   * Mean loss per target without gradient (evaluation mode unless train is true; in training mode BatchNorm
   * running statistics are updated and dropout is applied, as in a training step).
   */
  loss(inputs: Float32Array | Int32Array, targets: Int32Array, train = false): number {
    const logits = this.forward(inputs, train);
    const rows = logits.length / this.classes;
    if (targets.length !== rows) throw new Error(`${this.name}: ${targets.length} targets for ${rows} outputs`);
    return this.backend.softmaxCrossEntropy(logits, targets, rows, this.classes, null, 0) / rows;
  }

  /** Predicted class per target (evaluation mode); a view owned by the model, valid until the next predict. */
  predict(inputs: Float32Array | Int32Array): Int32Array {
    const logits = this.forward(inputs, false);
    const rows = logits.length / this.classes;
    const out = this.predictions.get(rows);
    this.backend.argmaxRows(logits, rows, this.classes, out);
    return out;
  }

  /** Mean loss and accuracy over a data set (or its first `limit` samples), in batches, evaluation mode. */
  evaluate(data: LabeledData, options: { batchSize?: number; limit?: number } = {}): Evaluation {
    const count = Math.min(data.count, options.limit ?? data.count);
    const batchSize = Math.max(1, Math.floor(options.batchSize ?? 256));
    const tps = this.targetsPerSample;
    let lossSum = 0;
    let correct = 0;
    for (let start = 0; start < count; start += batchSize) {
      const end = Math.min(count, start + batchSize);
      const inputs = batchInputs(data, start * this.inputSize, end * this.inputSize, this.decoded);
      const targets = data.targets.subarray(start * tps, end * tps);
      const logits = this.forward(inputs, false);
      const rows = logits.length / this.classes;
      lossSum += this.backend.softmaxCrossEntropy(logits, targets, rows, this.classes, null, 0);
      const pred = this.predictions.get(rows);
      this.backend.argmaxRows(logits, rows, this.classes, pred);
      for (let r = 0; r < rows; r++) if (pred[r] === targets[r]) correct++;
    }
    const total = count * tps;
    return { loss: total > 0 ? lossSum / total : NaN, accuracy: total > 0 ? correct / total : NaN, count };
  }
}

/** Inputs [from, to) of a data set as the network takes them: byte inputs decoded into `slot`, others as views. */
function batchInputs(data: LabeledData, from: number, to: number, slot: Slot): Float32Array | Int32Array {
  if (data.inputs instanceof Float32Array || data.inputs instanceof Int32Array) return data.inputs.subarray(from, to);
  const out = slot.get(to - from);
  copyValues(data.inputs, data.decode, from, to - from, out, 0);
  return out;
}

function check(buf: Float32Array, size: number, what: string): void {
  if (!(buf instanceof Float32Array)) throw new Error(`${what} must be a Float32Array`);
  if (buf.length !== size) throw new Error(`${what} has length ${buf.length}, the model needs ${size}`);
}
