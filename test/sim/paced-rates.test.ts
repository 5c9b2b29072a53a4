/**
 * The paced simulator realises the edge rates that χ1, χ2 and the A2CiD2 constants are computed from
 * (docs/algorithms.md §1.2, §2.8): on exponential-official the edge (i, i + n/2), listed twice, fires twice as often
 * as the others; on irregular graphs every edge fires at λ_ij and every worker takes part in r_i exchanges per step.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partnersOf } from '../../src/graph/partners.js';
import { edgeRates } from '../../src/graph/rates.js';
import { makeTopology } from '../../src/graph/topology.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { simulate } from '../../src/sim/simulator.js';
import { checkEdgeRates, edgeProbe, halfEdgeRatio } from '../helpers/edge-probe.js';

function paced(topology: string, n: number, time: number) {
  const graph = makeTopology(topology, n);
  const probe = edgeProbe(graph, 2);
  const objective = new Quadratic({ workers: n, dim: 2, seed: 1, noise: 0 });
  simulate({ objective, graph, built: probe.built, optimizer: { lr: 0.01 }, rate: 1, time, seed: 3, every: time, pacing: 'quota' });
  return { graph, probe };
}

test('paced: exponential-official pairs over the edge listed twice twice as often', (t) => {
  const { graph, probe } = paced('exponential-official', 16, 1000);
  const ratio = halfEdgeRatio(graph, probe);
  t.diagnostic(`n/2 edge over another edge: ${ratio.toFixed(3)}`);
  // ~2000 exchanges on the n/2 edges, ~6000 on the others: the ratio is within a few percent of 2.
  assert.ok(ratio > 1.8 && ratio < 2.2, `ratio ${ratio}`);
});

for (const [topology, n] of [['star', 8], ['erdos-renyi', 16]] as const) {
  test(`paced: on ${topology} of ${n} the edges fire at the rates of the Laplacian`, (t) => {
    const { graph, probe } = paced(topology, n, 2000);
    const worst = checkEdgeRates(graph, probe, edgeRates(graph, 1), graph.neighbors.map((_, i) => partnersOf(graph, 1, i).rate), { sigmas: 4, relative: 0.25 });
    t.diagnostic(`largest relative deviation: edge ${worst.edge.toFixed(3)}, worker ${worst.worker.toFixed(3)}`);
  });
}
