import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/core/errors.js';
import { checkDataset, labelCounts, rowSize, type ImageDataset } from '../../src/data/dataset.js';
import { syntheticClassification, syntheticImages } from '../../src/data/synthetic.js';

/** Accuracy of the nearest class mean (estimated on the first half) on the second half. */
function nearestMeanAccuracy(d: ImageDataset<Float32Array>): number {
  const row = rowSize(d);
  const half = Math.floor(d.n / 2);
  const means = new Float64Array(d.classes * row);
  const counts = new Float64Array(d.classes);
  for (let i = 0; i < half; i++) {
    counts[d.labels[i]]++;
    for (let f = 0; f < row; f++) means[d.labels[i] * row + f] += d.images[i * row + f];
  }
  for (let c = 0; c < d.classes; c++) for (let f = 0; f < row; f++) means[c * row + f] /= counts[c];
  let correct = 0;
  for (let i = half; i < d.n; i++) {
    let best = -1;
    let bestDist = Infinity;
    for (let c = 0; c < d.classes; c++) {
      let dist = 0;
      for (let f = 0; f < row; f++) dist += (d.images[i * row + f] - means[c * row + f]) ** 2;
      if (dist < bestDist) [best, bestDist] = [c, dist];
    }
    if (best === d.labels[i]) correct++;
  }
  return correct / (d.n - half);
}

test('syntheticClassification: shape, balanced labels, same seed same data, learnable', () => {
  const d = syntheticClassification({ n: 1000, features: 8, classes: 5, seed: 1, noise: 1 });
  checkDataset(d);
  assert.deepEqual([d.n, d.channels, d.height, d.width, d.classes], [1000, 1, 1, 8, 5]);
  assert.deepEqual(Array.from(labelCounts(d.labels, 5)), [200, 200, 200, 200, 200]);
  const again = syntheticClassification({ n: 1000, features: 8, classes: 5, seed: 1, noise: 1 });
  assert.deepEqual(again.images, d.images);
  assert.deepEqual(again.labels, d.labels);
  const other = syntheticClassification({ n: 1000, features: 8, classes: 5, seed: 2, noise: 1 });
  assert.notDeepEqual(other.images, d.images);
  assert.ok(nearestMeanAccuracy(d) > 0.9);
  // Pure noise around identical centres is not learnable.
  const flat = syntheticClassification({ n: 2000, features: 8, classes: 5, seed: 1, separation: 0 });
  assert.ok(nearestMeanAccuracy(flat) < 0.35);
  assert.throws(() => syntheticClassification({ n: 0, features: 8, classes: 5, seed: 1 }), UsageError);
  assert.throws(() => syntheticClassification({ n: 10, features: 8, classes: 5, seed: 1, noise: -1 }), UsageError);
});

test('syntheticImages: shape, determinism, learnable patterns', () => {
  const d = syntheticImages({ n: 800, seed: 'img', channels: 2, height: 10, width: 12, classes: 4, noise: 0.5 });
  checkDataset(d);
  assert.deepEqual([d.n, d.channels, d.height, d.width, d.classes], [800, 2, 10, 12, 4]);
  assert.equal(d.images.length, 800 * 2 * 10 * 12);
  assert.deepEqual(Array.from(labelCounts(d.labels, 4)), [200, 200, 200, 200]);
  assert.deepEqual(syntheticImages({ n: 800, seed: 'img', channels: 2, height: 10, width: 12, classes: 4, noise: 0.5 }).images, d.images);
  assert.ok(nearestMeanAccuracy(d) > 0.9);
  const small = syntheticImages({ n: 10, seed: 3 });
  assert.deepEqual([small.channels, small.height, small.width, small.classes], [1, 8, 8, 4]);
  for (const v of small.images) assert.ok(Number.isFinite(v));
});
