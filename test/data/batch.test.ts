import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { BatchIterator, evalBatches, type Batch } from '../../src/data/batch.js';
import type { ImageDataset } from '../../src/data/dataset.js';

/** Example i has pixels i, i + 0.25, i + 0.5 (1 × 1 × 3) and label i mod 7: a batch's rows reveal the indices. */
function indexed(n: number): ImageDataset {
  const images = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) images.set([i, i + 0.25, i + 0.5], i * 3);
  return { name: 'indexed', images, labels: new Int32Array(n).map((_, i) => i % 7), n, channels: 1, height: 1, width: 3, classes: 7 };
}

function indicesOf(b: Batch): number[] {
  const out: number[] = [];
  for (let k = 0; k < b.size; k++) {
    const i = b.images[k * 3];
    assert.deepEqual(Array.from(b.images.subarray(k * 3, k * 3 + 3)), [i, i + 0.25, i + 0.5]);
    assert.equal(b.labels[k], i % 7);
    out.push(i);
  }
  return out;
}

test('wrap mode: full batches in reused buffers, every example once per epoch, reshuffled each epoch', () => {
  const data = indexed(50);
  const it = new BatchIterator(data, { batchSize: 8, rng: new Rng(1) });
  const stream: number[] = [];
  let first: Batch | undefined;
  for (let s = 0; s < 25; s++) {
    const b = it.next();
    first ??= b;
    assert.equal(b, first, 'same batch object');
    assert.equal(b.size, 8);
    assert.equal(b.images.length, 24);
    stream.push(...indicesOf(b));
  }
  assert.equal(it.samplesSeen, 200);
  assert.equal(it.epoch, 3);
  const epochs = [0, 1, 2, 3].map((e) => stream.slice(e * 50, (e + 1) * 50));
  for (const e of epochs) assert.deepEqual([...e].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
  assert.notDeepEqual(epochs[0], epochs[1]);
  assert.notDeepEqual(epochs[0], Array.from({ length: 50 }, (_, i) => i));
});

test('a shard: only its examples, and same Rng seed same batches', () => {
  const data = indexed(100);
  const shard = Int32Array.from([3, 10, 11, 40, 41, 42, 77, 99]);
  const a = new BatchIterator(data, { batchSize: 3, rng: new Rng(7), indices: shard });
  const b = new BatchIterator(data, { batchSize: 3, rng: new Rng(7), indices: shard });
  const c = new BatchIterator(data, { batchSize: 3, rng: new Rng(8), indices: shard });
  const sa: number[] = [];
  const sc: number[] = [];
  for (let s = 0; s < 8; s++) {
    const ia = indicesOf(a.next());
    assert.deepEqual(indicesOf(b.next()), ia);
    sa.push(...ia);
    sc.push(...indicesOf(c.next()));
  }
  assert.ok(sa.every((i) => shard.includes(i)));
  assert.deepEqual(sa.slice(0, 8).sort((x, y) => x - y), Array.from(shard));
  assert.notDeepEqual(sa, sc);
  // The caller's shard array is not reordered.
  assert.deepEqual(Array.from(shard), [3, 10, 11, 40, 41, 42, 77, 99]);
});

test('a shard smaller than a batch still gives full batches in wrap mode', () => {
  const it = new BatchIterator(indexed(10), { batchSize: 5, rng: new Rng(1), indices: Int32Array.from([4, 6]) });
  const ix = indicesOf(it.next());
  assert.equal(ix.length, 5);
  assert.ok(ix.every((i) => i === 4 || i === 6));
});

test('drop and partial modes', () => {
  const data = indexed(10);
  const drop = new BatchIterator(data, { batchSize: 4, rng: new Rng(2), remainder: 'drop' });
  const d1 = indicesOf(drop.next());
  const d2 = indicesOf(drop.next());
  assert.equal(drop.epoch, 0);
  assert.equal(new Set([...d1, ...d2]).size, 8);
  assert.equal(drop.next().size, 4);
  assert.equal(drop.epoch, 1);

  const partial = new BatchIterator(data, { batchSize: 4, rng: new Rng(2), remainder: 'partial' });
  const sizes = [0, 1, 2, 3].map(() => partial.next()).map((b) => [b.size, b.images.length, b.labels.length]);
  assert.deepEqual(sizes, [[4, 12, 4], [4, 12, 4], [2, 6, 2], [4, 12, 4]]);
  assert.equal(partial.epoch, 1);

  assert.throws(() => new BatchIterator(data, { batchSize: 11, rng: new Rng(1), remainder: 'drop' }), UsageError);
  assert.throws(() => new BatchIterator(data, { batchSize: 0, rng: new Rng(1) }), UsageError);
  assert.throws(() => new BatchIterator(data, { batchSize: 2, rng: new Rng(1), indices: Int32Array.from([10]) }), UsageError);
  assert.throws(() => new BatchIterator(data, { batchSize: 2, rng: new Rng(1), indices: new Int32Array(0) }), UsageError);
});

test('evalBatches: one ordered pass, last batch smaller', () => {
  const data = indexed(10);
  // Buffers are reused, so each batch is read before the next one is produced.
  const all: number[][] = [];
  for (const b of evalBatches(data, 4)) all.push([b.size, ...indicesOf(b)]);
  assert.deepEqual(all, [[4, 0, 1, 2, 3], [4, 4, 5, 6, 7], [2, 8, 9]]);
  const some: number[][] = [];
  for (const b of evalBatches(data, 2, Int32Array.from([9, 1, 5]))) some.push(indicesOf(b));
  assert.deepEqual(some, [[9, 1], [5]]);
});
