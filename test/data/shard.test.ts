import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { labelCounts } from '../../src/data/dataset.js';
import { shardDirichlet, shardIid, shardLabelCounts } from '../../src/data/shard.js';
import { syntheticClassification } from '../../src/data/synthetic.js';

function assertPartition(shards: Int32Array[], n: number): void {
  const seen = new Uint8Array(n);
  for (const s of shards) {
    for (let k = 0; k < s.length; k++) {
      assert.ok(s[k] >= 0 && s[k] < n);
      assert.equal(seen[s[k]], 0, `index ${s[k]} in two shards`);
      seen[s[k]] = 1;
      if (k > 0) assert.ok(s[k] > s[k - 1], 'sorted');
    }
  }
  assert.equal(seen.reduce((a, b) => a + b, 0), n, 'every index in a shard');
}

/** Total-variation distance between a shard's label distribution and the global one. */
function tvFromGlobal(counts: Int32Array, global: Int32Array): number {
  const m = counts.reduce((a, b) => a + b, 0);
  const n = global.reduce((a, b) => a + b, 0);
  let tv = 0;
  for (let c = 0; c < counts.length; c++) tv += Math.abs(counts[c] / m - global[c] / n);
  return tv / 2;
}

const data = syntheticClassification({ n: 12000, features: 2, classes: 10, seed: 5 });
const global = labelCounts(data.labels, 10);

test('iid shards partition the dataset with sizes within one', () => {
  for (const [n, w] of [[1003, 7], [10, 10], [5, 1]]) {
    const shards = shardIid(n, w, new Rng(1));
    assert.equal(shards.length, w);
    assertPartition(shards, n);
    const sizes = shards.map((s) => s.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
  }
});

test('iid shards have label distributions close to the global one', () => {
  const shards = shardIid(data.n, 8, new Rng(2));
  for (const h of shardLabelCounts(data.labels, shards, 10)) assert.ok(tvFromGlobal(h, global) < 0.06);
});

test('same seed same shards, other seed other shards', () => {
  assert.deepEqual(shardIid(500, 4, new Rng(9)), shardIid(500, 4, new Rng(9)));
  assert.notDeepEqual(shardIid(500, 4, new Rng(9)), shardIid(500, 4, new Rng(10)));
  assert.deepEqual(shardDirichlet(data.labels, 6, 0.5, new Rng(9)), shardDirichlet(data.labels, 6, 0.5, new Rng(9)));
  assert.notDeepEqual(shardDirichlet(data.labels, 6, 0.5, new Rng(9)), shardDirichlet(data.labels, 6, 0.5, new Rng(10)));
});

test('Dirichlet shards partition the dataset; small α skews labels, large α does not', () => {
  const skewed = shardDirichlet(data.labels, 8, 0.1, new Rng(3));
  assertPartition(skewed, data.n);
  const hs = shardLabelCounts(data.labels, skewed, 10);
  const meanTv = hs.reduce((a, h) => a + tvFromGlobal(h, global), 0) / hs.length;
  assert.ok(meanTv > 0.5, `mean TV ${meanTv} for α = 0.1`);
  // Most of each shard comes from few classes.
  const topShare = hs.map((h) => Math.max(...h) / h.reduce((a, b) => a + b, 0));
  assert.ok(topShare.reduce((a, b) => a + b, 0) / topShare.length > 0.4);

  const mixed = shardDirichlet(data.labels, 8, 1000, new Rng(3));
  assertPartition(mixed, data.n);
  for (const h of shardLabelCounts(data.labels, mixed, 10)) assert.ok(tvFromGlobal(h, global) < 0.1);
});

test('every worker gets at least one example, even when α underflows', () => {
  const labels = new Int32Array(60).map((_, i) => i % 3);
  for (const alpha of [1e-9, 0.01, 1]) {
    const shards = shardDirichlet(labels, 40, alpha, new Rng(4));
    assertPartition(shards, 60);
    for (const s of shards) assert.ok(s.length >= 1);
  }
  const exact = shardDirichlet(labels, 60, 1e-9, new Rng(4));
  for (const s of exact) assert.equal(s.length, 1);
});

test('sharding rejects bad arguments', () => {
  assert.throws(() => shardIid(3, 4, new Rng(1)), UsageError);
  assert.throws(() => shardIid(3, 0, new Rng(1)), UsageError);
  assert.throws(() => shardDirichlet(data.labels, 4, 0, new Rng(1)), UsageError);
  assert.throws(() => shardDirichlet(data.labels, 4, NaN, new Rng(1)), UsageError);
  assert.throws(() => shardDirichlet(Int32Array.from([0, 1, 5]), 2, 1, new Rng(1), 3), UsageError);
});
