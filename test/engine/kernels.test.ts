/** Kernel semantics against straightforward float64 references and closed forms, on every available backend. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { dropoutHash } from '../../src/engine/backends/js/index.js';
import { BACKENDS, noteNativeSkip, randn, worstRatio } from './helpers.js';

noteNativeSkip();

function naiveGemm(
  transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
  a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number,
): Float64Array {
  const out = Float64Array.from(c);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
      out[i * ldc + j] = alpha * s + (beta === 0 ? 0 : beta * c[i * ldc + j]);
    }
  }
  return out;
}

function conv2dDirect(
  x: Float32Array, w: Float32Array, n: number, c: number, h: number, wd: number, cout: number, k: number, stride: number, pad: number,
): Float64Array {
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((wd + 2 * pad - k) / stride) + 1;
  const y = new Float64Array(n * cout * oh * ow);
  for (let img = 0; img < n; img++) for (let o = 0; o < cout; o++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
    let s = 0;
    for (let ch = 0; ch < c; ch++) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
      const iy = oy * stride - pad + i;
      const ix = ox * stride - pad + j;
      if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
      s += x[((img * c + ch) * h + iy) * wd + ix] * w[((o * c + ch) * k + i) * k + j];
    }
    y[((img * cout + o) * oh + oy) * ow + ox] = s;
  }
  return y;
}

/** GroupNorm forward and backward computed directly in float64 (statistics recomputed, nothing shared with the kernels). */
function groupNormReference(
  x: Float32Array, dy: Float32Array, gamma: Float32Array, beta: Float32Array,
  n: number, c: number, hw: number, groups: number, eps: number,
): { y: Float64Array; mean: Float64Array; rstd: Float64Array; dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array } {
  const cpg = c / groups;
  const m = cpg * hw;
  const y = new Float64Array(x.length);
  const dx = new Float64Array(x.length);
  const mean = new Float64Array(n * groups);
  const rstd = new Float64Array(n * groups);
  const dgamma = new Float64Array(c);
  const dbeta = new Float64Array(c);
  for (let s = 0; s < n; s++) {
    for (let g = 0; g < groups; g++) {
      const at = (i: number, ch: number) => (s * c + ch) * hw + i;
      let mu = 0;
      for (let ch = g * cpg; ch < (g + 1) * cpg; ch++) for (let i = 0; i < hw; i++) mu += x[at(i, ch)];
      mu /= m;
      let v = 0;
      for (let ch = g * cpg; ch < (g + 1) * cpg; ch++) for (let i = 0; i < hw; i++) v += (x[at(i, ch)] - mu) ** 2;
      v /= m;
      const rs = 1 / Math.sqrt(v + eps);
      mean[s * groups + g] = mu;
      rstd[s * groups + g] = rs;
      let mg = 0;
      let mgx = 0;
      for (let ch = g * cpg; ch < (g + 1) * cpg; ch++) {
        for (let i = 0; i < hw; i++) {
          const xh = (x[at(i, ch)] - mu) * rs;
          y[at(i, ch)] = xh * gamma[ch] + beta[ch];
          dgamma[ch] += dy[at(i, ch)] * xh;
          dbeta[ch] += dy[at(i, ch)];
          mg += dy[at(i, ch)] * gamma[ch];
          mgx += dy[at(i, ch)] * gamma[ch] * xh;
        }
      }
      mg /= m;
      mgx /= m;
      for (let ch = g * cpg; ch < (g + 1) * cpg; ch++) {
        for (let i = 0; i < hw; i++) {
          const xh = (x[at(i, ch)] - mu) * rs;
          dx[at(i, ch)] = rs * (dy[at(i, ch)] * gamma[ch] - mg - xh * mgx);
        }
      }
    }
  }
  return { y, mean, rstd, dx, dgamma, dbeta };
}

for (const b of BACKENDS) {
  describe(`kernels [${b.name}]`, () => {
    it('sgemm: every transpose, strides, alpha and beta; beta = 0 ignores C', () => {
      const rng = new Rng('sgemm');
      for (let trial = 0; trial < 24; trial++) {
        const m = 1 + rng.int(70), n = 1 + rng.int(90), k = 1 + rng.int(140);
        const ta = trial % 2 === 1, tb = (trial >> 1) % 2 === 1;
        const lda = (ta ? m : k) + rng.int(3), ldb = (tb ? k : n) + rng.int(3), ldc = n + rng.int(3);
        const a = randn(rng, (ta ? k : m) * lda);
        const bb = randn(rng, (tb ? n : k) * ldb);
        const c = randn(rng, m * ldc);
        const beta = [0, 1, -0.5][trial % 3];
        if (beta === 0) for (let i = 0; i < m; i++) c.fill(NaN, i * ldc, i * ldc + n);
        const ref = naiveGemm(ta, tb, m, n, k, 1.25, a, lda, bb, ldb, beta, c, ldc);
        b.sgemm(ta, tb, m, n, k, 1.25, a, lda, bb, ldb, beta, c, ldc);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < ldc; j++) {
            const got = c[i * ldc + j];
            const want = ref[i * ldc + j];
            if (j >= n) assert.equal(got, Math.fround(want), 'sgemm wrote outside C');
            else assert.ok(Math.abs(got - want) <= 1e-4 * Math.sqrt(k) * (1 + Math.abs(want)), `sgemm ${ta} ${tb} (${i}, ${j}): ${got} vs ${want}`);
          }
        }
      }
    });

    it('sgemmBatched equals separate sgemm calls, and strideC = 0 accumulates', () => {
      const rng = new Rng('batched');
      const m = 5, n = 6, k = 7, count = 4;
      const a = randn(rng, count * m * k);
      const bb = randn(rng, count * k * n);
      const c = new Float32Array(count * m * n);
      b.sgemmBatched(false, false, m, n, k, 1, a, k, m * k, bb, n, k * n, 0, c, n, m * n, count);
      const acc = new Float32Array(m * n);
      b.sgemmBatched(false, false, m, n, k, 1, a, k, m * k, bb, n, k * n, 1, acc, n, 0, count);
      const sum = new Float64Array(m * n);
      for (let i = 0; i < count; i++) {
        const ref = naiveGemm(false, false, m, n, k, 1, a.subarray(i * m * k), k, bb.subarray(i * k * n), n, 0, new Float32Array(m * n), n);
        assert.ok(worstRatio(c.subarray(i * m * n, (i + 1) * m * n), ref, 1e-5, 1e-5) <= 1);
        for (let j = 0; j < m * n; j++) sum[j] += ref[j];
      }
      assert.ok(worstRatio(acc, sum, 1e-5, 1e-5) <= 1);
    });

    it('vector operations', () => {
      const rng = new Rng('vec');
      const x = randn(rng, 101);
      const y = randn(rng, 101);
      const t = y.slice();
      b.axpy(2, x, t);
      assert.ok(worstRatio(t, Array.from(y, (v, i) => v + 2 * x[i]), 1e-6, 1e-6) <= 1);
      const u = y.slice();
      b.axpby(0.5, x, -1, u);
      assert.ok(worstRatio(u, Array.from(y, (v, i) => 0.5 * x[i] - v), 1e-6, 1e-6) <= 1);
      const s = x.slice();
      b.scale(s, -3);
      assert.ok(worstRatio(s, Array.from(x, (v) => -3 * v), 1e-6, 1e-6) <= 1);
      const sum = new Float32Array(101);
      b.add(x, y, sum);
      const prod = new Float32Array(101);
      b.mul(x, y, prod);
      assert.ok(worstRatio(sum, Array.from(x, (v, i) => v + y[i]), 1e-6, 1e-7) <= 1);
      assert.ok(worstRatio(prod, Array.from(x, (v, i) => v * y[i]), 1e-6, 1e-7) <= 1);
      const avg = x.slice();
      b.average(avg, y);
      assert.ok(worstRatio(avg, Array.from(x, (v, i) => 0.5 * (v + y[i])), 1e-6, 1e-7) <= 1);
      // A2CiD2's fused pass: the mixing (p, q), then an exchange with peer v (x + half the gap, x~ + 1.3 times it).
      const v = randn(rng, 101);
      const mx = x.slice();
      const mxt = y.slice();
      b.acidMix(mx, mxt, v, 0.7, 0.3, 1, 0.5, 1.3);
      const mixedX = Array.from(x, (a, i) => 0.7 * a + 0.3 * y[i]);
      const mixedXt = Array.from(x, (a, i) => 0.3 * a + 0.7 * y[i]);
      assert.ok(worstRatio(mx, mixedX.map((a, i) => a + 0.5 * (v[i] - a)), 1e-5, 1e-6) <= 1);
      assert.ok(worstRatio(mxt, mixedXt.map((bt, i) => bt + 1.3 * (v[i] - mixedX[i])), 1e-5, 1e-6) <= 1);
      // ... and a local step: both copies move by -lr times the direction, after the mixing.
      const sx = x.slice();
      const sxt = y.slice();
      b.acidMix(sx, sxt, v, 1, 0, 0, -0.1, -0.1);
      assert.ok(worstRatio(sx, Array.from(x, (a, i) => a - 0.1 * v[i]), 1e-6, 1e-7) <= 1);
      assert.ok(worstRatio(sxt, Array.from(y, (a, i) => a - 0.1 * v[i]), 1e-6, 1e-7) <= 1);
      let ss = 0;
      for (const v of x) ss += v * v;
      assert.ok(Math.abs(b.sumSquares(x) - ss) < 1e-9 * ss);
      const f = new Float32Array(10);
      b.fill(f.subarray(2, 5), 4);
      assert.deepEqual(Array.from(f), [0, 0, 4, 4, 4, 0, 0, 0, 0, 0]);
      const dst = new Float32Array(5);
      b.copy(Float32Array.of(1, 2, 3), dst.subarray(1));
      assert.deepEqual(Array.from(dst), [0, 1, 2, 3, 0]);
    });

    it('bias add and bias gradient over (outer, channels, inner)', () => {
      const x = new Float32Array(2 * 3 * 2);
      b.addBias(x, Float32Array.of(1, 2, 3), 2, 3, 2);
      assert.deepEqual(Array.from(x), [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]);
      const db = Float32Array.of(10, 20, 30);
      b.biasGrad(x, db, 2, 3, 2);
      assert.deepEqual(Array.from(db), [14, 28, 42]);
    });

    it('relu, gelu (tanh approximation) and their derivatives', () => {
      const x = Float32Array.of(-2, -0.5, 0, 0.5, 1, 3);
      const y = new Float32Array(6);
      b.relu(x, y);
      assert.deepEqual(Array.from(y), [0, 0, 0, 0.5, 1, 3]);
      const dx = new Float32Array(6);
      b.reluBackward(y, Float32Array.of(1, 1, 1, 1, 1, 1), dx);
      assert.deepEqual(Array.from(dx), [0, 0, 0, 1, 1, 1]);
      b.gelu(x, y);
      const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
      assert.ok(worstRatio(y, Array.from(x, gelu), 1e-6, 1e-7) <= 1);
      assert.ok(Math.abs(y[4] - 0.8411920) < 1e-6);
      b.geluBackward(x, Float32Array.of(1, 1, 1, 1, 1, 1), dx);
      const num = Array.from(x, (v) => (gelu(v + 1e-5) - gelu(v - 1e-5)) / 2e-5);
      assert.ok(worstRatio(dx, num, 1e-5, 1e-6) <= 1);
    });

    it('dropout: the specified counter-based stream, exact on every backend', () => {
      const rng = new Rng('dropout');
      const n = 20000;
      const x = randn(rng, n);
      const out = new Float32Array(n);
      const mask = new Float32Array(n);
      const p = 0.25;
      b.dropout(x, out, mask, p, 12345);
      const keep = Math.fround(1 / (1 - p));
      const threshold = Math.floor(p * 2 ** 32);
      let kept = 0;
      for (let i = 0; i < n; i++) {
        const expected = dropoutHash(i, 12345) >= threshold ? keep : 0;
        assert.equal(mask[i], expected);
        assert.equal(out[i], Math.fround(x[i] * expected));
        if (expected) kept++;
      }
      assert.ok(Math.abs(kept / n - (1 - p)) < 0.02, `kept fraction ${kept / n}`);
      const mask2 = new Float32Array(n);
      b.dropout(x, out, mask2, p, 54321);
      let same = 0;
      for (let i = 0; i < n; i++) if ((mask[i] === 0) === (mask2[i] === 0)) same++;
      assert.ok(same / n < 0.7, 'different seeds should give different masks');
    });

    it('softmax cross-entropy: values, gradient, aliasing, label range', () => {
      const logits = Float32Array.of(0, 0, 1, 2, 3, 4);
      const d = new Float32Array(6);
      const loss = b.softmaxCrossEntropy(logits, Int32Array.of(0, 2), 2, 3, d, 0.5);
      const lse = Math.log(Math.exp(2) + Math.exp(3) + Math.exp(4));
      const expected = (Math.log(2 + Math.E) - 0) + (lse - 4);
      assert.ok(Math.abs(loss - expected) < 1e-5);
      const p0 = 1 / (2 + Math.E);
      assert.ok(worstRatio(d, [0.5 * (p0 - 1), 0.5 * p0, 0.5 * Math.E * p0,
        0.5 * Math.exp(2 - lse), 0.5 * Math.exp(3 - lse), 0.5 * (Math.exp(4 - lse) - 1)], 1e-5, 1e-7) <= 1);
      assert.equal(b.softmaxCrossEntropy(logits, Int32Array.of(0, 2), 2, 3, null, 0), loss);
      const alias = logits.slice();
      b.softmaxCrossEntropy(alias, Int32Array.of(0, 2), 2, 3, alias, 0.5);
      assert.ok(worstRatio(alias, d, 1e-6, 1e-7) <= 1);
      assert.throws(() => b.softmaxCrossEntropy(logits, Int32Array.of(0, 3), 2, 3, null, 0), RangeError);
      assert.throws(() => b.softmaxCrossEntropy(logits, Int32Array.of(-1, 0), 2, 3, null, 0), RangeError);
      // Large logits stay finite.
      assert.ok(Number.isFinite(b.softmaxCrossEntropy(Float32Array.of(1e4, -1e4), Int32Array.of(1), 1, 2, null, 0)));
    });

    it('softmax cross-entropy of huge equal logits is log(classes), not 0 (a ruined model must not look trained)', () => {
      for (const v of [1e17, 1e30, 3e38]) {
        const loss = b.softmaxCrossEntropy(new Float32Array(10).fill(v), Int32Array.of(4), 1, 10, null, 0);
        assert.ok(Math.abs(loss - Math.log(10)) < 1e-6, `logits ${v}: loss ${loss}`);
      }
    });

    it('argmax per row, first index on ties', () => {
      const out = new Int32Array(3);
      b.argmaxRows(Float32Array.of(1, 3, 3, 0, 0, 0, -1, -2, 5), 3, 3, out);
      assert.deepEqual(Array.from(out), [1, 0, 2]);
    });

    it('row softmax with scale and causal mask; its backward', () => {
      const rng = new Rng('softmax');
      const t = 4;
      const x = randn(rng, 2 * t * t);
      const y = new Float32Array(x.length);
      b.softmax(x, y, 2 * t, t, 0.5, true);
      for (let r = 0; r < 2 * t; r++) {
        const q = r % t;
        let z = 0;
        for (let c = 0; c <= q; c++) z += Math.exp(0.5 * x[r * t + c]);
        for (let c = 0; c < t; c++) {
          const want = c <= q ? Math.exp(0.5 * x[r * t + c]) / z : 0;
          assert.ok(Math.abs(y[r * t + c] - want) < 1e-6);
          if (c > q) assert.equal(y[r * t + c], 0);
        }
      }
      const dy = randn(rng, x.length);
      const dx = new Float32Array(x.length);
      b.softmaxBackward(y, dy, dx, 2 * t, t, 0.5);
      // Numerical derivative of sum dy*softmax(x) with respect to x.
      const f = (xx: Float32Array) => {
        const yy = new Float32Array(xx.length);
        b.softmax(xx, yy, 2 * t, t, 0.5, true);
        let s = 0;
        for (let i = 0; i < yy.length; i++) s += dy[i] * yy[i];
        return s;
      };
      for (const i of [0, 5, 6, 13, 27, 31]) {
        const xp = x.slice(); xp[i] += 1e-2;
        const xm = x.slice(); xm[i] -= 1e-2;
        const num = (f(xp) - f(xm)) / (xp[i] - xm[i]);
        assert.ok(Math.abs(num - dx[i]) < 1e-3, `softmax backward [${i}]: ${num} vs ${dx[i]}`);
      }
    });

    it('layer norm normalises rows', () => {
      const rng = new Rng('ln');
      const rows = 3, cols = 16;
      const x = randn(rng, rows * cols, 3);
      const y = new Float32Array(x.length);
      const mean = new Float32Array(rows);
      const rstd = new Float32Array(rows);
      b.layerNorm(x, new Float32Array(cols).fill(2), new Float32Array(cols).fill(1), y, mean, rstd, rows, cols, 1e-5);
      for (let r = 0; r < rows; r++) {
        let m = 0, v = 0;
        for (let c = 0; c < cols; c++) m += x[r * cols + c];
        m /= cols;
        for (let c = 0; c < cols; c++) v += (x[r * cols + c] - m) ** 2;
        v /= cols;
        assert.ok(Math.abs(mean[r] - m) < 1e-5);
        assert.ok(Math.abs(rstd[r] - 1 / Math.sqrt(v + 1e-5)) < 1e-4 * rstd[r]);
        let ym = 0, yv = 0;
        for (let c = 0; c < cols; c++) ym += y[r * cols + c];
        ym /= cols;
        for (let c = 0; c < cols; c++) yv += (y[r * cols + c] - ym) ** 2;
        assert.ok(Math.abs(ym - 1) < 1e-5);
        assert.ok(Math.abs(yv / cols - 4) < 1e-3);
      }
    });

    it('batch norm: training statistics, running averages (unbiased variance), evaluation', () => {
      const rng = new Rng('bn');
      const n = 3, c = 2, hw = 5, m = n * hw;
      const x = randn(rng, n * c * hw, 2);
      const y = new Float32Array(x.length);
      const mean = new Float32Array(c);
      const rstd = new Float32Array(c);
      const rm = Float32Array.of(1, -1);
      const rv = Float32Array.of(2, 0.5);
      const gamma = Float32Array.of(1.5, -0.5);
      const beta = Float32Array.of(0.1, 0.2);
      b.batchNormTrain(x, gamma, beta, y, mean, rstd, rm, rv, n, c, hw, 1e-5, 0.1);
      for (let ch = 0; ch < c; ch++) {
        const vals: number[] = [];
        for (let img = 0; img < n; img++) for (let i = 0; i < hw; i++) vals.push(x[(img * c + ch) * hw + i]);
        const mu = vals.reduce((s, v) => s + v, 0) / m;
        const varB = vals.reduce((s, v) => s + (v - mu) ** 2, 0) / m;
        assert.ok(Math.abs(mean[ch] - mu) < 1e-5);
        assert.ok(Math.abs(rstd[ch] - 1 / Math.sqrt(varB + 1e-5)) < 1e-4 * rstd[ch]);
        assert.ok(Math.abs(rm[ch] - (0.9 * [1, -1][ch] + 0.1 * mu)) < 1e-5);
        assert.ok(Math.abs(rv[ch] - (0.9 * [2, 0.5][ch] + 0.1 * varB * m / (m - 1))) < 1e-5);
        const first = (x[ch * hw] - mu) / Math.sqrt(varB + 1e-5) * gamma[ch] + beta[ch];
        assert.ok(Math.abs(y[ch * hw] - first) < 1e-5);
      }
      b.batchNormEval(x, gamma, beta, y, rm, rv, n, c, hw, 1e-5);
      for (let ch = 0; ch < c; ch++) {
        const at = (1 * c + ch) * hw + 2;
        const want = (x[at] - rm[ch]) / Math.sqrt(rv[ch] + 1e-5) * gamma[ch] + beta[ch];
        assert.ok(Math.abs(y[at] - want) < 1e-5);
      }
    });

    it('group norm: statistics, output and backward against a float64 reference (groups 1, 2, 3, 6; hw 1)', () => {
      const rng = new Rng('gn');
      for (const [n, c, hw, groups] of [[3, 6, 5, 1], [3, 6, 5, 2], [2, 6, 7, 3], [3, 6, 4, 6], [4, 6, 1, 2]]) {
        const label = `n ${n} c ${c} hw ${hw} groups ${groups}`;
        // An offset per channel, so that a wrong block (per channel instead of per group) gives other statistics.
        const x = Float32Array.from(randn(rng, n * c * hw, 2), (v, i) => v + Math.floor(i / hw) % c - 2);
        const gamma = randn(rng, c);
        const beta = randn(rng, c);
        const dy = randn(rng, x.length);
        const ref = groupNormReference(x, dy, gamma, beta, n, c, hw, groups, 1e-5);
        const y = new Float32Array(x.length).fill(NaN);
        const mean = new Float32Array(n * groups).fill(NaN);
        const rstd = new Float32Array(n * groups).fill(NaN);
        b.groupNorm(x, gamma, beta, y, mean, rstd, n, c, hw, groups, 1e-5);
        assert.ok(worstRatio(mean, ref.mean, 1e-5, 1e-5) <= 1, `${label}: mean`);
        assert.ok(worstRatio(rstd, ref.rstd, 1e-4, 0) <= 1, `${label}: rstd`);
        assert.ok(worstRatio(y, ref.y, 1e-4, 1e-5) <= 1, `${label}: y`);
        // Backward: dgamma and dbeta accumulate onto what is there; dx may alias dy.
        const dg0 = randn(rng, c);
        const db0 = randn(rng, c);
        const dgamma = dg0.slice();
        const dbeta = db0.slice();
        const dx = new Float32Array(x.length).fill(NaN);
        b.groupNormBackward(x, dy, gamma, mean, rstd, dx, dgamma, dbeta, n, c, hw, groups);
        assert.ok(worstRatio(dx, ref.dx, 1e-3, 1e-4) <= 1, `${label}: dx`);
        assert.ok(worstRatio(dgamma, ref.dgamma.map((v, i) => v + dg0[i]), 1e-4, 1e-4) <= 1, `${label}: dgamma`);
        assert.ok(worstRatio(dbeta, ref.dbeta.map((v, i) => v + db0[i]), 1e-4, 1e-4) <= 1, `${label}: dbeta`);
        const inPlace = dy.slice();
        b.groupNormBackward(x, inPlace, gamma, mean, rstd, inPlace, dg0.slice(), db0.slice(), n, c, hw, groups);
        assert.deepEqual(inPlace, dx, `${label}: dx aliasing dy`);
      }
    });

    it('group norm with groups = c is instance norm; with groups = 1 it is layer norm over c*hw', () => {
      const rng = new Rng('gn-special');
      const n = 3, c = 4, hw = 6, eps = 1e-5;
      const x = randn(rng, n * c * hw, 3);
      const gamma = randn(rng, c);
      const beta = randn(rng, c);
      const y = new Float32Array(x.length);
      // Instance norm written out: every (sample, channel) plane normalised on its own.
      b.groupNorm(x, gamma, beta, y, new Float32Array(n * c), new Float32Array(n * c), n, c, hw, c, eps);
      for (let p = 0; p < n * c; p++) {
        const plane = Array.from(x.subarray(p * hw, (p + 1) * hw));
        const mu = plane.reduce((s, v) => s + v, 0) / hw;
        const sd = Math.sqrt(plane.reduce((s, v) => s + (v - mu) ** 2, 0) / hw + eps);
        for (let i = 0; i < hw; i++) {
          const want = (plane[i] - mu) / sd * gamma[p % c] + beta[p % c];
          assert.ok(Math.abs(y[p * hw + i] - want) < 1e-4 * (1 + Math.abs(want)), `instance norm [${p}, ${i}]`);
        }
      }
      // groups = 1 against the layerNorm kernel over rows of c*hw with gamma and beta repeated over each plane.
      const gx = Float32Array.from({ length: c * hw }, (_, i) => gamma[Math.floor(i / hw)]);
      const bx = Float32Array.from({ length: c * hw }, (_, i) => beta[Math.floor(i / hw)]);
      const lnY = new Float32Array(x.length);
      const lnMean = new Float32Array(n);
      const lnRstd = new Float32Array(n);
      b.layerNorm(x, gx, bx, lnY, lnMean, lnRstd, n, c * hw, eps);
      const gnMean = new Float32Array(n);
      const gnRstd = new Float32Array(n);
      b.groupNorm(x, gamma, beta, y, gnMean, gnRstd, n, c, hw, 1, eps);
      assert.ok(worstRatio(y, lnY, 1e-4, 1e-5) <= 1, 'groups = 1 output');
      assert.ok(worstRatio(gnMean, lnMean, 1e-5, 1e-6) <= 1 && worstRatio(gnRstd, lnRstd, 1e-5, 0) <= 1, 'groups = 1 statistics');
      const dy = randn(rng, x.length);
      const lnDx = new Float32Array(x.length);
      const lnDg = new Float32Array(c * hw);
      const lnDb = new Float32Array(c * hw);
      b.layerNormBackward(x, dy, gx, lnMean, lnRstd, lnDx, lnDg, lnDb, n, c * hw);
      const dx = new Float32Array(x.length);
      const dg = new Float32Array(c);
      const db = new Float32Array(c);
      b.groupNormBackward(x, dy, gamma, gnMean, gnRstd, dx, dg, db, n, c, hw, 1);
      assert.ok(worstRatio(dx, lnDx, 1e-3, 1e-5) <= 1, 'groups = 1 dx');
      const perChannel = (a: Float32Array) => Array.from({ length: c }, (_, ch) => a.subarray(ch * hw, (ch + 1) * hw).reduce((s, v) => s + v, 0));
      assert.ok(worstRatio(dg, perChannel(lnDg), 1e-4, 1e-5) <= 1, 'groups = 1 dgamma');
      assert.ok(worstRatio(db, perChannel(lnDb), 1e-4, 1e-5) <= 1, 'groups = 1 dbeta');
    });

    it('group norm rejects groups that do not divide c, and groups = 0', () => {
      const f = (k: number) => new Float32Array(k);
      assert.throws(() => b.groupNorm(f(12), f(6), f(6), f(12), f(8), f(8), 2, 6, 1, 4, 1e-5), RangeError);
      assert.throws(() => b.groupNorm(f(12), f(6), f(6), f(12), f(8), f(8), 2, 6, 1, 0, 1e-5), RangeError);
      assert.throws(() => b.groupNormBackward(f(12), f(12), f(6), f(8), f(8), f(12), f(6), f(6), 2, 6, 1, 5), RangeError);
      assert.throws(() => b.groupNormBackward(f(12), f(12), f(6), f(8), f(8), f(12), f(6), f(6), 2, 6, 1, 0), RangeError);
    });

    it('im2col + sgemm equals direct convolution; col2im is its adjoint', () => {
      const rng = new Rng('conv');
      for (const [n, c, h, w, cout, k, stride, pad] of [[2, 3, 7, 6, 4, 3, 1, 1], [1, 2, 9, 8, 3, 3, 2, 0], [2, 2, 5, 5, 2, 1, 2, 0], [1, 1, 6, 6, 2, 5, 1, 2]]) {
        const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
        const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
        const ckk = c * k * k;
        const x = randn(rng, n * c * h * w);
        const wt = randn(rng, cout * ckk);
        const cols = new Float32Array(n * ckk * oh * ow);
        b.im2col(x, cols, n, c, h, w, k, k, stride, pad);
        const y = new Float32Array(n * cout * oh * ow);
        b.sgemmBatched(false, false, cout, oh * ow, ckk, 1, wt, ckk, 0, cols, oh * ow, ckk * oh * ow, 0, y, oh * ow, cout * oh * ow, n);
        assert.ok(worstRatio(y, conv2dDirect(x, wt, n, c, h, w, cout, k, stride, pad), 1e-5, 1e-5) <= 1);
        const r = randn(rng, cols.length);
        const back = randn(rng, x.length); // garbage: col2im must overwrite it
        b.col2im(r, back, n, c, h, w, k, k, stride, pad);
        let lhs = 0, rhs = 0;
        for (let i = 0; i < cols.length; i++) lhs += cols[i] * r[i];
        for (let i = 0; i < x.length; i++) rhs += x[i] * back[i];
        assert.ok(Math.abs(lhs - rhs) < 1e-4 * (1 + Math.abs(lhs)), `adjoint: ${lhs} vs ${rhs}`);
      }
    });

    it('max pooling: values, argmax (first on ties), backward scatter', () => {
      // One 4x4 plane, 2x2 windows.
      const x = Float32Array.of(1, 5, 2, 2, 3, 4, 2, 2, 0, 0, -1, -3, 0, 7, -2, -1);
      const y = new Float32Array(4);
      const arg = new Int32Array(4);
      b.maxPool2d(x, y, arg, 1, 1, 4, 4, 2, 2);
      assert.deepEqual(Array.from(y), [5, 2, 7, -1]);
      assert.deepEqual(Array.from(arg), [1, 2, 13, 10]);
      const dx = new Float32Array(16).fill(9);
      b.maxPool2dBackward(Float32Array.of(1, 2, 3, 4), arg, dx);
      assert.deepEqual(Array.from(dx), [0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 3, 0, 0]);
      // Overlapping windows add up.
      const z = Float32Array.of(0, 0, 0, 0, 9, 0, 0, 0, 0);
      const y2 = new Float32Array(4);
      const arg2 = new Int32Array(4);
      b.maxPool2d(z, y2, arg2, 1, 1, 3, 3, 2, 1);
      const dz = new Float32Array(9);
      b.maxPool2dBackward(Float32Array.of(1, 1, 1, 1), arg2, dz);
      assert.equal(dz[4], 4);
    });

    it('global average pooling and its backward', () => {
      const y = new Float32Array(2);
      b.avgPoolGlobal(Float32Array.of(1, 2, 3, 4, 10, 20, 30, 40), y, 2, 4);
      assert.deepEqual(Array.from(y), [2.5, 25]);
      const dx = new Float32Array(8);
      b.avgPoolGlobalBackward(Float32Array.of(4, 8), dx, 2, 4);
      assert.deepEqual(Array.from(dx), [1, 1, 1, 1, 2, 2, 2, 2]);
    });

    it('embedding gather and scatter-add with repeated ids; ids checked', () => {
      const table = Float32Array.of(0, 1, 10, 11, 20, 21);
      const out = new Float32Array(6);
      b.embeddingGather(table, Int32Array.of(2, 0, 2), out, 2);
      assert.deepEqual(Array.from(out), [20, 21, 0, 1, 20, 21]);
      const d = new Float32Array(6);
      b.embeddingScatterAdd(Float32Array.of(1, 2, 3, 4, 5, 6), Int32Array.of(2, 0, 2), d, 2);
      assert.deepEqual(Array.from(d), [3, 4, 0, 0, 6, 8]);
      assert.throws(() => b.embeddingGather(table, Int32Array.of(3), out, 2), RangeError);
      assert.throws(() => b.embeddingScatterAdd(out, Int32Array.of(-1), d, 2), RangeError);
    });
  });
}

