import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildAlgorithm } from '../../src/algorithms/index.js';
import { Rng } from '../../src/core/rng.js';
import { makeTopology } from '../../src/graph/topology.js';
import { makeObjective } from '../../src/objectives/index.js';
import { simulate } from '../../src/sim/simulator.js';

test('virtual workers train a real network with real gradients (A2CiD2, ring of 6), deterministically', async () => {
  const run = async () => {
    const objective = await makeObjective('mlp-synthetic', { workers: 6, seed: 2, batchSize: 16, shard: 'iid' });
    const graph = makeTopology('ring', 6);
    const built = buildAlgorithm({ name: 'acid', graph, rate: 1, dim: objective.dim, dtype: 'f32', backend: objective.backend });
    return simulate({ objective, graph, built, optimizer: { lr: 0.05, momentum: 0.9 }, rate: 1, time: 60, seed: 2, every: 20 });
  };
  const a = await run();
  const first = a.rows[0];
  const last = a.rows[a.rows.length - 1];
  assert.ok((first.testAccuracy as number) < 0.6, `accuracy before training ${first.testAccuracy}`);
  assert.ok((last.testAccuracy as number) > 0.9, `accuracy after training ${last.testAccuracy}`);
  assert.ok(last.testLoss! < first.testLoss! / 3);
  assert.equal(last.objective, undefined, 'a neural problem\'s rows name their loss a test loss');
  assert.ok(a.final[0] instanceof Float32Array);
  const b = await run();
  assert.deepEqual(a.rows, b.rows);
});

test('--eval-limit: the metrics of a neural problem use that many test examples', async () => {
  const few = await makeObjective('mlp-synthetic', { workers: 2, seed: 1, evalLimit: 5 });
  const all = await makeObjective('mlp-synthetic', { workers: 2, seed: 1 });
  const x = few.initial(new Rng(1));
  assert.deepEqual(all.initial(new Rng(1)), x, 'the same model');
  const accuracy = (o: typeof few) => o.metrics!(x).testAccuracy;
  // Accuracies over 5 examples are multiples of 1/5; over the 400 of the synthetic test set, of 1/400.
  assert.ok(Math.abs(accuracy(few) * 5 - Math.round(accuracy(few) * 5)) < 1e-9, `accuracy ${accuracy(few)} over 5 examples`);
  assert.notEqual(few.loss(x), all.loss(x));
});

test('the character transformer on Moby-Dick as a simulator problem: AdamW inner steps through the one local optimizer, deterministic', async () => {
  const run = async () => {
    const objective = await makeObjective('transformer-moby-dick', { workers: 2, seed: 1, limit: 40_000, evalLimit: 16, batchSize: 4 });
    const graph = makeTopology('ring', 2);
    const built = buildAlgorithm({ name: 'gossip', graph, rate: 1, dim: objective.dim, dtype: 'f32', backend: objective.backend });
    return simulate({ objective, graph, built, optimizer: { optimizer: 'adamw', lr: 3e-3, weightDecay: 0.01, clip: 1 }, rate: 1, time: 12, seed: 1, every: 12 });
  };
  const a = await run();
  assert.equal(a.summary.problem, 'transformer-moby-dick');
  const [first, last] = [a.rows[0], a.rows[a.rows.length - 1]];
  assert.ok(last.testLoss! < first.testLoss! - 0.5, `held-out loss ${first.testLoss} → ${last.testLoss}`);
  assert.ok(typeof last.testBitsPerChar === 'number');
  const b = await run();
  assert.deepEqual(a.rows, b.rows);
});
