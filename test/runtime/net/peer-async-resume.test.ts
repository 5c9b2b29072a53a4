/**
 * `gossamer peer --algo async-diloco`, interrupted and resumed: the interrupted workers' checkpoints record the
 * server's state (the holder's role, the backup's replica), the resumed holder takes it back — its momentum, its
 * push count and the rounds it applied — and no push is applied twice across the two runs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import { OuterServer } from '../../../src/algorithms/outer-server.js';
import { peerServerState, readPeerCheckpoint } from '../../../src/runtime/net/peer-checkpoint.js';
import { addressOf, finish, startPeer, testSwarm, type Peer } from './peer-harness.js';

const { dir, key } = testSwarm('gossamer-async-resume-');

const COMMON = [
  '--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, '--workers', '2', '--algo', 'async-diloco', '--inner-steps', '5',
  '--model', 'mlp', '--model-config', '{"hidden":[32]}', '--batch-size', '16', '--lr', '0.05', '--momentum', '0.9', '--limit', '512',
  '--eval-limit', '256', '--timeout', '8000', '--join-timeout', '60', '--barrier-timeout', '60', '--backend', 'js', '--steps', '80',
];

const applied = (peers: Peer[]): string[] => peers.flatMap((p) => p.events.filter((e) => e.event === 'applied').map((e) => `${e.worker}:${e.round}`));

describe('gossamer peer --algo async-diloco, interrupted and resumed', { timeout: 240_000 }, () => {
  it('the checkpoints hold the server\'s state; the resumed holder goes on from it and applies no push twice', async () => {
    const out = (i: number) => ['--out', join(dir, `p${i}`)];
    const first = startPeer(0, [...COMMON, ...out(0)]);
    const addr = await addressOf(first);
    const before = [first, startPeer(1, [...COMMON, ...out(1), '--bootstrap', addr])];
    let count = 0;
    await first.waitFor((e) => e.event === 'applied' && ++count >= 6);
    for (const p of before) p.proc.kill('SIGINT');
    for (const p of before) assert.equal(await p.exited, 130, p.stderr.join('\n'));
    const files = before.map((p) => p.events.find((e) => e.event === 'interrupted')!.checkpoint as string);

    // Worker 0 held the server: its checkpoint has the state after every push it applied; worker 1's replica too.
    const firstRun = applied(before);
    const cks = files.map((f) => readPeerCheckpoint(f));
    const template = new OuterServer({ dim: cks[0].checkpoint.params.length, dtype: 'f32', workers: 2, outer: { H: 5, lr: 0.7, mu: 0.9, optimizer: 'sgd' } }, cks[0].checkpoint.params).saved();
    const held = peerServerState(cks[0], template);
    assert.ok(held, 'the holder saved the server\'s state');
    assert.equal(held.scalars.pushes, firstRun.length, `every push applied is in it (${firstRun.join(' ')})`);
    for (const w of [0, 1]) {
      const rounds = firstRun.filter((a) => a.startsWith(`${w}:`)).map((a) => Number(a.split(':')[1]));
      assert.equal(held.vectors.rounds[w], Math.max(0, ...rounds), `worker ${w}'s last round applied`);
    }
    assert.ok(held.vectors.momentum.some((v) => v !== 0), 'the outer momentum is saved');
    const replica = peerServerState(cks[1], template);
    assert.ok(replica && replica.scalars.pushes >= held.scalars.pushes - 1, 'the backup saved its replica');
    assert.ok(cks.every((ck) => ck.state.vectors.server === undefined && Object.keys(ck.state.vectors).every((k) => !k.startsWith('server'))), 'the server\'s vectors are not the algorithm\'s');

    // Resumed: worker 0 holds the server again, from its checkpoint's state.
    const again = startPeer(0, [...COMMON, '--resume', files[0]]);
    const addr2 = await addressOf(again);
    const after = [again, startPeer(1, [...COMMON, '--resume', files[1], '--bootstrap', addr2])];
    const summaries = await finish(after);
    const from = new RegExp(`worker 0 holds the server now, from this worker's checkpoint of ${held.scalars.pushes} pushes`);
    assert.ok(again.stderr.some((l) => from.test(l)), again.stderr.join('\n'));
    const all = [...firstRun, ...applied(after)];
    assert.equal(new Set(all).size, all.length, `a push applied twice: ${all.join(' ')}`);
    assert.ok(applied(after).length > 0, 'the resumed cluster pushed');
    for (const s of summaries) {
      assert.equal(s.steps, 80, 'trained to the end');
      assert.ok((s.testAccuracy as number) > 0.5, `learned (accuracy ${s.testAccuracy})`);
    }
  });
});
