/**
 * Training batches that are a pure function of (seed, step): the batch of step s is the same whether the run went
 * through steps 0 … s−1 or was resumed from a checkpoint at step s. This is what makes a resumed run equal to an
 * uninterrupted one, and lets several workers draw independent streams from distinct seeds.
 */
import { Rng } from '../../core/rng.js';
import { copyValues, type PixelArray } from '../../data/pixels.js';
import type { LabeledData } from '../models/model.js';

/** One training batch: model inputs and their targets (views owned by the source, valid until its next call). */
export interface TrainBatch {
  inputs: Float32Array | Int32Array;
  targets: Int32Array;
}

/** A deterministic stream of training batches indexed by step. */
export interface BatchSource {
  /** Samples per batch. */
  readonly batchSize: number;
  /** Samples in one epoch (training examples, or text windows of one sequence length). */
  readonly epochSize: number;
  /** The batch of step `step` (0-based), a function of the source's seed and the step only. */
  batch(step: number): TrainBatch;
}

/**
 * Mini-batches over labelled examples, reshuffled every epoch. The examples form one endless sequence, epoch after
 * epoch, each epoch in its own permutation drawn from (seed, epoch); step s takes positions [s·B, (s+1)·B) of that
 * sequence, so a batch may straddle two epochs and every example is seen once per epoch. With `indices` (a worker's
 * shard) the examples are those, an epoch is one pass over them.
 */
export class ShuffledBatches implements BatchSource {
  readonly batchSize: number;
  readonly epochSize: number;
  private readonly inputSize: number;
  private readonly inputs: PixelArray;
  private readonly decode: Float32Array | undefined;
  private readonly targets: Int32Array;
  private readonly out: { inputs: Float32Array; targets: Int32Array };
  /** The examples drawn from (null: all of them). */
  private readonly indices: Int32Array | null;
  /** Cached permutations by epoch (at most two: a batch spans at most two epochs when B ≤ n). */
  private readonly perms = new Map<number, Int32Array>();

  constructor(
    data: LabeledData & { inputs: PixelArray },
    readonly seed: number,
    batchSize: number,
    indices?: Int32Array,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size must be a positive integer, got ${batchSize}`);
    if (!(data.count > 0)) throw new Error('cannot draw batches from an empty data set');
    if (data.targets.length !== data.count) throw new Error(`${data.targets.length} targets for ${data.count} examples`);
    const inputSize = data.inputs.length / data.count;
    if (!Number.isInteger(inputSize)) throw new Error(`${data.inputs.length} input values for ${data.count} examples`);
    if (indices !== undefined) {
      if (indices.length === 0) throw new Error('cannot draw batches from an empty set of examples');
      for (let k = 0; k < indices.length; k++) {
        if (!(indices[k] >= 0 && indices[k] < data.count)) throw new Error(`example ${indices[k]} is outside the data set (${data.count} examples)`);
      }
    }
    this.indices = indices ?? null;
    this.inputSize = inputSize;
    this.inputs = data.inputs;
    this.decode = data.decode;
    if (data.inputs instanceof Uint8Array && data.decode?.length !== 256) throw new Error('byte inputs need a table of 256 values to decode them');
    this.targets = data.targets;
    this.batchSize = batchSize;
    this.epochSize = indices?.length ?? data.count;
    this.out = { inputs: new Float32Array(batchSize * inputSize), targets: new Int32Array(batchSize) };
  }

  /** The order of the examples in epoch `epoch`. */
  permutation(epoch: number): Int32Array {
    let perm = this.perms.get(epoch);
    if (perm === undefined) {
      perm = new Int32Array(this.epochSize);
      for (let i = 0; i < perm.length; i++) perm[i] = i;
      new Rng(`batches:${this.seed}:epoch:${epoch}`).shuffle(perm);
      if (this.perms.size >= 2) {
        // Keep the most recent epochs: steps move forward.
        const oldest = Math.min(...this.perms.keys());
        this.perms.delete(oldest);
      }
      this.perms.set(epoch, perm);
    }
    return perm;
  }

  batch(step: number): TrainBatch {
    if (!Number.isSafeInteger(step) || step < 0) throw new Error(`step must be a non-negative integer, got ${step}`);
    const { batchSize: B, epochSize: n, inputSize: row, out } = this;
    let position = step * B;
    for (let k = 0; k < B; ) {
      const epoch = Math.floor(position / n);
      const at = position - epoch * n;
      const take = Math.min(B - k, n - at);
      const perm = this.permutation(epoch);
      const ix = this.indices;
      for (let j = 0; j < take; j++) {
        const i = ix ? ix[perm[at + j]] : perm[at + j];
        copyValues(this.inputs, this.decode, i * row, row, out.inputs, (k + j) * row);
        out.targets[k + j] = this.targets[i];
      }
      k += take;
      position += take;
    }
    return out;
  }
}

/**
 * Next-token windows of a token stream: each batch holds `batchSize` windows of `seq` tokens at uniformly random
 * start positions drawn from (seed, step); targets are the inputs shifted by one token. One epoch is
 * ⌊(tokens − 1)/seq⌋ windows (as many as tile the text once).
 */
export class TextWindows implements BatchSource {
  readonly batchSize: number;
  readonly epochSize: number;
  private readonly out: { inputs: Int32Array; targets: Int32Array };

  constructor(
    private readonly tokens: Uint8Array,
    readonly seq: number,
    readonly seed: number,
    batchSize: number,
  ) {
    if (!Number.isInteger(seq) || seq < 1) throw new Error(`sequence length must be a positive integer, got ${seq}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size must be a positive integer, got ${batchSize}`);
    if (tokens.length < seq + 1) throw new Error(`text of ${tokens.length} tokens is shorter than one window of ${seq} + 1`);
    this.batchSize = batchSize;
    this.epochSize = Math.floor((tokens.length - 1) / seq);
    this.out = { inputs: new Int32Array(batchSize * seq), targets: new Int32Array(batchSize * seq) };
  }

  batch(step: number): TrainBatch {
    if (!Number.isSafeInteger(step) || step < 0) throw new Error(`step must be a non-negative integer, got ${step}`);
    const { tokens, seq, out } = this;
    const rng = new Rng(`windows:${this.seed}:step:${step}`);
    const starts = tokens.length - seq; // a window needs seq + 1 tokens
    for (let b = 0; b < this.batchSize; b++) {
      const s = rng.int(starts);
      out.inputs.set(tokens.subarray(s, s + seq), b * seq);
      out.targets.set(tokens.subarray(s + 1, s + seq + 1), b * seq);
    }
    return out;
  }
}

/**
 * Consecutive non-overlapping windows of a token stream as labelled data for Model.evaluate (inputs and targets
 * [windows · seq], targets shifted by one token); at most `limit` windows when given.
 */
export function textEvalData(tokens: Uint8Array, seq: number, limit?: number): LabeledData & { inputs: Int32Array } {
  let windows = Math.floor((tokens.length - 1) / seq);
  if (limit !== undefined) windows = Math.min(windows, limit);
  if (windows < 1) throw new Error(`text of ${tokens.length} tokens is shorter than one window of ${seq} + 1`);
  const inputs = new Int32Array(windows * seq);
  const targets = new Int32Array(windows * seq);
  inputs.set(tokens.subarray(0, windows * seq));
  targets.set(tokens.subarray(1, windows * seq + 1));
  return { inputs, targets, count: windows };
}
