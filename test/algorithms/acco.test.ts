import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Acco } from '../../src/algorithms/acco.js';
import { Dpu } from '../../src/algorithms/dpu.js';
import { buildAlgorithm } from '../../src/algorithms/index.js';
import { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';
import type { Algorithm, GradientSource } from '../../src/algorithms/types.js';
import { contributionLength } from '../../src/algorithms/types.js';
import type { AccumulateState } from '../../src/algorithms/accumulate.js';
import { jsBackend } from '../../src/engine/backends/index.js';
import { Rng } from '../../src/core/rng.js';
import { makeTopology } from '../../src/graph/topology.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { simulate } from '../../src/sim/simulator.js';

/** f_i(x) = ½ (x − c_i)²: gradient x − c_i, per coordinate. */
const quadratic = (c: number): GradientSource => (x, g) => {
  for (let k = 0; k < x.length; k++) g[k] = x[k] - c;
  return 0;
};

/** One round driven by hand: worker i takes micro[i] micro-batches, then all begin, then all complete. */
function round<S extends AccumulateState>(algo: Algorithm<S>, states: S[], micro: number[], grads: GradientSource[], opts: LocalOptimizer[]): void {
  const c = algo.collective!;
  const len = contributionLength(c, states[0]);
  const outs = states.map(() => new Float64Array(len));
  states.forEach((s, i) => {
    for (let m = 0; m < micro[i]; m++) algo.localStep(s, 0, grads[i], opts[i]);
    assert.ok(c.due(s));
    c.begin(s, 0, outs[i]);
    assert.ok(!c.due(s));
  });
  const mean = new Float64Array(len);
  for (const o of outs) for (let k = 0; k < len; k++) mean[k] += o[k] / outs.length;
  states.forEach((s, i) => c.complete(s, 0, mean, opts[i]));
}

test('DPU is the one-step-delayed update, by hand on ½(x − c_i)² (micro-batches weighted by their count)', () => {
  const lr = 0.25;
  const algo = new Dpu({ dim: 1, dtype: 'f64', workers: 2, warmup: 0 });
  const states = [algo.createState(Float64Array.of(4)), algo.createState(Float64Array.of(4))];
  const opts = states.map(() => new LocalOptimizer({ lr }, { dim: 1, dtype: 'f64' }));
  const grads = [quadratic(1), quadratic(3)];
  // Worker 0 takes 1 micro-batch a round, worker 1 takes 3: the mean gradient is x − (1 + 3·3)/4 = x − 2.5.
  const mean = (x: number) => x - 2.5;
  let prev = 4;
  let theta = 4;
  for (let r = 0; r < 6; r++) {
    const at = states[0].x[0];
    round(algo, states, [1, 3], grads, opts);
    // Round r's gradients were computed at θ_{r−1} (x moves to a round's result when the next one begins).
    assert.equal(at, prev);
    const next = theta - lr * mean(prev);
    prev = theta;
    theta = next;
    for (const s of states) assert.equal(s.base[0], theta);
  }
  assert.notEqual(states[0].x[0], states[0].base[0]);
});

test('DPU in its warm-up waits for its all-reduce: AllReduce SGD', () => {
  const lr = 0.25;
  const algo = new Dpu({ dim: 1, dtype: 'f64', workers: 2, warmup: 3 });
  const states = [algo.createState(Float64Array.of(4)), algo.createState(Float64Array.of(4))];
  const opts = states.map(() => new LocalOptimizer({ lr }, { dim: 1, dtype: 'f64' }));
  let theta = 4;
  for (let r = 0; r < 3; r++) {
    round(algo, states, [1, 1], [quadratic(1), quadratic(3)], opts);
    theta -= lr * (theta - 2);
    assert.equal(states[0].x[0], theta);
    assert.equal(algo.collective.waits!(states[0]), false);
  }
});

test('ACCO: the estimate round predicts θ̃ and the real round commits Opt(θ, ḡ(θ̃) ∪ ḡ(θ)), by hand', () => {
  const lr = 0.25;
  const algo = new Acco({ dim: 1, dtype: 'f64', workers: 2 });
  const states = [algo.createState(Float64Array.of(4)), algo.createState(Float64Array.of(4))];
  const opts = states.map(() => new LocalOptimizer({ lr }, { dim: 1, dtype: 'f64' }));
  const grads = [quadratic(1), quadratic(3)];
  let theta = 4;
  let tilde = 4;
  // Round 1 (estimate) sums gradients at θ̃_0 = θ_0; round 2 (real) at θ_0; round 3 at θ̃_1, round 4 at θ_1, …
  for (let t = 0; t < 4; t++) {
    assert.equal(states[0].x[0], tilde);
    round(algo, states, [2, 1], grads, opts); // estimate: 2 + 1 micro-batches at θ̃_t
    const gTilde = tilde - (2 * 1 + 3) / 3;
    assert.equal(states[0].base[0], theta, 'an estimate round leaves θ');
    assert.ok(Math.abs(states[0].next[0] - (theta - lr * gTilde)) < 1e-14);
    const nextTilde = states[0].next[0];
    assert.equal(states[0].x[0], theta);
    round(algo, states, [1, 3], grads, opts); // real: 1 + 3 micro-batches at θ_t
    const sum = 3 * gTilde + (theta - 1) + 3 * (theta - 3);
    theta -= lr * (sum / 7);
    tilde = nextTilde;
    assert.ok(Math.abs(states[1].base[0] - theta) < 1e-14);
    theta = states[1].base[0];
  }
});

test('ACCO: the estimate round puts the optimizer state and step count back bit for bit (SGD momentum, AdamW)', () => {
  const dim = 7;
  const rng = new Rng(3);
  for (const kind of ['sgd', 'adamw'] as const) {
    const f32 = kind === 'adamw';
    const backend = f32 ? jsBackend() : null;
    const dtype = f32 ? 'f32' as const : 'f64' as const;
    const alloc = (v: number[]) => (f32 ? Float32Array.from(v) : Float64Array.from(v));
    const algo = new Acco({ dim, dtype, backend, workers: 2 });
    const x0 = alloc(Array.from({ length: dim }, () => rng.normal()));
    const states = [algo.createState(x0), algo.createState(x0)];
    const opts = states.map(() => new LocalOptimizer({ optimizer: kind, lr: 0.01, momentum: f32 ? 0 : 0.9, weightDecay: 0.1, clip: 1 }, { dim, dtype, backend }));
    const noisy = (c: number): GradientSource => (x, g) => {
      for (let k = 0; k < dim; k++) g[k] = x[k] - c + 0.1 * rng.normal();
      return 0;
    };
    const c = algo.collective;
    const drive = (micro: number[]) => {
      const outs = states.map(() => alloc(new Array(dim + 1).fill(0)));
      states.forEach((s, i) => {
        for (let m = 0; m < micro[i]; m++) algo.localStep(s, 0, noisy(i), opts[i]);
        c.begin(s, 0, outs[i]);
      });
      const mean = alloc(new Array(dim + 1).fill(0));
      for (const o of outs) for (let k = 0; k <= dim; k++) mean[k] += o[k] / 2;
      return mean;
    };
    for (let r = 0; r < 4; r++) {
      const mean = drive([1, 2]);
      states.forEach((s, i) => c.complete(s, 0, mean, opts[i]));
    }
    const mean = drive([2, 1]);
    assert.ok(Acco.isEstimate(states[0].rounds));
    const before = states.map((s, i) => ({ state: opts[i].state.slice(), steps: opts[i].steps, base: s.base.slice() }));
    states.forEach((s, i) => c.complete(s, 0, mean, opts[i]));
    states.forEach((s, i) => {
      assert.deepEqual(opts[i].state, before[i].state, `${kind}: the optimizer state`);
      assert.equal(opts[i].steps, before[i].steps);
      assert.deepEqual(s.base, before[i].base);
      assert.notDeepEqual(s.next, s.base, `${kind}: θ̃ differs from θ`);
    });
    assert.ok(opts[0].state.some((v) => v !== 0), `${kind}: a non-trivial state`);
  }
});

test('ACCO and DPU in the simulator: heterogeneous workers over a slow link, deterministic, faster workers weigh more', () => {
  const graph = makeTopology('complete', 4);
  const objective = new Quadratic({ workers: 4, dim: 5, seed: 4, noise: 0.2 });
  for (const name of ['acco', 'dpu'] as const) {
    const run = () => simulate({
      objective, graph, built: buildAlgorithm({ name, graph, rate: 1, dim: 5, dtype: 'f64' }), optimizer: { lr: 0.05 }, rate: 1, time: 60, seed: 8, every: 20,
      speeds: Float64Array.of(1, 1, 1 / 3, 1 / 3), link: { latency: 0.3, bandwidth: 50 },
    });
    const a = run();
    assert.deepEqual(a.rows, run().rows);
    const rounds = a.summary.outerSteps ?? 0;
    assert.ok(rounds > 5, `${name}: ${rounds} collectives`);
    assert.ok(a.summary.gradients > 2 * rounds * 2, `${name}: micro-batches accumulate while the all-reduce runs`);
    assert.ok(Number.isFinite(a.summary.optimality));
  }
});
