/** Seeded synthetic datasets: small, fast and learnable, for tests and quick experiments. */
import { UsageError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { ImageDataset } from './dataset.js';

export interface SyntheticClassificationOptions {
  n: number;
  features: number;
  classes: number;
  seed: number | string;
  /** Standard deviation of the Gaussian noise around each class centre (default 1). */
  noise?: number;
  /** Scale of the class centres, drawn as separation · N(0, I) (default 2). */
  separation?: number;
}

/**
 * Gaussian clusters: class centres μ_c ~ separation · N(0, I_features); example i has label i mod classes (then the
 * order is shuffled) and features μ_label + noise · N(0, I). Returned as an ImageDataset of shape 1 × 1 × features.
 */
export function syntheticClassification(opts: SyntheticClassificationOptions): ImageDataset<Float32Array> {
  const { n, features, classes } = opts;
  const noise = opts.noise ?? 1;
  const separation = opts.separation ?? 2;
  positiveInt('n', n);
  positiveInt('features', features);
  positiveInt('classes', classes);
  nonNegative('noise', noise);
  nonNegative('separation', separation);
  const rng = new Rng(opts.seed);
  const centres = new Float32Array(classes * features);
  for (let k = 0; k < centres.length; k++) centres[k] = separation * rng.normal();
  const labels = balancedLabels(n, classes, rng);
  const images = new Float32Array(n * features);
  for (let i = 0; i < n; i++) {
    const c = labels[i] * features;
    const o = i * features;
    for (let f = 0; f < features; f++) images[o + f] = centres[c + f] + noise * rng.normal();
  }
  return { name: `synthetic-classification-${features}x${classes}`, images, labels, n, channels: 1, height: 1, width: features, classes };
}

export interface SyntheticImagesOptions {
  n: number;
  seed: number | string;
  channels?: number;
  height?: number;
  width?: number;
  classes?: number;
  /** Standard deviation of per-pixel Gaussian noise (default 0.5). */
  noise?: number;
  /** Maximum random translation of the class pattern, in pixels, in each direction (default 1). */
  shift?: number;
}

/**
 * Small images (default 1 × 8 × 8, 4 classes) of per-class spatial patterns: each class's template is a sum of three
 * Gaussian blobs of random position, width and sign per channel, scaled to unit peak. An example is its class
 * template translated by up to `shift` pixels (zero-filled) plus noise · N(0, 1) per pixel.
 */
export function syntheticImages(opts: SyntheticImagesOptions): ImageDataset<Float32Array> {
  const n = opts.n;
  const channels = opts.channels ?? 1;
  const height = opts.height ?? 8;
  const width = opts.width ?? 8;
  const classes = opts.classes ?? 4;
  const noise = opts.noise ?? 0.5;
  const shift = opts.shift ?? 1;
  positiveInt('n', n);
  positiveInt('channels', channels);
  positiveInt('height', height);
  positiveInt('width', width);
  positiveInt('classes', classes);
  nonNegative('noise', noise);
  if (!Number.isInteger(shift) || shift < 0) throw new UsageError(`shift must be a non-negative integer, got ${shift}`);
  const rng = new Rng(opts.seed);
  const plane = height * width;
  const row = channels * plane;
  const templates = new Float32Array(classes * row);
  for (let c = 0; c < classes; c++) {
    for (let ch = 0; ch < channels; ch++) {
      const t = templates.subarray(c * row + ch * plane, c * row + (ch + 1) * plane);
      for (let blob = 0; blob < 3; blob++) {
        const cy = rng.uniform() * (height - 1);
        const cx = rng.uniform() * (width - 1);
        const r = (0.15 + 0.2 * rng.uniform()) * Math.max(height, width);
        const sign = rng.uniform() < 0.5 ? -1 : 1;
        for (let y = 0; y < height; y++) {
          for (let x = 0; x < width; x++) t[y * width + x] += sign * Math.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r));
        }
      }
      let peak = 0;
      for (let k = 0; k < plane; k++) peak = Math.max(peak, Math.abs(t[k]));
      if (peak > 0) for (let k = 0; k < plane; k++) t[k] /= peak;
    }
  }
  const labels = balancedLabels(n, classes, rng);
  const images = new Float32Array(n * row);
  for (let i = 0; i < n; i++) {
    const dy = shift > 0 ? rng.int(2 * shift + 1) - shift : 0;
    const dx = shift > 0 ? rng.int(2 * shift + 1) - shift : 0;
    const tpl = labels[i] * row;
    for (let ch = 0; ch < channels; ch++) {
      const o = i * row + ch * plane;
      const t = tpl + ch * plane;
      for (let y = 0; y < height; y++) {
        const sy = y - dy;
        for (let x = 0; x < width; x++) {
          const sx = x - dx;
          const v = sy >= 0 && sy < height && sx >= 0 && sx < width ? templates[t + sy * width + sx] : 0;
          images[o + y * width + x] = v + noise * rng.normal();
        }
      }
    }
  }
  return { name: `synthetic-images-${channels}x${height}x${width}`, images, labels, n, channels, height, width, classes };
}

/** Labels i mod classes, shuffled: every class has ⌊n/classes⌋ or ⌈n/classes⌉ examples. */
function balancedLabels(n: number, classes: number, rng: Rng): Int32Array {
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = i % classes;
  return rng.shuffle(labels);
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new UsageError(`${name} must be a positive integer, got ${v}`);
}

function nonNegative(name: string, v: number): void {
  if (!(v >= 0) || !Number.isFinite(v)) throw new UsageError(`${name} must be a non-negative number, got ${v}`);
}
