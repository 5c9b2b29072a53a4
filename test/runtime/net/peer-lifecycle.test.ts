/**
 * `gossamer peer` leaving and coming back, end to end on 127.0.0.1: a worker (re)started while the others train
 * pulls their parameters before its first step; SIGINT stops it with a checkpoint (exit 130) while the others carry
 * on; --resume brings it back into the running cluster, and everybody finishes and agrees. Emulated links delay every
 * exchange by at least both one-way latencies. Bad emulation flags and mismatched checkpoints are one-line errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readCheckpoint } from '../../../src/engine/checkpoint.js';
import { createModel } from '../../../src/engine/models/index.js';
import { readPeerCheckpoint, savePeerCheckpoint } from '../../../src/runtime/net/peer-checkpoint.js';
import { writeSwarmKey } from '../../../src/runtime/net/swarm-key.js';
import { addressOf, consensus, finish, killAll, startPeer, type PeerEvent } from './peer-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-peer-life-'));
const key = join(dir, 'swarm.key');
writeSwarmKey(key);
after(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

const LATENCY_MS = 10;
/** 4 workers on a ring, a small MLP on synthetic 16 x 16 images, every link with an emulated latency. */
const COMMON = [
  '--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, '--workers', '4', '--topology', 'ring', '--algo', 'acid',
  '--model', 'mlp', '--model-config', '{"hidden":[32]}', '--batch-size', '16', '--lr', '0.05', '--limit', '512',
  '--eval-limit', '256', '--final-exchanges', '15', '--timeout', '10000', '--join-timeout', '60', '--barrier-timeout', '120',
  '--backend', 'js', '--latency', String(LATENCY_MS),
];

const isStart = (e: PeerEvent) => e.event === 'start';
const progressAt = (steps: number) => (e: PeerEvent) => e.event === 'progress' && e.phase === 'train' && (e.steps as number) >= steps;

describe('gossamer peer: crash, late join, SIGINT, resume', { timeout: 240_000 }, () => {
  it('a restarted worker pulls its neighbours\' parameters; SIGINT checkpoints it; --resume brings it back; all agree', async () => {
    // Four workers start together. The others' budget is large enough for worker 3 to come and go twice: every step
    // waits for an exchange, and every exchange for two emulated latencies.
    const out = (i: number) => ['--out', join(dir, `p${i}`)];
    const first = startPeer(0, [...COMMON, '--steps', '300', ...out(0)]);
    const addr = await addressOf(first);
    const others = [1, 2].map((i) => startPeer(i, [...COMMON, '--steps', '300', ...out(i), '--bootstrap', addr]));
    const peers = [first, ...others];
    const mine = ['--steps', '40', '--bootstrap', addr, ...out(3)];
    const crashed = startPeer(3, [...COMMON, ...mine]);
    const initial = await first.waitFor(isStart);
    assert.equal(initial.pulledFrom, null, 'worker 0 starts from the initial point');

    // Worker 3 crashes; started again (afresh), it finds the cluster training: it does not wait for the passed join
    // barrier and starts from a neighbour's current parameters.
    await crashed.waitFor(isStart);
    crashed.proc.kill('SIGKILL');
    assert.equal(await crashed.exited, null);
    const joiner = startPeer(3, [...COMMON, ...mine]);
    const start = await joiner.waitFor(isStart);
    const context = `${JSON.stringify(start)}\n${joiner.stderr.join('\n')}`;
    assert.ok([0, 1, 2].includes(start.pulledFrom as number), `pulled from a live worker: ${context}`);
    assert.ok((start.peerStep as number) > 0, `the neighbour had trained: ${context}`);
    assert.ok((start.moved as number) > 0, 'the pulled parameters are not the initial point');
    assert.ok((start.trainLoss as number) < 0.75 * (initial.trainLoss as number), `first loss ${start.trainLoss} is the trained model's, not the initial one (${initial.trainLoss})`);

    // SIGINT: a checkpoint, exit 130, one line saying where.
    await joiner.waitFor(progressAt(8));
    joiner.proc.kill('SIGINT');
    assert.equal(await joiner.exited, 130, joiner.stderr.join('\n'));
    const stopped = joiner.events.find((e) => e.event === 'interrupted');
    assert.ok(stopped, 'an interrupted event');
    const file = stopped.checkpoint as string;
    assert.ok(existsSync(file));
    assert.equal(joiner.stderr.filter((l) => l.includes(`checkpoint written to ${file}`)).length, 1);
    const ck = readPeerCheckpoint(file);
    assert.equal(ck.run.index, 3);
    assert.equal(ck.run.steps, 40);
    assert.equal(ck.run.interrupted, true);
    assert.equal(ck.checkpoint.step, stopped.steps);
    assert.ok(ck.checkpoint.step >= 8 && ck.checkpoint.step < 40);
    assert.ok(ck.checkpoint.optimizer, 'optimizer state saved');
    assert.equal(ck.state.vectors.xt?.length, ck.checkpoint.params.length, "A2CiD2's x-tilde saved");
    assert.ok(ck.state.scalars.t > 0 && ck.state.time >= ck.state.scalars.t, "A2CiD2's time and the worker's clock saved");

    // --resume: the same worker (index, budget and output directory from the checkpoint) rejoins the running cluster.
    const resumed = startPeer(3, [...COMMON, '--resume', file, '--bootstrap', addr]);
    const again = await resumed.waitFor(isStart);
    assert.equal(again.step, ck.checkpoint.step, 'continues from the checkpoint\'s step');
    assert.notEqual(again.pulledFrom, null, 'the cluster was running: it pulled the current parameters');

    const summaries = await finish([...peers, resumed]);
    for (const s of summaries.slice(0, 3)) assert.equal(s.steps, 300);
    const back = summaries[3];
    assert.equal(back.steps, 40, 'the resumed worker went on to its original budget');
    assert.equal(back.resumedAtStep, ck.checkpoint.step);
    for (const s of summaries) {
      assert.deepEqual(s.finished, [0, 1, 2, 3], `worker ${s.index} saw everybody finish`);
      // Every exchange this worker proposed travelled an emulated link both ways.
      assert.deepEqual(s.links, { default: { latencyMs: LATENCY_MS } });
      const p = s.proposals as { completed: number; minMs: number };
      assert.ok(p.completed > 0);
      assert.ok(p.minMs >= 2 * LATENCY_MS, `an exchange took ${p.minMs} ms over links of ${LATENCY_MS} ms`);
    }
    const c = consensus(summaries.map((s) => readCheckpoint(s.checkpoint as string).params));
    assert.ok(c < 1e-3, `the final models agree (relative distance ${c})`);
  });
});

describe('gossamer peer: bad emulation flags and checkpoints', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'peer', ...args], { encoding: 'utf8', timeout: 60_000 });
  const base = ['--index', '0', '--workers', '4', '--swarm-key', key, '--model-config', '{"hidden":[32]}'];
  const oneLine = (r: ReturnType<typeof cli>, pattern: RegExp) => {
    assert.equal(r.status, 2, r.stderr);
    // the one warning line of a machine without the native addon is not part of the error
    const lines = r.stderr.trim().split('\n').filter((l) => !l.includes('native engine backend unavailable'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], pattern);
  };

  it('rejects bad link and slow-down flags with one line and exit code 2', () => {
    oneLine(cli([...base, '--loss', '1.5']), /--loss/);
    oneLine(cli([...base, '--slow', '0.5']), /--slow/);
    oneLine(cli([...base, '--bandwidth', 'fast']), /bandwidth/);
    oneLine(cli([...base, '--links', join(dir, 'missing.json')]), /link table/);
    const links = join(dir, 'bad-links.json');
    writeFileSync(links, JSON.stringify({ default: { latencyMs: -1 } }));
    oneLine(cli([...base, '--links', links]), /link table/);
  });

  it('refuses to resume from another worker\'s or another model\'s checkpoint', () => {
    const model = createModel('mlp', { inputSize: 256, classes: 10, hidden: [32], seed: 1 });
    const file = join(dir, 'other', 'checkpoint.safetensors');
    const run = { command: 'peer' as const, index: 1, workers: 4, algo: 'acid', topology: 'ring', rate: 1, steps: 50, interrupted: true };
    savePeerCheckpoint(file, { model, step: 10, seed: 1, run, algorithm: 'acid', state: { vectors: { xt: Float32Array.from(model.params) }, scalars: { t: 3 }, time: 3 } });
    oneLine(cli([...base, '--resume', file]), /written by worker 1, not worker 0/);
    oneLine(cli([...base, '--index', '1', '--model-config', '{"hidden":[16]}', '--resume', file]), /does not match/);
    oneLine(cli([...base, '--index', '1', '--algo', 'gossip', '--resume', file]), /trained with acid, not gossip/);
  });
});
