/**
 * Native addon against the TypeScript reference backend: every kernel of the Backend interface, on seeded random
 * inputs chosen to reach the addon's special paths (transposes, narrow and tiny matrices, edges of register tiles,
 * strides, aliasing, padding, ties), for every instruction set this CPU runs (AVX-512, AVX2, scalar). Float outputs
 * must agree within tolerance, integer outputs (argmax, dropout masks) exactly.
 * Skipped, with the reason, when the addon is not built.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { KERNEL_NAMES, type Backend } from '../../src/engine/backend.js';
import { jsBackend } from '../../src/engine/backends/js/index.js';
import { loadNativeBackend, nativeIsas, nativeLoadError } from '../../src/engine/backends/native/index.js';

type Output = Float32Array | Int32Array | number;
/** Runs one case on a backend; returns the outputs to compare, and the tolerance (relative, absolute). */
interface Case {
  label: string;
  run: (b: Backend, rng: Rng) => Output[];
  rtol?: number;
  atol?: number;
}
type KernelName = (typeof KERNEL_NAMES)[number];

function randn(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * rng.normal();
  return a;
}
function uniform(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.uniform();
  return a;
}
function ints(rng: Rng, n: number, limit: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.int(limit);
  return a;
}
/** Small integers as floats: many exact ties for max / argmax. */
function tied(rng: Rng, n: number): Float32Array {
  return Float32Array.from(ints(rng, n, 5), (v) => v - 2);
}

function gemm(ta: boolean, tb: boolean, m: number, n: number, k: number, alpha: number, beta: number, pad = 0): Case {
  return {
    label: `${ta ? 'T' : 'N'}${tb ? 'T' : 'N'} ${m}x${n}x${k} alpha=${alpha} beta=${beta}${pad ? ` pad=${pad}` : ''}`,
    run: (b, rng) => {
      const lda = (ta ? m : k) + pad;
      const ldb = (tb ? k : n) + 2 * pad;
      const ldc = n + 3 * pad;
      const a = randn(rng, Math.max(1, (ta ? k : m) * lda));
      const bb = randn(rng, Math.max(1, (tb ? n : k) * ldb));
      const c = randn(rng, Math.max(1, m * ldc));
      if (beta === 0) c.fill(NaN);
      // Run on a view at an offset, to exercise byteOffset handling.
      const big = new Float32Array(c.length + 5);
      big.set(c, 5);
      const cv = big.subarray(5);
      b.sgemm(ta, tb, m, n, k, alpha, a, lda, bb, ldb, beta, cv, ldc);
      // Entries between rows (the padding of ldc) must be untouched, so compare the whole buffer.
      return [big];
    },
    rtol: 1e-4,
    atol: 2e-5 * Math.sqrt(Math.max(k, 1)) * 4,
  };
}

const CASES: Record<KernelName, Case[]> = {
  sgemm: [
    // Shapes of an MLP 784-512-512-10 at batch 128 (forward, dW = X^T dY, dX = dY W^T), reduced in k where the
    // reference backend would be slow, plus edges of every register tile and block size.
    gemm(false, false, 128, 512, 100, 1, 0),
    gemm(true, false, 200, 96, 128, 1, 1),
    gemm(false, true, 128, 200, 64, 1, 0),
    gemm(false, false, 128, 10, 512, 1, 0),
    gemm(true, false, 512, 10, 128, 1, 1),
    gemm(false, true, 128, 512, 10, 1, 0),
    gemm(true, true, 37, 70, 300, 0.5, 0.25, 1),
    gemm(false, false, 37, 45, 29, 0.75, 0, 3),
    gemm(false, true, 64, 70, 33, 1, 1, 2),
    gemm(true, false, 13, 129, 257, -1.5, 0.5),
    gemm(true, true, 5, 3, 300, 1, 0),
    gemm(false, false, 1, 1, 1, 1, 1),
    gemm(false, false, 150, 33, 600, 1, 0),
    gemm(true, false, 29, 16, 40, 2, 0.5, 1),
    gemm(false, true, 29, 16, 40, 1, 0, 1),
    gemm(true, true, 9, 7, 17, 1, 1, 1),
    gemm(false, false, 7, 17, 1, 1, 0),
    gemm(false, false, 300, 50, 20, 1, 0),
    gemm(false, false, 6, 8, 0, 1, 0.5),
    gemm(false, false, 6, 8, 5, 0, 0.5),
    gemm(false, false, 0, 8, 5, 1, 0),
    // Narrow products deeper than one packed block of B.
    gemm(false, false, 20, 7, 2500, 1, 0.5),
    gemm(true, true, 19, 9, 4100, 0.5, 0, 1),
  ],
  sgemmBatched: [
    {
      label: 'attention scores over strided views',
      run: (b, rng) => {
        const t = 7, dh = 4, d = 8, batch = 3;
        const qkv = randn(rng, batch * t * 3 * d);
        const s = new Float32Array(batch * t * t);
        b.sgemmBatched(false, true, t, t, dh, 1, qkv.subarray(dh), 3 * d, t * 3 * d, qkv.subarray(d + dh), 3 * d,
          t * 3 * d, 0, s, t, t * t, batch);
        return [s];
      },
    },
    {
      label: 'weight gradient accumulated over a batch (strideC = 0)',
      run: (b, rng) => {
        const m = 16, n = 27, k = 49, count = 5;
        const a = randn(rng, count * m * k);
        const bb = randn(rng, count * n * k);
        const c = randn(rng, m * n);
        b.sgemmBatched(false, true, m, n, k, 1, a, k, m * k, bb, k, n * k, 1, c, n, 0, count);
        return [c];
      },
      rtol: 1e-4,
      atol: 1e-4,
    },
    {
      label: 'shared A, transposed',
      run: (b, rng) => {
        const m = 20, n = 33, k = 6, count = 3;
        const a = randn(rng, k * m);
        const bb = randn(rng, count * k * n);
        const c = new Float32Array(count * m * n);
        b.sgemmBatched(true, false, m, n, k, 0.5, a, m, 0, bb, n, k * n, 0, c, n, m * n, count);
        return [c];
      },
    },
  ],
  fill: [{ label: '1037', run: (b) => { const x = new Float32Array(1037); b.fill(x.subarray(3), 1.5); return [x]; } }],
  copy: [{
    label: 'into a longer array',
    run: (b, rng) => { const s = randn(rng, 1001); const d = randn(rng, 1100); b.copy(s, d.subarray(1)); return [d]; },
  }],
  scale: [{ label: '999', run: (b, rng) => { const x = randn(rng, 999); b.scale(x, -0.3); return [x]; } }],
  axpy: [{
    label: '1003',
    run: (b, rng) => { const x = randn(rng, 1010); const y = randn(rng, 1003); b.axpy(0.7, x, y); return [y]; },
  }],
  axpby: [{
    label: '1003',
    run: (b, rng) => { const x = randn(rng, 1003); const y = randn(rng, 1003); b.axpby(0.7, x, -1.25, y); return [y]; },
  }],
  add: [
    { label: 'separate', run: (b, rng) => { const x = randn(rng, 777); const y = randn(rng, 777); const o = new Float32Array(777); b.add(x, y, o); return [o]; } },
    { label: 'aliased', run: (b, rng) => { const x = randn(rng, 777); const y = randn(rng, 777); b.add(x, y, x); return [x]; } },
  ],
  mul: [
    { label: 'separate', run: (b, rng) => { const x = randn(rng, 777); const y = randn(rng, 777); const o = new Float32Array(777); b.mul(x, y, o); return [o]; } },
    { label: 'aliased', run: (b, rng) => { const x = randn(rng, 777); const y = randn(rng, 777); b.mul(x, y, y); return [y]; } },
  ],
  average: [{ label: '4099', run: (b, rng) => { const x = randn(rng, 4099); const y = randn(rng, 4099); b.average(x, y); return [x, y]; } }],
  acidMix: [
    { label: 'step', run: (b, rng) => { const x = randn(rng, 1037); const xt = randn(rng, 1037); b.acidMix(x, xt, randn(rng, 1037), 0.8, 0.2, 0, -0.05, -0.05); return [x, xt]; } },
    { label: 'exchange', run: (b, rng) => { const x = randn(rng, 1037); const xt = randn(rng, 1037); b.acidMix(x, xt, randn(rng, 1037), 0.9, 0.1, 1, 0.5, 1.7); return [x, xt]; } },
    { label: 'mixing, v aliasing x', run: (b, rng) => { const x = randn(rng, 1037); const xt = randn(rng, 1037); b.acidMix(x, xt, x, 0.6, 0.4, 0, 0, 0); return [x, xt]; } },
  ],
  sumSquares: [
    { label: '10007', run: (b, rng) => [b.sumSquares(randn(rng, 10007))], rtol: 1e-12, atol: 0 },
    { label: 'empty', run: (b) => [b.sumSquares(new Float32Array(0))] },
  ],
  dot: [
    { label: '10007', run: (b, rng) => [b.dot(randn(rng, 10007), randn(rng, 10007))], rtol: 1e-12, atol: 1e-12 },
    { label: 'y longer, offset views', run: (b, rng) => { const y = randn(rng, 40); return [b.dot(randn(rng, 33), y.subarray(3))]; }, rtol: 1e-12, atol: 1e-12 },
    { label: 'empty', run: (b) => [b.dot(new Float32Array(0), new Float32Array(0))] },
  ],
  addBias: [
    { label: 'linear', run: (b, rng) => { const x = randn(rng, 7 * 13); b.addBias(x, randn(rng, 13), 7, 13, 1); return [x]; } },
    { label: 'conv', run: (b, rng) => { const x = randn(rng, 3 * 5 * 17); b.addBias(x, randn(rng, 5), 3, 5, 17); return [x]; } },
  ],
  biasGrad: [
    { label: 'linear', run: (b, rng) => { const d = randn(rng, 13); b.biasGrad(randn(rng, 128 * 13), d, 128, 13, 1); return [d]; } },
    { label: 'conv', run: (b, rng) => { const d = randn(rng, 5); b.biasGrad(randn(rng, 4 * 5 * 50), d, 4, 5, 50); return [d]; } },
  ],
  relu: [
    { label: 'separate', run: (b, rng) => { const x = tied(rng, 1001); const y = randn(rng, 1001); b.relu(x, y); return [y]; } },
    { label: 'aliased', run: (b, rng) => { const x = randn(rng, 1001); b.relu(x, x); return [x]; } },
  ],
  reluBackward: [{
    label: 'aliased dy',
    run: (b, rng) => { const y = tied(rng, 1001); const dy = randn(rng, 1001); b.reluBackward(y, dy, dy); return [dy]; },
  }],
  gelu: [{
    label: 'wide range',
    run: (b, rng) => {
      const x = uniform(rng, 2000, -8, 8);
      x.set([0, -0, 1e-6, -1e-6, 30, -30, 0.05, -0.05]);
      const y = new Float32Array(2000);
      b.gelu(x, y);
      return [y];
    },
    rtol: 1e-5,
    atol: 1e-6,
  }],
  geluBackward: [{
    label: 'wide range',
    run: (b, rng) => {
      const x = uniform(rng, 2000, -8, 8);
      x.set([0, 1e-6, -1e-6, 30, -30, 0.05, -0.05]);
      const dy = randn(rng, 2000);
      b.geluBackward(x, dy, dy);
      return [dy];
    },
    rtol: 1e-5,
    atol: 1e-6,
  }],
  dropout: [0, 0.1, 0.5, 0.9].map((p) => ({
    label: `p=${p}`,
    run: (b: Backend, rng: Rng) => {
      const x = randn(rng, 3001);
      const out = new Float32Array(3001);
      const mask = new Float32Array(3001);
      b.dropout(x, out, mask, p, 0xdeadbeef + 7);
      return [out, mask];
    },
    rtol: 0,
    atol: 0,
  })),
  softmaxCrossEntropy: [
    {
      label: '13x10 with gradient',
      run: (b, rng) => {
        const l = randn(rng, 130, 3);
        const d = new Float32Array(130);
        return [b.softmaxCrossEntropy(l, ints(rng, 13, 10), 13, 10, d, 1 / 13), d];
      },
      rtol: 1e-5,
      atol: 1e-7,
    },
    {
      label: '9x257 aliased gradient',
      run: (b, rng) => {
        const l = randn(rng, 9 * 257, 5);
        return [b.softmaxCrossEntropy(l, ints(rng, 9, 257), 9, 257, l, 0.5), l];
      },
      rtol: 1e-5,
      atol: 1e-7,
    },
    {
      label: 'loss only',
      run: (b, rng) => [b.softmaxCrossEntropy(randn(rng, 40, 10), ints(rng, 4, 10), 4, 10, null, 1)],
      rtol: 1e-6,
    },
  ],
  argmaxRows: [{
    label: 'ties',
    run: (b, rng) => { const o = new Int32Array(50); b.argmaxRows(tied(rng, 50 * 9), 50, 9, o); return [o]; },
  }],
  softmax: [
    {
      label: 'plain',
      run: (b, rng) => { const x = randn(rng, 17 * 33); const y = new Float32Array(17 * 33); b.softmax(x, y, 17, 33, 0.5, false); return [y]; },
      rtol: 1e-5,
      atol: 1e-7,
    },
    {
      label: 'causal, aliased',
      run: (b, rng) => { const x = randn(rng, 3 * 16 * 16, 4); b.softmax(x, x, 48, 16, 0.25, true); return [x]; },
      rtol: 1e-5,
      atol: 1e-7,
    },
  ],
  softmaxBackward: [{
    label: 'aliased',
    run: (b, rng) => {
      const y = new Float32Array(20 * 31);
      b.softmax(randn(rng, 20 * 31), y, 20, 31, 1, false);
      const dy = randn(rng, 20 * 31);
      b.softmaxBackward(y, dy, dy, 20, 31, 0.7);
      return [dy];
    },
    rtol: 1e-4,
    atol: 1e-6,
  }],
  layerNorm: [{
    label: '19x130',
    run: (b, rng) => {
      const x = randn(rng, 19 * 130, 3);
      const y = new Float32Array(19 * 130);
      const mean = new Float32Array(19);
      const rstd = new Float32Array(19);
      b.layerNorm(x, randn(rng, 130), randn(rng, 130), y, mean, rstd, 19, 130, 1e-5);
      return [y, mean, rstd];
    },
    rtol: 1e-4,
    atol: 1e-5,
  }],
  layerNormBackward: [{
    label: '19x130',
    run: (b, rng) => {
      const x = randn(rng, 19 * 130, 3);
      const gamma = randn(rng, 130);
      const mean = new Float32Array(19);
      const rstd = new Float32Array(19);
      b.layerNorm(x, gamma, randn(rng, 130), new Float32Array(19 * 130), mean, rstd, 19, 130, 1e-5);
      const dy = randn(rng, 19 * 130);
      const dgamma = randn(rng, 130);
      const dbeta = randn(rng, 130);
      b.layerNormBackward(x, dy, gamma, mean, rstd, dy, dgamma, dbeta, 19, 130);
      return [dy, dgamma, dbeta];
    },
    rtol: 1e-4,
    atol: 1e-4,
  }],
  batchNormTrain: [{
    label: '6x5x49',
    run: (b, rng) => {
      const x = randn(rng, 6 * 5 * 49, 2);
      const y = new Float32Array(x.length);
      const mean = new Float32Array(5);
      const rstd = new Float32Array(5);
      const rm = randn(rng, 5);
      const rv = uniform(rng, 5, 0.5, 2);
      b.batchNormTrain(x, randn(rng, 5), randn(rng, 5), y, mean, rstd, rm, rv, 6, 5, 49, 1e-5, 0.1);
      return [y, mean, rstd, rm, rv];
    },
    rtol: 1e-4,
    atol: 1e-5,
  }],
  batchNormEval: [{
    label: '3x4x25',
    run: (b, rng) => {
      const x = randn(rng, 300);
      const y = new Float32Array(300);
      b.batchNormEval(x, randn(rng, 4), randn(rng, 4), y, randn(rng, 4), uniform(rng, 4, 0.5, 2), 3, 4, 25, 1e-5);
      return [y];
    },
    rtol: 1e-5,
    atol: 1e-6,
  }],
  batchNormBackward: [{
    label: '6x5x49, aliased',
    run: (b, rng) => {
      const x = randn(rng, 6 * 5 * 49, 2);
      const gamma = randn(rng, 5);
      const mean = new Float32Array(5);
      const rstd = new Float32Array(5);
      b.batchNormTrain(x, gamma, randn(rng, 5), new Float32Array(x.length), mean, rstd, new Float32Array(5),
        new Float32Array(5), 6, 5, 49, 1e-5, 0.1);
      const dy = randn(rng, x.length);
      const dgamma = randn(rng, 5);
      const dbeta = randn(rng, 5);
      b.batchNormBackward(x, dy, gamma, mean, rstd, dy, dgamma, dbeta, 6, 5, 49);
      return [dy, dgamma, dbeta];
    },
    rtol: 1e-4,
    atol: 1e-4,
  }],
  // Shapes: several channels per group with odd hw (vector tails), one channel per group, and one group over a
  // whole sample with hw = 1.
  groupNorm: [[6, 8, 49, 4], [3, 16, 64, 16], [7, 12, 1, 1]].map(([n, c, hw, groups]) => ({
    label: `${n}x${c}x${hw} groups ${groups}`,
    run: (b: Backend, rng: Rng) => {
      const x = randn(rng, n * c * hw, 2);
      const y = new Float32Array(x.length);
      const mean = new Float32Array(n * groups);
      const rstd = new Float32Array(n * groups);
      b.groupNorm(x, randn(rng, c), randn(rng, c), y, mean, rstd, n, c, hw, groups, 1e-5);
      return [y, mean, rstd];
    },
    rtol: 1e-4,
    atol: 1e-5,
  })),
  groupNormBackward: [[6, 8, 49, 4], [3, 16, 64, 16], [7, 12, 1, 1]].map(([n, c, hw, groups]) => ({
    label: `${n}x${c}x${hw} groups ${groups}, aliased`,
    run: (b: Backend, rng: Rng) => {
      const x = randn(rng, n * c * hw, 2);
      const gamma = randn(rng, c);
      const mean = new Float32Array(n * groups);
      const rstd = new Float32Array(n * groups);
      b.groupNorm(x, gamma, randn(rng, c), new Float32Array(x.length), mean, rstd, n, c, hw, groups, 1e-5);
      const dy = randn(rng, x.length);
      const dgamma = randn(rng, c);
      const dbeta = randn(rng, c);
      b.groupNormBackward(x, dy, gamma, mean, rstd, dy, dgamma, dbeta, n, c, hw, groups);
      return [dy, dgamma, dbeta];
    },
    rtol: 1e-4,
    atol: 1e-4,
  })),
  im2col: [
    [2, 3, 7, 6, 3, 3, 1, 1], [1, 2, 9, 8, 3, 3, 2, 0], [1, 2, 6, 11, 2, 4, 3, 2], [2, 1, 3, 3, 5, 5, 1, 2],
    [1, 1, 28, 28, 3, 3, 1, 0],
  ].map(([n, c, h, w, kh, kw, s, p]) => ({
    label: `${n}x${c}x${h}x${w} k${kh}x${kw} s${s} p${p}`,
    run: (b: Backend, rng: Rng) => {
      const oh = Math.floor((h + 2 * p - kh) / s) + 1;
      const ow = Math.floor((w + 2 * p - kw) / s) + 1;
      const cols = randn(rng, n * c * kh * kw * oh * ow);
      b.im2col(randn(rng, n * c * h * w), cols, n, c, h, w, kh, kw, s, p);
      return [cols];
    },
    rtol: 0,
    atol: 0,
  })),
  col2im: [
    [2, 3, 7, 6, 3, 3, 1, 1], [1, 2, 9, 8, 3, 3, 2, 0], [1, 2, 6, 11, 2, 4, 3, 2], [2, 1, 3, 3, 5, 5, 1, 2],
  ].map(([n, c, h, w, kh, kw, s, p]) => ({
    label: `${n}x${c}x${h}x${w} k${kh}x${kw} s${s} p${p}`,
    run: (b: Backend, rng: Rng) => {
      const oh = Math.floor((h + 2 * p - kh) / s) + 1;
      const ow = Math.floor((w + 2 * p - kw) / s) + 1;
      const dx = randn(rng, n * c * h * w);
      b.col2im(randn(rng, n * c * kh * kw * oh * ow), dx, n, c, h, w, kh, kw, s, p);
      return [dx];
    },
    rtol: 1e-5,
    atol: 1e-6,
  })),
  maxPool2d: [[2, 3, 8, 7, 2, 2], [1, 2, 9, 9, 3, 1], [1, 1, 5, 6, 3, 2]].map(([n, c, h, w, k, s]) => ({
    label: `${n}x${c}x${h}x${w} k${k} s${s}`,
    run: (b: Backend, rng: Rng) => {
      const oh = Math.floor((h - k) / s) + 1;
      const ow = Math.floor((w - k) / s) + 1;
      const y = new Float32Array(n * c * oh * ow);
      const arg = new Int32Array(y.length);
      b.maxPool2d(tied(rng, n * c * h * w), y, arg, n, c, h, w, k, s);
      return [y, arg];
    },
    rtol: 0,
    atol: 0,
  })),
  maxPool2dBackward: [{
    label: 'overlapping windows',
    run: (b, rng) => {
      const [n, c, h, w, k, s] = [1, 2, 9, 9, 3, 1];
      const y = new Float32Array(n * c * 7 * 7);
      const arg = new Int32Array(y.length);
      b.maxPool2d(tied(rng, n * c * h * w), y, arg, n, c, h, w, k, s);
      const dx = randn(rng, n * c * h * w);
      b.maxPool2dBackward(randn(rng, y.length), arg, dx);
      return [dx];
    },
    rtol: 1e-6,
    atol: 1e-6,
  }],
  avgPoolGlobal: [{
    label: '10x49',
    run: (b, rng) => { const y = new Float32Array(10); b.avgPoolGlobal(randn(rng, 490), y, 10, 49); return [y]; },
    rtol: 1e-6,
    atol: 1e-7,
  }],
  avgPoolGlobalBackward: [{
    label: '10x49',
    run: (b, rng) => { const dx = randn(rng, 490); b.avgPoolGlobalBackward(randn(rng, 10), dx, 10, 49); return [dx]; },
  }],
  embeddingGather: [{
    label: '40 ids',
    run: (b, rng) => { const o = randn(rng, 40 * 24); b.embeddingGather(randn(rng, 50 * 24), ints(rng, 40, 50), o, 24); return [o]; },
  }],
  embeddingScatterAdd: [{
    label: 'repeated ids',
    run: (b, rng) => { const t = randn(rng, 10 * 24); b.embeddingScatterAdd(randn(rng, 60 * 24), ints(rng, 60, 10), t, 24); return [t]; },
    rtol: 1e-5,
    atol: 1e-6,
  }],
  sgdStep: [
    [0, 0, false], [0.9, 0, false], [0.9, 1e-2, true], [0, 5e-4, false],
  ].map(([momentum, wd, nesterov]) => ({
    label: `momentum=${momentum} wd=${wd} nesterov=${nesterov}`,
    run: (b: Backend, rng: Rng) => {
      const p = randn(rng, 1001);
      const buf = momentum ? randn(rng, 1001) : new Float32Array(0);
      b.sgdStep(p, randn(rng, 1001), buf, 0.1, momentum as number, wd as number, nesterov as boolean);
      return [p, buf];
    },
    rtol: 1e-5,
    atol: 1e-6,
  })),
  adamwStep: [1, 10].map((step) => ({
    label: `step ${step}`,
    run: (b: Backend, rng: Rng) => {
      const p = randn(rng, 1001);
      const m = randn(rng, 1001, 0.1);
      const v = uniform(rng, 1001, 0, 0.1);
      b.adamwStep(p, randn(rng, 1001), m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, step);
      return [p, m, v];
    },
    rtol: 1e-5,
    atol: 1e-6,
  })),
};

function compare(actual: Output, expected: Output, rtol: number, atol: number, what: string): void {
  if (typeof expected === 'number') {
    assert.equal(typeof actual, 'number', what);
    const a = actual as number;
    assert.ok(Math.abs(a - expected) <= atol + rtol * Math.abs(expected), `${what}: ${a} vs ${expected}`);
    return;
  }
  if (typeof actual === 'number') assert.fail(`${what}: a number where an array was expected`);
  assert.equal(actual.constructor, expected.constructor, `${what}: output type`);
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a: number = actual[i];
    const e: number = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (expected instanceof Int32Array || (rtol === 0 && atol === 0)) {
      assert.ok(Object.is(a, e) || a === e, `${what}[${i}]: ${a} vs ${e}`);
    } else if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      assert.fail(`${what}[${i}]: ${a} vs ${e} (|diff| ${Math.abs(a - e)} > ${atol} + ${rtol}·|e|)`);
    }
  }
}

const isas = nativeIsas();

describe('native backend parity with the TypeScript backend', () => {
  it('has a case for every kernel of the interface', () => {
    for (const name of KERNEL_NAMES) assert.ok(CASES[name]?.length > 0, `no parity case for ${name}`);
  });

  if (isas.length === 0) {
    it('runs every kernel on every instruction set', { skip: `native addon unavailable: ${nativeLoadError()}` }, () => {});
    return;
  }

  const js = jsBackend();
  const expected = new Map<Case, Output[]>();
  const reference = (c: Case, seed: number): Output[] => {
    let out = expected.get(c);
    if (!out) {
      out = c.run(js, new Rng(seed));
      expected.set(c, out);
    }
    return out;
  };

  for (const isa of isas) {
    describe(`isa ${isa}`, () => {
      const backend = loadNativeBackend(isa);
      it('loads with the requested instruction set', () => {
        assert.ok(backend);
        assert.equal(backend.name, 'native');
        assert.equal(backend.isa, isa);
      });
      for (const name of KERNEL_NAMES) {
        it(name, () => {
          assert.ok(backend);
          CASES[name].forEach((c, index) => {
            const seed = 1000 * KERNEL_NAMES.indexOf(name) + index;
            const want = reference(c, seed);
            const got = c.run(backend, new Rng(seed));
            assert.equal(got.length, want.length);
            got.forEach((g, i) => compare(g, want[i], c.rtol ?? 1e-5, c.atol ?? 1e-6, `${name} (${c.label}) output ${i}`));
          });
        });
      }
    });
  }
});
