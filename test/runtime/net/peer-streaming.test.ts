/**
 * `gossamer peer --algo streaming-diloco`: Streaming DiLoCo across processes over the network transport. The peers
 * synchronise one fragment of the model at a time while they step on, merge it τ steps later, and close the run with
 * an average of the whole models: they end with the very same model.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readCheckpoint } from '../../../src/engine/checkpoint.js';
import { addressOf, finish, startPeer, testSwarm } from './peer-harness.js';

const { dir, key } = testSwarm('gossamer-streaming-');

const COMMON = [
  '--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, '--workers', '3', '--algo', 'streaming-diloco',
  '--inner-steps', '12', '--fragments', '3', '--overlap', '2', '--mix', '0.5',
  '--model', 'mlp', '--model-config', '{"hidden":[32,32]}', '--batch-size', '16', '--lr', '0.05', '--momentum', '0.9', '--limit', '512',
  '--eval-limit', '256', '--final-exchanges', '3', '--timeout', '8000', '--join-timeout', '60', '--barrier-timeout', '60',
  '--backend', 'js', '--steps', '60',
];

describe('gossamer peer --algo streaming-diloco', { timeout: 180_000 }, () => {
  it('three peers synchronise the fragments in turn and end with the very same model', async () => {
    const out = (i: number) => ['--out', join(dir, `p${i}`)];
    const first = startPeer(0, [...COMMON, ...out(0)]);
    const addr = await addressOf(first);
    const peers = [first, ...[1, 2].map((i) => startPeer(i, [...COMMON, ...out(i), '--bootstrap', addr]))];
    const summaries = await finish(peers);
    for (const s of summaries) {
      assert.equal(s.steps, 60, 'trained to the end');
      assert.deepEqual(s.finished, [0, 1, 2]);
      assert.ok((s.testAccuracy as number) > 0.2, `learned something (accuracy ${s.testAccuracy})`);
    }
    const models = summaries.map((s) => readCheckpoint(s.checkpoint as string).params);
    assert.deepEqual(models[1], models[0], 'the closing average leaves one model');
    assert.deepEqual(models[2], models[0]);
  });
});
