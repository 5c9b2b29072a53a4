/**
 * `gossamer peer --algo acco`: ACCO across four processes over the network transport. The peers sum micro-batches
 * while the all-reduce of the last sums runs, alternate estimate and real rounds, stop after the same collective (its
 * counts reach the budget) and close the run at the committed parameters: they end with the very same model.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readCheckpoint } from '../../../src/engine/checkpoint.js';
import { addressOf, finish, startPeer, testSwarm } from './peer-harness.js';

const { dir, key } = testSwarm('gossamer-acco-');

const COMMON = [
  '--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, '--workers', '4', '--algo', 'acco',
  '--model', 'mlp', '--model-config', '{"hidden":[32]}', '--batch-size', '16', '--lr', '0.1', '--momentum', '0.9', '--limit', '512',
  '--eval-limit', '256', '--final-exchanges', '3', '--timeout', '8000', '--join-timeout', '60', '--barrier-timeout', '60',
  '--backend', 'js', '--steps', '40',
];

describe('gossamer peer --algo acco', { timeout: 180_000 }, () => {
  it('four peers accumulate while they communicate and end with the very same model', async () => {
    const out = (i: number) => ['--out', join(dir, `p${i}`)];
    const first = startPeer(0, [...COMMON, ...out(0)]);
    const addr = await addressOf(first);
    const peers = [first, ...[1, 2, 3].map((i) => startPeer(i, [...COMMON, ...out(i), '--bootstrap', addr]))];
    const summaries = await finish(peers);
    const steps = summaries.map((s) => s.steps as number);
    assert.ok(steps.reduce((a, b) => a + b) >= 4 * 40, `micro-batches of every worker cover the budget: ${steps}`);
    for (const s of summaries) {
      assert.deepEqual(s.finished, [0, 1, 2, 3]);
      // ACCO's rounds last as long as their all-reduce: on a loaded machine a budget of micro-batches can be spent in
      // a few huge rounds, too few optimizer steps to learn from (the model is still one, which is what is tested).
      assert.ok((s.outerSteps as number) >= 2, `an estimate and a real round at least: ${s.outerSteps}`);
      if ((s.outerSteps as number) >= 10) assert.ok((s.testAccuracy as number) > 0.2, `learned something in ${s.outerSteps} rounds (accuracy ${s.testAccuracy})`);
    }
    const models = summaries.map((s) => readCheckpoint(s.checkpoint as string).params);
    for (const m of models.slice(1)) assert.deepEqual(m, models[0], 'the closing collective leaves one model');
  });
});
