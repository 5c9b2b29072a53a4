/**
 * `gossamer peer --algo async-diloco`: asynchronous Local-SGD across processes over the network transport. The worker
 * of lowest index holds the server and replicates it to the next; killed in the middle of the run, the next one takes
 * over from its replica, every push is applied once, and the survivors end with the server's very same model.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import { readCheckpoint } from '../../../src/engine/checkpoint.js';
import { addressOf, finish, startPeer, testSwarm } from './peer-harness.js';

const { dir, key } = testSwarm('gossamer-async-diloco-');

const COMMON = [
  '--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, '--workers', '4', '--algo', 'async-diloco', '--inner-steps', '5',
  '--model', 'mlp', '--model-config', '{"hidden":[32]}', '--batch-size', '16', '--lr', '0.05', '--momentum', '0.9', '--limit', '512',
  '--eval-limit', '256', '--timeout', '8000', '--join-timeout', '60', '--barrier-timeout', '60', '--backend', 'js', '--steps', '60',
];

describe('gossamer peer --algo async-diloco', { timeout: 240_000 }, () => {
  it('the server\'s holder killed mid-run: the next worker takes over, no push is applied twice, the survivors end with one model', async () => {
    const out = (i: number) => ['--out', join(dir, `p${i}`)];
    const first = startPeer(0, [...COMMON, ...out(0)]);
    const addr = await addressOf(first);
    const peers = [first, ...[1, 2, 3].map((i) => startPeer(i, [...COMMON, ...out(i), '--bootstrap', addr, ...(i === 3 ? ['--slow', '2'] : [])]))];
    // Worker 0 holds the server: kill it once it has applied a few pushes.
    let appliedBy0 = 0;
    await peers[0].waitFor((e) => e.event === 'applied' && ++appliedBy0 >= 8);
    peers[0].proc.kill('SIGKILL');
    assert.equal(await peers[0].exited, null);
    const summaries = await finish(peers.slice(1));
    const applied = peers.flatMap((p) => p.events.filter((e) => e.event === 'applied').map((e) => `${e.worker}:${e.round}`));
    assert.equal(new Set(applied).size, applied.length, `a push applied twice: ${applied.join(' ')}`);
    assert.ok(peers.slice(1).some((p) => p.events.some((e) => e.event === 'applied')), 'a survivor applied pushes after the takeover');
    assert.ok(peers[1].stderr.some((l) => /worker 1 holds the server now, from worker 0's replica of \d+ pushes/.test(l)), peers[1].stderr.join('\n'));
    for (const s of summaries) {
      assert.equal(s.steps, 60, 'trained to the end');
      assert.deepEqual(s.finished, [1, 2, 3]);
      assert.ok((s.testAccuracy as number) > 0.2, `learned something (accuracy ${s.testAccuracy})`);
    }
    assert.equal((summaries[0].server as { holding: boolean }).holding, true);
    const [a, b, c] = summaries.map((s) => readCheckpoint(s.checkpoint as string).params);
    assert.deepEqual(a, b, 'the survivors hold the server\'s model');
    assert.deepEqual(a, c);
  });
});
