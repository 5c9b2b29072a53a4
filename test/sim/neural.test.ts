import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildAlgorithm } from '../../src/algorithms/index.js';
import { makeTopology } from '../../src/graph/topology.js';
import { makeObjective } from '../../src/objectives/index.js';
import { simulate } from '../../src/sim/simulator.js';

test('virtual workers train a real network with real gradients (A2CiD2, ring of 6), deterministically', async () => {
  const run = async () => {
    const objective = await makeObjective('mlp-synthetic', { workers: 6, seed: 2, batchSize: 16, shard: 'iid' });
    const graph = makeTopology('ring', 6);
    const built = buildAlgorithm({ name: 'acid', graph, rate: 1, dim: objective.dim, dtype: 'f32', lr: 0.05, momentum: 0.9 });
    return simulate({ objective, graph, built, rate: 1, time: 60, seed: 2, every: 20 });
  };
  const a = await run();
  const first = a.rows[0];
  const last = a.rows[a.rows.length - 1];
  assert.ok((first.testAccuracy as number) < 0.6, `accuracy before training ${first.testAccuracy}`);
  assert.ok((last.testAccuracy as number) > 0.9, `accuracy after training ${last.testAccuracy}`);
  assert.ok(last.loss < first.loss / 3);
  assert.ok(a.final[0] instanceof Float32Array);
  const b = await run();
  assert.deepEqual(a.rows, b.rows);
});
