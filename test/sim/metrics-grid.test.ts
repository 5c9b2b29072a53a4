/**
 * Metrics are taken on copies: how often the simulator records a row never changes the trajectory. (With the
 * authors' exchange, a worker sends x as it was when last brought up to date, so advancing states in place at every
 * grid time used to change what was sent.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildAlgorithm, type AlgorithmName } from '../../src/algorithms/index.js';
import { makeTopology } from '../../src/graph/topology.js';
import { LeastSquares } from '../../src/objectives/least-squares.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { simulate, type SimOptions } from '../../src/sim/simulator.js';

function run(algo: AlgorithmName, every: number, extra: Partial<SimOptions> & { exchange?: 'ideal' | 'official'; n?: number; time?: number } = {}) {
  const n = extra.n ?? 12;
  const graph = makeTopology('ring', n);
  const objective = algo === 'dadao' ? new LeastSquares({ workers: n, dim: 4, seed: 2 }) : new Quadratic({ workers: n, dim: 4, seed: 2, noise: 0.1 });
  const built = buildAlgorithm({
    name: algo, graph, rate: 1, dim: 4, dtype: 'f64', exchange: extra.exchange, smoothness: objective.smoothness, strongConvexity: objective.strongConvexity,
  });
  return simulate({ objective, graph, built, optimizer: { lr: 0.05, momentum: 0.5 }, rate: 1, time: extra.time ?? 60, seed: 4, every, ...extra });
}

const CASES: Array<[string, AlgorithmName, Parameters<typeof run>[2]]> = [
  ['gossip', 'gossip', {}],
  ['A2CiD2, ideal exchange', 'acid', {}],
  ['A2CiD2, official exchange', 'acid', { exchange: 'official' }],
  ['A2CiD2, official exchange, faithful link', 'acid', { exchange: 'official', link: { latency: 0.3, bandwidth: 20 } }],
  ['A2CiD2, official exchange, paced', 'acid', { exchange: 'official', pacing: 'quota', link: { latency: 0.3, bandwidth: 20 } }],
  ['A2CiD2, official exchange, churn', 'acid', { exchange: 'official', churn: [{ worker: 3, leave: 7, back: 31 }] }],
  ['DADAO', 'dadao', {}],
  ['AllReduce', 'allreduce', {}],
];

for (const [label, algo, extra] of CASES) {
  test(`${label}: the final models do not depend on how often metrics are taken`, () => {
    const coarse = run(algo, 60, extra);
    for (const every of [1.5, 4, 10]) {
      const fine = run(algo, every, extra);
      assert.deepEqual(fine.final, coarse.final, `every ${every}`);
      assert.deepEqual(fine.rows[fine.rows.length - 1], coarse.rows[coarse.rows.length - 1], `every ${every}`);
      assert.equal(fine.rows.length, 60 / every + 1);
    }
  });
}

test('pure gossip with the official exchange, ring of 32: the final consensus is the same with a metrics row every 1.5 or every 10', () => {
  const opts = { exchange: 'official' as const, n: 32, time: 300, gradients: false, init: 'random' as const };
  const a = run('acid', 1.5, opts);
  const b = run('acid', 10, opts);
  assert.equal(a.summary.consensus, b.summary.consensus);
  assert.ok(a.summary.consensus < a.rows[0].consensus * 1e-3, `consensus ${a.summary.consensus} from ${a.rows[0].consensus}`);
});
