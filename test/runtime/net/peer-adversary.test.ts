/**
 * The insider of the hostile test, end to end: a worker holding the swarm key sends finite but huge models (1e30)
 * to its neighbours over the network. They refuse its messages, ban it for the run, and train on to a sound model
 * (before the bounds, every worker's model was ruined within a second and reported a loss of 0).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readCheckpoint } from '../../../src/engine/checkpoint.js';
import { addressOf, finish, startPeer, testSwarm } from './peer-harness.js';

const { dir, key } = testSwarm('gossamer-adversary-');

const COMMON = [
  '--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, '--workers', '4', '--topology', 'ring', '--algo', 'gossip',
  '--model', 'mlp', '--model-config', '{"hidden":[32]}', '--dataset', 'synthetic', '--batch-size', '16', '--lr', '0.05', '--limit', '512',
  '--eval-limit', '256', '--final-exchanges', '5', '--timeout', '8000', '--join-timeout', '60', '--barrier-timeout', '60',
  '--backend', 'js', '--steps', '40',
];

describe('gossamer peer against an insider', { timeout: 180_000 }, () => {
  it('neighbours refuse and ban a worker that sends huge models, and finish with sound models', async () => {
    const out = (i: number) => ['--out', join(dir, `p${i}`)];
    const first = startPeer(0, [...COMMON, ...out(0)]);
    const addr = await addressOf(first);
    const others = [1, 2, 3].map((i) => startPeer(i, [...COMMON, ...out(i), '--bootstrap', addr, ...(i === 1 ? ['--adversary', 'huge'] : [])]));
    const honest = [first, others[1], others[2]];
    const summaries = await finish(honest);
    for (const s of summaries) {
      assert.equal(s.steps, 40);
      const loss = s.testLoss as number;
      assert.ok(Number.isFinite(loss) && loss > 0.01 && loss < 10, `a sound model: held-out loss ${loss}`);
      const params = readCheckpoint(s.checkpoint as string).params;
      assert.ok(params.every((v) => Number.isFinite(v) && Math.abs(v) < 100), 'no huge parameter');
    }
    // Worker 1's neighbours on the ring are 0 and 2: both refused it and banned it.
    for (const s of [summaries[0], summaries[1]]) {
      assert.ok(((s.rejected as Record<string, number>)['out-of-bounds'] ?? 0) > 0, `worker ${s.index} refused messages: ${JSON.stringify(s.rejected)}`);
      assert.ok((s.banned as Array<{ worker: number }>).some((b) => b.worker === 1), `worker ${s.index} banned worker 1: ${JSON.stringify(s.banned)}`);
    }
  });
});
