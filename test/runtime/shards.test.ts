/**
 * Non-iid data in the runtime: `gossamer train --workers N` and `gossamer peer` split the training set across the
 * workers as `gossamer sim` does (--shard full|iid|dirichlet, --alpha), with the same examples for each worker for
 * the same seed; a cluster's checkpoint keeps the split (an older one, without it, trained on the whole set).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Command } from 'commander';
import { addClusterOptions, clusterConfig, explicitOptions } from '../../src/cli/cluster.js';
import { UsageError } from '../../src/core/errors.js';
import { loadMnist } from '../../src/data/mnist.js';
import { examplesDigest, shardRng, splitExamples, workerShards } from '../../src/data/shard.js';
import { decodeAll } from '../../src/data/pixels.js';
import { readCheckpoint, saveCheckpoint } from '../../src/engine/checkpoint.js';
import { createModel } from '../../src/engine/models/index.js';
import { ShuffledBatches } from '../../src/engine/training/batches.js';
import { loadTrainingData, workerExamples } from '../../src/engine/training/data.js';
import { makeObjective } from '../../src/objectives/index.js';
import type { NeuralObjective } from '../../src/objectives/neural.js';
import { runCluster } from '../../src/runtime/cluster.js';
import { readClusterCheckpoint } from '../../src/runtime/cluster-config.js';
import { startPeer, testSwarm, type PeerEvent } from './net/peer-harness.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const SEED = 3;
const WORKERS = 4;
const LIMIT = 2000;
const ALPHA = 0.3;

test('the same seed gives every worker the same examples in the simulator, a thread cluster and a peer', { timeout: 120_000 }, async () => {
  const { key } = testSwarm('gossamer-shards-');
  // Peers: each process splits the set for the whole cluster and keeps its own part; it reports it once listening.
  const peerArgs = [
    '--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, '--workers', String(WORKERS), '--model', 'mlp', '--model-config', '{"hidden":[8]}',
    '--dataset', 'mnist', '--limit', String(LIMIT), '--shard', 'dirichlet', '--alpha', String(ALPHA), '--seed', String(SEED), '--backend', 'js',
    '--join-timeout', '60',
  ];
  const peers = [0, 3].map((i) => startPeer(i, peerArgs));
  const listening = peers.map((p) => p.waitFor((e) => e.event === 'listening'));

  // The simulator's problem of the same data.
  const objective = (await makeObjective('mlp-mnist', { workers: WORKERS, seed: SEED, shard: 'dirichlet', alpha: ALPHA, limit: LIMIT })) as NeuralObjective;
  const shards = objective.shards!;
  assert.equal(shards.length, WORKERS);
  // Strongly non-iid: the shards' sizes differ, and the set is split exactly.
  assert.equal(shards.reduce((a, s) => a + s.length, 0), LIMIT);
  assert.ok(Math.max(...shards.map((s) => s.length)) > 1.5 * Math.min(...shards.map((s) => s.length)));
  const simDigests = shards.map((s) => examplesDigest(s));
  assert.equal(new Set(simDigests).size, WORKERS);

  // A thread cluster, for a few steps.
  const out = mkdtempSync(join(tmpdir(), 'gossamer-shards-cluster-'));
  dirs.push(out);
  const summary = await runCluster({
    workers: WORKERS, topology: 'ring', algorithm: 'acid', rate: 1, model: 'mlp', modelConfig: { hidden: [8] }, dataset: 'mnist', limit: LIMIT,
    shard: 'dirichlet', alpha: ALPHA, evalLimit: 200, batchSize: 8, steps: 40, optimizer: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 0,
    schedule: 'constant', clip: null, seed: SEED, backend: 'js', out,
  });
  assert.equal(summary.shard, 'dirichlet');
  assert.equal(summary.alpha, ALPHA);
  assert.deepEqual(summary.perWorker.map((w) => w.examples), shards.map((s) => s.length));
  assert.deepEqual(summary.perWorker.map((w) => w.examplesDigest), simDigests);

  const events = (await Promise.all(listening)) as PeerEvent[];
  for (const p of peers) p.proc.kill('SIGKILL');
  events.forEach((e, k) => {
    const i = peers[k].index;
    assert.deepEqual(e.data, { shard: 'dirichlet', alpha: ALPHA, examples: shards[i].length, examplesDigest: simDigests[i] }, `peer ${i}`);
  });

  // The cluster's checkpoint keeps the split; resuming it keeps it, and refuses another.
  const file = join(out, 'checkpoint.safetensors');
  const { run } = readClusterCheckpoint(file);
  assert.equal(run.shard, 'dirichlet');
  assert.equal(run.alpha, ALPHA);
  const resumed = clusterConfig(...parse(['--resume', file]));
  assert.equal(resumed.shard, 'dirichlet');
  assert.equal(resumed.alpha, ALPHA);
  assert.throws(() => clusterConfig(...parse(['--resume', file, '--shard', 'iid'])), (e: Error) => e instanceof UsageError && /--shard dirichlet; it cannot continue with --shard iid/.test(e.message));
  assert.throws(() => clusterConfig(...parse(['--resume', file, '--alpha', '5'])), (e: Error) => e instanceof UsageError && /--alpha 0.3; it cannot continue with --alpha 5/.test(e.message));

  // A checkpoint written before --shard existed holds neither field: its run trained every worker on the whole set.
  const ck = readCheckpoint(file);
  const { shard: _s, alpha: _a, ...older } = ck.run;
  const model = createModel('mlp', { ...ck.modelConfig, backend: 'js' } as never);
  model.params.set(ck.params);
  const olderFile = join(out, 'older.safetensors');
  saveCheckpoint(olderFile, { model, step: ck.step, seed: ck.seed, run: older });
  const olderConfig = clusterConfig(...parse(['--resume', olderFile]));
  assert.equal(olderConfig.shard ?? 'full', 'full');
  assert.equal(olderConfig.alpha, undefined);
  assert.throws(() => clusterConfig(...parse(['--resume', olderFile, '--shard', 'dirichlet'])), (e: Error) => e instanceof UsageError && /--shard full; it cannot continue with --shard dirichlet/.test(e.message));
});

/** The train command's view of a command line (its cluster options). */
function parse(args: string[]): [never, string[]] {
  const cmd = addClusterOptions(new Command('train').exitOverride().configureOutput({ writeErr: () => {} })
    .option('--workers <n>', '', Number, 1).option('--steps <n>', '', Number).option('--resume <file>'));
  cmd.parse(args, { from: 'user' });
  return [cmd.opts() as never, explicitOptions(cmd)];
}

test('--shard and --alpha: one definition for sim, train and peer; --alpha needs --shard dirichlet; a text has no shards', () => {
  const config = clusterConfig(...parse(['--workers', '4', '--shard', 'iid']));
  assert.equal(config.shard, 'iid');
  assert.equal(config.alpha, undefined);
  assert.equal(clusterConfig(...parse(['--workers', '4', '--shard', 'dirichlet'])).alpha, 0.5);
  assert.equal(clusterConfig(...parse(['--workers', '4'])).shard, 'full');
  assert.throws(() => clusterConfig(...parse(['--workers', '4', '--alpha', '0.1'])), /--alpha applies to --shard dirichlet, not to --shard full/);
  assert.throws(() => parse(['--workers', '4', '--shard', 'random']), /expected one of full, iid, dirichlet/);
  const text = loadTrainingData('moby-dick', 'transformer', { seed: 1, limit: 20_000 });
  assert.throws(() => workerExamples(text, 4, { shard: 'iid' }, 1), (e: Error) => e instanceof UsageError && /a text/.test(e.message));
  assert.equal(workerExamples(text, 4, { shard: 'full' }, 1), null);
});

test('a worker\'s batches run over its shard: every example of the shard once per epoch, none from outside, a function of (seed, step)', () => {
  const train = loadMnist('train', { limit: LIMIT });
  const shards = workerShards(train, WORKERS, { shard: 'dirichlet', alpha: ALPHA }, SEED)!;
  // The simulator draws its shards from the same stream.
  assert.deepEqual(splitExamples(train, WORKERS, { shard: 'dirichlet', alpha: ALPHA }, shardRng(SEED)), shards);
  const shard = shards[1];
  const B = 7;
  const batches = new ShuffledBatches({ inputs: train.images, decode: train.decode, targets: train.labels, count: train.n }, 11, B, shard);
  assert.equal(batches.epochSize, shard.length);
  const row = train.channels * train.height * train.width;
  // Identify each example of a batch by its image, and check that it lies in the shard.
  const byImage = new Map<string, number>();
  const keyOf = (images: Float32Array, k: number) => images.subarray(k * row, k * row + row).join(',');
  const values = decodeAll(train.images, train.decode);
  for (const i of shard) byImage.set(keyOf(values, i), i);
  const seen = new Map<number, number>();
  const steps = Math.ceil((2 * shard.length) / B);
  for (let s = 0; s < steps; s++) {
    const b = batches.batch(s);
    for (let k = 0; k < B; k++) {
      const i = byImage.get(keyOf(b.inputs as Float32Array, k));
      assert.ok(i !== undefined, `step ${s}: an example from outside the shard`);
      assert.equal(b.targets[k], train.labels[i!]);
      seen.set(i!, (seen.get(i!) ?? 0) + 1);
    }
  }
  assert.equal(seen.size, shard.length, 'every example of the shard');
  // Two epochs, and a little more: every example twice or three times.
  for (const c of seen.values()) assert.ok(c === 2 || c === 3);
  const again = new ShuffledBatches({ inputs: train.images, decode: train.decode, targets: train.labels, count: train.n }, 11, B, shard);
  assert.deepEqual(Array.from(again.batch(5).targets), Array.from(batches.batch(5).targets));
});
