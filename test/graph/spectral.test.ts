import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { acidConstants, acidForGraph, assertAcidAllowed } from '../../src/graph/acid.js';
import { symmetricEigenvalues } from '../../src/graph/dense.js';
import { findBridges } from '../../src/graph/iterative.js';
import { edgeRates, laplacian } from '../../src/graph/rates.js';
import { spectral, spectralOfLaplacian, type Spectral } from '../../src/graph/spectral.js';
import { fromEdges, makeTopology, TOPOLOGIES, type Graph } from '../../src/graph/topology.js';

function near(actual: number, expected: number, rel: number, what = ''): void {
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `${what}: ${actual} vs ${expected} (rel ${rel})`);
}

function sameSpectral(a: Spectral, b: Spectral, rel: number, what: string): void {
  near(a.chi1, b.chi1, rel, `${what} chi1`);
  near(a.chi2, b.chi2, rel, `${what} chi2`);
  near(a.lambda2, b.lambda2, rel, `${what} lambda2`);
  near(a.lambdaMax, b.lambdaMax, rel, `${what} lambdaMax`);
}

function sig4(actual: number, expected: number, what: string): void {
  assert.equal(actual.toPrecision(4), expected.toPrecision(4), `${what}: ${actual} vs ${expected}`);
}

describe('golden values (rate 1, official Laplacian)', () => {
  const golden: Array<[string, number, number, number, number, number]> = [
    ['ring', 16, 13.137, 0.9375, 0.14247, 1.8717],
    ['ring', 32, 52.043, 0.96875, 0.07042, 3.6648],
    ['ring', 64, 207.67, 0.98438, 0.03497, 7.2624],
    ['exponential-official', 32, 2.5, 1.0229, 0.31266, 0.7817],
  ];
  for (const [name, n, chi1, chi2, eta, alphaTilde] of golden) {
    it(`${name} ${n}`, () => {
      const g = makeTopology(name, n);
      for (const method of ['auto', 'dense', 'iterative'] as const) {
        const s = spectral(g, 1, { method });
        if (method === 'auto') assert.equal(s.method, 'closed-form');
        else assert.equal(s.method, method);
        const a = acidConstants(s.chi1, s.chi2);
        sig4(s.chi1, chi1, `${method} chi1`);
        sig4(s.chi2, chi2, `${method} chi2`);
        sig4(a.eta, eta, `${method} eta`);
        sig4(a.alphaTilde, alphaTilde, `${method} alphaTilde`);
        assert.equal(a.alpha, 0.5);
        near(a.gain, Math.sqrt(s.chi1 / s.chi2), 1e-12, 'gain');
      }
    });
  }

  it('gains of about 3.7, 7.3 and 14.5 on rings of 16, 32 and 64', () => {
    const gains = [16, 32, 64].map((n) => acidForGraph(makeTopology('ring', n), 1).gain);
    assert.deepEqual(gains.map((x) => x.toFixed(1)), ['3.7', '7.3', '14.5']);
  });
});

describe('closed forms', () => {
  it('ring: chi1 = 1/(r (1 − cos 2π/n)), chi2 = (n − 1)/(n r)', () => {
    for (const n of [2, 3, 5, 16, 100, 1000]) {
      for (const r of [1, 2.5, 0.1]) {
        const s = spectral(makeTopology('ring', n), r);
        near(s.chi1, 1 / (r * (1 - Math.cos((2 * Math.PI) / n))), 1e-12, `ring ${n} chi1`);
        near(s.chi2, (n - 1) / (n * r), 1e-12, `ring ${n} chi2`);
      }
    }
  });

  it('complete, hypercube and square torus: explicit formulas', () => {
    for (const r of [1, 3]) {
      for (const n of [2, 5, 12]) {
        const s = spectral(makeTopology('complete', n), r);
        near(s.chi1, (n - 1) / (n * r), 1e-12, 'complete chi1');
        near(s.chi2, (n - 1) / (n * r), 1e-12, 'complete chi2');
      }
      for (const k of [1, 3, 6]) {
        const n = 2 ** k;
        const s = spectral(makeTopology('hypercube', n), r);
        near(s.chi1, k / (2 * r), 1e-12, 'hypercube chi1');
        near(s.chi2, (n - 1) / (n * r), 1e-12, 'hypercube chi2');
      }
      for (const side of [3, 4, 7]) {
        const n = side * side;
        const s = spectral(makeTopology('torus', n), r);
        near(s.chi1, 2 / (r * (1 - Math.cos((2 * Math.PI) / side))), 1e-12, 'torus chi1');
        near(s.chi2, (n - 1) / (n * r), 1e-12, 'torus chi2');
      }
    }
  });

  it('agree with the dense computation', () => {
    const cases: Array<[string, number, { rows?: number }?]> = [
      ['ring', 3],
      ['ring', 2],
      ['ring', 17],
      ['torus', 9],
      ['torus', 12],
      ['torus', 20],
      ['torus', 24, { rows: 3 }],
      ['torus', 36],
      ['hypercube', 2],
      ['hypercube', 8],
      ['hypercube', 64],
      ['exponential', 2],
      ['exponential', 4],
      ['exponential', 64],
      ['exponential-official', 2],
      ['exponential-official', 4],
      ['exponential-official', 64],
      ['complete', 2],
      ['complete', 9],
      ['star', 2],
      ['star', 3],
      ['star', 11],
    ];
    for (const [name, n, opts] of cases) {
      const g = makeTopology(name, n, opts);
      for (const r of [1, 1.7]) {
        const closed = spectral(g, r);
        assert.equal(closed.method, 'closed-form', `${name} ${n}`);
        sameSpectral(closed, spectral(g, r, { method: 'dense' }), 1e-9, `${name} ${n} r=${r}`);
      }
    }
  });

  it('answer for 4096 nodes', () => {
    for (const name of ['ring', 'torus', 'hypercube', 'exponential', 'exponential-official', 'star']) {
      const s = spectral(makeTopology(name, 4096), 1);
      assert.equal(s.method, 'closed-form');
      assert.ok(s.chi2 > 0 && s.chi2 <= s.chi1, name);
    }
  });
});

describe('rates and Laplacian', () => {
  it('give r (I − W) on regular graphs, W_ij = m_ij/deg_i from the neighbour lists', () => {
    for (const [name, n] of [
      ['ring', 8],
      ['torus', 16],
      ['hypercube', 16],
      ['exponential', 16],
      ['exponential-official', 16],
      ['complete', 6],
    ] as const) {
      const g = makeTopology(name, n);
      const r = 1.5;
      const L = laplacian(n, g.edges, edgeRates(g, r));
      const expected = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        expected[i * n + i] += r;
        for (const j of g.neighbors[i]) expected[i * n + j] -= r / g.neighbors[i].length;
      }
      for (let k = 0; k < n * n; k++) near(L[k] + 1, expected[k] + 1, 1e-14, `${name} entry ${k}`);
    }
  });

  it('follow the initiation model on irregular graphs', () => {
    const g = makeTopology('path', 3);
    // edge (0, 1): worker 0 (one neighbour) at r/2, worker 1 (two) at r/4
    assert.deepEqual([...edgeRates(g, 2)], [1.5, 1.5]);
    const s = makeTopology('star', 5);
    for (const x of edgeRates(s, 1)) near(x, 0.5 * (1 / 4 + 1), 1e-15, 'star');
    // every worker takes part in r averagings per unit time on average: Σ_e λ_e = n r / 2
    for (const name of TOPOLOGIES) {
      const h = makeTopology(name, 16, { seed: 2 });
      const total = edgeRates(h, 3).reduce((a, b) => a + b, 0);
      near(total, (16 * 3) / 2, 1e-12, name);
    }
  });

  it('refuse a non-positive rate', () => {
    const g = makeTopology('ring', 8);
    for (const r of [0, -1, NaN, Infinity]) {
      assert.throws(() => spectral(g, r), (e: unknown) => e instanceof UsageError && /rate must be a positive number/.test(e.message));
      assert.throws(() => edgeRates(g, r), UsageError);
    }
  });
});

describe('spectral quantities', () => {
  it('chi2 ≤ chi1 on every topology', () => {
    for (const name of TOPOLOGIES) {
      for (const n of [4, 16, 64]) {
        if (name === 'torus' && n === 4) continue;
        for (const seed of [0, 1]) {
          const g = makeTopology(name, n, { seed });
          const s = spectral(g, 1);
          assert.ok(s.chi2 > 0 && s.chi2 <= s.chi1 * (1 + 1e-12), `${name} ${n}: chi2 ${s.chi2} > chi1 ${s.chi1}`);
          assert.ok(s.lambda2 > 0 && s.lambda2 <= s.lambdaMax * (1 + 1e-12), `${name} ${n}`);
        }
      }
    }
  });

  it('iterative agrees with dense on mid-size graphs, with both solvers', () => {
    const graphs: Graph[] = [
      makeTopology('ring', 128),
      makeTopology('erdos-renyi', 128, { seed: 4 }),
      makeTopology('erdos-renyi', 150, { p: 0.3, seed: 1 }),
      makeTopology('geometric', 128, { seed: 2 }),
      makeTopology('path', 128),
      makeTopology('exponential-official', 128),
      makeTopology('hypercube', 128),
      makeTopology('star', 100),
    ];
    for (const g of graphs) {
      const dense = spectral(g, 1, { method: 'dense' });
      for (const solver of ['direct', 'cg'] as const) {
        const it = spectral(g, 1, { method: 'iterative', solver });
        assert.equal(it.method, 'iterative');
        sameSpectral(it, dense, 1e-7, `${g.name} ${g.n} ${solver}`);
      }
    }
  });

  it('iterative matches the closed forms on larger graphs', () => {
    for (const [name, n, solver] of [
      ['ring', 1024, 'auto'],
      ['torus', 900, 'auto'],
      ['hypercube', 512, 'cg'],
      ['exponential', 256, 'cg'],
    ] as const) {
      const g = makeTopology(name, n);
      sameSpectral(spectral(g, 1, { method: 'iterative', solver }), spectral(g, 1), 1e-7, `${name} ${n}`);
    }
  });

  it('handles general weights (DADAO uses L = (D − A)/|E|), scaling and parallel edges', () => {
    const g = makeTopology('ring', 16);
    const m = g.edges.length;
    const s = spectralOfLaplacian(g.n, g.edges, new Float64Array(m).fill(1 / m));
    near(s.lambda2, (2 - 2 * Math.cos((2 * Math.PI) / 16)) / m, 1e-12, 'lambda2');
    near(s.chi2, ((15 / 16) * m) / 2, 1e-12, 'chi2');
    const t = spectralOfLaplacian(g.n, g.edges, new Float64Array(m).fill(3 / m));
    near(t.chi1, s.chi1 / 3, 1e-12, 'scaled chi1');
    near(t.chi2, s.chi2 / 3, 1e-12, 'scaled chi2');
    const doubled = spectralOfLaplacian(3, [[0, 1], [1, 0], [1, 2], [2, 0]], Float64Array.from([0.5, 0.5, 1, 1]));
    const triangle = spectralOfLaplacian(3, [[0, 1], [1, 2], [0, 2]], Float64Array.from([1, 1, 1]));
    sameSpectral(doubled, triangle, 1e-12, 'parallel edges');
  });

  it('refuses disconnected graphs and bad weights', () => {
    assert.throws(
      () => spectralOfLaplacian(4, [[0, 1], [2, 3]], Float64Array.from([1, 1])),
      (e: unknown) => e instanceof UsageError && /disconnected/.test(e.message),
    );
    assert.throws(() => spectralOfLaplacian(3, [[0, 1], [1, 2]], Float64Array.from([1, 0])), /non-positive rate/);
    assert.throws(() => spectralOfLaplacian(3, [[0, 1], [1, 1]], Float64Array.from([1, 1])), UsageError);
    assert.throws(() => spectralOfLaplacian(3, [[0, 1], [1, 3]], Float64Array.from([1, 1])), UsageError);
  });

  it('finds bridges and uses them on graphs that are not trees', () => {
    // barbell: two cliques of 6 joined by a path of 3 edges, plus random extra weights
    const edges: Array<[number, number]> = [];
    for (const base of [0, 9]) for (let i = 0; i < 6; i++) for (let j = i + 1; j < 6; j++) edges.push([base + i, base + j]);
    edges.push([5, 6], [6, 7], [7, 8], [8, 9]);
    const bridges = findBridges(15, edges);
    assert.deepEqual(
      edges.filter((_, e) => bridges[e]),
      [
        [5, 6],
        [6, 7],
        [7, 8],
        [8, 9],
      ],
    );
    const rng = new Rng(4);
    const rates = Float64Array.from(edges, () => 0.2 + rng.uniform());
    const dense = spectralOfLaplacian(15, edges, rates, { method: 'dense' });
    for (const solver of ['direct', 'cg'] as const) {
      sameSpectral(spectralOfLaplacian(15, edges, rates, { method: 'iterative', solver }), dense, 1e-7, `barbell ${solver}`);
    }
    const g = fromEdges('barbell', 15, edges);
    sameSpectral(spectral(g, 1, { method: 'iterative', solver: 'cg' }), spectral(g, 1, { method: 'dense' }), 1e-7, 'barbell graph');
  });

  it('tree resistances are the inverse edge rates', () => {
    const rng = new Rng(9);
    const edges: Array<[number, number]> = [];
    for (let i = 1; i < 60; i++) edges.push([rng.int(i), i]);
    const rates = Float64Array.from(edges, () => 0.5 + rng.uniform());
    const min = Math.min(...rates);
    for (const method of ['dense', 'iterative'] as const) {
      near(spectralOfLaplacian(60, edges, rates, { method }).chi2, 1 / (2 * min), 1e-9, method);
    }
  });
});

describe('dense eigenvalues', () => {
  it('match the trace and the Frobenius norm of random symmetric matrices', () => {
    const rng = new Rng(1);
    for (const n of [1, 2, 7, 40]) {
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = rng.normal();
      }
      const ev = symmetricEigenvalues(a, n);
      let trace = 0;
      let frob = 0;
      for (let i = 0; i < n; i++) trace += a[i * n + i];
      for (const x of a) frob += x * x;
      near(ev.reduce((s, x) => s + x, 0) + 100, trace + 100, 1e-12, 'trace');
      near(ev.reduce((s, x) => s + x * x, 0), frob, 1e-10, 'frobenius');
      for (let i = 1; i < n; i++) assert.ok(ev[i - 1] <= ev[i]);
    }
  });
});

describe('A2CiD2 constants', () => {
  it('follow the official formulas', () => {
    const a = acidConstants(8, 2);
    near(a.eta, 1 / (2 * 4), 1e-15, 'eta');
    assert.equal(a.alpha, 0.5);
    near(a.alphaTilde, 1, 1e-15, 'alphaTilde');
    near(a.gain, 2, 1e-15, 'gain');
    // alphaTilde does not depend on the rate, eta grows linearly with it
    const g = makeTopology('torus', 25);
    const one = acidForGraph(g, 1);
    const three = acidForGraph(g, 3);
    near(three.alphaTilde, one.alphaTilde, 1e-12, 'alphaTilde vs rate');
    near(three.eta, 3 * one.eta, 1e-12, 'eta vs rate');
    assert.throws(() => acidConstants(0, 1), UsageError);
    assert.throws(() => acidConstants(1, -1), UsageError);
    assert.throws(() => acidConstants(NaN, 1), UsageError);
  });

  it('are refused on the complete graph only', () => {
    for (const g of [makeTopology('complete', 8), makeTopology('ring', 2), makeTopology('ring', 3), fromEdges('k4', 4, [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])]) {
      assert.throws(
        () => assertAcidAllowed(g),
        (e: unknown) => e instanceof UsageError && /refused on the complete graph/.test(e.message) && !e.message.includes('\n'),
        g.name,
      );
    }
    for (const name of ['ring', 'torus', 'exponential', 'exponential-official', 'star', 'path', 'hypercube']) {
      assert.doesNotThrow(() => assertAcidAllowed(makeTopology(name, 16)));
    }
  });
});
