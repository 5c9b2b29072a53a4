/**
 * `gossamer peer --algo allreduce`: synchronous all-reduce SGD across processes over the network transport. Every
 * worker applies the same mean gradient, so the models stay identical; a worker killed in the middle of a round does
 * not hang the others, which finish their budget with identical models.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readCheckpoint } from '../../../src/engine/checkpoint.js';
import { addressOf, finish, startPeer, testSwarm } from './peer-harness.js';

const { dir, key } = testSwarm('gossamer-allreduce-');

const COMMON = [
  '--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, '--workers', '3', '--algo', 'allreduce',
  '--model', 'mlp', '--model-config', '{"hidden":[32]}', '--batch-size', '16', '--lr', '0.05', '--momentum', '0.9', '--limit', '512',
  '--eval-limit', '256', '--final-exchanges', '3', '--timeout', '8000', '--join-timeout', '60', '--barrier-timeout', '60',
  '--backend', 'js', '--steps', '80',
];

describe('gossamer peer --algo allreduce', { timeout: 180_000 }, () => {
  it('a worker killed mid-round leaves the others training to the end with identical models', async () => {
    const out = (i: number) => ['--out', join(dir, `p${i}`)];
    const first = startPeer(0, [...COMMON, ...out(0)]);
    const addr = await addressOf(first);
    const peers = [first, ...[1, 2].map((i) => startPeer(i, [...COMMON, ...out(i), '--bootstrap', addr]))];
    // Worker 0 coordinates the rounds: killing it is the hardest case.
    await peers[0].waitFor((e) => e.event === 'progress' && e.phase === 'train' && (e.steps as number) >= 16);
    peers[0].proc.kill('SIGKILL');
    assert.equal(await peers[0].exited, null);
    const summaries = await finish(peers.slice(1));
    for (const s of summaries) {
      assert.equal(s.steps, 80, 'trained to the end');
      assert.deepEqual(s.finished, [1, 2]);
      assert.ok((s.testAccuracy as number) > 0.2, `learned something (accuracy ${s.testAccuracy})`);
    }
    const [a, b] = summaries.map((s) => readCheckpoint(s.checkpoint as string).params);
    assert.deepEqual(a, b, 'the survivors hold the very same model');
  });
});
