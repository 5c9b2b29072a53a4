import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Diloco } from '../../src/algorithms/diloco.js';
import { buildAlgorithm } from '../../src/algorithms/index.js';
import { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';
import { UsageError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { makeTopology } from '../../src/graph/topology.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { simulate } from '../../src/sim/simulator.js';

/** Two workers through one round by hand: H inner steps each with random gradients, then the collective. */
function round(algo: Diloco, H: number, seed: number) {
  const dim = 5;
  const rng = new Rng(seed);
  const x0 = Float64Array.from({ length: dim }, () => rng.normal());
  const states = [algo.createState(x0), algo.createState(x0)];
  const optimizers = [0, 1].map(() => new LocalOptimizer({ lr: 0.1 }, { dim, dtype: 'f64' }));
  for (let w = 0; w < 2; w++) {
    for (let h = 0; h < H; h++) {
      algo.localStep(states[w], h, (_x, g) => {
        for (let k = 0; k < dim; k++) g[k] = rng.normal();
        return 0;
      }, optimizers[w]);
    }
    assert.equal(algo.collective.due(states[w]), true);
  }
  const inner = states.map((s) => Float64Array.from(s.x));
  const contributions = states.map((s) => {
    const out = new Float64Array(dim);
    algo.collective.begin(s, H, out);
    return out;
  });
  const mean = contributions[0].map((v, k) => (v + contributions[1][k]) / 2);
  for (const s of states) algo.collective.complete(s, H, mean, optimizers[0]);
  return { x0, inner, states, mean };
}

test('the pseudo-gradient points uphill: outer SGD with lr 1 and no momentum is plain model averaging', () => {
  const algo = new Diloco({ dim: 5, dtype: 'f64', innerSteps: 3, outerOptimizer: 'sgd', outerLr: 1, outerMomentum: 0 });
  const { inner, states } = round(algo, 3, 1);
  for (const s of states) {
    for (let k = 0; k < 5; k++) assert.ok(Math.abs(s.x[k] - (inner[0][k] + inner[1][k]) / 2) < 1e-12);
    assert.equal(s.inner, 0, 'the next round starts');
    assert.equal(algo.collective.due(s), false);
  }
});

test('the outer Nesterov step: m ← μ m + Δ, θ ← θ − lr (Δ + μ m), the same on every worker, from θ', () => {
  const lr = 0.7;
  const mu = 0.9;
  const algo = new Diloco({ dim: 5, dtype: 'f64', innerSteps: 2, outerLr: lr, outerMomentum: mu });
  const { x0, states, mean } = round(algo, 2, 2);
  for (const s of states) {
    for (let k = 0; k < 5; k++) {
      const m = mean[k];
      assert.equal(s.momentum[k], m);
      assert.ok(Math.abs(s.x[k] - (x0[k] - lr * (mean[k] + mu * m))) < 1e-12);
      assert.equal(s.outer[k], s.x[k]);
    }
  }
  assert.deepEqual(states[0].x, states[1].x);
});

test('DiLoCo in the simulator: a tenth of the communication of AllReduce with H = 10, its average model as good', () => {
  const n = 8;
  const graph = makeTopology('ring', n);
  const objective = new Quadratic({ workers: n, dim: 8, seed: 4, noise: 0.2 });
  const run = (name: 'allreduce' | 'diloco') => {
    const built = buildAlgorithm({ name, graph, rate: 1, dim: 8, dtype: 'f64', diloco: { innerSteps: 10, outerLr: 1, outerMomentum: 0, outerOptimizer: 'sgd' } });
    return simulate({ objective, graph, built, optimizer: { lr: 0.05 }, rate: 1, time: 2000, seed: 3, every: 100 });
  };
  /** f(x̄) − f* over the second half of the run. */
  const steadyLoss = (r: ReturnType<typeof run>) => {
    const half = r.rows.filter((row) => row.t >= 1000);
    return half.reduce((a, row) => a + row.objective!, 0) / half.length;
  };
  const ar = run('allreduce');
  const dl = run('diloco');
  const perGradient = (r: typeof ar) => r.summary.communications / r.summary.gradients;
  assert.ok(Math.abs(perGradient(dl) / perGradient(ar) - 0.1) < 1e-9, `communications per gradient ${perGradient(dl)} against ${perGradient(ar)}`);
  // The workers drift apart between averagings (their own optima differ), but the average model stays as good.
  assert.ok(steadyLoss(dl) < 5 * steadyLoss(ar), `f(x̄) − f*: ${steadyLoss(dl)} against ${steadyLoss(ar)}`);
  assert.ok(dl.summary.consensus > 10 * ar.summary.consensus, 'DiLoCo\'s workers drift between rounds');
});

test('DiLoCo saves its outer parameters, momentum and inner-step count; bad settings are one-line errors', () => {
  const algo = new Diloco({ dim: 3, dtype: 'f64', innerSteps: 4 });
  const s = algo.createState(new Float64Array([1, 2, 3]));
  s.momentum.set([0.5, 0.25, 0]);
  s.inner = 3;
  const t = algo.createState(new Float64Array(3));
  algo.restore(t, algo.saved(s));
  assert.deepEqual([t.outer, t.momentum, t.inner], [s.outer, s.momentum, 3]);
  const graph = makeTopology('ring', 4);
  for (const diloco of [{ innerSteps: 0 }, { outerLr: -1 }, { outerMomentum: 1 }]) {
    assert.throws(() => buildAlgorithm({ name: 'diloco', graph, rate: 1, dim: 3, dtype: 'f64', diloco }), UsageError, JSON.stringify(diloco));
  }
});

test('H = 1 with inner plain SGD and outer SGD of lr 1 without momentum follows AllReduce SGD\'s trajectory', () => {
  // Four workers with gradients A_i x − b_i, round after round through both algorithms' own handlers.
  const n = 4;
  const dim = 6;
  const rng = new Rng(12);
  const a = Array.from({ length: n }, () => Float64Array.from({ length: dim }, () => 0.5 + rng.uniform()));
  const b = Array.from({ length: n }, () => Float64Array.from({ length: dim }, () => rng.normal()));
  const x0 = Float64Array.from({ length: dim }, () => rng.normal());
  const graph = makeTopology('ring', n);
  const trajectory = (name: 'allreduce' | 'diloco'): Float64Array[] => {
    const { algorithm } = buildAlgorithm({ name, graph, rate: 1, dim, dtype: 'f64', diloco: { innerSteps: 1, outerOptimizer: 'sgd', outerLr: 1, outerMomentum: 0 } });
    const collective = algorithm.collective!;
    const states = Array.from({ length: n }, () => algorithm.createState(x0));
    const optimizers = states.map(() => new LocalOptimizer({ lr: 0.1 }, { dim, dtype: 'f64' }));
    const models: Float64Array[] = [];
    for (let round = 0; round < 20; round++) {
      const contributions = states.map((s, i) => {
        algorithm.localStep(s, round, (x, g) => {
          for (let k = 0; k < dim; k++) g[k] = a[i][k] * x[k] - b[i][k];
          return 0;
        }, optimizers[i]);
        assert.ok(collective.due(s));
        const out = new Float64Array(dim);
        collective.begin(s, round, out);
        return out;
      });
      const mean = new Float64Array(dim);
      for (const c of contributions) for (let k = 0; k < dim; k++) mean[k] += c[k] / n;
      states.forEach((s, i) => collective.complete(s, round + 1, mean, optimizers[i]));
      models.push(Float64Array.from(states[0].x));
      for (const s of states) assert.deepEqual(s.x, states[0].x, 'every worker holds the same model');
    }
    return models;
  };
  const allreduce = trajectory('allreduce');
  const diloco = trajectory('diloco');
  // θ − lr·mean(g) against θ − mean(lr·g): the same step up to the rounding of the product.
  for (let r = 0; r < allreduce.length; r++) {
    for (let k = 0; k < dim; k++) assert.ok(Math.abs(diloco[r][k] - allreduce[r][k]) <= 1e-12 * (1 + Math.abs(allreduce[r][k])), `round ${r}, element ${k}`);
  }
  assert.ok(Math.abs(allreduce[19][0] - allreduce[0][0]) > 1e-3, 'the models moved');
});
