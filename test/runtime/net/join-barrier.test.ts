/**
 * The join barrier decides whether a worker is a late joiner (it then pulls a live worker's parameters) from what
 * the cluster says at its first contact: workers started together are never late joiners, even when one of them
 * passes the barrier and starts stepping a moment before the others.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { joinCluster, type PeerMembership } from '../../../src/runtime/net/peer-worker.js';

/** A membership whose connected workers and statuses the test sets. */
function cluster(statuses: Map<number, Record<string, unknown>>): PeerMembership {
  return {
    connected: () => [...statuses.keys()],
    peer: (j: number) => (statuses.has(j) ? { status: statuses.get(j)! } : undefined),
  } as unknown as PeerMembership;
}

const tick = () => new Promise((r) => setTimeout(r, 120));

test('a worker that reaches the cluster before anyone has stepped waits for all, and does not pull', async () => {
  const statuses = new Map<number, Record<string, unknown>>([[0, { phase: 'train', steps: 0 }]]);
  const joined = joinCluster(cluster(statuses), { workers: 4, neighbours: [0, 2], timeoutMs: 60_000, graceMs: 0 });
  await tick();
  // Worker 0 takes steps before this worker has met workers 1 and 2: this worker still started with the others.
  statuses.set(0, { phase: 'train', steps: 3 });
  await tick();
  statuses.set(1, { phase: 'join' });
  statuses.set(2, { phase: 'train', steps: 0 });
  assert.equal(await joined, 'all');
});

test('a worker that first meets a cluster where someone has stepped (or finished) is a late joiner', async () => {
  for (const status of [{ phase: 'train', steps: 7 }, { phase: 'final' }, { phase: 'done' }, { phase: 'train' }]) {
    const statuses = new Map<number, Record<string, unknown>>([[1, { phase: 'join' }], [2, status]]);
    assert.equal(await joinCluster(cluster(statuses), { workers: 4, neighbours: [2], timeoutMs: 60_000 }), 'late', JSON.stringify(status));
  }
});

test('nobody connected: the barrier times out', async () => {
  assert.equal(await joinCluster(cluster(new Map()), { workers: 2, neighbours: [1], timeoutMs: 1 }), 'timeout');
});
