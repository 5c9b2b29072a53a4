import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildAlgorithm, type AlgorithmName } from '../../src/algorithms/index.js';
import { UsageError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { makeTopology } from '../../src/graph/topology.js';
import { LeastSquares } from '../../src/objectives/least-squares.js';
import { Logistic } from '../../src/objectives/logistic.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { AliasTable } from '../../src/sim/alias.js';
import { EventHeap } from '../../src/sim/heap.js';
import { roundingMessages, simulate, type MessageCodec, type SimOptions } from '../../src/sim/simulator.js';
import { workerSpeeds } from '../../src/sim/speeds.js';

function run(name: AlgorithmName, extra: Partial<SimOptions> & { topology?: string; n?: number; rate?: number; lr?: number; noise?: number } = {}) {
  const n = extra.n ?? 16;
  const graph = makeTopology(extra.topology ?? 'ring', n);
  const objective = extra.objective ?? new Quadratic({ workers: n, dim: 4, seed: 1, noise: extra.noise ?? 0 });
  const rate = extra.rate ?? 1;
  const built = buildAlgorithm({
    name, graph, rate, dim: objective.dim, dtype: 'f64',
    smoothness: objective.smoothness, strongConvexity: objective.strongConvexity,
  });
  return simulate({ objective, graph, built, optimizer: { lr: extra.lr ?? 0.05 }, rate, time: 100, seed: 3, every: 5, ...extra });
}

test('same seed, bit-identical metrics; another seed, other metrics', () => {
  for (const name of ['gossip', 'acid', 'allreduce', 'dadao'] as AlgorithmName[]) {
    const a = run(name, { noise: 0.2 });
    const b = run(name, { noise: 0.2 });
    assert.deepEqual(a.rows, b.rows, name);
    assert.deepEqual(a.final, b.final, name);
    const c = run(name, { noise: 0.2, seed: 4 });
    assert.notDeepEqual(a.rows, c.rows, name);
  }
});

test('event counts follow the Poisson rates', () => {
  const { summary } = run('gossip', { rate: 2, time: 400 });
  // 16 workers × 400 steps; 16 × 400 × 2 / 2 exchanges (each involves two workers).
  assert.ok(Math.abs(summary.gradients / 6400 - 1) < 0.05, `gradients ${summary.gradients}`);
  assert.ok(Math.abs(summary.communications / 6400 - 1) < 0.05, `communications ${summary.communications}`);
});

test('gossip and A2CiD2 converge to a neighbourhood of the optimum; A2CiD2 closer on a ring', () => {
  const opts = { n: 16, lr: 0.05, time: 1000 };
  const g = run('gossip', opts).summary;
  const a = run('acid', opts).summary;
  const start = run('gossip', { ...opts, time: 1 }).rows[0].optimality!;
  assert.ok(g.steadyOptimality! < start / 10);
  assert.ok(a.steadyOptimality! < g.steadyOptimality! / 2, `acid ${a.steadyOptimality} vs gossip ${g.steadyOptimality}`);
});

test('AllReduce SGD converges to the optimum of the sum exactly (no noise)', () => {
  const { summary } = run('allreduce', { lr: 1, time: 1000 });
  assert.ok(summary.optimality! < 1e-12, `optimality ${summary.optimality}`);
  assert.ok(summary.consensus < 1e-28);
});

test('stragglers slow AllReduce rounds, not the asynchronous gradient clocks', () => {
  const speeds = workerSpeeds(16, { seed: 1, stragglers: 2, slowdown: 4 });
  const ar = run('allreduce', { speeds }).summary;
  const fast = run('allreduce').summary;
  assert.ok(ar.gradients < fast.gradients * 0.8, `${ar.gradients} vs ${fast.gradients}`);
  const gossip = run('gossip', { speeds }).summary;
  assert.ok(Math.abs(gossip.gradients / (100 * (14 + 2 / 4)) - 1) < 0.1);
});

for (const [label, objective] of [
  ['least squares', new LeastSquares({ workers: 8, dim: 5, seed: 2 })],
  ['logistic regression', new Logistic({ workers: 8, dim: 5, seed: 2 })],
] as const) {
  for (const topology of ['ring', 'star', 'complete']) {
    test(`DADAO converges linearly on ${label}, ${topology} graph`, () => {
      const { rows } = run('dadao', { objective, n: 8, topology, time: 600, every: 50 });
      const first = rows[1].optimality!;
      const mid = rows[6].optimality!;
      const last = rows[rows.length - 1].optimality!;
      assert.ok(last < 1e-10 * Math.max(1, rows[0].optimality!), `final optimality ${last}`);
      // Linear: the log-error keeps falling at a comparable rate over both halves.
      assert.ok(Math.log(last) - Math.log(mid) < 0.3 * (Math.log(mid) - Math.log(first)) || last < 1e-24);
    });
  }
}

test('faithful mode: exchanges take time and a busy worker skips exchanges', () => {
  const ideal = run('gossip', { rate: 2 }).summary;
  const faithful = run('gossip', { rate: 2, link: { latency: 0.5, bandwidth: 40 } }).summary;
  assert.ok(faithful.skipped > 0);
  assert.equal(ideal.skipped, 0);
  assert.ok(faithful.communications < ideal.communications);
  // Every Poisson edge event either started an exchange or was skipped (up to those still in flight at the end).
  assert.ok(Math.abs(faithful.communications + faithful.skipped - ideal.communications) < 0.1 * ideal.communications);
});

test('paced mode: the rate control holds the exchanges per step at the rate, and slow links slow the steps instead', () => {
  for (const rate of [2, 0.5]) {
    const { summary } = run('gossip', { rate, time: 400, pacing: 'quota' });
    // Each exchange counts for two workers: exchanges per worker per step = 2 x communications / gradients.
    const perStep = (2 * summary.communications) / summary.gradients;
    assert.ok(Math.abs(perStep / rate - 1) < 0.1, `rate ${rate}: ${perStep} exchanges per step`);
  }
  // Exchanges lasting 4 steps: the free mode keeps computing and skips exchanges, the paced one waits for them.
  const link = { latency: 4, bandwidth: 1e9 };
  const free = run('acid', { time: 400, link }).summary;
  const paced = run('acid', { time: 400, link, pacing: 'quota' }).summary;
  assert.ok(free.skipped > 0 && paced.skipped === 0);
  assert.ok((2 * free.communications) / free.gradients < 0.3, `free: ${free.communications} exchanges, ${free.gradients} steps`);
  assert.ok(Math.abs((2 * paced.communications) / paced.gradients - 1) < 0.1, `paced: ${paced.communications} exchanges, ${paced.gradients} steps`);
  assert.ok(paced.gradients < free.gradients / 2, `paced ${paced.gradients} steps, free ${free.gradients}`);
  // Deterministic from the seed; the workers still converge.
  const a = run('acid', { time: 400, pacing: 'quota', noise: 0.1 });
  const b = run('acid', { time: 400, pacing: 'quota', noise: 0.1 });
  assert.deepEqual(a.rows, b.rows);
  assert.ok(a.summary.steadyOptimality! < a.rows[0].optimality! / 10);
  assert.throws(() => run('dadao', { pacing: 'quota' }), /own communication rates/);
});

test('alias table samples in proportion to the weights', () => {
  const table = new AliasTable([1, 3, 0, 6]);
  const rng = new Rng(1);
  const counts = [0, 0, 0, 0];
  for (let s = 0; s < 100000; s++) counts[table.sample(rng)]++;
  assert.equal(counts[2], 0);
  [0.1, 0.3, 0, 0.6].forEach((p, i) => assert.ok(Math.abs(counts[i] / 100000 - p) < 0.01));
});

test('event heap pops in time order, ties in insertion order', () => {
  const heap = new EventHeap<string>();
  [[3, 'c'], [1, 'a'], [2, 'b1'], [2, 'b2'], [0.5, 'z']].forEach(([t, s]) => heap.push(t as number, s as string));
  const out: string[] = [];
  while (heap.size) out.push(heap.pop());
  assert.deepEqual(out, ['z', 'a', 'b1', 'b2', 'c']);
});

test("A2CiD2's official exchange (peer's x before its mixing) differs from the ideal one yet converges as well", () => {
  const n = 16;
  const graph = makeTopology('ring', n);
  const objective = new Quadratic({ workers: n, dim: 4, seed: 1 });
  const runWith = (exchange: 'ideal' | 'official', eta?: number) => {
    const built = buildAlgorithm({ name: 'acid', graph, rate: 1, dim: 4, dtype: 'f64', exchange, eta });
    return simulate({ objective, graph, built, optimizer: { lr: 0.05 }, rate: 1, time: 1000, seed: 3, every: 10 });
  };
  const ideal = runWith('ideal');
  const official = runWith('official');
  assert.notDeepEqual(ideal.final, official.final);
  const ratio = official.summary.steadyOptimality! / ideal.summary.steadyOptimality!;
  assert.ok(ratio > 0.5 && ratio < 2, `official / ideal steady optimality ${ratio}`);
  // Without mixing there is nothing to be before or after: both variants coincide.
  assert.deepEqual(runWith('ideal', 0).final, runWith('official', 0).final);
});

test('worker speeds: lists cycle, distributions are seeded, stragglers are slowed', () => {
  assert.deepEqual([...workerSpeeds(5, { seed: 1, list: [1, 0.5] })], [1, 0.5, 1, 0.5, 1]);
  const a = workerSpeeds(100, { seed: 2, distribution: 'uniform:0.5:1.5' });
  assert.deepEqual(a, workerSpeeds(100, { seed: 2, distribution: 'uniform:0.5:1.5' }));
  assert.ok(a.every((s) => s >= 0.5 && s <= 1.5));
  const l = workerSpeeds(1000, { seed: 2, distribution: 'lognormal:0.5' });
  const median = [...l].sort((x, y) => x - y)[500];
  assert.ok(Math.abs(Math.log(median)) < 0.1);
  const s = workerSpeeds(10, { seed: 3, stragglers: 3, slowdown: 4 });
  assert.equal([...s].filter((v) => v === 0.25).length, 3);
  assert.throws(() => workerSpeeds(4, { seed: 1, stragglers: 5 }), /exceeds/);
});

test('message codecs: an exact one changes nothing; a rounding one rounds every message sent; a smaller one shortens exchanges on the link', () => {
  const exact: MessageCodec = { name: 'exact', round: () => {}, floats: (c) => c };
  for (const pacing of ['free', 'quota'] as const) {
    const plain = run('acid', { noise: 0.1, pacing });
    const same = run('acid', { noise: 0.1, pacing, codec: exact });
    assert.deepEqual(same.rows, plain.rows, pacing);
    assert.deepEqual(same.final, plain.final, pacing);
  }
  // Rounding to a grid of 1/8: every message that leaves a worker is on the grid.
  const seen: number[] = [];
  const grid: MessageCodec = {
    name: 'grid',
    round: (m) => {
      for (let k = 0; k < m.length; k++) m[k] = Math.round(m[k] * 8) / 8;
    },
    floats: (c) => c,
  };
  const graph = makeTopology('ring', 8);
  const objective = new Quadratic({ workers: 8, dim: 4, seed: 1 });
  const built = buildAlgorithm({ name: 'gossip', graph, rate: 1, dim: 4, dtype: 'f64' });
  const rounding = roundingMessages(built.algorithm.pairwise!, grid);
  const spy: typeof built.algorithm = Object.assign(Object.create(built.algorithm), {
    pairwise: {
      ...rounding,
      receive: (s: Parameters<typeof rounding.receive>[0], t: number, peer: Parameters<typeof rounding.receive>[2]) => {
        seen.push(...peer);
        rounding.receive(s, t, peer);
      },
    },
  });
  const rounded = simulate({ objective, graph, built: { ...built, algorithm: spy }, optimizer: { lr: 0.05 }, rate: 1, time: 20, seed: 3, every: 5 });
  assert.ok(rounded.summary.communications > 0 && seen.length > 0);
  assert.ok(seen.every((v) => v * 8 === Math.round(v * 8)), 'every received message is on the grid');
  // A codec with a quarter of the size on a bandwidth-bound link: exchanges are shorter, so more of them happen.
  const link = { latency: 0.05, bandwidth: 2 };
  const full = run('gossip', { link, time: 200 });
  const quarter = run('gossip', { link, time: 200, codec: { name: 'quarter', round: () => {}, floats: (c) => c / 4 } });
  assert.ok(quarter.summary.communications > 1.3 * full.summary.communications, `${quarter.summary.communications} against ${full.summary.communications}`);
  assert.throws(() => run('acid', { codec: exact, errorFeedback: true }), (e: unknown) => e instanceof UsageError && /acid sends neither/.test(e.message));
});

test('churn: departed workers neither step nor exchange, metrics cover the live ones, and a returning worker starts from a neighbour', () => {
  const churn = [{ worker: 3, leave: 20, back: 60 }, { worker: 5, leave: 40 }];
  const plain = run('acid', { noise: 0.1, time: 100 });
  const churned = run('acid', { noise: 0.1, time: 100, churn });
  const liveAt = (t: number) => churned.rows.find((r) => r.t === t)!.live;
  assert.deepEqual([liveAt(10), liveAt(30), liveAt(50), liveAt(70), liveAt(100)], [16, 15, 14, 15, 15]);
  assert.equal(plain.rows[0].live, undefined, 'no churn, no live column');
  assert.ok(churned.summary.gradients < plain.summary.gradients, `${churned.summary.gradients} against ${plain.summary.gradients}`);
  assert.equal(churned.final.length, 15);
  // On a path with (almost) no exchanges, the returning worker holds exactly its only neighbour's x.
  const graph = makeTopology('path', 4);
  const objective = new Quadratic({ workers: 4, dim: 3, seed: 2 });
  const built = buildAlgorithm({ name: 'gossip', graph, rate: 1e-9, dim: 3, dtype: 'f64' });
  const r = simulate({ objective, graph, built, optimizer: { lr: 0.05 }, rate: 1e-9, time: 5, seed: 1, every: 1, gradients: false, init: 'random', churn: [{ worker: 3, leave: 1, back: 2 }] });
  assert.deepEqual(r.final[3], r.final[2]);
  assert.notDeepEqual(r.final[1], r.final[2]);
  for (const bad of [
    { pacing: 'quota' as const, churn: [{ worker: 1, leave: 5 }] },
    { churn: [{ worker: 16, leave: 5 }] },
    { churn: [{ worker: 1, leave: 5, back: 3 }] },
    { churn: [{ worker: 1, leave: 5, back: 30 }, { worker: 1, leave: 20 }] },
  ]) {
    assert.throws(() => run('acid', { time: 100, ...bad }), (e: unknown) => e instanceof UsageError, JSON.stringify(bad));
  }
  assert.throws(() => run('allreduce', { churn: [{ worker: 1, leave: 5 }] }), (e: unknown) => e instanceof UsageError && /pairwise/.test(e.message));
});
