/**
 * Runtime agents (in one thread, over the in-process transport) realise the edge rates that χ1, χ2 and the A2CiD2
 * constants are computed from (docs/algorithms.md §1.2, §2.8): on exponential-official the edge (i, i + n/2), listed
 * twice, fires twice as often as the others; on irregular graphs every edge fires at λ_ij and every worker takes part
 * in r_i exchanges per step. Wall-clock timing varies from run to run (and the harness forgives exchanges owed for
 * more than 300 ms on a loaded machine), so the bounds are wide — five standard deviations or 40%, per edge and per
 * worker — where pairing among distinct neighbours at one common rate was off by 75% on every edge of the star and
 * by up to 99% on the random graph.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partnersOf } from '../../src/graph/partners.js';
import { edgeRates } from '../../src/graph/rates.js';
import { checkEdgeRates, edgeProbe, halfEdgeRatio, type EdgeProbe } from '../helpers/edge-probe.js';
import { agentHarness } from './harness.js';

async function agents(topology: string, n: number, steps: number) {
  let probe!: EdgeProbe;
  // The probe's messages are not models: no bounds on them.
  const h = agentHarness({ n, topology, algorithm: 'gossip', rate: 1, seed: 2, bounds: false, built: (g, dim) => (probe = edgeProbe(g, dim)).built });
  try {
    await h.run(steps);
  } finally {
    await h.close();
  }
  return { graph: probe.graph, probe };
}

test('runtime: exponential-official pairs over the edge listed twice twice as often', async (t) => {
  const { graph, probe } = await agents('exponential-official', 16, 400);
  const ratio = halfEdgeRatio(graph, probe);
  t.diagnostic(`n/2 edge over another edge: ${ratio.toFixed(3)}`);
  // ~800 exchanges on the n/2 edges, ~2400 on the others.
  assert.ok(ratio > 1.6 && ratio < 2.5, `ratio ${ratio}`);
});

for (const [topology, n] of [['star', 8], ['erdos-renyi', 16]] as const) {
  test(`runtime: on ${topology} of ${n} the edges fire at the rates of the Laplacian`, async (t) => {
    const { graph, probe } = await agents(topology, n, 500);
    const worst = checkEdgeRates(graph, probe, edgeRates(graph, 1), graph.neighbors.map((_, i) => partnersOf(graph, 1, i).rate), { sigmas: 5, relative: 0.4 });
    t.diagnostic(`largest relative deviation: edge ${worst.edge.toFixed(3)}, worker ${worst.worker.toFixed(3)}`);
  });
}
