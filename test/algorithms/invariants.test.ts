import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Acid } from '../../src/algorithms/acid.js';
import { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';
import { jsBackend } from '../../src/engine/backends/index.js';
import { Dadao } from '../../src/algorithms/dadao.js';
import { MatrixExponential } from '../../src/core/linalg.js';
import { buildAlgorithm, type AlgorithmName } from '../../src/algorithms/index.js';
import { Rng } from '../../src/core/rng.js';
import { makeTopology, type Graph } from '../../src/graph/topology.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { simulate } from '../../src/sim/simulator.js';

const single: Graph = { n: 1, name: 'single', neighbors: [[]], edges: [] };

// Invariant 1: with one worker every algorithm is plain local training.
for (const name of ['gossip', 'acid', 'allreduce', 'acco', 'dpu'] as AlgorithmName[]) {
  for (const momentum of [0, 0.9]) {
    test(`n = 1: ${name} (momentum ${momentum}) is plain local SGD, bit for bit`, () => {
      const objective = new Quadratic({ workers: 1, dim: 4, seed: 2 });
      const lr = 0.1;
      const built = buildAlgorithm({ name, graph: single, rate: 1, dim: 4, dtype: 'f64' });
      const x0 = Float64Array.from([1, -2, 0.5, 3]);
      const { summary, final } = simulate({ objective, graph: single, built, optimizer: { lr, momentum }, rate: 1, time: 50, seed: 5, every: 50, init: x0 });
      assert.ok(summary.gradients > 10);
      const x = Float64Array.from(x0);
      const g = new Float64Array(4);
      const buf = new Float64Array(4);
      for (let s = 0; s < summary.gradients; s++) {
        objective.gradient(0, x, g, new Rng(0));
        for (let k = 0; k < 4; k++) {
          if (momentum) {
            buf[k] = momentum * buf[k] + g[k] + 0 * x[k];
            x[k] += -lr * buf[k];
          } else {
            x[k] += -lr * (g[k] + 0 * x[k]);
          }
        }
      }
      assert.deepEqual(final[0], x);
    });
  }
}

// Invariant 2: A2CiD2 with η = 0 is the asynchronous baseline, bit for bit.
test('A2CiD2 with η = 0 reproduces the gossip baseline bit for bit', () => {
  const graph = makeTopology('ring', 12);
  const objective = new Quadratic({ workers: 12, dim: 5, seed: 4, noise: 0.3 });
  const common = { graph, rate: 1.5, dim: 5, dtype: 'f64' as const };
  const run = (built: ReturnType<typeof buildAlgorithm>) => simulate({ objective, graph, built, optimizer: { lr: 0.05, momentum: 0.5 }, rate: 1.5, time: 60, seed: 8, every: 3 });
  const a = run(buildAlgorithm({ ...common, name: 'acid', eta: 0 }));
  const b = run(buildAlgorithm({ ...common, name: 'gossip' }));
  assert.deepEqual(a.rows, b.rows);
  assert.deepEqual(a.final, b.final);
  const c = run(buildAlgorithm({ ...common, name: 'acid' }));
  assert.notDeepEqual(c.final, b.final);
});

// Invariant 3: pure gossip preserves the mean of x (baseline) and the mean of x + x̃ (A2CiD2).
test('pure gossip conserves the mean of x (baseline) and of x + x̃ (A2CiD2)', () => {
  const n = 10;
  const d = 3;
  const graph = makeTopology('ring', n);
  const rng = new Rng(11);
  for (const tracking of [false, true]) {
    const algo = new Acid({ dim: d, dtype: 'f64', backend: null, eta: tracking ? 0.2 : 0, alphaTilde: 1.7, tracking });
    const p = algo.pairwise;
    const states = Array.from({ length: n }, () => algo.createState(Float64Array.from({ length: d }, () => rng.normal())));
    const total = (): Float64Array => {
      const s = new Float64Array(d);
      for (const st of states) for (let k = 0; k < d; k++) s[k] += st.x[k] + (st.xt ? st.xt[k] : 0);
      return s;
    };
    const before = total();
    const mi = new Float64Array(d);
    const mj = new Float64Array(d);
    let t = 0;
    for (let e = 0; e < 500; e++) {
      t += rng.exponential(5);
      const [i, j] = graph.edges[rng.int(graph.edges.length)];
      p.message(states[i], t, mi);
      p.message(states[j], t, mj);
      p.receive(states[i], t, mj);
      p.receive(states[j], t, mi);
    }
    for (const st of states) algo.advance(st, t + 3);
    const after = total();
    for (let k = 0; k < d; k++) assert.ok(Math.abs(after[k] - before[k]) < 1e-10, `tracking ${tracking}: ${before[k]} -> ${after[k]}`);
  }
});

test('the closed-form mixing is a semigroup and conserves x + x̃', () => {
  const algo = new Acid({ dim: 2, dtype: 'f64', backend: null, eta: 0.3, alphaTilde: 1 });
  const a = algo.createState(new Float64Array([1, -2]));
  a.xt!.set([3, 5]);
  const b = algo.createState(new Float64Array([1, -2]));
  b.xt!.set([3, 5]);
  algo.advance(a, 0.7);
  algo.advance(a, 2.0);
  algo.advance(b, 2.0);
  for (let k = 0; k < 2; k++) {
    assert.ok(Math.abs(a.x[k] - b.x[k]) < 1e-14);
    assert.ok(Math.abs(a.x[k] + a.xt![k] - [4, 3][k]) < 1e-14);
  }
  // Long times: x and x̃ meet at their midpoint.
  algo.advance(a, 1e3);
  assert.ok(Math.abs(a.x[0] - 2) < 1e-12 && Math.abs(a.xt![0] - 2) < 1e-12);
});

test('DADAO: the closed-form propagator equals the matrix exponential of its ODE', () => {
  for (const [L, mu] of [[7.9, 0.155], [1, 0.5], [100, 0.01]]) {
    const algo = new Dadao({ dim: 1, L, mu, chi1Star: 1 });
    const flow = new MatrixExponential(algo.generator(), 6);
    for (const dt of [1e-4, 0.03, 0.7, 5, 40]) {
      const exact = flow.at(dt);
      const closed = algo.propagator(dt);
      for (let k = 0; k < 36; k++) assert.ok(Math.abs(closed[k] - exact[k]) < 1e-10 * (1 + Math.abs(exact[k])), `L ${L} dt ${dt} entry ${k}: ${closed[k]} vs ${exact[k]}`);
    }
  }
});

test('A2CiD2 on float32 models (engine kernels) follows the float64 loops to float32 precision', () => {
  for (const momentum of [0, 0.9]) {
    const make = (dtype: 'f32' | 'f64') => new Acid({ dim: 5, dtype, backend: dtype === 'f32' ? jsBackend() : null, eta: 0.3, alphaTilde: 1.5 });
    const optimizers = (dtype: 'f32' | 'f64') => [0, 1].map(() => new LocalOptimizer({ lr: 0.1, momentum, weightDecay: 0.01 }, { dim: 5, dtype, backend: dtype === 'f32' ? jsBackend() : null }));
    const a = make('f32');
    const b = make('f64');
    const oa = optimizers('f32');
    const ob = optimizers('f64');
    const x0 = [1, -2, 0.5, 3, 0.25];
    const sa = [a.createState(Float32Array.from(x0)), a.createState(Float32Array.from(x0.map((v) => -v)))];
    const sb = [b.createState(Float64Array.from(x0)), b.createState(Float64Array.from(x0.map((v) => -v)))];
    const grad = (x: ArrayLike<number>, g: { [k: number]: number }) => {
      for (let k = 0; k < 5; k++) g[k] = 2 * x[k] - k;
      return 0;
    };
    let t = 0;
    for (let step = 0; step < 50; step++) {
      t += 0.37;
      a.localStep(sa[step % 2], t, grad, oa[step % 2]);
      b.localStep(sb[step % 2], t, grad, ob[step % 2]);
      const ma = [new Float32Array(5), new Float32Array(5)];
      const mb = [new Float64Array(5), new Float64Array(5)];
      for (let w = 0; w < 2; w++) {
        a.pairwise.message(sa[w], t + 0.1, ma[w]);
        b.pairwise.message(sb[w], t + 0.1, mb[w]);
      }
      for (let w = 0; w < 2; w++) {
        a.pairwise.receive(sa[w], t + 0.1, ma[1 - w]);
        b.pairwise.receive(sb[w], t + 0.1, mb[1 - w]);
      }
    }
    for (let w = 0; w < 2; w++) {
      for (let k = 0; k < 5; k++) {
        assert.ok(Math.abs(sa[w].x[k] - sb[w].x[k]) < 1e-5, `x momentum ${momentum}`);
        assert.ok(Math.abs(sa[w].xt![k] - sb[w].xt![k]) < 1e-5, `xt momentum ${momentum}`);
      }
    }
  }
});
