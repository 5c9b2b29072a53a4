import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { UsageError } from '../../src/core/errors.js';
import { checkDataset, labelCounts } from '../../src/data/dataset.js';
import { encodeIdx } from '../../src/data/idx.js';
import { loadMnist, MNIST_FILES, MNIST_MEAN, MNIST_STD } from '../../src/data/mnist.js';
import { decodeAll } from '../../src/data/pixels.js';

test('MNIST test split: 10,000 images of 1 × 28 × 28 with the known label counts', () => {
  const d = loadMnist('test');
  assert.equal(d.n, 10000);
  assert.deepEqual([d.channels, d.height, d.width, d.classes], [1, 28, 28, 10]);
  assert.equal(d.images.length, 10000 * 784);
  checkDataset(d);
  assert.deepEqual(Array.from(labelCounts(d.labels, 10)), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  assert.deepEqual(Array.from(d.labels.subarray(0, 10)), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
});

test('MNIST train split: 60,000 images with the known label counts', () => {
  const d = loadMnist('train');
  assert.equal(d.n, 60000);
  assert.equal(d.images.length, 60000 * 784);
  assert.deepEqual(Array.from(labelCounts(d.labels, 10)), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  assert.deepEqual(Array.from(d.labels.subarray(0, 5)), [5, 0, 4, 1, 9]);
});

test('MNIST pixels are bytes on shared memory, normalised with mean 0.1307 and std 0.3081 when decoded', () => {
  const d = loadMnist('test');
  assert.ok(d.images instanceof Uint8Array && d.images.buffer instanceof SharedArrayBuffer);
  const values = decodeAll(d.images, d.decode);
  let min = Infinity;
  let max = -Infinity;
  for (let k = 0; k < values.length; k += 7) {
    min = Math.min(min, values[k]);
    max = Math.max(max, values[k]);
  }
  assert.ok(Math.abs(min - (0 - MNIST_MEAN) / MNIST_STD) < 1e-6);
  assert.ok(Math.abs(max - (1 - MNIST_MEAN) / MNIST_STD) < 1e-6);
});

test('MNIST is cached and limit gives a prefix view', () => {
  const a = loadMnist('test');
  const b = loadMnist('test', { limit: 100 });
  assert.equal(b.n, 100);
  assert.equal(b.images.length, 100 * 784);
  assert.equal((b.images as Uint8Array).buffer, (a.images as Uint8Array).buffer);
  assert.deepEqual(Array.from(b.labels), Array.from(a.labels.subarray(0, 100)));
  assert.equal(loadMnist('test'), a);
});

/** Writes a small MNIST-like directory; `images`/`labels` replace the encoded files when given. */
function fakeMnist(opts: { n?: number; labelsN?: number; images?: Uint8Array; labels?: Uint8Array; gzip?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-mnist-'));
  const n = opts.n ?? 3;
  const pixels = new Uint8Array(n * 28 * 28).map((_, k) => k % 256);
  const labelsN = opts.labelsN ?? n;
  const images = opts.images ?? encodeIdx('u8', [n, 28, 28], pixels);
  const labels = opts.labels ?? encodeIdx('u8', [labelsN], new Uint8Array(labelsN).map((_, k) => k % 10));
  const suffix = opts.gzip ? '.gz' : '';
  writeFileSync(join(dir, MNIST_FILES.test.images + suffix), opts.gzip ? gzipSync(images) : images);
  writeFileSync(join(dir, MNIST_FILES.test.labels + suffix), opts.gzip ? gzipSync(labels) : labels);
  return dir;
}

function expectError(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), 'one-line message');
    for (const p of parts) {
      if (typeof p === 'string') assert.ok(err.message.includes(p), `${JSON.stringify(err.message)} should mention ${p}`);
      else assert.match(err.message, p);
    }
    return true;
  });
}

test('a well-formed MNIST directory loads, raw or gzip-compressed', () => {
  for (const gzip of [false, true]) {
    const dir = fakeMnist({ n: 4, gzip });
    try {
      const d = loadMnist('test', { dir });
      assert.equal(d.n, 4);
      assert.deepEqual(Array.from(d.labels), [0, 1, 2, 3]);
      assert.ok(Math.abs(decodeAll(d.images, d.decode)[1] - (1 / 255 - MNIST_MEAN) / MNIST_STD) < 1e-6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('corrupt MNIST files give one-line errors naming the file and the problem', () => {
  const good = encodeIdx('u8', [3, 28, 28], new Uint8Array(3 * 784));
  const cases: [Parameters<typeof fakeMnist>[0], string, RegExp][] = [
    [{ images: Uint8Array.from([0x00, 0x00, 0x07, 0x03, ...good.subarray(4)]) }, MNIST_FILES.test.images, /bad magic number 0x00000703/],
    [{ images: Uint8Array.from([0x12, 0x34, ...good.subarray(2)]) }, MNIST_FILES.test.images, /bad magic number/],
    [{ images: good.subarray(0, good.length - 10) }, MNIST_FILES.test.images, /truncated data/],
    [{ images: good.subarray(0, 9) }, MNIST_FILES.test.images, /truncated header/],
    [{ images: Uint8Array.from([...good, 1, 2]) }, MNIST_FILES.test.images, /unexpected bytes/],
    [{ labelsN: 2 }, MNIST_FILES.test.labels, /2 labels for 3 images/],
    [{ labels: encodeIdx('u8', [3], [1, 2, 11]) }, MNIST_FILES.test.labels, /label 11 .* not a digit/],
    [{ labels: encodeIdx('i32', [3], [1, 2, 3]) }, MNIST_FILES.test.labels, /expected u8 data with 1 dimension/],
    [{ images: encodeIdx('u8', [3, 784], good.subarray(16)) }, MNIST_FILES.test.images, /expected u8 data with 3 dimension/],
  ];
  for (const [opts, file, problem] of cases) {
    const dir = fakeMnist(opts);
    try {
      expectError(() => loadMnist('test', { dir }), join(dir, file), problem);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('a missing MNIST file or corrupt gzip is a UsageError naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-mnist-'));
  try {
    expectError(() => loadMnist('test', { dir }), 'not found', join(dir, MNIST_FILES.test.images));
    writeFileSync(join(dir, MNIST_FILES.test.images + '.gz'), Uint8Array.from([0x1f, 0x8b, 1, 2, 3]));
    expectError(() => loadMnist('test', { dir }), join(dir, MNIST_FILES.test.images + '.gz'), 'corrupt gzip');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  expectError(() => loadMnist('valid' as 'test'), 'unknown MNIST split');
});
