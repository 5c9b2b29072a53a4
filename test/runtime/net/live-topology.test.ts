/**
 * Open mode's graph over the live membership: the circulant topologies for any n, each member's neighbours and
 * A2CiD2's constants from the graph's spectrum, the tracker that re-forms it on joins and leaves, and the pairing
 * that takes new neighbours while it runs.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { acidForGraph } from '../../../src/graph/acid.js';
import { circulant } from '../../../src/graph/circulant.js';
import { spectral } from '../../../src/graph/spectral.js';
import { Rng } from '../../../src/core/rng.js';
import { InProcessTransport, inProcessNetwork } from '../../../src/runtime/inprocess.js';
import { liveTopology } from '../../../src/runtime/net/live-topology.js';
import { LiveTopologyTracker } from '../../../src/runtime/net/live-topology-tracker.js';
import { workerIdOf } from '../../../src/runtime/net/worker-id.js';
import { Pairing } from '../../../src/runtime/pairing.js';

test('circulant graphs: connected and regular for every n, their closed-form spectrum the dense one', () => {
  for (let n = 2; n <= 17; n++) {
    for (const name of ['ring', 'exponential'] as const) {
      const g = circulant(name, n);
      assert.equal(g.n, n);
      const degrees = new Set(g.neighbors.map((l) => l.length));
      assert.equal(degrees.size, 1, `${name} ${n} is regular`);
      const closed = spectral(g, 1);
      const dense = spectral(g, 1, { method: 'dense' });
      assert.ok(Math.abs(closed.chi1 - dense.chi1) < 1e-9 * dense.chi1, `${name} ${n}: chi1 ${closed.chi1} vs ${dense.chi1}`);
      assert.ok(Math.abs(closed.chi2 - dense.chi2) < 1e-9 * dense.chi2, `${name} ${n}: chi2 ${closed.chi2} vs ${dense.chi2}`);
    }
  }
  // i ~ i ± 2^j, 2^j ≤ n/2: on 6 nodes, ±1 and ±2.
  assert.deepEqual(circulant('exponential', 6).neighbors[0], [1, 5, 2, 4]);
});

test('live topology: members in peer-id order, this worker\'s neighbours, the constants of the graph', () => {
  const peers = ['d', 'b', 'a', 'e', 'c'];
  const t = liveTopology('ring', peers.filter((p) => p !== 'c'), 'c', 1, true);
  assert.deepEqual(t.members, ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(t.ids, t.members.map(workerIdOf));
  assert.deepEqual(new Set(t.neighbours), new Set([workerIdOf('b'), workerIdOf('d')]));
  assert.equal(t.rate, 1);
  const c = acidForGraph(circulant('ring', 5), 1);
  assert.equal(t.eta, c.eta);
  assert.equal(t.alphaTilde, c.alphaTilde);
  // The gossip baseline has no momentum; alone, no neighbour and no exchanges.
  const g = liveTopology('ring', ['a', 'b'], 'c', 1, false);
  assert.equal(g.eta, 0);
  assert.equal(g.alphaTilde, 0);
  const alone = liveTopology('exponential', [], 'c', 1, true);
  assert.deepEqual(alone.neighbours, []);
  assert.equal(alone.rate, 0);
  // Every member computes the same graph.
  for (const self of peers) {
    const mine = liveTopology('exponential', peers, self, 1, true);
    assert.deepEqual(mine.members, ['a', 'b', 'c', 'd', 'e']);
    for (const j of mine.neighbours) {
      const other = mine.members[mine.ids.indexOf(j)];
      assert.ok(liveTopology('exponential', peers, other, 1, true).neighbours.includes(workerIdOf(self)), 'symmetric');
    }
  }
});

test('the tracker re-forms the topology when members join and leave', async () => {
  class Fake extends EventEmitter {
    readonly peerId = 'm';
    members: string[] = [];
    connected(): number[] {
      return this.members.map(workerIdOf);
    }
    peer(i: number): { peerId: string } | undefined {
      const p = this.members.find((m) => workerIdOf(m) === i);
      return p ? { peerId: p } : undefined;
    }
  }
  const fake = new Fake();
  const tracker = new LiveTopologyTracker(fake, { topology: 'ring', rate: 1 });
  const seen: number[] = [];
  tracker.on('change', (t) => seen.push(t.members.length));
  await tracker.start();
  for (const m of ['a', 'z', 'b']) {
    fake.members.push(m);
    fake.emit('join', workerIdOf(m));
  }
  fake.members = fake.members.filter((m) => m !== 'z');
  fake.emit('leave', workerIdOf('z'));
  fake.emit('leave', workerIdOf('z')); // (no change: no event)
  await tracker.stop();
  assert.deepEqual(seen, [2, 3, 4, 3]);
  assert.deepEqual(tracker.history.map((t) => t.members.length), [1, 2, 3, 4, 3]);
  assert.deepEqual(new Set(tracker.current().neighbours), new Set([workerIdOf('a'), workerIdOf('b')]));
});

test('pairing: neighbours replaced while it runs', async () => {
  // (the links of the complete graph; who exchanges with whom is the pairings' neighbours)
  const net = inProcessNetwork(3, [[0, 1], [0, 2], [1, 2]], 4).map((e) => new InProcessTransport(e, { expect: { algorithm: 'fake' } }));
  const parties = [0, 1, 2].map(() => ({ received: [] as number[] }));
  const pairings = [0, 1, 2].map((i) => new Pairing(net[i], {
    wants: () => true,
    header: () => ({ version: 1, algorithm: 'fake', step: 0, layoutHash: 'fake', codec: 'f32' }),
    message: (out) => out.fill(i),
    receive: (m) => parties[i].received.push(m[0]),
  }, { neighbours: [], messageLength: 4, rng: new Rng(i), timeoutMs: 1000 }));
  for (const p of pairings) p.start();
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(parties.map((p) => p.received.length), [0, 0, 0], 'no neighbours, no exchanges');
  pairings[0].setNeighbours([1, 2]);
  pairings[1].setNeighbours([0]);
  pairings[2].setNeighbours([0]);
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(parties[0].received.includes(1) && parties[0].received.includes(2), 'exchanges with the new neighbours');
  assert.ok(!parties[1].received.includes(2) && !parties[2].received.includes(1), 'never with a non-neighbour');
  pairings[0].setNeighbours([2]);
  pairings[1].setNeighbours([]);
  await new Promise((r) => setTimeout(r, 20));
  const before = parties[1].received.length;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(parties[1].received.length, before, 'a former neighbour is left alone');
  await Promise.all(pairings.map((p) => p.stop()));
  for (const t of net) await t.close();
});
