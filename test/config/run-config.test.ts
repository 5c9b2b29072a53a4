/**
 * One run configuration for every mode: the recipes' values, the record every command writes into its checkpoints
 * (the shared training record, every default resolved), and how records are read back — older spellings accepted,
 * a peer's resume held to the training it saved.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CLUSTER_DEFAULTS, recipe, warmupSteps } from '../../src/config/recipe.js';
import { parseRunRecord, TrainingRecord } from '../../src/config/run.js';
import { readCheckpoint } from '../../src/engine/checkpoint.js';
import { createModel } from '../../src/engine/models/index.js';
import { savePeerCheckpoint } from '../../src/runtime/net/peer-checkpoint.js';
import { writeSwarmKey } from '../../src/runtime/net/swarm-key.js';
import { gossamer } from '../cli/run.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const TINY = ['--dataset', 'synthetic', '--model-config', '{"hidden":[16]}', '--limit', '512', '--eval-limit', '128', '--batch-size', '16', '--backend', 'js'];

test('recipes: one worker follows the model, several workers the authors\' recipe scaled by the total batch', () => {
  assert.deepEqual(recipe('mlp', 1), {
    dataset: 'mnist', budget: { epochs: 2 }, batchSize: 128, optimizer: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0, schedule: 'cosine', warmup: { steps: 0 }, clip: null, outer: null,
  });
  assert.deepEqual(recipe('transformer', 1), {
    dataset: 'moby-dick', budget: { steps: 2000 }, batchSize: 32, optimizer: 'adamw', lr: 3e-3, momentum: 0, weightDecay: 0.01, schedule: 'cosine', warmup: { steps: 100 }, clip: 1,
    outer: null,
  });
  // Another optimizer than the model's own: that optimizer's generic settings.
  assert.deepEqual({ ...recipe('mlp', 1, { optimizer: 'adamw' }) }, { ...recipe('mlp', 1), optimizer: 'adamw', lr: 1e-3, momentum: 0, weightDecay: 0.01 });
  const eight = recipe('mlp', CLUSTER_DEFAULTS.workers);
  assert.equal(eight.lr, 0.1 * (128 * 8) / 256);
  assert.deepEqual({ ...eight, lr: 0 }, {
    dataset: 'mnist', budget: { epochs: 4 }, batchSize: 128, optimizer: 'sgd', lr: 0, momentum: 0.9, weightDecay: 5e-4, schedule: 'multistep', warmup: { fraction: 0.05 }, clip: 1,
    outer: { innerSteps: 10, outerLr: 0.7, outerMomentum: 0.5 },
  });
  // The DiLoCo family's outer loop follows the inner optimizer: the paper's outer momentum over AdamW.
  assert.deepEqual(recipe('transformer', 4).outer, { innerSteps: 50, outerLr: 0.7, outerMomentum: 0.9 });
  assert.deepEqual(recipe('mlp', 4, { optimizer: 'adamw' }).outer, recipe('transformer', 4).outer);
  // The scaling starts above a total batch of 256; a given batch size enters it.
  assert.equal(recipe('cnn', 2).lr, 0.1);
  assert.equal(recipe('cnn', 4, { batchSize: 256 }).lr, 0.4);
  assert.equal(recipe('transformer', 4).optimizer, 'adamw');
  assert.equal(recipe('transformer', 4).lr, 1e-3);
  assert.equal(warmupSteps(eight.warmup, 300), 15);
  assert.equal(warmupSteps({ steps: 7 }, 300), 7);
});

test('the training record: complete records parse, a bad field is one line naming the file and the field', () => {
  const record = {
    model: 'mlp', dataset: 'mnist', batchSize: 32, optimizer: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0, schedule: 'multistep', clip: null, seed: 3,
  };
  assert.deepEqual(parseRunRecord(TrainingRecord, record, 'f.safetensors', 'reading'), record);
  assert.throws(
    () => parseRunRecord(TrainingRecord, { ...record, lr: -1 }, 'f.safetensors', 'reading'),
    (err: Error) => /^checkpoint f\.safetensors: reading: invalid run at lr: /.test(err.message) && !err.message.includes('\n'),
  );
  assert.throws(() => parseRunRecord(TrainingRecord, { ...record, model: 'gpt' }, 'f', 'reading'), /invalid run at model/);
});

test('every command writes the whole training record, defaults resolved, into its checkpoints', () => {
  const one = join(dir, 'one');
  const r1 = gossamer(['train', '--workers', '1', ...TINY, '--steps', '6', '--out', one, '--json']);
  assert.equal(r1.code, 0, r1.stderr);
  const run1 = TrainingRecord.strip().parse(readCheckpoint(join(one, 'checkpoint.safetensors')).run);
  // One worker, mlp: the model's recipe (cosine, lr 0.1, no clipping), with the flags over it.
  assert.equal(run1.schedule, 'cosine');
  assert.equal(run1.lr, 0.1);
  assert.equal(run1.clip, null);
  assert.equal(run1.batchSize, 16);
  assert.equal(run1.dataset, 'synthetic');

  const two = join(dir, 'two');
  const r2 = gossamer(['train', '--workers', '2', '--algo', 'gossip', ...TINY, '--steps', '12', '--out', two, '--json']);
  assert.equal(r2.code, 0, r2.stderr);
  const run2 = TrainingRecord.strip().parse(readCheckpoint(join(two, 'checkpoint.safetensors')).run);
  // Several workers: the authors' recipe.
  assert.equal(run2.schedule, 'multistep');
  assert.equal(run2.lr, recipe('mlp', 2, { batchSize: 16 }).lr);
  assert.equal(run2.clip, 1);
  assert.equal(run2.weightDecay, 5e-4);
  assert.equal((readCheckpoint(join(two, 'checkpoint.safetensors')).run as Record<string, unknown>).innerSteps, undefined, 'gossip has no outer loop');

  // The DiLoCo family: the recipe's outer loop where the flags are silent, resolved into the record.
  const three = join(dir, 'three');
  const r3 = gossamer(['train', '--workers', '2', '--algo', 'diloco', '--outer-lr', '0.5', ...TINY, '--steps', '12', '--out', three, '--json']);
  assert.equal(r3.code, 0, r3.stderr);
  const run3 = readCheckpoint(join(three, 'checkpoint.safetensors')).run as Record<string, unknown>;
  assert.deepEqual([run3.innerSteps, run3.outerLr, run3.outerMomentum], [10, 0.5, 0.5]);
});

/** Replaces the run record in a checkpoint's metadata, as an older version would have written it. */
function rewriteRun(file: string, run: Record<string, unknown>): void {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as { __metadata__: Record<string, string> };
  header.__metadata__.run = JSON.stringify(run);
  const text = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(text.length));
  writeFileSync(file, Buffer.concat([length, text, bytes.subarray(8 + n)]));
}

test('a one-worker checkpoint of the older spelling (lrStepSize, lrGamma) resumes with its step schedule', () => {
  const out = join(dir, 'older');
  const r = gossamer(['train', '--workers', '1', ...TINY, '--steps', '4', '--schedule', 'step', '--lr-step-size', '3', '--lr-gamma', '0.5', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const file = join(out, 'checkpoint.safetensors');
  const ck = readCheckpoint(file);
  const { stepSize, gamma, ...rest } = ck.run as Record<string, unknown>;
  assert.equal(stepSize, 3);
  assert.equal(gamma, 0.5);
  rewriteRun(file, { ...rest, lrStepSize: 3, lrGamma: 0.5 });
  const resumed = gossamer(['train', '--resume', file, '--steps', '8', '--json']);
  assert.equal(resumed.code, 0, resumed.stderr);
  const again = readCheckpoint(file).run as Record<string, unknown>;
  assert.equal(again.stepSize, 3);
  assert.equal(again.gamma, 0.5);
});

test('a peer resumes with the training it saved; a training flag that differs is refused with one line', () => {
  const model = createModel('mlp', { inputSize: 256, hidden: [16], classes: 10, seed: 1, backend: 'js' });
  const file = join(dir, 'peer', 'checkpoint.safetensors');
  const run = {
    command: 'peer' as const, index: 0, workers: 2, algo: 'gossip', topology: 'ring', rate: 1, steps: 50,
    model: 'mlp' as const, dataset: 'synthetic' as const, batchSize: 16, optimizer: 'sgd' as const, lr: 0.07, momentum: 0.9, weightDecay: 0,
    schedule: 'cosine' as const, clip: null, seed: 1,
  };
  savePeerCheckpoint(file, { model, step: 10, seed: 1, run, algorithm: 'gossip' });
  const key = join(dir, 'swarm.key');
  writeSwarmKey(key, false);
  const r = gossamer(['peer', '--resume', file, '--swarm-key', key, '--lr', '0.2', '--backend', 'js']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr.trim(), /^gossamer: checkpoint .* was written with --lr 0\.07; it cannot continue with --lr 0\.2$/);
  const bad = gossamer(['peer', '--resume', file, '--swarm-key', key, '--schedule', 'step', '--backend', 'js']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--schedule "cosine"; it cannot continue with --schedule "step"/);
});
