/**
 * A sharded optimizer's rounds in shared memory (sharded-collective.ts, sharded-round.ts): the reduce-scatter sums
 * each shard as the all-reduce sums the whole, the all-gather assembles the workers' parts, a round that loses a
 * worker fails for all and leaves no trace; and worker agents driven round by round take the very same values
 * sharded as unsharded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildAlgorithm } from '../../src/algorithms/index.js';
import { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';
import { shardOf } from '../../src/algorithms/shards.js';
import type { AccumulateState } from '../../src/algorithms/accumulate.js';
import { Rng } from '../../src/core/rng.js';
import { jsBackend } from '../../src/engine/backends/index.js';
import { createModel } from '../../src/engine/models/index.js';
import { makeTopology } from '../../src/graph/topology.js';
import { WorkerAgent } from '../../src/runtime/agent.js';
import { SharedAllReduce, collectiveBuffers } from '../../src/runtime/collective.js';
import { SharedShardedCollective } from '../../src/runtime/sharded-collective.js';

const backend = jsBackend();

test('the reduce-scatter gives each worker its shard of the all-reduce\'s mean, bit for bit; the all-gather the whole vector', async () => {
  const n = 3;
  const dim = 10;
  const rng = new Rng(2);
  const contributions = Array.from({ length: n }, () => Float32Array.from({ length: dim + 1 }, () => rng.normal()));
  const plain = collectiveBuffers(n, dim + 1);
  const reduced = await Promise.all(contributions.map(async (c, i) => {
    const all = new SharedAllReduce(i, plain, backend);
    all.nextSlot(dim + 1).set(c);
    const out = new Float32Array(dim + 1);
    await all.reduce(out);
    return out;
  }));
  const buffers = collectiveBuffers(n, dim + 1, dim);
  const parts = await Promise.all(contributions.map(async (c, i) => {
    const all = new SharedShardedCollective(i, buffers, backend);
    all.nextSlot(dim + 1).set(c);
    const shard = shardOf(dim, n, i);
    const out = new Float32Array(shard.end - shard.start + 1);
    assert.equal(await all.reduceScatter(out, [shard, { start: dim, end: dim + 1 }], dim + 1), n);
    assert.deepEqual(out, Float32Array.of(...reduced[0].subarray(shard.start, shard.end), reduced[0][dim]));
    const whole = new Float32Array(dim);
    const part = Float32Array.from(out.subarray(0, shard.end - shard.start), (v) => 2 * v);
    assert.equal(await all.allGather(part, shard.start, whole), n);
    // A ring reduce-scatter and all-gather: (n − 1)/n of the contribution, then of the vector.
    assert.ok(Math.abs(all.bytesSent - ((n - 1) / n) * 4 * (2 * dim + 1)) < 1e-9);
    return whole;
  }));
  for (const whole of parts) assert.deepEqual(whole, Float32Array.from(reduced[0].subarray(0, dim), (v) => 2 * v));
});

test('a worker that gives a round up after contributing fails the all-gather of the others (0)', async () => {
  const n = 3;
  const dim = 6;
  const buffers = collectiveBuffers(n, dim + 1, dim);
  const all = Array.from({ length: n }, (_, i) => new SharedShardedCollective(i, buffers, backend));
  const outs = all.map((_, i) => new Float32Array(shardOf(dim, n, i).end - shardOf(dim, n, i).start + 1));
  const parts = (i: number) => [shardOf(dim, n, i), { start: dim, end: dim + 1 }];
  // Worker 2 gives up while waiting for worker 1's contribution.
  const given = all[2].reduceScatter(outs[2], parts(2), dim + 1, () => true);
  assert.equal(await given, 0);
  const [a, b] = await Promise.all([0, 1].map((i) => all[i].reduceScatter(outs[i], parts(i), dim + 1)));
  assert.deepEqual([a, b], [n, n]);
  const gathered = await Promise.all([0, 1].map((i) => all[i].allGather(new Float32Array(2), shardOf(dim, n, i).start, new Float32Array(dim))));
  assert.deepEqual(gathered, [0, 0]);
});

for (const name of ['acco', 'dpu'] as const) {
  test(`${name}: worker agents driven round by round take the same values sharded as unsharded, bit for bit (AdamW, 3 workers)`, async () => {
    const n = 3;
    const model = createModel('mlp', { inputSize: 5, hidden: [4], classes: 3, backend, seed: 4 });
    const dim = model.size;
    const graph = makeTopology('complete', n);
    const run = async (shardOptimizer: boolean) => {
      const built = buildAlgorithm({ name, graph, rate: 1, dim, dtype: 'f32', backend, layout: model.layout, shardOptimizer, ...(name === 'dpu' ? { delayWarmup: 0 } : {}) });
      const buffers = collectiveBuffers(n, dim + 1, shardOptimizer ? dim : 0);
      const optimizers: LocalOptimizer[] = [];
      const agents = Array.from({ length: n }, (_, i) => {
        const x = new Float32Array(new SharedArrayBuffer(4 * dim));
        x.set(model.params);
        const shard = shardOptimizer ? shardOf(dim, n, i) : undefined;
        const optimizer = new LocalOptimizer({ optimizer: 'adamw', lr: 0.01, weightDecay: 0.1 }, { dim, dtype: 'f32', backend, layout: model.layout, shard });
        optimizers.push(optimizer);
        // Rounds last 100 ms (emulated links): every micro-batch of a round lands while its collective is in flight.
        const collective = shardOptimizer ? new SharedShardedCollective(i, buffers, backend, 100) : new SharedAllReduce(i, buffers, backend, 100);
        return new WorkerAgent({ id: i, built, x, layoutHash: model.layoutHash, rng: new Rng(i), rate: 0, collective, shard, optimizer, permit: () => {} });
      });
      const rng = new Rng(5);
      // Atomics.waitAsync does not keep the event loop alive by itself (worker threads have their ports).
      const alive = setInterval(() => {}, 50);
      for (let round = 0; round < 8; round++) {
        // Worker i computes 1 + (i + round) mod 3 micro-batches during the round, the first one beginning it.
        for (const [i, a] of agents.entries()) {
          for (let m = 0; m <= (i + round) % 3; m++) {
            const g = Float32Array.from({ length: dim }, () => rng.normal());
            assert.equal(await a.applyGradient(0, g, 1), true);
          }
        }
        await Promise.all(agents.map((a) => a.settled()));
      }
      clearInterval(alive);
      return { agents, optimizers };
    };
    const plain = await run(false);
    const sharded = await run(true);
    sharded.agents.forEach((a, i) => {
      const s = a.state as AccumulateState;
      const p = plain.agents[i].state as AccumulateState;
      assert.equal(s.rounds, 8);
      assert.deepEqual(s.base, p.base, `worker ${i}: θ`);
      assert.deepEqual(s.next, p.next, `worker ${i}: the next parameters`);
      assert.deepEqual(a.x, plain.agents[i].x, `worker ${i}: x`);
      const shard = shardOf(dim, n, i);
      assert.equal(sharded.optimizers[i].state.length, 2 * (shard.end - shard.start), 'AdamW\'s moments of the shard only');
      // The shard's moments are the whole optimizer's over the shard.
      const whole = plain.optimizers[i].state;
      assert.deepEqual(sharded.optimizers[i].state, Float32Array.of(...whole.subarray(shard.start, shard.end), ...whole.subarray(dim + shard.start, dim + shard.end)));
    });
    assert.notDeepEqual((sharded.agents[0].state as AccumulateState).base, model.params);
  });
}
