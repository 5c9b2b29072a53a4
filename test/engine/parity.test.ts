/**
 * Backend parity: every kernel of the Backend interface, run on the same seeded inputs by the TypeScript backend
 * and by the native addon, must give the same outputs within float tolerance (integer outputs exactly).
 * Without the addon, the native half is skipped; the harness still runs js against js (which must match exactly).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { KERNEL_NAMES, type Backend } from '../../src/engine/backend.js';
import { jsBackend, nativeBackendStatus } from '../../src/engine/backends/index.js';
import { createModel, type ModelName } from '../../src/engine/models/index.js';
import { BACKENDS, randInts, randn } from './helpers.js';

type Output = Float32Array | Int32Array | number;
type Case = (b: Backend, rng: Rng) => Output[];
type KernelName = (typeof KERNEL_NAMES)[number];

const pos = (rng: Rng, n: number) => Float32Array.from(randn(rng, n), (v) => Math.abs(v) + 0.1);

function gemmCase(transA: boolean, transB: boolean, m: number, n: number, k: number, beta: number): Case {
  return (b, rng) => {
    const lda = (transA ? m : k) + 1;
    const ldb = (transB ? k : n) + 2;
    const ldc = n + 3;
    const a = randn(rng, (transA ? k : m) * lda);
    const bb = randn(rng, (transB ? n : k) * ldb);
    const c = randn(rng, m * ldc);
    if (beta === 0) c.fill(NaN);
    b.sgemm(transA, transB, m, n, k, 0.75, a, lda, bb, ldb, beta, c, ldc);
    return [c];
  };
}

const CASES: Record<KernelName, Case[]> = {
  sgemm: [
    gemmCase(false, false, 37, 45, 29, 0), gemmCase(false, true, 64, 70, 33, 1), gemmCase(true, false, 13, 129, 257, 0.5),
    gemmCase(true, true, 5, 3, 300, 0), gemmCase(false, false, 128, 512, 100, 0), gemmCase(false, false, 1, 1, 1, 1),
  ],
  sgemmBatched: [
    (b, rng) => {
      // Per-head attention-style products: strided views into a shared [batch, T, 3D] buffer.
      const t = 7, dh = 4, d = 8, batch = 3;
      const qkv = randn(rng, batch * t * 3 * d);
      const s = new Float32Array(batch * t * t);
      b.sgemmBatched(false, true, t, t, dh, 1, qkv.subarray(dh), 3 * d, t * 3 * d, qkv.subarray(d + dh), 3 * d, t * 3 * d, 0, s, t, t * t, batch);
      return [s];
    },
    (b, rng) => {
      // Weight-gradient accumulation: strideC = 0 and beta = 1 over the batch.
      const m = 6, n = 9, k = 11, count = 4;
      const a = randn(rng, count * m * k);
      const bb = randn(rng, count * n * k);
      const c = randn(rng, m * n);
      b.sgemmBatched(false, true, m, n, k, 1, a, k, m * k, bb, k, n * k, 1, c, n, 0, count);
      return [c];
    },
    (b, rng) => {
      // Shared A (strideA = 0), transposed.
      const m = 10, n = 5, k = 6, count = 3;
      const a = randn(rng, k * m);
      const bb = randn(rng, count * k * n);
      const c = new Float32Array(count * m * n);
      b.sgemmBatched(true, false, m, n, k, 1, a, m, 0, bb, n, k * n, 0, c, n, m * n, count);
      return [c];
    },
  ],
  fill: [(b) => {
    const x = new Float32Array(37);
    b.fill(x.subarray(3, 30), -2.5);
    return [x];
  }],
  copy: [(b, rng) => {
    const src = randn(rng, 50);
    const dst = new Float32Array(60);
    b.copy(src, dst.subarray(5));
    return [dst];
  }],
  scale: [(b, rng) => {
    const x = randn(rng, 1001);
    b.scale(x.subarray(1), 0.3);
    return [x];
  }],
  axpy: [(b, rng) => {
    const x = randn(rng, 1003);
    const y = randn(rng, 1003);
    b.axpy(-1.7, x, y);
    return [y];
  }],
  axpby: [(b, rng) => {
    const x = randn(rng, 517);
    const y = randn(rng, 517);
    b.axpby(0.25, x, 0.75, y);
    return [y];
  }],
  add: [(b, rng) => {
    const x = randn(rng, 333);
    const y = randn(rng, 333);
    const out = new Float32Array(333);
    b.add(x, y, out);
    b.add(x, out, x);
    return [out, x];
  }],
  mul: [(b, rng) => {
    const x = randn(rng, 333);
    const y = randn(rng, 333);
    const out = new Float32Array(333);
    b.mul(x, y, out);
    b.mul(out, y, out);
    return [out];
  }],
  average: [(b, rng) => {
    const x = randn(rng, 1025);
    const y = randn(rng, 1025);
    b.average(x, y);
    return [x, y];
  }],
  acidMix: [(b, rng) => {
    const x = randn(rng, 1025);
    const xt = randn(rng, 1025);
    b.acidMix(x, xt, randn(rng, 1025), 0.9, 0.1, 1, 0.5, 1.3);
    return [x, xt];
  }],
  sumSquares: [(b, rng) => [b.sumSquares(randn(rng, 10007)), b.sumSquares(new Float32Array(0))]],
  dot: [(b, rng) => [b.dot(randn(rng, 10007), randn(rng, 10007)), b.dot(new Float32Array(0), new Float32Array(0))]],
  addBias: [(b, rng) => {
    const x = randn(rng, 3 * 5 * 7);
    b.addBias(x, randn(rng, 5), 3, 5, 7);
    const y = randn(rng, 4 * 9);
    b.addBias(y, randn(rng, 9), 4, 9, 1);
    return [x, y];
  }],
  biasGrad: [(b, rng) => {
    const db = randn(rng, 5);
    b.biasGrad(randn(rng, 3 * 5 * 7), db, 3, 5, 7);
    const db2 = randn(rng, 9);
    b.biasGrad(randn(rng, 40 * 9), db2, 40, 9, 1);
    return [db, db2];
  }],
  relu: [(b, rng) => {
    const x = randn(rng, 1000);
    const y = new Float32Array(1000);
    b.relu(x, y);
    b.relu(x, x);
    return [y, x];
  }],
  reluBackward: [(b, rng) => {
    const y = randn(rng, 1000);
    const dy = randn(rng, 1000);
    const dx = new Float32Array(1000);
    b.reluBackward(y, dy, dx);
    b.reluBackward(y, dy, dy);
    return [dx, dy];
  }],
  gelu: [(b, rng) => {
    const x = randn(rng, 1000, 3);
    const y = new Float32Array(1000);
    b.gelu(x, y);
    return [y];
  }],
  geluBackward: [(b, rng) => {
    const x = randn(rng, 1000, 3);
    const dy = randn(rng, 1000);
    const dx = new Float32Array(1000);
    b.geluBackward(x, dy, dx);
    return [dx];
  }],
  dropout: [(b, rng) => {
    const x = randn(rng, 4099);
    const out = new Float32Array(4099);
    const mask = new Float32Array(4099);
    b.dropout(x, out, mask, 0.3, 0xdeadbeef);
    const out2 = new Float32Array(100);
    const mask2 = new Float32Array(100);
    b.dropout(x.subarray(0, 100), out2, mask2, 0, 7);
    return [out, mask, out2, mask2];
  }],
  softmaxCrossEntropy: [(b, rng) => {
    const rows = 33, classes = 17;
    const logits = randn(rng, rows * classes, 4);
    const labels = randInts(rng, rows, classes);
    const d = new Float32Array(rows * classes);
    const loss = b.softmaxCrossEntropy(logits, labels, rows, classes, d, 1 / rows);
    const lossOnly = b.softmaxCrossEntropy(logits, labels, rows, classes, null, 0);
    return [loss, lossOnly, d];
  }],
  argmaxRows: [(b, rng) => {
    const x = randn(rng, 20 * 13);
    x.fill(5, 13, 26); // a row of ties
    const out = new Int32Array(20);
    b.argmaxRows(x, 20, 13, out);
    return [out];
  }],
  softmax: [(b, rng) => {
    const x = randn(rng, 24 * 8, 3);
    const y = new Float32Array(x.length);
    b.softmax(x, y, 24, 8, 0.5, true);
    const z = new Float32Array(x.length);
    b.softmax(x, z, 24, 8, 1, false);
    return [y, z];
  }],
  softmaxBackward: [(b, rng) => {
    const x = randn(rng, 24 * 8);
    const y = new Float32Array(x.length);
    b.softmax(x, y, 24, 8, 0.5, true);
    const dy = randn(rng, x.length);
    const dx = new Float32Array(x.length);
    b.softmaxBackward(y, dy, dx, 24, 8, 0.5);
    return [dx];
  }],
  layerNorm: [(b, rng) => {
    const rows = 9, cols = 37;
    const x = randn(rng, rows * cols, 2);
    const y = new Float32Array(x.length);
    const mean = new Float32Array(rows);
    const rstd = new Float32Array(rows);
    b.layerNorm(x, randn(rng, cols), randn(rng, cols), y, mean, rstd, rows, cols, 1e-5);
    return [y, mean, rstd];
  }],
  layerNormBackward: [(b, rng) => {
    const rows = 9, cols = 37;
    const x = randn(rng, rows * cols, 2);
    const gamma = randn(rng, cols);
    const y = new Float32Array(x.length);
    const mean = new Float32Array(rows);
    const rstd = new Float32Array(rows);
    b.layerNorm(x, gamma, randn(rng, cols), y, mean, rstd, rows, cols, 1e-5);
    const dy = randn(rng, x.length);
    const dx = new Float32Array(x.length);
    const dg = randn(rng, cols);
    const db = randn(rng, cols);
    b.layerNormBackward(x, dy, gamma, mean, rstd, dx, dg, db, rows, cols);
    return [dx, dg, db];
  }],
  batchNormTrain: [(b, rng) => {
    const n = 4, c = 3, hw = 25;
    const x = randn(rng, n * c * hw, 2);
    const y = new Float32Array(x.length);
    const mean = new Float32Array(c);
    const rstd = new Float32Array(c);
    const rm = randn(rng, c);
    const rv = pos(rng, c);
    b.batchNormTrain(x, randn(rng, c), randn(rng, c), y, mean, rstd, rm, rv, n, c, hw, 1e-5, 0.1);
    return [y, mean, rstd, rm, rv];
  }],
  batchNormEval: [(b, rng) => {
    const n = 4, c = 3, hw = 25;
    const x = randn(rng, n * c * hw, 2);
    const y = new Float32Array(x.length);
    b.batchNormEval(x, randn(rng, c), randn(rng, c), y, randn(rng, c), pos(rng, c), n, c, hw, 1e-5);
    return [y];
  }],
  batchNormBackward: [(b, rng) => {
    const n = 4, c = 3, hw = 25;
    const x = randn(rng, n * c * hw, 2);
    const gamma = randn(rng, c);
    const y = new Float32Array(x.length);
    const mean = new Float32Array(c);
    const rstd = new Float32Array(c);
    b.batchNormTrain(x, gamma, randn(rng, c), y, mean, rstd, new Float32Array(c), new Float32Array(c), n, c, hw, 1e-5, 0.1);
    const dy = randn(rng, x.length);
    const dx = new Float32Array(x.length);
    const dg = randn(rng, c);
    const db = randn(rng, c);
    b.batchNormBackward(x, dy, gamma, mean, rstd, dx, dg, db, n, c, hw);
    return [dx, dg, db];
  }],
  groupNorm: [[4, 6, 25, 3], [3, 8, 9, 8], [5, 6, 1, 1]].map(([n, c, hw, groups]) => (b: Backend, rng: Rng) => {
    const x = randn(rng, n * c * hw, 2);
    const y = new Float32Array(x.length);
    const mean = new Float32Array(n * groups);
    const rstd = new Float32Array(n * groups);
    b.groupNorm(x, randn(rng, c), randn(rng, c), y, mean, rstd, n, c, hw, groups, 1e-5);
    return [y, mean, rstd];
  }),
  groupNormBackward: [[4, 6, 25, 3], [3, 8, 9, 8], [5, 6, 1, 1]].map(([n, c, hw, groups]) => (b: Backend, rng: Rng) => {
    const x = randn(rng, n * c * hw, 2);
    const gamma = randn(rng, c);
    const y = new Float32Array(x.length);
    const mean = new Float32Array(n * groups);
    const rstd = new Float32Array(n * groups);
    b.groupNorm(x, gamma, randn(rng, c), y, mean, rstd, n, c, hw, groups, 1e-5);
    const dy = randn(rng, x.length);
    const dx = new Float32Array(x.length);
    const dg = randn(rng, c);
    const db = randn(rng, c);
    b.groupNormBackward(x, dy, gamma, mean, rstd, dx, dg, db, n, c, hw, groups);
    return [dx, dg, db];
  }),
  im2col: [
    (b, rng) => {
      const n = 2, c = 3, h = 7, w = 6;
      const x = randn(rng, n * c * h * w);
      const cols = new Float32Array(n * c * 9 * 7 * 6);
      b.im2col(x, cols, n, c, h, w, 3, 3, 1, 1);
      return [cols];
    },
    (b, rng) => {
      const n = 2, c = 2, h = 9, w = 8;
      const x = randn(rng, n * c * h * w);
      const oh = Math.floor((9 + 2 - 3) / 2) + 1, ow = Math.floor((8 + 2 - 3) / 2) + 1;
      const cols = new Float32Array(n * c * 9 * oh * ow);
      b.im2col(x, cols, n, c, h, w, 3, 3, 2, 1);
      return [cols];
    },
  ],
  col2im: [
    (b, rng) => {
      const n = 2, c = 3, h = 7, w = 6;
      const cols = randn(rng, n * c * 9 * 7 * 6);
      const dx = randn(rng, n * c * h * w);
      b.col2im(cols, dx, n, c, h, w, 3, 3, 1, 1);
      return [dx];
    },
    (b, rng) => {
      const n = 2, c = 2, h = 9, w = 8;
      const oh = 5, ow = 4;
      const cols = randn(rng, n * c * 9 * oh * ow);
      const dx = new Float32Array(n * c * h * w);
      b.col2im(cols, dx, n, c, h, w, 3, 3, 2, 1);
      return [dx];
    },
  ],
  maxPool2d: [(b, rng) => {
    const n = 2, c = 3, h = 9, w = 8;
    const x = randn(rng, n * c * h * w);
    x.fill(1, 0, 16); // ties
    const oh = 4, ow = 3;
    const y = new Float32Array(n * c * oh * ow);
    const arg = new Int32Array(y.length);
    b.maxPool2d(x, y, arg, n, c, h, w, 3, 2);
    const y2 = new Float32Array(n * c * 4 * 4);
    const arg2 = new Int32Array(y2.length);
    b.maxPool2d(x, y2, arg2, n, c, h, w, 2, 2);
    return [y, arg, y2, arg2];
  }],
  maxPool2dBackward: [(b, rng) => {
    const n = 2, c = 3, h = 9, w = 8;
    const x = randn(rng, n * c * h * w);
    const y = new Float32Array(n * c * 4 * 3);
    const arg = new Int32Array(y.length);
    b.maxPool2d(x, y, arg, n, c, h, w, 3, 2);
    const dx = randn(rng, x.length);
    b.maxPool2dBackward(randn(rng, y.length), arg, dx);
    return [dx];
  }],
  avgPoolGlobal: [(b, rng) => {
    const x = randn(rng, 6 * 49);
    const y = new Float32Array(6);
    b.avgPoolGlobal(x, y, 6, 49);
    return [y];
  }],
  avgPoolGlobalBackward: [(b, rng) => {
    const dx = randn(rng, 6 * 49);
    b.avgPoolGlobalBackward(randn(rng, 6), dx, 6, 49);
    return [dx];
  }],
  embeddingGather: [(b, rng) => {
    const table = randn(rng, 11 * 6);
    const ids = randInts(rng, 40, 11);
    const out = new Float32Array(40 * 6);
    b.embeddingGather(table, ids, out, 6);
    return [out];
  }],
  embeddingScatterAdd: [(b, rng) => {
    const dtable = randn(rng, 11 * 6);
    const ids = randInts(rng, 40, 11);
    b.embeddingScatterAdd(randn(rng, 40 * 6), ids, dtable, 6);
    return [dtable];
  }],
  sgdStep: [
    (b, rng) => {
      const p = randn(rng, 1000);
      const g = randn(rng, 1000);
      const buf = randn(rng, 1000);
      b.sgdStep(p, g, buf, 0.1, 0.9, 1e-2, true);
      b.sgdStep(p, g, buf, 0.1, 0.9, 0, false);
      return [p, buf, g];
    },
    (b, rng) => {
      const p = randn(rng, 100);
      b.sgdStep(p, randn(rng, 100), new Float32Array(0), 0.05, 0, 1e-3, false);
      return [p];
    },
  ],
  adamwStep: [(b, rng) => {
    const p = randn(rng, 1000);
    const g = randn(rng, 1000);
    const m = randn(rng, 1000, 0.1);
    const v = pos(rng, 1000);
    b.adamwStep(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, 1);
    b.adamwStep(p, g, m, v, 1e-3, 0.9, 0.95, 1e-8, 0.1, 7);
    return [p, m, v];
  }],
};

function compare(name: string, a: Output[], b: Output[], exact: boolean): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (typeof x === 'number' || typeof y === 'number') {
      assert.equal(typeof x, typeof y);
      const tol = exact ? 0 : 1e-5 * (1 + Math.abs(x as number));
      assert.ok(Math.abs((x as number) - (y as number)) <= tol, `${name} output ${i}: ${x} vs ${y}`);
      continue;
    }
    assert.equal(x.constructor, y.constructor, `${name} output ${i}: array types differ`);
    assert.equal(x.length, y.length);
    if (x instanceof Int32Array || exact) {
      for (let j = 0; j < x.length; j++) {
        if (!Object.is(x[j], y[j])) assert.fail(`${name} output ${i}[${j}]: ${x[j]} vs ${y[j]}`);
      }
      continue;
    }
    let scale = 0;
    for (let j = 0; j < x.length; j++) if (Number.isFinite(x[j])) scale = Math.max(scale, Math.abs(x[j]));
    for (let j = 0; j < x.length; j++) {
      if (Number.isNaN(x[j]) && Number.isNaN(y[j])) continue;
      const d = Math.abs(x[j] - y[j]);
      if (!(d <= 2e-5 * scale + 1e-4 * Math.abs(x[j]) + 1e-6)) assert.fail(`${name} output ${i}[${j}]: ${x[j]} vs ${y[j]} (scale ${scale})`);
    }
  }
}

describe('backend parity', () => {
  it('covers every kernel of the Backend interface', () => {
    assert.deepEqual(Object.keys(CASES).sort(), [...KERNEL_NAMES].sort());
    for (const backend of BACKENDS) {
      for (const k of KERNEL_NAMES) assert.equal(typeof backend[k], 'function', `${backend.name} lacks ${k}`);
    }
  });

  it('js is deterministic (the harness against itself)', () => {
    const js = jsBackend();
    for (const k of KERNEL_NAMES) {
      CASES[k].forEach((c, i) => compare(`${k}#${i}`, c(js, new Rng(`${k}:${i}`)), c(js, new Rng(`${k}:${i}`)), true));
    }
  });

  const native = BACKENDS.find((b) => b.name === 'native');
  const status = nativeBackendStatus();
  for (const k of KERNEL_NAMES) {
    it(`native matches js: ${k}`, { skip: native ? false : `native backend unavailable: ${status.reason}` }, () => {
      const js = jsBackend();
      CASES[k].forEach((c, i) => compare(`${k}#${i}`, c(js, new Rng(`${k}:${i}`)), c(native as Backend, new Rng(`${k}:${i}`)), false));
    });
  }
});

const MODELS: { name: ModelName; label?: string; config: Record<string, unknown>; batch: number }[] = [
  { name: 'mlp', config: { inputSize: 30, hidden: [40, 20], classes: 5 }, batch: 8 },
  { name: 'cnn', config: { channels: 1, height: 14, width: 14, conv1: 6, conv2: 8, hidden: 16, classes: 4 }, batch: 5 },
  { name: 'resnet20', config: { channels: 3, height: 8, width: 8, baseWidth: 4, blocksPerStage: 1, classes: 3 }, batch: 4 },
  {
    name: 'resnet20', label: 'resnet20 GroupNorm',
    config: { channels: 3, height: 8, width: 8, baseWidth: 4, blocksPerStage: 1, classes: 3, norm: 'group', groups: 2 }, batch: 4,
  },
  { name: 'transformer', config: { vocab: 20, seq: 9, dim: 16, heads: 4, layers: 2, dropout: 0.1 }, batch: 3 },
];

describe('whole-model parity', () => {
  const native = BACKENDS.find((b) => b.name === 'native');
  const status = nativeBackendStatus();
  for (const spec of MODELS) {
    it(`${spec.label ?? spec.name}: loss, gradient and running statistics agree`, { skip: native ? false : `native backend unavailable: ${status.reason}` }, () => {
      const run = (backend: Backend) => {
        const rng = new Rng(`model-parity:${spec.label ?? spec.name}`);
        const model = createModel(spec.name, { ...spec.config, backend, seed: 11 });
        const inputs = model.inputKind === 'i32'
          ? randInts(rng, spec.batch * model.inputSize, model.classes)
          : randn(rng, spec.batch * model.inputSize);
        const targets = randInts(rng, spec.batch * model.targetsPerSample, model.classes);
        const loss = model.lossAndGradient(inputs, targets);
        return { loss, grads: model.grads.slice(), state: model.state.slice(), logits: model.forward(inputs, false).slice() };
      };
      const a = run(jsBackend());
      const b = run(native as Backend);
      compare(`${spec.label ?? spec.name} loss`, [a.loss], [b.loss], false);
      compare(`${spec.label ?? spec.name} gradient`, [a.grads], [b.grads], false);
      compare(`${spec.label ?? spec.name} state`, [a.state], [b.state], false);
      compare(`${spec.label ?? spec.name} eval logits`, [a.logits], [b.logits], false);
    });
  }
});
