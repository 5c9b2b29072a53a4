/**
 * `gossamer peer --algo diloco`: DiLoCo across four processes over the network transport, its pseudo-gradients in
 * 8-bit codes with error feedback. The coordinator of the rounds is killed in the middle of one: the others finish
 * their budget, every round's mean applied whole, and end with the very same model; what they sent is the encoded
 * size of their contributions and of the means.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_BLOCK_SIZE, payloadBytes } from '../../../src/core/codecs.js';
import { readCheckpoint } from '../../../src/engine/checkpoint.js';
import { addressOf, finish, startPeer, testSwarm } from './peer-harness.js';

const { dir, key } = testSwarm('gossamer-diloco-');
const STEPS = 40;
const H = 5;

const COMMON = [
  '--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, '--workers', '4', '--algo', 'diloco', '--inner-steps', String(H),
  '--codec', 'i8', '--error-feedback',
  '--model', 'mlp', '--model-config', '{"hidden":[32]}', '--batch-size', '16', '--lr', '0.05', '--momentum', '0.9', '--limit', '512',
  '--eval-limit', '256', '--final-exchanges', '1', '--timeout', '8000', '--join-timeout', '60', '--barrier-timeout', '60',
  '--backend', 'js', '--steps', String(STEPS),
];

describe('gossamer peer --algo diloco', { timeout: 180_000 }, () => {
  it('four peers, 8-bit pseudo-gradients: the coordinator killed mid-round, the others end with one model', async () => {
    const out = (i: number) => ['--out', join(dir, `p${i}`)];
    const first = startPeer(0, [...COMMON, ...out(0)]);
    const addr = await addressOf(first);
    const peers = [first, ...[1, 2, 3].map((i) => startPeer(i, [...COMMON, ...out(i), '--bootstrap', addr]))];
    await peers[0].waitFor((e) => e.event === 'progress' && e.phase === 'train' && (e.steps as number) >= 12);
    peers[0].proc.kill('SIGKILL');
    assert.equal(await peers[0].exited, null);
    const summaries = await finish(peers.slice(1));
    for (const s of summaries) {
      assert.equal(s.steps, STEPS, 'trained to the end');
      assert.deepEqual(s.finished, [1, 2, 3]);
      assert.equal(s.outerSteps, STEPS / H, 'every round completed');
      assert.ok((s.testAccuracy as number) > 0.2, `learned something (accuracy ${s.testAccuracy})`);
    }
    // Per round, every member sends its encoded contribution and the coordinator each member the encoded mean: the
    // survivors, members of worker 0 and then of worker 1, sent 3 and then 4 messages a round (a contribution sent
    // again to the new coordinator in the round of the kill at most).
    const rounds = STEPS / H;
    // The closing averaging exchanges float32 models (identical ones: it changes nothing); the rest is the rounds'.
    const params = readCheckpoint(summaries[0].checkpoint as string).params.length;
    const message = payloadBytes('i8', params, DEFAULT_BLOCK_SIZE);
    const sent = summaries.reduce((a, s) => a + (s.bytesSent as number) - 4 * params * ((s.exchanges as number) - (s.outerSteps as number)), 0);
    assert.ok(sent >= 3 * rounds * message && sent <= (4 * rounds + 3) * message, `${sent} bytes sent in the rounds, ${sent / message} messages`);
    const models = summaries.map((s) => readCheckpoint(s.checkpoint as string).params);
    assert.deepEqual(models[1], models[0], 'the survivors hold the very same model');
    assert.deepEqual(models[2], models[0]);
  });
});
