import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/core/errors.js';
import { countComponents, degreeRange, makeTopology, readEdgeFile, TOPOLOGIES, type Graph } from '../../src/graph/topology.js';

function checkConsistent(g: Graph): void {
  assert.equal(g.neighbors.length, g.n);
  const seen = new Set<string>();
  let last = [-1, -1];
  for (const [i, j] of g.edges) {
    assert.ok(i < j, `edge (${i}, ${j}) not ordered`);
    assert.ok(i > last[0] || (i === last[0] && j > last[1]), 'edges not sorted');
    last = [i, j];
    seen.add(`${i},${j}`);
  }
  for (let i = 0; i < g.n; i++) {
    for (const j of g.neighbors[i]) {
      assert.notEqual(i, j);
      assert.ok(seen.has(`${Math.min(i, j)},${Math.max(i, j)}`), `neighbour ${j} of ${i} is not an edge`);
      assert.ok(g.neighbors[j].includes(i), `lists not symmetric at ${i}, ${j}`);
    }
  }
  assert.equal(countComponents(g.n, g.edges), 1);
}

const tmp = mkdtempSync(join(tmpdir(), 'gossamer-graph-'));
function file(name: string, text: string): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

describe('topologies', () => {
  it('builds every built-in topology consistently', () => {
    for (const name of TOPOLOGIES) {
      for (const n of [16, 64]) {
        const g = makeTopology(name, n, { seed: 3 });
        assert.equal(g.name, name);
        assert.equal(g.n, n);
        checkConsistent(g);
      }
    }
  });

  it('has the expected edge counts and degrees', () => {
    const cases: Array<[string, number, number, number, number]> = [
      // name, n, edges, min degree, max degree
      ['complete', 8, 28, 7, 7],
      ['ring', 10, 10, 2, 2],
      ['ring', 2, 1, 1, 1],
      ['path', 10, 9, 1, 2],
      ['star', 10, 9, 1, 9],
      ['torus', 16, 32, 4, 4],
      ['torus', 12, 24, 4, 4],
      ['hypercube', 16, 32, 4, 4],
      ['exponential', 16, 56, 7, 7],
      ['exponential-official', 16, 56, 7, 7],
    ];
    for (const [name, n, m, dmin, dmax] of cases) {
      const g = makeTopology(name, n);
      assert.equal(g.edges.length, m, `${name} ${n}`);
      assert.deepEqual(degreeRange(g), { min: dmin, max: dmax }, `${name} ${n}`);
    }
  });

  it('lists n/2 twice in the official exponential graph only', () => {
    const n = 32;
    const clean = makeTopology('exponential', n);
    const official = makeTopology('exponential-official', n);
    assert.deepEqual(clean.edges, official.edges);
    for (let i = 0; i < n; i++) {
      assert.equal(clean.neighbors[i].length, 9);
      assert.equal(new Set(clean.neighbors[i]).size, 9);
      assert.equal(official.neighbors[i].length, 10);
      assert.equal(official.neighbors[i].filter((j) => j === (i + n / 2) % n).length, 2);
      for (let j = 0; j < 5; j++) {
        assert.ok(clean.neighbors[i].includes((i + 2 ** j) % n));
        assert.ok(clean.neighbors[i].includes((i - 2 ** j + n) % n));
      }
    }
  });

  it('shapes the torus as rows x cols', () => {
    assert.deepEqual(makeTopology('torus', 16).meta, { rows: 4, cols: 4 });
    assert.deepEqual(makeTopology('torus', 12).meta, { rows: 3, cols: 4 });
    assert.deepEqual(makeTopology('torus', 24, { rows: 3 }).meta, { rows: 3, cols: 8 });
    const g = makeTopology('torus', 12);
    // node 0 = (0, 0): up (2, 0) = 8, down (1, 0) = 4, left (0, 3) = 3, right (0, 1) = 1
    assert.deepEqual([...g.neighbors[0]].sort((a, b) => a - b), [1, 3, 4, 8]);
  });

  it('draws random graphs from the seed, connected', () => {
    for (const name of ['erdos-renyi', 'geometric']) {
      const a = makeTopology(name, 100, { seed: 5 });
      const b = makeTopology(name, 100, { seed: 5 });
      const c = makeTopology(name, 100, { seed: 6 });
      assert.deepEqual(a.edges, b.edges);
      assert.notDeepEqual(a.edges, c.edges);
      checkConsistent(a);
    }
  });

  it('redraws a disconnected Erdős–Rényi graph with the next seeds', () => {
    const g = makeTopology('erdos-renyi', 30, { p: 0.1, seed: 0 });
    checkConsistent(g);
    assert.ok((g.meta?.draws as number) >= 1);
    assert.equal(g.meta?.p, 0.1);
    const full = makeTopology('erdos-renyi', 12, { p: 1 });
    assert.equal(full.edges.length, 66);
    assert.throws(() => makeTopology('erdos-renyi', 200, { p: 0.001 }), /no connected graph.*raise p/);
  });

  it('joins the components of a geometric graph with the shortest missing links', () => {
    const g = makeTopology('geometric', 200, { radius: 0.02, seed: 1 });
    checkConsistent(g);
    const joined = g.meta?.joined as number;
    assert.ok(joined > 0);
    const bare = makeTopology('geometric', 200, { radius: 10, seed: 1 });
    assert.equal(bare.edges.length, (200 * 199) / 2);
    assert.equal(bare.meta?.joined, 0);
  });

  it('refuses bad input with a UsageError naming the problem', () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [() => makeTopology('moebius', 8), /unknown topology "moebius"/],
      [() => makeTopology('ring', 1), /at least 2 workers/],
      [() => makeTopology('ring', 2.5), /integer/],
      [() => makeTopology('hypercube', 12), /power of two/],
      [() => makeTopology('exponential', 24), /power of two/],
      [() => makeTopology('exponential-official', 6), /power of two/],
      [() => makeTopology('torus', 14), /rows x cols/],
      [() => makeTopology('torus', 8), /rows x cols/],
      [() => makeTopology('torus', 24, { rows: 5 }), /must divide/],
      [() => makeTopology('torus', 12, { rows: 6 }), /at least 3 columns/],
      [() => makeTopology('erdos-renyi', 10, { p: 0 }), /probability/],
      [() => makeTopology('erdos-renyi', 10, { p: 1.5 }), /probability/],
      [() => makeTopology('geometric', 10, { radius: -1 }), /radius/],
      [() => makeTopology('complete', 4097), /complete graph is limited to 4096 workers, got 4097/],
    ];
    for (const [fn, re] of cases) {
      assert.throws(fn, (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n'));
    }
  });
});

describe('edge files', () => {
  it('reads JSON objects, JSON arrays and text', () => {
    const a = readEdgeFile(file('a.json', JSON.stringify({ n: 4, edges: [[0, 1], [1, 2], [2, 3], [3, 0]] })));
    const b = readEdgeFile(file('b.json', '[[0,1],[1,2],[2,3],[0,3],[1,0]]'));
    const c = readEdgeFile(file('c.txt', '# a ring of four\n0 1\n1 2 # comment\n\n2\t3\n3,0\n'));
    for (const g of [a, b, c]) {
      assert.equal(g.n, 4);
      assert.deepEqual(g.edges, [
        [0, 1],
        [0, 3],
        [1, 2],
        [2, 3],
      ]);
      checkConsistent(g);
    }
    assert.equal(c.name, 'c.txt');
    assert.deepEqual(makeTopology(join(tmp, 'c.txt'), 0).edges, c.edges);
    assert.deepEqual(makeTopology(join(tmp, 'c.txt'), 4).edges, c.edges);
  });

  it('refuses malformed, looped, out-of-range and disconnected graphs', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['bad.json', '{"edges": [[0, 1], [1]]}', /edge 1 must be a pair/],
      ['bad2.json', '{"n": 3, "edges": [[0, 1], [1, 5]]}', /outside 0..2/],
      ['bad3.json', '{"n": 3, "edges": [[0, 1], [1, 2]', /invalid JSON/],
      ['bad4.json', '{"nodes": 3}', /expected/],
      ['loop.txt', '0 1\n1 1\n', /self loop at node 1/],
      ['line.txt', '0 1\n1 two\n', /line 2: expected two node numbers/],
      ['three.txt', '0 1 2\n', /line 1/],
      ['neg.txt', '0 1\n-1 0\n', /outside/],
      ['empty.txt', '# nothing\n', /no edges/],
      ['split.txt', '0 1\n2 3\n', /disconnected \(2 components\)/],
      ['single.json', '{"n": 1, "edges": [[0, 0]]}', /at least 2 nodes/],
      ['isolated.json', '{"n": 4, "edges": [[0, 1], [1, 2]]}', /disconnected/],
    ];
    for (const [name, text, re] of cases) {
      const path = file(name, text);
      assert.throws(
        () => readEdgeFile(path),
        (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n'),
        name,
      );
    }
    assert.throws(() => readEdgeFile(join(tmp, 'missing.txt')), /no such file/);
    assert.throws(() => makeTopology(join(tmp, 'c.txt'), 5), /has 4 nodes but 5 workers/);
  });
});
