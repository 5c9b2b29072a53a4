import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GossipDiloco } from '../../src/algorithms/gossip-diloco.js';
import { buildAlgorithm, type AlgorithmName } from '../../src/algorithms/index.js';
import { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';
import { UsageError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { makeTopology, type Graph } from '../../src/graph/topology.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { simulate } from '../../src/sim/simulator.js';

const PLAIN_OUTER = { outerOptimizer: 'sgd' as const, outerLr: 1, outerMomentum: 0 };

function run(name: AlgorithmName, graph: Graph, diloco: object, opts: { time?: number; momentum?: number; gradients?: boolean } = {}) {
  const objective = new Quadratic({ workers: graph.n, dim: 6, seed: 5, noise: 0.1 });
  const built = buildAlgorithm({ name, graph, rate: 1, dim: 6, dtype: 'f64', diloco });
  return simulate({
    objective, graph, built, optimizer: { lr: 0.05, momentum: opts.momentum ?? 0 }, rate: 1, time: opts.time ?? 200, seed: 7, every: 50,
    gradients: opts.gradients, init: opts.gradients === false ? 'random' : 'shared',
  });
}

test('with H = 1 and outer SGD of lr 1 without momentum, gossip-DiLoCo is A2CiD2 (up to rounding), with momentum too', () => {
  const graph = makeTopology('ring', 8);
  for (const momentum of [0, 0.9]) {
    const a = run('acid', graph, {}, { momentum });
    const g = run('gossip-diloco', graph, { innerSteps: 1, ...PLAIN_OUTER }, { momentum });
    assert.equal(g.summary.gradients, a.summary.gradients);
    assert.equal(g.summary.communications, a.summary.communications);
    for (let i = 0; i < graph.n; i++) {
      for (let k = 0; k < 6; k++) assert.ok(Math.abs(g.final[i][k] - a.final[i][k]) < 1e-9 * (1 + Math.abs(a.final[i][k])), `worker ${i}[${k}]: ${g.final[i][k]} against ${a.final[i][k]}`);
    }
  }
});

test('one worker: gossip-DiLoCo with the plain outer step is plain local training', () => {
  const one: Graph = { n: 1, name: 'single', neighbors: [[]], edges: [] };
  const local = run('gossip', one, {});
  const g = run('gossip-diloco', one, { innerSteps: 5, ...PLAIN_OUTER });
  for (let k = 0; k < 6; k++) assert.ok(Math.abs(g.final[0][k] - local.final[0][k]) < 1e-12);
});

test('pure gossip of the outer models preserves the mean of φ + φ̃ and reaches consensus', () => {
  const graph = makeTopology('ring', 8);
  const r = run('gossip-diloco', graph, { innerSteps: 10 }, { gradients: false, time: 400 });
  assert.ok(r.summary.consensus < 1e-6, `consensus ${r.summary.consensus}`);
  // By hand: exchanges move φ and φ̃ so that Σ (φ + φ̃) stays, as A2CiD2's x + x̃.
  const built = buildAlgorithm({ name: 'gossip-diloco', graph, rate: 1, dim: 3, dtype: 'f64', diloco: { innerSteps: 4 } });
  const algo = built.algorithm as GossipDiloco;
  const rng = new Rng(3);
  const states = Array.from({ length: 4 }, () => algo.createState(Float64Array.from({ length: 3 }, () => rng.normal())));
  const sum = (v: ArrayLike<number>) => Array.from(v).reduce((a, b) => a + b, 0);
  const total = () => states.reduce((a, s) => a + sum(s.outer) + sum(s.outerTilde!), 0);
  const before = total();
  for (let e = 0; e < 20; e++) {
    const [i, j] = [e % 4, (e + 1) % 4];
    const t = 0.3 * e;
    const mi = new Float64Array(3);
    const mj = new Float64Array(3);
    algo.pairwise.message(states[i], t, mi);
    algo.pairwise.message(states[j], t, mj);
    algo.pairwise.receive(states[i], t, mj);
    algo.pairwise.receive(states[j], t, mi);
  }
  assert.ok(Math.abs(total() - before) < 1e-9, `Σ (φ + φ̃): ${total()} against ${before}`);
});

test('a round starts from the gossiped outer model, which moves the inner model alike, and ends with the outer Nesterov step of its own progress', () => {
  const lr = 0.7;
  const mu = 0.9;
  const algo = new GossipDiloco({ dim: 2, dtype: 'f64', backend: null, eta: 0, alphaTilde: 0.5, innerSteps: 2, outerLr: lr, outerMomentum: mu });
  const s = algo.createState(new Float64Array([1, 1]));
  const close = (v: ArrayLike<number>, expected: number[]) => expected.forEach((e, k) => assert.ok(Math.abs(v[k] - e) < 1e-12, `${Array.from(v)} against ${expected}`));
  // An exchange moves φ by half the difference and φ̃ by α̃ of it; θ moves as φ does.
  algo.pairwise.receive(s, 0, new Float64Array([3, 1]));
  close(s.outer, [2, 1]);
  close(s.outerTilde!, [2, 1]);
  close(s.x, [2, 1]);
  const optimizer = new LocalOptimizer({ lr: 0.5 }, { dim: 2, dtype: 'f64' });
  const g = (_x: Float64Array, out: Float64Array) => {
    out.set([1, -2]);
    return 0;
  };
  algo.localStep(s, 0, g as never, optimizer);
  close(s.x, [1.5, 2]);
  close(s.outer, [2, 1]);
  // An exchange mid-round: φ moves, θ with it; the round's progress θ − φ stays.
  algo.pairwise.receive(s, 0, new Float64Array([4, 1]));
  close(s.outer, [3, 1]);
  close(s.x, [2.5, 2]);
  algo.localStep(s, 0, g as never, optimizer);
  // Δ = φ − θ = (1, −2), the round's own work; m = Δ; φ ← φ − lr (Δ + μ m), φ̃ alike.
  const delta = [1, -2];
  close(s.momentum, delta);
  const step = delta.map((d) => lr * (d + mu * d));
  close(s.outer, [3 - step[0], 1 - step[1]]);
  close(s.outerTilde!, [3 - step[0], 1 - step[1]]);
  assert.equal(s.inner, 0);
});

test('gossip-DiLoCo saves everything a resumed worker needs; bad settings are one-line errors', () => {
  const graph = makeTopology('ring', 4);
  const algo = buildAlgorithm({ name: 'gossip-diloco', graph, rate: 1, dim: 3, dtype: 'f64', diloco: { innerSteps: 4 } }).algorithm as GossipDiloco;
  const s = algo.createState(new Float64Array([1, 2, 3]), 2);
  s.momentum.set([0.5, 0.25, 0]);
  s.outerTilde!.set([4, 5, 6]);
  s.inner = 3;
  const t = algo.createState(new Float64Array(3));
  algo.restore(t, algo.saved(s));
  assert.deepEqual([t.outer, t.outerTilde, t.momentum, t.inner, t.t], [s.outer, s.outerTilde, s.momentum, 3, 2]);
  for (const diloco of [{ innerSteps: 0 }, { outerLr: -1 }, { outerMomentum: 1 }]) {
    assert.throws(() => buildAlgorithm({ name: 'gossip-diloco', graph, rate: 1, dim: 3, dtype: 'f64', diloco }), UsageError, JSON.stringify(diloco));
  }
});
