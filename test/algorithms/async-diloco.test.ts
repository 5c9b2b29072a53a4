import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AsyncDiloco } from '../../src/algorithms/async-diloco.js';
import { Diloco } from '../../src/algorithms/diloco.js';
import { dynamicInnerSteps, referenceSpeed } from '../../src/algorithms/dynamic-steps.js';
import { buildAlgorithm } from '../../src/algorithms/index.js';
import { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';
import { OuterServer } from '../../src/algorithms/outer-server.js';
import type { GradientSource } from '../../src/algorithms/types.js';
import { UsageError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { makeTopology } from '../../src/graph/topology.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { simulate } from '../../src/sim/simulator.js';

const outer = (optimizer: 'sgd' | 'nesterov' | 'delayed-nesterov', lr: number, mu: number, H = 4) => ({ H, lr, mu, optimizer });
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what = '') => {
  for (let k = 0; k < a.length; k++) assert.ok(Math.abs(a[k] - b[k]) <= tol, `${what} [${k}]: ${a[k]} against ${b[k]}`);
};
const push = (worker: number, round: number, delta: number[]) => ({ worker, round, steps: 4, speed: 0, delta: Float64Array.from(delta) });

test('delayed Nesterov, golden values: plain steps of g/N, and on the N-th push the momentum takes the mean of the N', () => {
  // N = 2, ε = 0.5, β = 0.9, θ0 = (1, 2).
  const server = new OuterServer({ dim: 2, dtype: 'f64', workers: 2, outer: outer('delayed-nesterov', 0.5, 0.9) }, Float64Array.from([1, 2]));
  assert.equal(server.apply(push(0, 1, [0.4, -0.2])), true);
  // θ ← θ − ε g/N = (1 − 0.1, 2 + 0.05)
  close(server.model, [0.9, 2.05], 1e-15);
  close(server.momentum, [0, 0], 0);
  close(server.buffer, [0.4, -0.2], 0);
  assert.equal(server.apply(push(1, 1, [0.2, 0.6])), true);
  // m ← 0.9·0 + (0.6, 0.4)/2 = (0.3, 0.2); θ ← θ − ε (g/N + β m) = (0.9 − 0.5(0.1 + 0.27), 2.05 − 0.5(0.3 + 0.18))
  close(server.momentum, [0.3, 0.2], 1e-15);
  close(server.model, [0.715, 1.81], 1e-15);
  close(server.buffer, [0, 0], 0);
  assert.equal(server.pushes, 2);
});

test('delayed Nesterov: N pushes from one θ are one Nesterov step on their mean, round after round', () => {
  const N = 4;
  const dim = 6;
  const rng = new Rng(3);
  const x0 = Float64Array.from({ length: dim }, () => rng.normal());
  const lr = 0.7;
  const mu = 0.9;
  const delayed = new OuterServer({ dim, dtype: 'f64', workers: N, outer: outer('delayed-nesterov', lr, mu) }, x0);
  // DiLoCo's outer Nesterov step on the mean, by hand.
  const theta = Float64Array.from(x0);
  const m = new Float64Array(dim);
  for (let round = 1; round <= 5; round++) {
    const gs = Array.from({ length: N }, () => Array.from({ length: dim }, () => rng.normal()));
    gs.forEach((g, w) => assert.equal(delayed.apply(push(w, round, g)), true));
    for (let k = 0; k < dim; k++) {
      const mean = gs.reduce((s, g) => s + g[k], 0) / N;
      m[k] = mu * m[k] + mean;
      theta[k] -= lr * (mean + mu * m[k]);
    }
    close(delayed.model, theta, 1e-12, `round ${round}`);
    close(delayed.momentum, m, 1e-12, `round ${round}`);
  }
});

test('without momentum the three outer rules are the same step, bit for bit', () => {
  const rng = new Rng(4);
  const x0 = Float64Array.from({ length: 5 }, () => rng.normal());
  const servers = (['sgd', 'nesterov', 'delayed-nesterov'] as const).map((r) => new OuterServer({ dim: 5, dtype: 'f64', workers: 3, outer: outer(r, 0.3, 0) }, x0));
  for (let p = 0; p < 10; p++) {
    const g = Array.from({ length: 5 }, () => rng.normal());
    for (const s of servers) s.apply(push(p % 3, Math.floor(p / 3) + 1, g));
  }
  assert.deepEqual(servers[1].model, servers[0].model);
  assert.deepEqual(servers[2].model, servers[0].model);
});

test('a push is applied once: a repeated or older (worker, round) changes nothing, the state replicates whole', () => {
  const server = new OuterServer({ dim: 2, dtype: 'f64', workers: 2, outer: outer('nesterov', 0.7, 0.9) }, Float64Array.from([1, 1]));
  assert.equal(server.apply(push(0, 1, [1, 1])), true);
  assert.equal(server.apply(push(0, 2, [1, -1])), true);
  const before = JSON.stringify(server.saved(), (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float64Array) : v));
  assert.equal(server.apply(push(0, 2, [5, 5])), false);
  assert.equal(server.apply(push(0, 1, [5, 5])), false);
  assert.equal(JSON.stringify(server.saved(), (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float64Array) : v)), before);
  // A replica restored elsewhere goes on identically, and refuses the same duplicates.
  const replica = new OuterServer({ dim: 2, dtype: 'f64', workers: 2, outer: outer('nesterov', 0.7, 0.9) }, Float64Array.from([0, 0]));
  replica.restore(server.saved());
  assert.equal(replica.apply(push(0, 2, [5, 5])), false);
  for (const s of [server, replica]) assert.equal(s.apply(push(1, 1, [0.5, 0.25])), true);
  assert.deepEqual(replica.saved(), server.saved());
  assert.equal(replica.pushes, 3);
});

/** H steps of plain SGD with a gradient source, on x. */
function sgdSteps(x: Float64Array, H: number, gradient: GradientSource, optimizer: LocalOptimizer): void {
  const g = new Float64Array(x.length);
  for (let h = 0; h < H; h++) {
    gradient(x, g);
    optimizer.update(x, g);
  }
}

test('with one worker and outer SGD of lr 1 without momentum, asynchronous Local-SGD is plain local training', () => {
  const q = new Quadratic({ workers: 1, dim: 5, seed: 2 });
  const rng = new Rng(1);
  const x0 = q.initial(rng);
  const gradient: GradientSource = (x, g) => q.gradient(0, x, g, rng);
  const algo = new AsyncDiloco({ dim: 5, dtype: 'f64', workers: 1, innerSteps: 3, outerOptimizer: 'sgd', outerLr: 1, outerMomentum: 0 });
  const s = algo.createState(x0);
  const server = algo.server.createServer(x0);
  const opt = new LocalOptimizer({ lr: 0.05, momentum: 0.5 }, { dim: 5, dtype: 'f64' });
  const plain = Float64Array.from(x0);
  const plainOpt = new LocalOptimizer({ lr: 0.05, momentum: 0.5 }, { dim: 5, dtype: 'f64' });
  const delta = new Float64Array(5);
  for (let round = 1; round <= 20; round++) {
    for (let h = 0; h < 3; h++) algo.localStep(s, 0, gradient, opt);
    assert.equal(algo.server.due(s), true);
    const { round: r, steps } = algo.server.push(s, 0, delta);
    assert.deepEqual([r, steps], [round, 3]);
    assert.equal(server.apply({ worker: 0, round: r, steps, speed: 1, delta }), true);
    algo.server.pull(s, 0, server.answer(0));
    sgdSteps(plain, 3, gradient, plainOpt);
    // θ − (θ − x) is x up to the rounding of one subtraction
    close(s.x, plain, 1e-12, `round ${round}`);
  }
});

/**
 * N workers in lockstep: each takes H steps from its pulled model, then the pushes are applied in worker order, each
 * worker pulling right after its own push (zero staleness: nobody pushes twice between two pulls of another).
 * Returns the server's model after every N pushes; DiLoCo's by its collective alongside.
 */
function lockstep(gradientOf: (w: number) => GradientSource, rounds: number, N: number) {
  const dim = 4;
  const H = 3;
  const x0 = Float64Array.from([1, -1, 0.5, 2]);
  const settings = { dim, dtype: 'f64' as const, innerSteps: H, outerLr: 0.7, outerMomentum: 0.9 };
  const asyncAlgo = new AsyncDiloco({ ...settings, workers: N });
  const server = asyncAlgo.server.createServer(x0);
  const diloco = new Diloco(settings);
  const opt = () => new LocalOptimizer({ lr: 0.1 }, { dim, dtype: 'f64' });
  const a = Array.from({ length: N }, () => ({ s: asyncAlgo.createState(x0), opt: opt() }));
  const d = Array.from({ length: N }, () => ({ s: diloco.createState(x0), opt: opt() }));
  const out = { async: [] as Float64Array[], diloco: [] as Float64Array[] };
  const delta = new Float64Array(dim);
  for (let round = 0; round < rounds; round++) {
    for (let w = 0; w < N; w++) {
      for (let h = 0; h < H; h++) {
        asyncAlgo.localStep(a[w].s, 0, gradientOf(w), a[w].opt);
        diloco.localStep(d[w].s, 0, gradientOf(w), d[w].opt);
      }
    }
    for (let w = 0; w < N; w++) {
      const p = asyncAlgo.server.push(a[w].s, 0, delta);
      server.apply({ worker: w, ...p, speed: 0, delta });
      asyncAlgo.server.pull(a[w].s, 0, server.answer(w));
    }
    out.async.push(Float64Array.from(server.model));
    const mean = new Float64Array(dim);
    const c = new Float64Array(dim);
    for (const w of d) {
      diloco.collective.begin(w.s, 0, c);
      for (let k = 0; k < dim; k++) mean[k] += c[k] / N;
    }
    for (const w of d) diloco.collective.complete(w.s, 0, mean, w.opt);
    out.diloco.push(Float64Array.from(d[0].s.outer));
  }
  return out;
}

test('at zero staleness, delayed Nesterov equals DiLoCo after the first N pushes; later only where a round\'s progress does not depend on where it starts', () => {
  const N = 3;
  // A curved objective: the first N pushes all come from θ0, so the server's θ is DiLoCo's after its first round ...
  const q = new Quadratic({ workers: N, dim: 4, seed: 5 });
  const rng = new Rng(2);
  const curved = lockstep((w) => (x, g) => q.gradient(w, x, g, rng), 3, N);
  close(curved.async[0], curved.diloco[0], 1e-12, 'first round');
  // ... but each worker then pulls the model after its own push (worker w after w + 1 pushes of the round), so the
  // second rounds start apart and the models part.
  assert.ok(curved.async[1].some((v, k) => Math.abs(v - curved.diloco[1][k]) > 1e-6), 'the second round differs on a curved objective');
  // Constant gradients (a linear objective): a round's progress is the same wherever it starts, and N pushes of
  // delayed Nesterov stay one DiLoCo round, round after round.
  const linear = lockstep((w) => (_x, g) => {
    for (let k = 0; k < g.length; k++) g[k] = (w + 1) * (k - 1.5);
    return 0;
  }, 6, N);
  for (let r = 0; r < 6; r++) close(linear.async[r], linear.diloco[r], 1e-12, `round ${r + 1}`);
});

test('Dynamic Local Updates: H_w = max(1, ⌊v_w / v_ref · H⌋) with v_ref the 90th percentile of the known speeds', () => {
  assert.equal(referenceSpeed([1, 1, 1 / 3, 1 / 3]), 1);
  assert.deepEqual([0, 1, 2, 3].map((w) => dynamicInnerSteps(30, [1, 1, 1 / 3, 1 / 3], w)), [30, 30, 10, 10]);
  // With 20 workers the 18th fastest is the reference: the two fastest take more than H in rounds as long.
  const speeds = Array.from({ length: 20 }, (_, i) => 1 + i / 19);
  assert.equal(referenceSpeed(speeds), speeds[17]);
  assert.equal(dynamicInnerSteps(100, speeds, 17), 100);
  assert.ok(dynamicInnerSteps(100, speeds, 19) > 100);
  assert.equal(dynamicInnerSteps(100, speeds, 0), Math.floor((1 / speeds[17]) * 100));
  // Never below one step; unknown speeds take H.
  assert.equal(dynamicInnerSteps(10, [1, 0.001], 1), 1);
  assert.equal(dynamicInnerSteps(10, [1, 0], 1), 10);
  assert.equal(dynamicInnerSteps(10, [0, 0], 0), 10);
  // The server answers with it, once it knows the speeds; a worker that left no longer counts.
  const server = new OuterServer({ dim: 1, dtype: 'f64', workers: 3, outer: outer('delayed-nesterov', 0.7, 0.9, 30), dynamic: true }, Float64Array.from([0]));
  assert.equal(server.answer(2).innerSteps, 30);
  [3, 3, 1].forEach((speed, w) => server.apply({ worker: w, round: 1, steps: 30, speed, delta: Float64Array.from([0]) }));
  assert.deepEqual([0, 1, 2].map((w) => server.answer(w).innerSteps), [30, 30, 10]);
  server.forget(0);
  server.forget(1);
  assert.equal(server.answer(2).innerSteps, 30);
});

test('in the simulator, slower workers and pushes that take time make stale pushes; delayed Nesterov still converges', () => {
  const n = 6;
  const objective = new Quadratic({ workers: n, dim: 8, seed: 3 });
  const graph = makeTopology('complete', n);
  const run = (outerOptimizer: 'nesterov' | 'delayed-nesterov', dynamicH = false) => {
    const built = buildAlgorithm({ name: 'async-diloco', graph, rate: 1, dim: objective.dim, dtype: 'f64', diloco: { innerSteps: 10, outerOptimizer }, dynamicH });
    const speeds = Float64Array.from({ length: n }, (_, i) => (i < 2 ? 1 / 3 : 1));
    return simulate({ objective, graph, built, optimizer: { lr: 0.05 }, rate: 1, time: 600, seed: 1, every: 50, speeds, link: { latency: 1, bandwidth: 1e9 } });
  };
  const dn = run('delayed-nesterov');
  const server = dn.summary.server!;
  assert.ok(server.pushes > 0 && server.meanStaleness > 1 && server.maxStaleness >= 5, JSON.stringify(server));
  assert.equal(dn.summary.communications, server.pushes);
  const first = dn.rows[0].optimality!;
  assert.ok(dn.summary.optimality! < 0.05 * first, `optimality ${dn.summary.optimality} from ${first}`);
  // Same seed, same run.
  assert.deepEqual(run('delayed-nesterov').rows, dn.rows);
  // Dynamic Local Updates: the slow workers' rounds are shorter, so their pushes are less stale.
  const dylu = run('delayed-nesterov', true);
  assert.ok(dylu.summary.server!.maxStaleness < server.maxStaleness, `${dylu.summary.server!.maxStaleness} against ${server.maxStaleness}`);
});

test('async-diloco\'s settings: delayed-nesterov is its own, dynamic H its own, bad values are one-line errors', () => {
  const graph = makeTopology('ring', 4);
  const build = (name: 'diloco' | 'gossip-diloco' | 'async-diloco', diloco: object, dynamicH?: boolean) =>
    buildAlgorithm({ name, graph, rate: 1, dim: 3, dtype: 'f64', diloco, dynamicH });
  assert.equal((build('async-diloco', {}).algorithm as AsyncDiloco).outer.optimizer, 'delayed-nesterov');
  assert.throws(() => build('diloco', { outerOptimizer: 'delayed-nesterov' }), (e: Error) => e instanceof UsageError && /diloco's outer optimizer is sgd or nesterov/.test(e.message));
  assert.throws(() => build('gossip-diloco', { outerOptimizer: 'delayed-nesterov' }), UsageError);
  assert.throws(() => build('diloco', {}, true), (e: Error) => e instanceof UsageError && /dynamicH applies to async-diloco/.test(e.message));
  for (const diloco of [{ innerSteps: 0 }, { outerLr: 0 }, { outerMomentum: 1 }]) assert.throws(() => build('async-diloco', diloco), UsageError);
  // The worker's state saves what a resumed worker needs.
  const algo = build('async-diloco', { innerSteps: 5 }).algorithm as AsyncDiloco;
  const s = algo.createState(Float64Array.from([1, 2, 3]));
  Object.assign(s, { inner: 2, target: 4, round: 7 });
  s.anchor.set([3, 2, 1]);
  const t = algo.createState(new Float64Array(3));
  algo.restore(t, algo.saved(s));
  assert.deepEqual([t.anchor, t.inner, t.target, t.round], [s.anchor, 2, 4, 7]);
});
