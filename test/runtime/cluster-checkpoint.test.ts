import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { UsageError } from '../../src/core/errors.js';
import { readSafetensors, writeSafetensors } from '../../src/core/safetensors.js';
import { readCheckpoint, saveCheckpoint } from '../../src/engine/checkpoint.js';
import { createModel } from '../../src/engine/models/index.js';
import { savedWorkers, workerContents, WORKER_PREFIX, type SavedWorker } from '../../src/runtime/cluster-checkpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-cluster-ckpt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const model = createModel('mlp', { inputSize: 6, hidden: [5], classes: 3, seed: 4 });
const dim = model.size;
const filled = (n: number, v: number) => Float32Array.from({ length: n }, (_, k) => v + k / 1000);
const worker = (i: number): SavedWorker => ({
  x: filled(dim, i), state: new Float32Array(0), vectors: { xt: filled(dim, 10 + i) }, scalars: { t: 30.5 + i }, time: 31 + i,
  optimizer: { state: filled(dim, 20 + i), steps: 7 + i },
});

test('per-worker state round-trips through a checkpoint; a dead worker has no entry', () => {
  const file = join(dir, 'workers.safetensors');
  saveCheckpoint(file, { model, extra: { prefix: WORKER_PREFIX, ...workerContents([worker(0), null, worker(2)]) } });
  const ck = readCheckpoint(file);
  const back = savedWorkers(ck, 3, dim);
  assert.equal(back[1], null);
  for (const i of [0, 2]) {
    assert.deepEqual(back[i]!.x, worker(i).x);
    assert.deepEqual(back[i]!.vectors.xt, worker(i).vectors.xt);
    assert.deepEqual(back[i]!.optimizer.state, worker(i).optimizer.state);
    assert.equal(back[i]!.optimizer.steps, 7 + i);
    assert.deepEqual(back[i]!.scalars, { t: 30.5 + i }, 'the algorithm\'s scalars');
    assert.equal(back[i]!.time, 31 + i, 'the worker\'s local time');
  }
  // A checkpoint without per-worker state: every worker starts from the average.
  const plain = join(dir, 'plain.safetensors');
  saveCheckpoint(plain, { model });
  assert.deepEqual(savedWorkers(readCheckpoint(plain), 3, dim), [null, null, null]);
});

test('malformed per-worker state is refused with one line naming the file', () => {
  const file = join(dir, 'workers.safetensors');
  saveCheckpoint(file, { model, extra: { prefix: WORKER_PREFIX, ...workerContents([worker(0), worker(1)]) } });
  const st = readSafetensors(file);
  const variant = (name: string, change: (t: Map<string, { shape: number[]; data: Float32Array }>, m: Record<string, string>) => void) => {
    const tensors = new Map([...st.tensors].map(([k, t]) => [k, { shape: [...t.shape], data: t.data as Float32Array }]));
    const metadata = { ...st.metadata };
    change(tensors, metadata);
    const path = join(dir, `${name}.safetensors`);
    writeSafetensors(path, tensors, metadata);
    return path;
  };
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['more workers than the run', () => savedWorkers(readCheckpoint(file), 1, dim), /worker index 1 for 1 workers/],
    ['another optimizer', () => savedWorkers(readCheckpoint(file), 2, 2 * dim), /worker\.0\.optimizer has \d+ values, expected \d+/],
    ['a missing tensor', () => savedWorkers(readCheckpoint(variant('missing', (t) => t.delete('worker.1.algorithm.xt'))), 2, dim), /missing tensor worker\.1\.algorithm\.xt/],
    ['a bad record', () => savedWorkers(readCheckpoint(variant('record', (_t, m) => (m.workers_saved = '{"index":0}'))), 2, dim), /"workers_saved" is not a list/],
    ['a stray tensor', () => savedWorkers(readCheckpoint(variant('stray', (t) => t.set('worker.5.x', { shape: [dim], data: new Float32Array(dim) }))), 2, dim), /unexpected tensor worker\.5\.x/],
  ];
  for (const [what, run, pattern] of cases) {
    assert.throws(run, (e: unknown) => e instanceof UsageError && pattern.test(e.message) && !e.message.includes('\n') && e.message.includes('checkpoint '), what);
  }
  // A tensor outside every declared prefix is still an error of the checkpoint itself.
  assert.throws(() => readCheckpoint(variant('foreign', (t) => t.set('other.x', { shape: [dim], data: new Float32Array(dim) }))), /unexpected tensor "other\.x"/);
});
