/**
 * MNIST left in its files (`onDisk`, as `gossamer peer` loads it) gives the same batches and evaluation as MNIST in
 * memory, and a file that does not hold what its header says is refused at load.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isFileBytes } from '../../src/data/file-bytes.js';
import { loadMnist, MNIST_FILES, mnistDataDir } from '../../src/data/mnist.js';
import { createModel } from '../../src/engine/models/index.js';
import { batchSource, evaluate, evaluationSet, loadTrainingData } from '../../src/engine/training/data.js';

test('MNIST on disk: the same batches, shards and evaluation as in memory', () => {
  const memory = loadTrainingData('mnist', 'mlp', { seed: 1, limit: 20_000, evalLimit: 2000 });
  const disk = loadTrainingData('mnist', 'mlp', { seed: 1, limit: 20_000, evalLimit: 2000, onDisk: true });
  assert.ok(disk.kind === 'images' && isFileBytes(disk.train.images) && isFileBytes(disk.test.images));
  const shard = Int32Array.from({ length: 3000 }, (_, k) => (k * 13) % 20_000);
  for (const examples of [undefined, shard]) {
    const a = batchSource(memory, 4, 64, 64, examples);
    const b = batchSource(disk, 4, 64, 64, examples);
    for (let step = 0; step < 400; step += 29) {
      const x = a.batch(step);
      const y = b.batch(step);
      assert.deepEqual(y.inputs, x.inputs, `step ${step}`);
      assert.deepEqual(y.targets, x.targets);
    }
  }
  const model = createModel('mlp', { seed: 2, backend: 'js' } as never);
  model.initialize(2);
  assert.deepEqual(evaluate(model, disk, evaluationSet(disk, 64)), evaluate(model, memory, evaluationSet(memory, 64)));
});

test('MNIST on disk: a truncated images file is refused at load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-mnist-disk-'));
  try {
    for (const f of Object.values(MNIST_FILES.test)) copyFileSync(join(mnistDataDir(), f), join(dir, f));
    truncateSync(join(dir, MNIST_FILES.test.images), 16 + 784 * 10);
    assert.throws(() => loadMnist('test', { dir, onDisk: true }), /7840 bytes of data, expected 7840000/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
