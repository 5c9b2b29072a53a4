/**
 * MNIST kept as bytes and decoded a batch at a time gives the very batches (bit for bit) that the former float32 copy
 * of the whole set gave: the digests below were taken from that version (same seeds, same steps), and every decoded
 * row equals the float32 value (p / 255 − mean) / std of its byte, computed here independently.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { BatchIterator, evalBatches } from '../../src/data/batch.js';
import { readIdx } from '../../src/data/idx.js';
import { MNIST_FILES, MNIST_MEAN, MNIST_STD, mnistDataDir } from '../../src/data/mnist.js';
import { createModel } from '../../src/engine/models/index.js';
import { batchSource, evaluate, evaluationSet, loadTrainingData } from '../../src/engine/training/data.js';

const data = loadTrainingData('mnist', 'mlp', { seed: 1 });
if (data.kind !== 'images') throw new Error('mnist is images');
const shard = Int32Array.from({ length: 5000 }, (_, k) => (k * 7919) % 60000);
const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function digest(parts: Iterable<ArrayBufferView>): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(bytes(p));
  return h.digest('hex').slice(0, 16);
}

function* shuffled(examples?: Int32Array): Generator<ArrayBufferView> {
  const source = batchSource(data, 5, 128, 64, examples);
  for (let step = 0; step < 500; step += 37) {
    const b = source.batch(step);
    yield b.inputs;
    yield b.targets;
  }
}

test('MNIST batches of the runtime (ShuffledBatches), the simulator (BatchIterator) and evaluation are those of the float32 set', () => {
  assert.equal(digest(shuffled()), 'aa26864bab23b7b3');
  assert.equal(digest(shuffled(shard)), '4d235dea8fd57ce3');
  const it = new BatchIterator(data.train, { batchSize: 100, rng: new Rng(7), indices: shard });
  assert.equal(digest((function* () {
    for (let k = 0; k < 120; k++) {
      const b = it.next();
      yield b.images;
      yield b.labels;
    }
  })()), 'e8cd4f428005b221');
  assert.equal(digest((function* () {
    for (const b of evalBatches(data.test, 500)) {
      yield b.images;
      yield b.labels;
    }
  })()), 'd5d5e822e61830af');
});

test('a model evaluated on MNIST bytes gives the loss and accuracy it had on the float32 set', () => {
  const model = createModel('mlp', { seed: 1, backend: 'js' } as never);
  model.initialize(1);
  const ev = evaluate(model, data, evaluationSet(data, 64, 3000));
  assert.equal(ev.testLoss, 2.31644256734732);
  assert.equal(ev.testAccuracy, 0.06666666666666667);
});

test('every decoded row is the float32 normalisation of its bytes', () => {
  const raw = readIdx(join(mnistDataDir(), MNIST_FILES.train.images)).data as Uint8Array;
  const source = batchSource(data, 9, 64, 64);
  const b = source.batch(3);
  const perm = (source as unknown as { permutation(e: number): Int32Array }).permutation(0);
  for (let k = 0; k < 64; k++) {
    const i = perm[3 * 64 + k];
    const expected = new Float32Array(784);
    for (let p = 0; p < 784; p++) expected[p] = (raw[i * 784 + p] / 255 - MNIST_MEAN) / MNIST_STD;
    assert.deepEqual(bytes(b.inputs.subarray(k * 784, (k + 1) * 784)), bytes(expected), `row ${k} (example ${i})`);
  }
});
