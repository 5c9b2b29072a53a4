/**
 * The native addon beyond kernel parity: zero-copy views (byteOffset, SharedArrayBuffer, worker threads), argument
 * checking at the boundary (TypeError / RangeError instead of out-of-bounds access), instruction-set selection,
 * full-size SGEMM accuracy against float64 on the MLP shapes for every instruction set, and the build script's
 * opt-out. Skipped, with the reason, when the addon is not built.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Rng } from '../../src/core/rng.js';
import { firstNonFinite } from '../../src/core/codecs.js';
import { loadNativeBackend, nativeFirstNonFinite, nativeIsas, nativeLoadError } from '../../src/engine/backends/native/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const isas = nativeIsas();
const skip = isas.length === 0 ? `native addon unavailable: ${nativeLoadError()}` : false;

function randn(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

describe('native addon', { skip }, () => {
  it('reads and writes views at any byteOffset without touching their neighbours', () => {
    const b = loadNativeBackend()!;
    const rng = new Rng(1);
    const buf = randn(rng, 1000);
    const before = buf.slice();
    const x = buf.subarray(3, 503);
    const y = buf.subarray(600, 1000);
    b.axpy(2, x.subarray(0, 400), y);
    for (let i = 0; i < 1000; i++) {
      const want = i >= 600 ? Math.fround(before[i] + 2 * before[i - 597]) : before[i];
      assert.ok(Math.abs(buf[i] - want) <= 1e-6 * (1 + Math.abs(want)), `element ${i}`);
    }
    const z = buf.subarray(1, 18); // odd offset and length: vector tails
    b.fill(z, 7);
    assert.equal(buf[0], before[0]);
    assert.equal(buf[18], before[18]);
    assert.ok(z.every((v) => v === 7));
  });

  it('works in place on SharedArrayBuffer-backed arrays', () => {
    const b = loadNativeBackend()!;
    const rng = new Rng(2);
    const n = 4097;
    const sa = new Float32Array(new SharedArrayBuffer(4 * (n + 4)), 16, n);
    const sb = new Float32Array(new SharedArrayBuffer(4 * n));
    sa.set(randn(rng, n));
    sb.set(randn(rng, n));
    const want = sa.map((v, i) => Math.fround(0.5 * (v + sb[i])));
    b.average(sa, sb);
    assert.deepEqual(Array.from(sa), Array.from(want));
    assert.ok(Math.abs(b.sumSquares(sa) - sa.reduce((s, v) => s + v * v, 0)) < 1e-6 * n);
  });

  it('loads in a worker thread and averages a shared buffer with no copy', async () => {
    const n = 1 << 16;
    const shared = new Float32Array(new SharedArrayBuffer(4 * 2 * n));
    const a = shared.subarray(0, n);
    const b = shared.subarray(n);
    a.fill(1);
    b.fill(3);
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const addon = require(workerData.path);
       const k = addon.kernels(addon.isas()[0]);
       const all = new Float32Array(workerData.buffer);
       k.average(all.subarray(0, workerData.n), all.subarray(workerData.n));
       parentPort.postMessage(k.isa);`,
      { eval: true, workerData: { path: join(root, 'build', 'Release', 'gossamer_native.node'), buffer: shared.buffer, n } },
    );
    const isa = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    assert.equal(isa, isas[0]);
    assert.ok(a.every((v) => v === 2));
    assert.ok(b.every((v) => v === 3));
  });

  it('rejects wrong types, short arrays, bad sizes and out-of-range indices', () => {
    const b = loadNativeBackend()!;
    const f = (n: number) => new Float32Array(n);
    const any = b as unknown as Record<string, (...args: unknown[]) => unknown>;
    assert.throws(() => any.axpy(1, [1, 2], f(2)), TypeError);
    assert.throws(() => any.axpy(1, new Float64Array(2), f(2)), TypeError);
    assert.throws(() => any.axpy('1', f(2), f(2)), TypeError);
    assert.throws(() => any.axpy(1, f(2)), TypeError);
    assert.throws(() => b.axpy(1, f(2), f(3)), RangeError);
    assert.throws(() => b.add(f(3), f(2), f(3)), RangeError);
    assert.throws(() => b.sgemm(false, false, 2, 2, 2, 1, f(3), 2, f(4), 2, 0, f(4), 2), RangeError);
    assert.throws(() => b.sgemm(false, false, 2, 2, 2, 1, f(4), 1, f(4), 2, 0, f(4), 2), RangeError);
    assert.throws(() => b.sgemm(false, false, 2.5, 2, 2, 1, f(8), 2, f(8), 2, 0, f(8), 2), RangeError);
    assert.throws(() => b.sgemm(false, false, -1, 2, 2, 1, f(8), 2, f(8), 2, 0, f(8), 2), RangeError);
    assert.throws(() => b.sgemm(true, false, 3, 2, 2, 1, f(5), 3, f(4), 2, 0, f(6), 2), RangeError);
    assert.throws(
      () => b.sgemmBatched(false, false, 2, 2, 2, 1, f(8), 2, 4, f(8), 2, 4, 0, f(8), 2, 4, 3),
      RangeError,
    );
    assert.throws(() => b.softmaxCrossEntropy(f(6), new Int32Array([0, 3]), 2, 3, null, 1), /label 3 is out of range/);
    assert.throws(() => b.softmaxCrossEntropy(f(6), new Int32Array([0, -1]), 2, 3, null, 1), RangeError);
    assert.throws(() => b.embeddingGather(f(20), new Int32Array([0, 5]), f(8), 4), /token id 5/);
    const table = f(20);
    assert.throws(() => b.embeddingScatterAdd(f(8).fill(1), new Int32Array([1, 9]), table, 4), RangeError);
    assert.ok(table.every((v) => v === 0), 'nothing written before the bad id was found');
    assert.throws(() => b.maxPool2dBackward(f(2), new Int32Array([0, 4]), f(4)), RangeError);
    assert.throws(() => b.im2col(f(16), f(144), 1, 1, 4, 4, 3, 3, 0, 1), RangeError);
    assert.throws(() => b.dropout(f(4), f(4), f(4), 1, 0), RangeError);
    assert.throws(() => b.dropout(f(4), f(4), f(4), -0.1, 0), RangeError);
    assert.throws(() => b.layerNorm(f(6), f(2), f(3), f(6), f(2), f(2), 2, 3, 1e-5), RangeError);
    assert.throws(() => b.groupNorm(f(12), f(6), f(6), f(12), f(8), f(8), 2, 6, 1, 4, 1e-5), /groupNorm: groups must divide c/);
    assert.throws(() => b.groupNorm(f(12), f(6), f(6), f(12), f(8), f(8), 2, 6, 1, 0, 1e-5), /groupNorm: groups must be positive/);
    assert.throws(() => b.groupNorm(f(12), f(6), f(6), f(12), f(5), f(6), 2, 6, 1, 3, 1e-5), /mean has 5 elements, needs at least 6/);
    assert.throws(
      () => b.groupNormBackward(f(12), f(12), f(6), f(4), f(4), f(12), f(6), f(6), 2, 6, 1, 4),
      /groupNormBackward: groups must divide c/,
    );
    assert.throws(() => b.groupNormBackward(f(12), f(12), f(6), f(6), f(5), f(12), f(6), f(6), 2, 6, 1, 3), RangeError);
    // A failed call leaves no pending exception behind: the next call works.
    const y = f(2);
    b.axpy(1, new Float32Array([1, 2]), y);
    assert.deepEqual(Array.from(y), [1, 2]);
  });

  it('flushes subnormals inside kernels without leaking the mode to JavaScript', () => {
    const b = loadNativeBackend()!;
    // Momentum buffers that decay where gradients stay zero end up subnormal: the kernels must stay correct (they
    // flush such values to zero) and JavaScript arithmetic afterwards must still see subnormals.
    const params = new Float32Array(1000).fill(1);
    const grads = new Float32Array(1000);
    const buf = new Float32Array(1000).fill(1e-39);
    b.sgdStep(params, grads, buf, 0.1, 0.5, 0, false);
    assert.ok(buf.every((v) => v >= 0 && v < 1e-38));
    assert.ok(params.every((v) => Math.abs(v - 1) < 1e-30));
    const c = new Float32Array(4);
    b.sgemm(false, false, 2, 2, 2, 1, new Float32Array(4).fill(1e-20), 2, new Float32Array(4).fill(1e-20), 2, 0, c, 2);
    assert.ok(c.every((v) => v >= 0 && v < 1e-38));
    const tiny = [1e-310, 3];
    assert.ok(tiny[0] * tiny[1] > 0, 'subnormal doubles still work in JavaScript');
    assert.ok(Math.fround(tiny[0] * 1e271 * tiny[1]) > 0);
  });

  it('computes the MLP products at full size to float64 accuracy on every instruction set', () => {
    const shapes: [boolean, boolean, number, number, number][] = [
      [false, false, 128, 512, 784], [true, false, 784, 512, 128], [false, true, 128, 784, 512],
      [false, false, 128, 10, 512], [true, false, 512, 10, 128], [false, true, 128, 512, 10],
    ];
    const rng = new Rng(3);
    for (const [ta, tb, m, n, k] of shapes) {
      const a = randn(rng, m * k);
      const bm = randn(rng, k * n);
      const lda = ta ? m : k;
      const ldb = tb ? k : n;
      const c0 = randn(rng, m * n);
      const probes = Array.from({ length: 300 }, () => [rng.int(m), rng.int(n)]);
      for (const isa of isas) {
        const b = loadNativeBackend(isa)!;
        const c = c0.slice();
        b.sgemm(ta, tb, m, n, k, 0.5, a, lda, bm, ldb, 2, c, n);
        for (const [i, j] of probes) {
          let s = 0;
          let mag = 0;
          for (let p = 0; p < k; p++) {
            const t = (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? bm[j * ldb + p] : bm[p * ldb + j]);
            s += t;
            mag += Math.abs(t);
          }
          const want = 0.5 * s + 2 * c0[i * n + j];
          const tol = 1e-6 * (mag + Math.abs(want)) + 1e-6;
          assert.ok(Math.abs(c[i * n + j] - want) <= tol, `${isa} ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'} ${m}x${n}x${k} C[${i},${j}] = ${c[i * n + j]}, want ${want}`);
        }
      }
    }
  });

  it('selects the instruction set from GOSSAMER_ISA, falling back to a lower one', () => {
    const run = (value: string) => {
      const r = spawnSync(process.execPath, [
        '--import', 'tsx', '--input-type=module', '-e',
        "import { loadNativeBackend } from './src/engine/backends/native/index.ts'; console.log(loadNativeBackend()?.isa);",
      ], { cwd: root, env: { ...process.env, GOSSAMER_ISA: value }, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return { isa: r.stdout.trim(), stderr: r.stderr };
    };
    assert.equal(run('scalar').isa, 'scalar');
    assert.equal(run('').isa, isas[0]);
    const bad = run('sse9');
    assert.equal(bad.isa, isas[0]);
    assert.match(bad.stderr, /GOSSAMER_ISA must be one of/);
    if (isas.includes('avx2')) assert.equal(run('avx2').isa, 'avx2');
  });
});

describe('native check of f32 payloads', { skip }, () => {
  it('finds the first NaN or infinity where the JavaScript check does: at block edges, odd offsets, none', () => {
    const native = nativeFirstNonFinite() as (values: Float32Array) => number;
    const rng = new Rng(7);
    const base = new Float32Array(5000).map(() => rng.normal() * 1e30);
    base[17] = 3.4e38; // the largest finite value, and the smallest denormal: both finite
    base[18] = 1e-45;
    const cases: Float32Array[] = [new Float32Array(0), base, base.subarray(3, 1003)];
    for (const at of [0, 1, 1023, 1024, 1025, 2047, 4999]) {
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        const x = base.slice();
        x[at] = bad;
        if (at + 7 < x.length) x[at + 7] = Number.NaN; // a second one after: the first is the answer
        cases.push(x, x.subarray(1));
      }
    }
    const bits = new Uint32Array(8).fill(0x7fc00001); // a NaN with a payload, and a negative NaN
    bits[3] = 0xffc00000;
    cases.push(new Float32Array(bits.buffer, 12, 5));
    for (const x of cases) assert.equal(native(x), firstNonFinite(x), `length ${x.length}, offset ${x.byteOffset}`);
    assert.throws(() => (native as unknown as (x: unknown) => number)(new Float64Array(4)), TypeError);
    assert.throws(() => (native as unknown as (x: unknown) => number)(new Uint8Array(4)), TypeError);
  });
});

describe('native build script', () => {
  it('skips the build with one warning line and exit code 0 when GOSSAMER_NO_NATIVE=1', () => {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-native.mjs')], {
      cwd: root, env: { ...process.env, GOSSAMER_NO_NATIVE: '1' }, encoding: 'utf8',
    });
    assert.equal(r.status, 0);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0], /GOSSAMER_NO_NATIVE=1.*TypeScript backend/);
  });
});
