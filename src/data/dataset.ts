/** The one in-memory layout for labelled examples: images (or feature vectors) and integer class labels. */
import { UsageError } from '../core/errors.js';
import { isFileBytes, readBytes } from './file-bytes.js';
import { copyValues, headValues, type PixelArray } from './pixels.js';

/**
 * Labelled examples stored contiguously. Example i occupies images[i·rowSize, (i+1)·rowSize) in channels × height ×
 * width order (row-major), with rowSize = channels·height·width; its label is labels[i] ∈ [0, classes).
 * A feature-vector dataset is an image of shape 1 × 1 × features.
 * Datasets returned by the loaders may be shared by several callers (they are cached): treat them as read-only.
 */
export interface ImageDataset<I extends PixelArray = PixelArray> {
  name: string;
  /**
   * n × channels × height × width: normalised floats, or stored bytes (MNIST's pixels, in memory or left in their
   * file) whose values are in `decode` (data/pixels.ts; a batch decodes its rows).
   */
  images: I;
  /** For byte images: the float value of each byte (256 entries). */
  decode?: Float32Array;
  labels: Int32Array;
  n: number;
  channels: number;
  height: number;
  width: number;
  classes: number;
}

/** Number of floats per example (channels × height × width). */
export function rowSize(data: ImageDataset): number {
  return data.channels * data.height * data.width;
}

/** Checks that the fields of a dataset agree with each other (sizes, label range); throws a UsageError if not. */
export function checkDataset(data: ImageDataset): void {
  const row = rowSize(data);
  const where = `dataset ${data.name}`;
  for (const [k, v] of [
    ['n', data.n],
    ['channels', data.channels],
    ['height', data.height],
    ['width', data.width],
    ['classes', data.classes],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) throw new UsageError(`${where}: ${k} must be a non-negative integer, got ${v}`);
  }
  if (data.images.length !== data.n * row) {
    throw new UsageError(`${where}: images hold ${data.images.length} values, expected ${data.n} × ${row}`);
  }
  if (data.images instanceof Uint8Array && data.decode?.length !== 256) throw new UsageError(`${where}: byte images need a decode table of 256 values`);
  if (data.labels.length !== data.n) {
    throw new UsageError(`${where}: ${data.labels.length} labels for ${data.n} examples`);
  }
  for (let i = 0; i < data.n; i++) {
    const y = data.labels[i];
    if (y < 0 || y >= data.classes) throw new UsageError(`${where}: label ${y} of example ${i} is outside [0, ${data.classes})`);
  }
}

/** The first `limit` examples of a dataset, as views sharing its storage (no copy). */
export function headOf<I extends PixelArray>(data: ImageDataset<I>, limit: number | undefined): ImageDataset<I> {
  if (limit === undefined || limit >= data.n) return data;
  if (!Number.isInteger(limit) || limit < 0) throw new UsageError(`limit must be a non-negative integer, got ${limit}`);
  const row = rowSize(data);
  return {
    ...data,
    images: headValues(data.images, limit * row),
    labels: data.labels.subarray(0, limit),
    n: limit,
  };
}

/** Copies example i into row `slot` of `out`, as floats. */
export function copyRow(data: ImageDataset, i: number, out: Float32Array, slot: number): void {
  const row = rowSize(data);
  copyValues(data.images, data.decode, i * row, row, out, slot * row);
}

/** A new dataset made of the examples at the given indices, in that order (copies rows, in the stored type). */
export function subsetOf(data: ImageDataset, indices: ArrayLike<number>, name = data.name): ImageDataset {
  const row = rowSize(data);
  const m = indices.length;
  const src = data.images;
  const images = src instanceof Float32Array ? new Float32Array(m * row) : new Uint8Array(m * row);
  const labels = new Int32Array(m);
  for (let k = 0; k < m; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= data.n) throw new UsageError(`index ${i} is outside dataset ${data.name} (n = ${data.n})`);
    images.set(isFileBytes(src) ? readBytes(src, i * row, row) : src.subarray(i * row, (i + 1) * row), k * row);
    labels[k] = data.labels[i];
  }
  return { ...data, name, images, labels, n: m };
}

/** Counts of each label among the given examples (all of them by default). */
export function labelCounts(labels: Int32Array, classes: number, indices?: ArrayLike<number>): Int32Array {
  const counts = new Int32Array(classes);
  if (indices === undefined) for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  else for (let k = 0; k < indices.length; k++) counts[labels[indices[k]]]++;
  return counts;
}
