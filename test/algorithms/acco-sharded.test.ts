/**
 * ACCO's and DPU's sharded optimizer state (--shard-optimizer, ZeRO-1): a reduce-scatter, each worker's step on its
 * own shard with that shard's state only, an all-gather. The optimizers are elementwise and the shards' means are
 * slices of the all-reduce's mean, so a sharded run takes the very same values as an unsharded one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Acco } from '../../src/algorithms/acco.js';
import { buildAlgorithm } from '../../src/algorithms/index.js';
import { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';
import { shardLayout, shardOf } from '../../src/algorithms/shards.js';
import type { GradientSource } from '../../src/algorithms/types.js';
import { UsageError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { makeTopology } from '../../src/graph/topology.js';
import { makeObjective } from '../../src/objectives/index.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { workerOptimizers } from '../../src/sim/run.js';
import { simulate } from '../../src/sim/simulator.js';

/** The metrics rows but for their bytes (the all-gather does not carry the micro-batch count back). */
const valuesOf = (rows: ReadonlyArray<Record<string, unknown>>) => rows.map(({ bytes: _b, ...rest }) => rest);

test('the shards cover the vector in order, contiguous, sizes within one; the layout is cut to them', () => {
  for (const [dim, n] of [[10, 3], [2372, 3], [5, 5], [7, 4]]) {
    let at = 0;
    for (let w = 0; w < n; w++) {
      const s = shardOf(dim, n, w);
      assert.equal(s.start, at);
      assert.ok(s.end - s.start >= Math.floor(dim / n) && s.end - s.start <= Math.ceil(dim / n));
      at = s.end;
    }
    assert.equal(at, dim);
  }
  const layout = [{ name: 'w', kind: 'weight' as const, shape: [2, 3], offset: 0, size: 6 }, { name: 'b', kind: 'bias' as const, shape: [3], offset: 6, size: 3 }];
  assert.deepEqual(shardLayout(layout, { start: 4, end: 8 }), [
    { name: 'w', kind: 'weight', shape: [2], offset: 0, size: 2 }, { name: 'b', kind: 'bias', shape: [2], offset: 2, size: 2 },
  ]);
});

for (const name of ['acco', 'dpu'] as const) {
  test(`${name} sharded = unsharded, bit for bit: an MLP under AdamW (weight decay skipping biases), 3 workers of different speeds`, async () => {
    const run = async (shardOptimizer: boolean) => {
      const objective = await makeObjective('mlp-synthetic', { workers: 3, seed: 4, batchSize: 8, shard: 'iid' });
      const graph = makeTopology('complete', 3);
      const built = buildAlgorithm({ name, graph, rate: 1, dim: objective.dim, dtype: 'f32', backend: objective.backend, layout: objective.layout, shardOptimizer, ...(name === 'dpu' ? { delayWarmup: 3 } : {}) });
      const optimizer = { optimizer: 'adamw' as const, lr: 0.01, weightDecay: 0.05 };
      return simulate({ objective, graph, built, optimizer, rate: 1, time: 40, seed: 6, every: 10, speeds: Float64Array.of(1, 0.5, 1 / 3), link: { latency: 0.1, bandwidth: 20000 } });
    };
    const plain = await run(false);
    const sharded = await run(true);
    assert.ok((plain.summary.outerSteps ?? 0) > 8, `${plain.summary.outerSteps} rounds`);
    assert.equal(sharded.summary.outerSteps, plain.summary.outerSteps);
    assert.deepEqual(sharded.final, plain.final);
    assert.deepEqual(valuesOf(sharded.rows), valuesOf(plain.rows));
    // A reduce-scatter and an all-gather: the ring all-reduce's bytes, but for the micro-batch count coming back.
    const rounds = plain.summary.outerSteps!;
    assert.equal(plain.summary.bytesSent - sharded.summary.bytesSent, rounds * 2 * 4);
  });
}

test('acco sharded = unsharded, bit for bit: float64 momentum SGD with weight decay, 4 workers, a dimension the shards split unevenly', () => {
  const graph = makeTopology('complete', 4);
  const objective = new Quadratic({ workers: 4, dim: 11, seed: 4, noise: 0.2 });
  const run = (shardOptimizer: boolean) => simulate({
    objective, graph, built: buildAlgorithm({ name: 'acco', graph, rate: 1, dim: 11, dtype: 'f64', shardOptimizer }),
    optimizer: { lr: 0.05, momentum: 0.9, weightDecay: 0.01 }, rate: 1, time: 60, seed: 8, every: 20, speeds: Float64Array.of(1, 1, 1 / 3, 1 / 3),
  });
  const a = run(false);
  const b = run(true);
  assert.ok((a.summary.outerSteps ?? 0) > 10);
  assert.deepEqual(b.final, a.final);
  assert.deepEqual(valuesOf(b.rows), valuesOf(a.rows));
  assert.equal(a.summary.bytesSent - b.summary.bytesSent, a.summary.outerSteps! * 3 * 4, 'the micro-batch count not gathered back: 4 bytes × (n − 1) per round');
});

test('each worker keeps its shard\'s optimizer state only (AdamW: 2 × its shard; momentum: 1 ×)', async () => {
  const objective = await makeObjective('mlp-synthetic', { workers: 3, seed: 1 });
  const graph = makeTopology('complete', 3);
  for (const [optimizer, slots] of [[{ optimizer: 'adamw' as const, lr: 0.01, weightDecay: 0.01 }, 2], [{ lr: 0.1, momentum: 0.9 }, 1]] as const) {
    const opts = (shardOptimizer: boolean) => ({
      objective, graph, optimizer, rate: 1, time: 1, seed: 1, every: 1,
      built: buildAlgorithm({ name: 'acco', graph, rate: 1, dim: objective.dim, dtype: 'f32', backend: objective.backend, layout: objective.layout, shardOptimizer }),
    });
    const whole = workerOptimizers(opts(false));
    const sharded = workerOptimizers(opts(true));
    sharded.forEach((o, w) => {
      const s = shardOf(objective.dim, 3, w);
      assert.equal(o.state.length, slots * (s.end - s.start));
      assert.equal(whole[w].state.length, slots * objective.dim);
    });
    assert.equal(sharded.reduce((a, o) => a + o.state.length, 0), slots * objective.dim, 'the shards\' states together are one whole state');
  }
});

test('ACCO sharded: the estimate round puts the shard\'s optimizer state and step count back bit for bit', () => {
  const dim = 9;
  const n = 2;
  const rng = new Rng(3);
  const algo = new Acco({ dim, dtype: 'f64', workers: n, shardOptimizer: true });
  const x0 = Float64Array.from({ length: dim }, () => rng.normal());
  const states = [algo.createState(x0), algo.createState(x0)];
  const shards = [shardOf(dim, n, 0), shardOf(dim, n, 1)];
  const opts = shards.map((shard) => new LocalOptimizer({ lr: 0.05, momentum: 0.9, weightDecay: 0.1 }, { dim, dtype: 'f64', shard }));
  const noisy = (c: number): GradientSource => (x, g) => {
    for (let k = 0; k < dim; k++) g[k] = x[k] - c + 0.1 * rng.normal();
    return 0;
  };
  const c = algo.collective;
  const sharded = c.sharded!;
  const round = (micro: number[], check?: () => void) => {
    const outs = states.map(() => new Float64Array(dim + 1));
    states.forEach((s, i) => {
      for (let m = 0; m < micro[i]; m++) algo.localStep(s, 0, noisy(i), opts[i]);
      c.begin(s, 0, outs[i]);
    });
    const mean = new Float64Array(dim + 1);
    for (const o of outs) for (let k = 0; k <= dim; k++) mean[k] += o[k] / n;
    const whole = new Float64Array(dim);
    const parts = shards.map(({ start, end }) => Float64Array.of(...mean.subarray(start, end), mean[dim]));
    states.forEach((s, i) => sharded.completeShard(s, 0, shards[i], parts[i], opts[i], whole.subarray(shards[i].start, shards[i].end)));
    check?.();
    states.forEach((s, i) => sharded.gathered(s, 0, shards[i], whole, parts[i]));
  };
  for (let r = 0; r < 4; r++) round([1, 2]);
  assert.ok(Acco.isEstimate(states[0].rounds + 1));
  const before = states.map((s, i) => ({ state: opts[i].state.slice(), steps: opts[i].steps, base: s.base.slice() }));
  round([2, 1], () => states.forEach((s, i) => {
    assert.deepEqual(opts[i].state, before[i].state, 'the shard\'s optimizer state');
    assert.equal(opts[i].steps, before[i].steps);
  }));
  states.forEach((s, i) => {
    assert.deepEqual(s.base, before[i].base, 'θ untouched');
    assert.notDeepEqual(s.next, s.base, 'θ̃ differs from θ');
    assert.equal(opts[i].state.length, shards[i].end - shards[i].start);
  });
  assert.deepEqual(states[0].next, states[1].next, 'every worker holds the whole θ̃');
});

test('--shard-optimizer is refused for other algorithms, and with clipping or Adaptive Braking', () => {
  const graph = makeTopology('complete', 2);
  for (const name of ['allreduce', 'diloco', 'acid'] as const) {
    assert.throws(() => buildAlgorithm({ name, graph, rate: 1, dim: 4, dtype: 'f64', shardOptimizer: true }), (e: Error) => e instanceof UsageError && /^shardOptimizer applies to acco and dpu, not to /.test(e.message));
  }
  const shard = { start: 0, end: 2 };
  assert.throws(() => new LocalOptimizer({ lr: 0.1, clip: 1 }, { dim: 4, dtype: 'f64', shard }), /global norm/);
  assert.throws(() => new LocalOptimizer({ lr: 0.1, momentum: 0.9, braking: 1 }, { dim: 4, dtype: 'f64', shard }), /Adaptive Braking/);
});
