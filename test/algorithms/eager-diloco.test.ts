/**
 * DiLoCo with eager updates: the proxy Δ̃_i(t) = Δ̄(t − 1) + (Δ_i(t) − Δ_i(t − 1))/k, golden values, the simulator's
 * overlap, one worker.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Diloco } from '../../src/algorithms/diloco.js';
import { EagerDiloco } from '../../src/algorithms/eager-diloco.js';
import { buildAlgorithm } from '../../src/algorithms/index.js';
import { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';
import type { OuterOptions } from '../../src/algorithms/outer.js';
import type { Algorithm, CollectiveCapability, WorkerState } from '../../src/algorithms/types.js';
import type { Vec } from '../../src/core/vec.js';
import { makeTopology } from '../../src/graph/topology.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { simulate } from '../../src/sim/simulator.js';

/**
 * k workers with constant gradients g_i (dim 1), inner SGD lr 0.1, H = 2, for `rounds` rounds; every all-reduce
 * completes as soon as all have begun it. Returns each worker's θ after every round.
 */
function constantGradients<S extends WorkerState & { outer: Vec }>(algo: Algorithm<S>, g: number[], rounds: number): number[][] {
  const states = g.map(() => algo.createState(new Float64Array(1)));
  const opts = g.map(() => new LocalOptimizer({ lr: 0.1 }, { dim: 1, dtype: 'f64' }));
  const c = algo.collective as CollectiveCapability<S>;
  const theta: number[][] = g.map(() => []);
  for (let r = 0; r < rounds; r++) {
    states.forEach((s, i) => {
      while (!c.due(s)) algo.localStep(s, 0, (_x, out) => ((out[0] = g[i]), 0), opts[i]);
    });
    const mean = new Float64Array(1);
    for (const s of states) {
      const out = new Float64Array(1);
      c.begin(s, 0, out);
      mean[0] += out[0] / g.length;
    }
    for (const s of states) c.complete(s, 0, mean, opts[0]);
    states.forEach((s, i) => theta[i].push(+s.outer[0].toFixed(12)));
  }
  return theta;
}

const sgd1: OuterOptions = { innerSteps: 2, outerOptimizer: 'sgd', outerLr: 1, outerMomentum: 0 };

test('eager updates with an all-reduce that completes at once: golden values (outer SGD, lr 1)', () => {
  // Worker 0 moves by −0.2 per round, worker 1 by −0.6: Δ_0 = 0.2, Δ_1 = 0.6, Δ̄ = 0.4.
  // Round 1: Δ̃_i = Δ_i/2 → θ = −0.1, −0.3. Rounds 2, 3: Δ̃_i = 0.4 + (Δ_i − Δ_i)/2 = 0.4.
  const eager = constantGradients(new EagerDiloco({ dim: 1, dtype: 'f64', workers: 2, ...sgd1 }), [1, 3], 3);
  assert.deepEqual(eager, [[-0.1, -0.5, -0.9], [-0.3, -0.7, -1.1]]);
  // DiLoCo applies the mean at once: θ = −0.4 per round on both.
  const plain = constantGradients(new Diloco({ dim: 1, dtype: 'f64', ...sgd1 }), [1, 3], 3);
  assert.deepEqual(plain, [[-0.4, -0.8, -1.2], [-0.4, -0.8, -1.2]]);
});

test('eager updates with Nesterov: the proxy Δ̄(t − 1) + (Δ_i(t) − Δ_i(t − 1))/k, then the outer step', () => {
  const g = [1, -2, 0.5];
  const k = g.length;
  const lr = 0.7;
  const mu = 0.9;
  const got = constantGradients(new EagerDiloco({ dim: 1, dtype: 'f64', workers: k, innerSteps: 2, outerLr: lr, outerMomentum: mu }), g, 4);
  // The rule, written out: every worker's own θ, momentum and last pseudo-gradient; the mean of the last round.
  const theta = g.map(() => 0);
  const m = g.map(() => 0);
  const last = g.map(() => 0);
  let mean = 0;
  const expected: number[][] = g.map(() => []);
  for (let t = 1; t <= 4; t++) {
    const delta = g.map((gi) => 0.2 * gi); // θ − x after two steps of lr 0.1
    g.forEach((_, i) => {
      const proxy = mean + (delta[i] - last[i]) / k;
      m[i] = mu * m[i] + proxy;
      theta[i] -= lr * (proxy + mu * m[i]);
      last[i] = delta[i];
      expected[i].push(+theta[i].toFixed(12));
    });
    mean = delta.reduce((a, b) => a + b, 0) / k;
  }
  assert.deepEqual(got, expected);
});

test('one worker: eager DiLoCo is DiLoCo (its proxy is its own pseudo-gradient)', () => {
  const eager = constantGradients(new EagerDiloco({ dim: 1, dtype: 'f64', workers: 1, innerSteps: 2 }), [1.5], 5);
  const plain = constantGradients(new Diloco({ dim: 1, dtype: 'f64', innerSteps: 2 }), [1.5], 5);
  for (let r = 0; r < 5; r++) assert.ok(Math.abs(eager[0][r] - plain[0][r]) < 1e-12, `round ${r + 1}: ${eager[0][r]} vs ${plain[0][r]}`);
});

test('in the simulator: workers step on while a round\'s all-reduce is in flight, and train as well', () => {
  const n = 4;
  const graph = makeTopology('ring', n);
  const objective = new Quadratic({ workers: n, dim: 6, seed: 3, noise: 0.1 });
  const run = (eager: boolean, link?: { latency: number; bandwidth: number }) => simulate({
    objective, graph, built: buildAlgorithm({ name: 'diloco', graph, rate: 1, dim: 6, dtype: 'f64', diloco: { innerSteps: 10, outerOptimizer: 'sgd', outerLr: 1, outerMomentum: 0, eager } }),
    optimizer: { lr: 0.05 }, rate: 1, time: 1000, seed: 1, every: 100, link,
  });
  const slow = { latency: 1.5, bandwidth: 100 };
  const plain = run(false, slow);
  const eager = run(true, slow);
  assert.equal(eager.summary.algorithm, 'eager-diloco');
  // Every all-reduce takes 1.5 × 2(n − 1) = 9 time units, less than a round's steps: DiLoCo waits for each, eager
  // DiLoCo does not.
  assert.ok(eager.summary.gradients > 1.3 * plain.summary.gradients, `${eager.summary.gradients} steps against ${plain.summary.gradients}`);
  assert.ok(eager.summary.steadyOptimality! < 2 * plain.summary.steadyOptimality!, `${eager.summary.steadyOptimality} against ${plain.summary.steadyOptimality}`);
  assert.deepEqual(run(true, slow).rows, eager.rows, 'deterministic');
});
