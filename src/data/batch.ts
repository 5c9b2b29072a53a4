/**
 * Mini-batches over a dataset or a shard of it. Buffers are allocated once and reused by every batch; rows are
 * copied with TypedArray.set. A batch is only valid until the next call that produces one.
 */
import { UsageError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import { copyRow, rowSize, type ImageDataset } from './dataset.js';
import { copyValues } from './pixels.js';

export interface Batch {
  /** size × channels × height × width. */
  images: Float32Array;
  labels: Int32Array;
  /** Number of examples in the batch. */
  size: number;
}

/**
 * What happens at the end of an epoch when fewer than batchSize examples are left:
 * - 'wrap' (default): reshuffle and fill the batch from the next epoch; every batch is full, every example is seen
 *   once per epoch, and shards smaller than a batch still work.
 * - 'drop': skip the leftover examples and reshuffle (needs at least batchSize examples).
 * - 'partial': return the leftover examples as a smaller batch (views into the buffers), then reshuffle.
 */
export type Remainder = 'wrap' | 'drop' | 'partial';

export interface BatchOptions {
  batchSize: number;
  /** The worker's own generator: the order of every epoch is drawn from it. */
  rng: Rng;
  /** The examples to draw from (a shard). Default: the whole dataset, in this worker's own shuffled order. */
  indices?: Int32Array;
  remainder?: Remainder;
}

/**
 * An endless stream of mini-batches, reshuffled at every epoch with the worker's Rng. With `indices` it runs over a
 * shard; without, each worker sees the whole training set in its own order.
 */
export class BatchIterator {
  readonly batchSize: number;
  readonly remainder: Remainder;
  /** Number of examples in one epoch. */
  readonly epochSize: number;
  private readonly data: ImageDataset;
  private readonly rng: Rng;
  private readonly row: number;
  private readonly order: Int32Array;
  private readonly full: Batch;
  private pos: number;
  private epochs = 0;
  private seen = 0;

  constructor(data: ImageDataset, opts: BatchOptions) {
    const { batchSize } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`batch size must be a positive integer, got ${batchSize}`);
    this.remainder = opts.remainder ?? 'wrap';
    if (!['wrap', 'drop', 'partial'].includes(this.remainder)) throw new UsageError(`unknown batch remainder mode ${JSON.stringify(this.remainder)}`);
    this.data = data;
    this.rng = opts.rng;
    this.batchSize = batchSize;
    this.row = rowSize(data);
    if (opts.indices !== undefined) {
      for (let k = 0; k < opts.indices.length; k++) {
        const i = opts.indices[k];
        if (i < 0 || i >= data.n) throw new UsageError(`index ${i} is outside dataset ${data.name} (n = ${data.n})`);
      }
      this.order = Int32Array.from(opts.indices);
    } else {
      this.order = new Int32Array(data.n);
      for (let i = 0; i < data.n; i++) this.order[i] = i;
    }
    this.epochSize = this.order.length;
    if (this.epochSize === 0) throw new UsageError(`cannot draw batches from an empty set of examples of ${data.name}`);
    if (this.remainder === 'drop' && this.epochSize < batchSize) {
      throw new UsageError(`batch size ${batchSize} exceeds the ${this.epochSize} examples available with remainder 'drop'`);
    }
    this.full = { images: new Float32Array(batchSize * this.row), labels: new Int32Array(batchSize), size: batchSize };
    this.rng.shuffle(this.order);
    this.pos = 0;
  }

  /** Number of completed epochs (reshuffles) so far. */
  get epoch(): number {
    return this.epochs;
  }

  /** Number of examples returned so far. */
  get samplesSeen(): number {
    return this.seen;
  }

  /** The next mini-batch (reusing the same buffers). */
  next(): Batch {
    const B = this.batchSize;
    const m = this.epochSize;
    if (this.remainder === 'wrap') {
      for (let k = 0; k < B; ) {
        if (this.pos === m) this.reshuffle();
        const take = Math.min(B - k, m - this.pos);
        this.copy(this.pos, take, k);
        this.pos += take;
        k += take;
      }
      this.seen += B;
      return this.full;
    }
    if (this.pos === m || (this.remainder === 'drop' && this.pos + B > m)) this.reshuffle();
    const size = Math.min(B, m - this.pos);
    this.copy(this.pos, size, 0);
    this.pos += size;
    this.seen += size;
    if (size === B) return this.full;
    return { images: this.full.images.subarray(0, size * this.row), labels: this.full.labels.subarray(0, size), size };
  }

  private reshuffle(): void {
    this.rng.shuffle(this.order);
    this.pos = 0;
    this.epochs++;
  }

  /** Copies examples order[from .. from+count) into batch slots [slot .. slot+count). */
  private copy(from: number, count: number, slot: number): void {
    const { order, full, data } = this;
    for (let k = 0; k < count; k++) {
      const i = order[from + k];
      copyRow(data, i, full.images, slot + k);
      full.labels[slot + k] = data.labels[i];
    }
  }
}

/**
 * One ordered pass for evaluation: the given examples (default all) in order, batchSize at a time, the last batch
 * possibly smaller (as views). The buffers are reused between batches.
 */
export function* evalBatches(data: ImageDataset, batchSize: number, indices?: Int32Array): Generator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`batch size must be a positive integer, got ${batchSize}`);
  const row = rowSize(data);
  const m = indices?.length ?? data.n;
  const images = new Float32Array(Math.min(batchSize, m) * row);
  const labels = new Int32Array(Math.min(batchSize, m));
  for (let at = 0; at < m; at += batchSize) {
    const size = Math.min(batchSize, m - at);
    if (indices === undefined) {
      copyValues(data.images, data.decode, at * row, size * row, images, 0);
      labels.set(data.labels.subarray(at, at + size));
    } else {
      for (let k = 0; k < size; k++) {
        const i = indices[at + k];
        if (i < 0 || i >= data.n) throw new UsageError(`index ${i} is outside dataset ${data.name} (n = ${data.n})`);
        copyRow(data, i, images, k);
        labels[k] = data.labels[i];
      }
    }
    yield size === labels.length ? { images, labels, size } : { images: images.subarray(0, size * row), labels: labels.subarray(0, size), size };
  }
}
