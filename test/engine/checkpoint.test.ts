import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { UsageError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { readSafetensors, writeSafetensors } from '../../src/core/safetensors.js';
import { syntheticImages } from '../../src/data/synthetic.js';
import {
  modelFromCheckpoint, readCheckpoint, restoreModel, restoreOptimizer, saveCheckpoint,
} from '../../src/engine/checkpoint.js';
import { createModel, type ModelName } from '../../src/engine/models/index.js';
import type { Model } from '../../src/engine/models/model.js';
import { AdamW, createOptimizer, makeSchedule, NO_DECAY_BIAS_NORM, Sgd, type OptimizerConfig } from '../../src/engine/optim/index.js';
import { ShuffledBatches, TextWindows, textEvalData, type BatchSource } from '../../src/engine/training/batches.js';
import { trainLocal, trainStep } from '../../src/engine/training/loop.js';
import { sampleTokens } from '../../src/engine/training/sample.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-ckpt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const images = syntheticImages({ n: 96, seed: 3, channels: 1, height: 8, width: 8, classes: 4 });
const imageData = { inputs: images.images, targets: images.labels, count: images.n };
const tinyResNet = { channels: 1, height: 8, width: 8, classes: 4, baseWidth: 4, blocksPerStage: 1 };
const tinyTransformer = { vocab: 256, seq: 8, dim: 16, heads: 2, layers: 1 };
const text = new TextEncoder().encode('Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse. '.repeat(4));

function bitsEqual(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  assert.deepEqual(new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length), what);
}

function oneLineUsageError(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  };
}

function setup(name: ModelName, config: Record<string, unknown>, optimizer: OptimizerConfig, seed = 1): { model: Model; opt: Sgd | AdamW } {
  const model = createModel(name, { ...config, seed } as never);
  return { model, opt: createOptimizer(model, optimizer) };
}

test('a checkpoint round trip restores parameters, BatchNorm state, optimizer state and step bit for bit', () => {
  const adamw: OptimizerConfig = { kind: 'adamw', lr: 1e-2, weightDecay: 0.1, noDecay: NO_DECAY_BIAS_NORM };
  const { model, opt } = setup('resnet20', tinyResNet, adamw);
  const data = new ShuffledBatches(imageData, 5, 16);
  for (let s = 0; s < 3; s++) trainStep(model, opt, data.batch(s));
  assert.ok(model.state.some((v, i) => v !== (i % 2 === 0 ? 0 : 1)), 'running statistics moved');
  const file = join(dir, 'roundtrip.safetensors');
  saveCheckpoint(file, { model, optimizer: opt, optimizerConfig: { ...adamw, noDecay: [...NO_DECAY_BIAS_NORM] }, epoch: 0.5, seed: 7, run: { note: 'x' } });

  const ck = readCheckpoint(file);
  assert.equal(ck.model, 'resnet20');
  assert.equal(ck.layoutHash, model.layoutHash);
  assert.equal(ck.step, 3);
  assert.equal(ck.epoch, 0.5);
  assert.equal(ck.seed, 7);
  assert.deepEqual(ck.run, { note: 'x' });
  assert.equal(ck.optimizer?.config.kind, 'adamw');
  assert.equal(ck.optimizer?.config.weightDecay, 0.1);
  assert.deepEqual(ck.optimizer?.config.noDecay, ['bias', 'norm']);
  bitsEqual(ck.params, model.params, 'params');
  bitsEqual(ck.state, model.state, 'state');
  bitsEqual(ck.optimizer!.state, opt.state, 'optimizer state');

  // Into a fresh model and optimizer (different initialisation).
  const fresh = setup('resnet20', tinyResNet, adamw, 99);
  restoreModel(ck, fresh.model);
  restoreOptimizer(ck, fresh.opt);
  bitsEqual(fresh.model.params, model.params, 'restored params');
  bitsEqual(fresh.model.state, model.state, 'restored state');
  bitsEqual(fresh.opt.state, opt.state, 'restored optimizer state');
  assert.equal(fresh.opt.steps, 3);

  // Rebuilt from the checkpoint alone.
  const rebuilt = modelFromCheckpoint(ck);
  assert.equal(rebuilt.layoutHash, model.layoutHash);
  bitsEqual(rebuilt.params, model.params, 'rebuilt params');
  bitsEqual(rebuilt.state, model.state, 'rebuilt state');

  // The file reads like a state dict: one tensor per parameter under its name and shape.
  const st = readSafetensors(file);
  const conv = model.layout.find((e) => e.name === 'stem.conv.weight')!;
  assert.deepEqual(st.tensors.get('stem.conv.weight')?.shape, [...conv.shape]);
  assert.ok(st.tensors.has('stem.bn.running_mean'));
  assert.deepEqual(st.tensors.get('optimizer.exp_avg')?.shape, [model.size]);
});

test('an optimizer without state (SGD, no momentum) round-trips too', () => {
  const { model, opt } = setup('mlp', { inputSize: 64, hidden: [8], classes: 4 }, { kind: 'sgd', lr: 0.1 });
  const data = new ShuffledBatches(imageData, 1, 8);
  trainStep(model, opt, data.batch(0));
  const file = join(dir, 'sgd.safetensors');
  saveCheckpoint(file, { model, optimizer: opt });
  const ck = readCheckpoint(file);
  assert.equal(ck.optimizer?.state.length, 0);
  assert.equal(ck.optimizer?.steps, 1);
  bitsEqual(ck.params, model.params, 'params');
});

async function run(source: BatchSource, setupRun: () => { model: Model; opt: Sgd | AdamW }, totalSteps: number, schedule: ReturnType<typeof makeSchedule>, clip: number | undefined, stopAt?: number) {
  const { model, opt } = setupRun();
  const result = await trainLocal({
    model, optimizer: opt, data: source, totalSteps, schedule, clip, logEvery: 3, recordStart: false,
    shouldStop: stopAt === undefined ? undefined : () => opt.steps >= stopAt,
  });
  return { model, opt, result };
}

for (const [label, make] of [
  ['an MLP with dropout, SGD + momentum, cosine schedule', () => ({
    source: new ShuffledBatches(imageData, 11, 40), // 96 examples: batches straddle epochs
    setupRun: () => setup('mlp', { inputSize: 64, hidden: [16], classes: 4, dropout: 0.3 }, { kind: 'sgd', lr: 0.2, momentum: 0.9, nesterov: false, weightDecay: 1e-3 }),
    schedule: makeSchedule({ kind: 'cosine', lr: 0.2, totalSteps: 12, warmupSteps: 2 }),
    clip: undefined,
  })],
  ['a transformer with dropout, AdamW, warm-up, cosine and clipping', () => ({
    source: new TextWindows(text, 8, 11, 4),
    setupRun: () => setup('transformer', { ...tinyTransformer, dropout: 0.2 }, { kind: 'adamw', lr: 3e-3, weightDecay: 0.01, noDecay: NO_DECAY_BIAS_NORM }),
    schedule: makeSchedule({ kind: 'cosine', lr: 3e-3, totalSteps: 12, warmupSteps: 3 }),
    clip: 0.5,
  })],
] as const) {
  test(`resumed training equals uninterrupted training: ${label}`, async () => {
    const { source, setupRun, schedule, clip } = make();
    const straight = await run(source, setupRun, 12, schedule, clip);
    assert.equal(straight.opt.steps, 12);

    const first = await run(source, setupRun, 12, schedule, clip, 5);
    assert.equal(first.result.stopped, true);
    assert.equal(first.opt.steps, 5);
    const file = join(dir, `resume-${first.model.name}.safetensors`);
    saveCheckpoint(file, { model: first.model, optimizer: first.opt });

    const ck = readCheckpoint(file);
    const resumed = setupRun();
    restoreModel(ck, resumed.model);
    restoreOptimizer(ck, resumed.opt);
    const rest = await trainLocal({ model: resumed.model, optimizer: resumed.opt, data: source, totalSteps: 12, schedule, clip });
    assert.equal(rest.stepsTaken, 7);
    assert.equal(resumed.opt.steps, 12);
    bitsEqual(resumed.model.params, straight.model.params, 'final params');
    bitsEqual(resumed.opt.state, straight.opt.state, 'final optimizer state');
  });
}

test('corrupt, foreign and mismatched checkpoints give one-line errors', () => {
  const { model, opt } = setup('mlp', { inputSize: 64, hidden: [8], classes: 4 }, { kind: 'sgd', lr: 0.1, momentum: 0.9 });
  const good = join(dir, 'good.safetensors');
  saveCheckpoint(good, { model, optimizer: opt });
  const bytes = readFileSync(good);

  assert.throws(() => readCheckpoint(join(dir, 'missing.safetensors')), oneLineUsageError(/^checkpoint .*missing\.safetensors: not found$/));
  const truncated = join(dir, 'truncated.safetensors');
  writeFileSync(truncated, bytes.subarray(0, bytes.length - 10));
  assert.throws(() => readCheckpoint(truncated), oneLineUsageError(/^checkpoint .*truncated\.safetensors: /));
  const garbage = join(dir, 'garbage.safetensors');
  writeFileSync(garbage, 'this is not a checkpoint at all');
  assert.throws(() => readCheckpoint(garbage), oneLineUsageError(/^checkpoint .*garbage\.safetensors: /));
  const foreign = join(dir, 'foreign.safetensors');
  writeSafetensors(foreign, { w: { data: new Float32Array(4) } });
  assert.throws(() => readCheckpoint(foreign), oneLineUsageError(/not a gossamer checkpoint/));

  // A tampered layout no longer matches its hash.
  const st = readSafetensors(good);
  const tensors = new Map([...st.tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
  const tampered = join(dir, 'tampered.safetensors');
  writeSafetensors(tampered, tensors, { ...st.metadata, layout: st.metadata.layout.replace('"fc1.weight"', '"fc9.weight"') });
  assert.throws(() => readCheckpoint(tampered), oneLineUsageError(/layout does not match its hash/));
  // A missing tensor.
  const partial = join(dir, 'partial.safetensors');
  tensors.delete('fc2.bias');
  writeSafetensors(partial, tensors, st.metadata);
  assert.throws(() => readCheckpoint(partial), oneLineUsageError(/fc2\.bias/));
  // Random stream positions: malformed, or naming streams the model does not have (parameters left untouched).
  const badRandom = join(dir, 'bad-random.safetensors');
  writeSafetensors(badRandom, new Map([...st.tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data }])), { ...st.metadata, random: '{"fc1.dropout":[1,2,3]}' });
  assert.throws(() => readCheckpoint(badRandom), oneLineUsageError(/metadata "random" is not an object of four-word random states/));
  const strayRandom = join(dir, 'stray-random.safetensors');
  writeSafetensors(strayRandom, new Map([...st.tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data }])), { ...st.metadata, random: '{"fc1.dropout":[1,2,3,4]}' });
  const target = setup('mlp', { inputSize: 64, hidden: [8], classes: 4 }, { kind: 'sgd', lr: 0.1, momentum: 0.9 }, 7);
  const before = Float32Array.from(target.model.params);
  assert.throws(() => restoreModel(readCheckpoint(strayRandom), target.model), oneLineUsageError(/random streams do not match \(missing: none; unknown: fc1\.dropout\)/));
  bitsEqual(target.model.params, before, 'parameters after a refused restore');

  const ck = readCheckpoint(good);
  const other = setup('mlp', { inputSize: 64, hidden: [9], classes: 4 }, { kind: 'sgd', lr: 0.1, momentum: 0.9 });
  assert.throws(() => restoreModel(ck, other.model), oneLineUsageError(/holds a mlp model with layout [0-9a-f]{12}, which does not match this mlp model/));
  const adam = setup('mlp', { inputSize: 64, hidden: [8], classes: 4 }, { kind: 'adamw', lr: 1e-3 });
  assert.throws(() => restoreOptimizer(ck, adam.opt), oneLineUsageError(/holds sgd optimizer state, not adamw/));
  const plain = setup('mlp', { inputSize: 64, hidden: [8], classes: 4 }, { kind: 'sgd', lr: 0.1 });
  assert.throws(() => restoreOptimizer(ck, plain.opt), oneLineUsageError(/optimizer state values/));
});

test('shuffled batches are a function of (seed, step) and visit every example once per epoch', () => {
  const n = 10;
  const data = { inputs: Float32Array.from({ length: n * 2 }, (_, i) => Math.floor(i / 2)), targets: Int32Array.from({ length: n }, (_, i) => i), count: n };
  const a = new ShuffledBatches(data, 4, 3);
  const b = new ShuffledBatches(data, 4, 3);
  const seen: number[] = [];
  for (let s = 0; s < 10; s++) seen.push(...a.batch(s).targets); // 30 examples = 3 epochs
  for (let e = 0; e < 3; e++) assert.deepEqual([...seen.slice(e * n, (e + 1) * n)].sort((x, y) => x - y), [...Array(n).keys()]);
  assert.notDeepEqual(seen.slice(0, n), seen.slice(n, 2 * n), 'reshuffled each epoch');
  // Random access in any order gives the same batches, inputs in step with targets.
  for (const s of [7, 2, 9, 0]) {
    const batch = b.batch(s);
    assert.deepEqual([...batch.targets], seen.slice(s * 3, s * 3 + 3));
    assert.deepEqual([...batch.inputs], [...batch.targets].flatMap((t) => [t, t]));
  }
  assert.notDeepEqual([...new ShuffledBatches(data, 5, 3).permutation(0)], [...a.permutation(0)], 'another seed, another order');
});

test('text windows and evaluation windows are next-token pairs', () => {
  const w = new TextWindows(text, 8, 2, 4);
  const batch = w.batch(3);
  for (let b = 0; b < 4; b++) for (let t = 0; t < 7; t++) assert.equal(batch.targets[b * 8 + t], batch.inputs[b * 8 + t + 1]);
  assert.deepEqual([...new TextWindows(text, 8, 2, 4).batch(3).inputs], [...batch.inputs]);
  const ev = textEvalData(text, 8, 5);
  assert.equal(ev.count, 5);
  assert.deepEqual([...ev.inputs.subarray(0, 8)], [...text.subarray(0, 8)]);
  assert.deepEqual([...ev.targets.subarray(0, 8)], [...text.subarray(1, 9)]);
});

test('sampling continues a prompt beyond the context length, greedily or with a seeded temperature', () => {
  const model = createModel('transformer', { ...tinyTransformer, seed: 4 });
  const prompt = new TextEncoder().encode('Call me');
  const greedy = sampleTokens(model, prompt, { length: 20, temperature: 0 });
  assert.equal(greedy.length, 20);
  assert.deepEqual([...sampleTokens(model, prompt, { length: 20, temperature: 0 })], [...greedy]);
  const hot1 = sampleTokens(model, prompt, { length: 20, temperature: 1, rng: new Rng(1) });
  const hot2 = sampleTokens(model, prompt, { length: 20, temperature: 1, rng: new Rng(1) });
  assert.deepEqual([...hot1], [...hot2]);
  for (const t of hot1) assert.ok(t >= 0 && t < 256);
});

test('trainLocal records, evaluates and checkpoints on schedule', async () => {
  const { model, opt } = setup('mlp', { inputSize: 64, hidden: [8], classes: 4 }, { kind: 'sgd', lr: 0.1, momentum: 0.9 });
  const records: number[] = [];
  const evals: number[] = [];
  const checkpoints: number[] = [];
  const result = await trainLocal({
    model, optimizer: opt, data: new ShuffledBatches(imageData, 1, 8), totalSteps: 10, logEvery: 4, evalEvery: 5, checkpointEvery: 3,
    evaluate: () => ({ testAccuracy: model.evaluate(imageData).accuracy }),
    onRecord: (r) => {
      records.push(r.step);
      if (r.eval) evals.push(r.step);
    },
    checkpoint: (p) => {
      checkpoints.push(p.step);
    },
  });
  assert.deepEqual(records, [0, 4, 5, 8, 10]);
  assert.deepEqual(evals, [0, 5, 10]);
  assert.deepEqual(checkpoints, [3, 6, 9]);
  assert.equal(result.stopped, false);
  assert.equal(result.step, 10);
  assert.equal(typeof result.eval?.testAccuracy, 'number');
  assert.ok(Number.isFinite(result.trainLoss));
});

test('a flipped bit in a tensor is refused naming it; a checkpoint without checksums loads with one warning', () => {
  const { model, opt } = setup('mlp', { inputSize: 64, hidden: [8], classes: 4 }, { kind: 'sgd', lr: 0.1, momentum: 0.9 });
  const intact = join(dir, 'intact.safetensors');
  saveCheckpoint(intact, { model, optimizer: opt });
  const file = join(dir, 'flipped.safetensors');
  saveCheckpoint(file, { model, optimizer: opt });
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  // An exponent bit of the first weight of fc2: the value changes by orders of magnitude, the layout does not.
  bytes[8 + n + header['fc2.weight'].data_offsets[0] + 3] ^= 0x40;
  writeFileSync(file, bytes);
  assert.throws(() => readCheckpoint(file), oneLineUsageError(/^checkpoint .*flipped\.safetensors: tensor "fc2\.weight" is damaged: its bytes have CRC-32 [0-9a-f]{8}, the file recorded [0-9a-f]{8}$/));
  assert.ok(readFileSync(file).equals(bytes), 'reading leaves the file as it was');

  const older = join(dir, 'older.safetensors');
  const st = readSafetensors(intact);
  writeSafetensors(older, new Map([...st.tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data }])), st.metadata, { checksums: false });
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => lines.push(chunk) > 0) as typeof process.stderr.write;
  try {
    readCheckpoint(older);
    readCheckpoint(older);
    bitsEqual(readCheckpoint(older).params, readCheckpoint(intact).params, 'parameters of the older file');
  } finally {
    process.stderr.write = write;
  }
  assert.equal(lines.length, 1, 'one warning per file');
  assert.match(lines[0], /^gossamer: checkpoint .*older\.safetensors has no tensor checksums \(written by an older version\); its data cannot be verified\n$/);
});

test('the description of the inputs is stored under "input"; files without it read as null', () => {
  const model = createModel('mlp', { inputSize: 64, hidden: [8], classes: 4, seed: 1 });
  const input = { kind: 'images', dataset: 'mnist', layout: 'NCHW', channels: 1, height: 8, width: 8, raw: 'uint8', scale: 1 / 255, mean: 0.1307, std: 0.3081 };
  const withInput = join(dir, 'input.safetensors');
  saveCheckpoint(withInput, { model, input });
  const ck = readCheckpoint(withInput);
  assert.deepEqual(ck.input, input);
  assert.equal(ck.metadata.input, JSON.stringify(input));
  const without = join(dir, 'no-input.safetensors');
  saveCheckpoint(without, { model });
  assert.equal(readCheckpoint(without).input, null);
  assert.equal(readCheckpoint(without).metadata.input, undefined);
});
