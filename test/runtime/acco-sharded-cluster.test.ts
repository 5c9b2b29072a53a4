/**
 * ACCO with its optimizer's state sharded over worker threads (--shard-optimizer): it trains to one model, each
 * worker's checkpoint holds its own shard's state, and an interrupted run resumes from them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { shardOf } from '../../src/algorithms/shards.js';
import { UsageError } from '../../src/core/errors.js';
import { readCheckpoint } from '../../src/engine/checkpoint.js';
import { runCluster } from '../../src/runtime/cluster.js';
import { readClusterCheckpoint, type ClusterConfig } from '../../src/runtime/cluster-config.js';
import { clusterData } from '../helpers/cluster-data.js';

const data = clusterData;
const base: ClusterConfig = {
  workers: 3, topology: 'complete', algorithm: 'acco', rate: 1, model: 'mlp', modelConfig: { hidden: [16] }, dataset: data,
  batchSize: 16, steps: 1200, optimizer: 'adamw', lr: 0.01, momentum: 0, weightDecay: 0.01, schedule: 'constant', warmup: 0,
  clip: 1, seed: 3, backend: 'js', metricsEvery: 100, shardOptimizer: true,
};
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('acco --shard-optimizer in threads: one model at the end, trained; the bytes of a reduce-scatter and an all-gather', async () => {
  const s = await runCluster(base);
  assert.equal(s.consensus, 0, 'the closing collective leaves every worker at θ');
  // How many rounds the budget makes depends on the machine's load (a round sums what the workers computed during the
  // one before; a worker whose thread starts late makes a few huge rounds): the model learns when they are many.
  assert.ok(Number.isFinite(s.testLoss));
  if (s.outerSteps > 30) assert.ok(s.testAccuracy > 0.6, `accuracy ${s.testAccuracy} after ${s.outerSteps} rounds`);
  assert.ok(s.perWorker.reduce((a, w) => a + w.steps, 0) >= 1200);
  // Per sharded round, every worker sends (n − 1)/n of its contribution (dim + 1 values) and (n − 1)/n of θ (dim);
  // the closing average is an all-reduce of θ, 2(n − 1)/n of it.
  const dim = 16 * 16 + 16 + 16 * 4 + 4;
  const rounds = s.outerSteps - 1;
  const expected = rounds * 2 * 4 * (2 * dim + 1) + 3 * (4 / 3) * 4 * dim;
  assert.ok(Math.abs(s.bytesSent - expected) <= 3, `${s.bytesSent} bytes for ${rounds} rounds, expected ${expected}`);
});

test('an interrupted sharded run saves each worker\'s shard of the optimizer\'s state and resumes from it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-sharded-resume-'));
  dirs.push(dir);
  const controller = new AbortController();
  const first = await runCluster({
    ...base, out: dir, signal: controller.signal, onRow: (r) => {
      if (r.gradients >= 300) controller.abort();
    },
  });
  assert.equal(first.interrupted, true);
  const file = join(dir, 'checkpoint.safetensors');
  const ck = readCheckpoint(file);
  const dim = ck.params.length;
  for (let i = 0; i < 3; i++) {
    const shard = shardOf(dim, 3, i);
    assert.equal(ck.extra.get(`worker.${i}.optimizer`)?.length, 2 * (shard.end - shard.start), `worker ${i}: AdamW's moments of its shard`);
  }
  const { run, resume } = readClusterCheckpoint(file);
  assert.equal(run.shardOptimizer, true);
  await assert.rejects(runCluster({ ...base, shardOptimizer: false, resume }), (e: Error) => e instanceof UsageError && /worker\.0\.optimizer has \d+ values, expected \d+/.test(e.message));
  const resumed = await runCluster({ ...base, out: dir, resume });
  assert.equal(resumed.resumedAtStep, first.steps);
  assert.ok(resumed.perWorker.reduce((a, w) => a + w.steps, 0) >= 1200);
  assert.equal(resumed.consensus, 0);
  assert.ok(Number.isFinite(resumed.testLoss));
});

test('--shard-optimizer is refused where it cannot hold: other algorithms, killed workers, robust aggregates, braking', async () => {
  const refused = async (config: Partial<ClusterConfig>, re: RegExp) => {
    await assert.rejects(runCluster({ ...base, ...config }), (e: Error) => e instanceof UsageError && re.test(e.message));
  };
  await refused({ algorithm: 'allreduce' }, /^shardOptimizer applies to acco and dpu, not to allreduce/);
  await refused({ kill: [{ worker: 1, atStep: 100 }] }, /^kill takes a worker away/);
  await refused({ aggregate: 'median' }, /^aggregate median needs whole contributions/);
  await refused({ braking: 1 }, /Adaptive Braking/);
});
