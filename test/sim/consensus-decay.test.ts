/**
 * A2CiD2's acceleration, pinned (docs/algorithms.md §2.4, §4.1): pure gossip from random starting points on a ring of
 * 32 at rate 1, the exponential decay rate of the consensus error fitted as the consensus-decay experiment fits it.
 * The baseline decays at 1/χ1; A2CiD2 with the ideal exchange at a large fraction of 1/√(χ1χ2); with the authors'
 * exchange (the sender's x as of its last update) it keeps only a small part of the acceleration.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildAlgorithm } from '../../src/algorithms/index.js';
import { spectral } from '../../src/graph/spectral.js';
import { makeTopology } from '../../src/graph/topology.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { simulate } from '../../src/sim/simulator.js';
import { decayRate } from '../../bench/experiments/consensus-decay.js';

const n = 32;
const graph = makeTopology('ring', n);
const seeds = [1, 2, 3];

function rate(algo: 'gossip' | 'acid', exchange: 'ideal' | 'official', time: number): number {
  let sum = 0;
  for (const seed of seeds) {
    const objective = new Quadratic({ workers: n, dim: 4, seed });
    const built = buildAlgorithm({ name: algo, graph, rate: 1, dim: 4, dtype: 'f64', exchange });
    const { rows } = simulate({ objective, graph, built, optimizer: { lr: 0.05 }, rate: 1, time, seed, every: time / 60, gradients: false, init: 'random' });
    sum += decayRate(rows);
  }
  return sum / seeds.length;
}

test('consensus decay on a ring of 32: baseline at 1/χ1, A2CiD2 accelerated, the authors’ exchange far less', (t) => {
  const s = spectral(graph, 1);
  const baselineTheory = 1 / s.chi1;
  const acidTheory = 1 / Math.sqrt(s.chi1 * s.chi2);
  const baseline = rate('gossip', 'ideal', 600);
  const ideal = rate('acid', 'ideal', 300);
  const official = rate('acid', 'official', 600);
  t.diagnostic(`1/χ1 ${baselineTheory.toFixed(4)}, 1/√(χ1χ2) ${acidTheory.toFixed(4)}; baseline ${baseline.toFixed(4)}, ideal ${ideal.toFixed(4)}, official ${official.toFixed(4)}`);
  assert.ok(Math.abs(baseline / baselineTheory - 1) < 0.1, `baseline ${baseline} against 1/χ1 = ${baselineTheory}`);
  assert.ok(ideal > 0.6 * acidTheory, `ideal ${ideal} against 1/√(χ1χ2) = ${acidTheory}`);
  assert.ok(ideal > 4 * baseline, `ideal ${ideal} against the baseline ${baseline}`);
  // Measured 0.0315 here (0.0307–0.0322 per seed over seeds 1–8): 1.6× the baseline, 27% of the ideal rule's rate.
  assert.ok(official > 0.028 && official < 0.035, `official ${official}`);
  assert.ok(official > 1.4 * baseline && official < 0.35 * ideal, `official ${official}, baseline ${baseline}, ideal ${ideal}`);
});
