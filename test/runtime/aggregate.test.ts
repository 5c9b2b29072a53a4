import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { jsBackend } from '../../src/engine/backends/index.js';
import { aggregate, AGGREGATES } from '../../src/runtime/aggregate.js';
import { SharedAllReduce, collectiveBuffers } from '../../src/runtime/collective.js';

const vectors = (rows: number[][]) => rows.map((r) => Float32Array.from(r));

test('each rule on a small case worked by hand', () => {
  const c = vectors([[1, 10], [2, 20], [3, 30], [4, 40], [100, -1000]]);
  const out = new Float32Array(2);
  aggregate('mean', c, out);
  assert.deepEqual([...out], [22, -180]);
  aggregate('median', c, out);
  assert.deepEqual([...out], [3, 20]);
  aggregate('trimmed-mean', c, out); // ⌈5/10⌉ = 1 dropped at each end
  assert.deepEqual([...out], [3, 20]);
  aggregate('median', vectors([[1], [2], [3], [10]]), out.subarray(0, 1));
  assert.equal(out[0], 2.5, 'even count: the mean of the two middle values');
});

test('identical contributions aggregate to themselves under every rule', () => {
  const v = Float32Array.from({ length: 50 }, (_, k) => Math.sin(k));
  for (const rule of AGGREGATES) {
    const out = new Float32Array(50);
    aggregate(rule, [v, v, v, v], out);
    for (let k = 0; k < 50; k++) assert.ok(Math.abs(out[k] - v[k]) < 1e-6, `${rule} coordinate ${k}`);
  }
});

test('one forged contribution among eight: the mean is dragged away, the robust rules stay near the honest mean', () => {
  const rng = new Rng(3);
  const dim = 200;
  const center = Float32Array.from({ length: dim }, () => rng.normal());
  const honest = Array.from({ length: 7 }, () => Float32Array.from(center, (c) => c + 0.1 * rng.normal()));
  const honestMean = new Float32Array(dim);
  aggregate('mean', honest, honestMean);
  for (const forged of [Float32Array.from(center, () => 1e6), Float32Array.from(center, (c) => -50 * c)]) {
    const all = [...honest.slice(0, 3), forged, ...honest.slice(3)];
    const distance = (rule: (typeof AGGREGATES)[number]) => {
      const out = new Float32Array(dim);
      aggregate(rule, all, out);
      let d = 0;
      let norm = 0;
      for (let k = 0; k < dim; k++) {
        d += (out[k] - honestMean[k]) ** 2;
        norm += honestMean[k] ** 2;
      }
      return Math.sqrt(d / norm);
    };
    assert.ok(distance('mean') > 1, `mean: ${distance('mean')}`);
    for (const rule of ['trimmed-mean', 'median', 'centered-clip'] as const) assert.ok(distance(rule) < 0.1, `${rule}: ${distance(rule)}`);
  }
});

test('the threads\' all-reduce applies the rule: every worker gets the same robust aggregate', async () => {
  const n = 5;
  const dim = 16;
  const buffers = collectiveBuffers(n, dim);
  const backend = jsBackend();
  const reducers = Array.from({ length: n }, (_, i) => new SharedAllReduce(i, buffers, backend, 0, 'median'));
  const outs = await Promise.all(reducers.map(async (r, i) => {
    r.nextSlot(dim).fill(i === 2 ? 1e9 : i);
    const out = new Float32Array(dim);
    assert.equal(await r.reduce(out), n);
    return out;
  }));
  for (const out of outs) assert.deepEqual(out, new Float32Array(dim).fill(3), 'the median of 0, 1, 3, 4 and a forged 1e9');
});
