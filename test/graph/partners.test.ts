import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { drawWeighted, partnersOf } from '../../src/graph/partners.js';
import { edgeRates, EdgeIndex } from '../../src/graph/rates.js';
import { makeTopology } from '../../src/graph/topology.js';

test('a worker takes part in r_i = Σ_j λ_ij exchanges, with partners weighted by λ_ij', () => {
  for (const [name, n] of [['ring', 12], ['torus', 16], ['exponential-official', 16], ['star', 8], ['path', 6], ['erdos-renyi', 16]] as const) {
    const g = makeTopology(name, n);
    const lambda = edgeRates(g, 1.5);
    const index = new EdgeIndex(n, g.edges);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const p = partnersOf(g, 1.5, i);
      total += p.rate;
      const rates = p.ids.map((j) => lambda[index.find(i, j)]);
      assert.ok(Math.abs(p.rate - rates.reduce((a, b) => a + b, 0)) < 1e-12, `${name}: r_${i}`);
      p.weights.forEach((w, k) => assert.ok(Math.abs((1.5 / 2) * w - rates[k]) < 1e-12, `${name}: weight of ${p.ids[k]} for ${i}`));
    }
    // r is the average over the workers.
    assert.ok(Math.abs(total / n - 1.5) < 1e-12, name);
  }
});

test('regular graphs: r_i = r exactly and uniform weights, except the n/2 neighbour of exponential-official', () => {
  for (const [name, n] of [['ring', 12], ['torus', 9], ['hypercube', 8], ['exponential', 16], ['ring', 7]] as const) {
    const g = makeTopology(name, n);
    for (const r of [1, 0.3, 3]) {
      for (let i = 0; i < n; i++) {
        const p = partnersOf(g, r, i);
        assert.equal(p.rate, r, `${name} ${r} ${i}`);
        assert.ok(p.uniform, name);
      }
    }
  }
  const p = partnersOf(makeTopology('exponential-official', 16), 1, 3);
  assert.equal(p.rate, 1);
  assert.ok(!p.uniform);
  p.ids.forEach((j, k) => assert.equal(p.weights[k], (j - 3 + 16) % 16 === 8 ? 0.5 : 0.25));
});

test('star: the centre takes part in n r/2 exchanges per step, a leaf in (r/2)(1 + 1/(n − 1))', () => {
  const g = makeTopology('star', 8);
  assert.ok(Math.abs(partnersOf(g, 1, 0).rate - 4) < 1e-12);
  assert.ok(Math.abs(partnersOf(g, 1, 5).rate - 0.5 * (1 + 1 / 7)) < 1e-12);
});

test('drawWeighted draws in proportion to the weights', () => {
  const rng = new Rng(1);
  const counts = [0, 0, 0];
  for (let k = 0; k < 40_000; k++) counts[drawWeighted([1, 2, 1], rng)]++;
  assert.ok(Math.abs(counts[1] / 20_000 - 1) < 0.03 && Math.abs(counts[0] / 10_000 - 1) < 0.05, `${counts}`);
});
