import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../../src/core/rng.js';
import { NetCollective } from '../../../src/runtime/net/collective.js';
import { createNetTransport, type NetTransport } from '../../../src/runtime/net/libp2p-transport.js';
import { generateSwarmKey } from '../../../src/runtime/net/swarm-key.js';

const LAYOUT = 'c'.repeat(64);
const DIM = 20_000;

async function cluster(n: number, timeoutMs: number): Promise<{ nodes: NetTransport[]; collectives: NetCollective[] }> {
  const key = generateSwarmKey();
  const base = { workers: n, swarmKey: key, algorithm: 'allreduce', layoutHash: LAYOUT, log: () => {} };
  const first = await createNetTransport({ self: 0, ...base });
  const rest = await Promise.all(Array.from({ length: n - 1 }, (_, k) => createNetTransport({ self: k + 1, bootstrap: first.addresses(), ...base })));
  const nodes = [first, ...rest];
  assert.deepEqual(await Promise.all(nodes.map((t) => t.waitForPeers(20_000))), nodes.map(() => true));
  const collectives = nodes.map((t) => new NetCollective(t, { algorithm: 'allreduce', layoutHash: LAYOUT, maxLength: DIM, timeoutMs }));
  await Promise.all(collectives.map((c) => c.start()));
  return { nodes, collectives };
}

function contribution(worker: number, round: number): Float32Array {
  const rng = new Rng(`${worker}:${round}`);
  return Float32Array.from({ length: DIM }, () => rng.normal());
}

/** One round at worker i: its contribution in, the mean out. */
async function round(c: NetCollective, worker: number, r: number): Promise<{ mean: Float32Array; count: number }> {
  c.nextSlot(DIM).set(contribution(worker, r));
  const mean = new Float32Array(DIM);
  const count = await c.reduce(mean);
  return { mean, count };
}

function exactMean(workers: number[], r: number): Float32Array {
  const sum = new Float64Array(DIM);
  for (const w of workers) {
    const c = contribution(w, r);
    for (let k = 0; k < DIM; k++) sum[k] += c[k];
  }
  return Float32Array.from(sum, (v) => v / workers.length);
}

describe('all-reduce among network peers', { timeout: 120_000 }, () => {
  it('every worker gets the same mean of every contribution, round after round', async () => {
    const { nodes, collectives } = await cluster(4, 20_000);
    try {
      for (let r = 1; r <= 3; r++) {
        const results = await Promise.all(collectives.map((c, i) => round(c, i, r)));
        const expected = exactMean([0, 1, 2, 3], r);
        for (const res of results) assert.deepEqual(res.mean, expected, `round ${r}`);
        assert.equal(results[0].count, 4, 'the coordinator counts every contribution');
      }
    } finally {
      collectives.forEach((c) => c.stop());
      await Promise.all(nodes.map((t) => t.close()));
    }
  });

  it('a worker that dies in the middle of a round does not hang the others: they agree on a mean of whole contributions', async () => {
    const { nodes, collectives } = await cluster(4, 20_000);
    try {
      await Promise.all(collectives.map((c, i) => round(c, i, 1)));
      // Round 2: workers 1, 2, 3 contribute; the coordinator (worker 0) dies before it does.
      const pending = [1, 2, 3].map((i) => round(collectives[i], i, 2));
      await new Promise((r) => setTimeout(r, 300));
      collectives[0].stop();
      await nodes[0].close();
      const started = performance.now();
      const results = await Promise.all(pending);
      const seconds = (performance.now() - started) / 1000;
      for (const res of results) assert.deepEqual(res.mean, results[0].mean, 'every survivor applies the same mean');
      assert.deepEqual(results[0].mean, exactMean([1, 2, 3], 2), 'the mean of the survivors\' whole contributions');
      assert.ok(seconds < 20, `the survivors went on after ${seconds.toFixed(1)} s, within the round's deadline`);
      // And the next round goes on among them.
      const next = await Promise.all([1, 2, 3].map((i) => round(collectives[i], i, 3)));
      for (const res of next) assert.deepEqual(res.mean, exactMean([1, 2, 3], 3));
    } finally {
      collectives.forEach((c) => c.stop());
      await Promise.all(nodes.map((t) => t.close()));
    }
  });

  it('a worker that hangs is left out at the deadline, and its late contribution gets the mean already applied', async () => {
    const { nodes, collectives } = await cluster(3, 1_500);
    try {
      const quick = [0, 1].map((i) => round(collectives[i], i, 1));
      const results = await Promise.all(quick);
      assert.deepEqual(results[0].mean, exactMean([0, 1], 1));
      assert.deepEqual(results[1].mean, results[0].mean);
      const late = await round(collectives[2], 2, 1);
      assert.deepEqual(late.mean, results[0].mean, 'the late worker applies the same mean');
    } finally {
      collectives.forEach((c) => c.stop());
      await Promise.all(nodes.map((t) => t.close()));
    }
  });
});
