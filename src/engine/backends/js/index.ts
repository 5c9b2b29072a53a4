/**
 * The TypeScript reference backend: every kernel of the Backend interface as plain loops (sgemm cache-blocked).
 * It is the specification the native addon is checked against, and the fallback where the addon cannot load.
 * Intermediate sums are kept in float64 (JavaScript numbers) and stored as float32.
 */
import type { Backend } from '../../backend.js';
import { sgemmJs } from './sgemm.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

/** MurmurHash3's 32-bit finaliser. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The dropout keep test of element i for a given uint32 seed (see Backend.dropout). */
export function dropoutHash(i: number, seed: number): number {
  const h = fmix32((Math.imul(i, 0x9e3779b1) ^ seed) >>> 0);
  return fmix32((h + seed) >>> 0);
}

function checkIndex(value: number, limit: number, what: string): void {
  if (!(value >= 0 && value < limit)) throw new RangeError(`${what} ${value} is out of range [0, ${limit})`);
}

/**
 * Mean and 1/√(biased variance + eps) of the contiguous block x[off, off + count), written to mean[at] and rstd[at]
 * (a row of LayerNorm, a (sample, group) block of GroupNorm).
 */
function blockMoments(x: Float32Array, off: number, count: number, eps: number, mean: Float32Array, rstd: Float32Array, at: number): void {
  let s = 0;
  for (let i = 0; i < count; i++) s += x[off + i];
  const mu = s / count;
  let v = 0;
  for (let i = 0; i < count; i++) {
    const d = x[off + i] - mu;
    v += d * d;
  }
  mean[at] = mu;
  rstd[at] = 1 / Math.sqrt(v / count + eps);
}

function checkGroups(groups: number, c: number, kernel: string): void {
  if (!(Number.isInteger(groups) && groups > 0)) throw new RangeError(`${kernel}: groups must be a positive integer (got ${groups})`);
  if (c % groups !== 0) throw new RangeError(`${kernel}: groups must divide c (groups ${groups}, c ${c})`);
}

export class JsBackend implements Backend {
  readonly name = 'js' as const;
  readonly isa = 'js';

  sgemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number,
  ): void {
    sgemmJs(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }

  sgemmBatched(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Float32Array, lda: number, strideA: number, b: Float32Array, ldb: number, strideB: number,
    beta: number, c: Float32Array, ldc: number, strideC: number, count: number,
  ): void {
    for (let i = 0; i < count; i++) {
      sgemmJs(
        transA, transB, m, n, k, alpha,
        strideA === 0 ? a : a.subarray(i * strideA), lda,
        strideB === 0 ? b : b.subarray(i * strideB), ldb,
        beta, strideC === 0 ? c : c.subarray(i * strideC), ldc,
      );
    }
  }

  fill(x: Float32Array, value: number): void {
    x.fill(value);
  }

  copy(src: Float32Array, dst: Float32Array): void {
    dst.set(src);
  }

  scale(x: Float32Array, alpha: number): void {
    for (let i = 0; i < x.length; i++) x[i] *= alpha;
  }

  axpy(alpha: number, x: Float32Array, y: Float32Array): void {
    for (let i = 0; i < y.length; i++) y[i] += alpha * x[i];
  }

  axpby(alpha: number, x: Float32Array, beta: number, y: Float32Array): void {
    for (let i = 0; i < y.length; i++) y[i] = alpha * x[i] + beta * y[i];
  }

  add(a: Float32Array, b: Float32Array, out: Float32Array): void {
    for (let i = 0; i < out.length; i++) out[i] = a[i] + b[i];
  }

  mul(a: Float32Array, b: Float32Array, out: Float32Array): void {
    for (let i = 0; i < out.length; i++) out[i] = a[i] * b[i];
  }

  average(a: Float32Array, b: Float32Array): void {
    for (let i = 0; i < a.length; i++) a[i] = 0.5 * (a[i] + b[i]);
  }

  acidMix(x: Float32Array, xt: Float32Array, v: Float32Array, p: number, q: number, c: number, kx: number, kt: number): void {
    for (let i = 0; i < x.length; i++) {
      const a = p * x[i] + q * xt[i];
      const b = q * x[i] + p * xt[i];
      const w = v[i] - c * a;
      x[i] = a + kx * w;
      xt[i] = b + kt * w;
    }
  }

  sumSquares(x: Float32Array): number {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i] * x[i];
    return s;
  }

  dot(x: Float32Array, y: Float32Array): number {
    if (y.length < x.length) throw new RangeError(`dot: y has ${y.length} elements, needs at least ${x.length}`);
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i] * y[i];
    return s;
  }

  addBias(x: Float32Array, bias: Float32Array, outer: number, channels: number, inner: number): void {
    let idx = 0;
    for (let o = 0; o < outer; o++) {
      for (let c = 0; c < channels; c++) {
        const v = bias[c];
        for (let i = 0; i < inner; i++) x[idx++] += v;
      }
    }
  }

  biasGrad(dy: Float32Array, dbias: Float32Array, outer: number, channels: number, inner: number): void {
    for (let c = 0; c < channels; c++) {
      let s = 0;
      for (let o = 0; o < outer; o++) {
        const base = (o * channels + c) * inner;
        for (let i = 0; i < inner; i++) s += dy[base + i];
      }
      dbias[c] += s;
    }
  }

  relu(x: Float32Array, y: Float32Array): void {
    for (let i = 0; i < y.length; i++) {
      const v = x[i];
      y[i] = v > 0 ? v : 0;
    }
  }

  reluBackward(y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    for (let i = 0; i < dx.length; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
  }

  gelu(x: Float32Array, y: Float32Array): void {
    for (let i = 0; i < y.length; i++) {
      const v = x[i];
      const t = Math.tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
      y[i] = 0.5 * v * (1 + t);
    }
  }

  geluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    for (let i = 0; i < dx.length; i++) {
      const v = x[i];
      const t = Math.tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
      const d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_C * v * v);
      dx[i] = dy[i] * d;
    }
  }

  dropout(x: Float32Array, out: Float32Array, mask: Float32Array, p: number, seed: number): void {
    if (!(p >= 0 && p < 1)) throw new RangeError(`dropout probability ${p} is not in [0, 1)`);
    const s = seed >>> 0;
    const threshold = Math.min(Math.floor(p * 4294967296), 4294967295);
    const keep = Math.fround(1 / (1 - p));
    for (let i = 0; i < out.length; i++) {
      const m = dropoutHash(i, s) >= threshold ? keep : 0;
      mask[i] = m;
      out[i] = x[i] * m;
    }
  }

  softmaxCrossEntropy(
    logits: Float32Array, labels: Int32Array, rows: number, classes: number,
    dlogits: Float32Array | null, gradScale: number,
  ): number {
    let loss = 0;
    for (let r = 0; r < rows; r++) {
      const off = r * classes;
      const label = labels[r];
      checkIndex(label, classes, 'label');
      let max = -Infinity;
      for (let c = 0; c < classes; c++) if (logits[off + c] > max) max = logits[off + c];
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp(logits[off + c] - max);
      // (max − label) first: with huge logits, max + log(sum) − label would cancel to 0 and hide a ruined model.
      loss += max - logits[off + label] + Math.log(sum);
      if (dlogits) {
        const inv = 1 / sum;
        for (let c = 0; c < classes; c++) {
          const p = Math.exp(logits[off + c] - max) * inv;
          dlogits[off + c] = gradScale * (c === label ? p - 1 : p);
        }
      }
    }
    return loss;
  }

  argmaxRows(x: Float32Array, rows: number, cols: number, out: Int32Array): void {
    for (let r = 0; r < rows; r++) {
      const off = r * cols;
      let best = 0;
      let bv = x[off];
      for (let c = 1; c < cols; c++) {
        if (x[off + c] > bv) {
          bv = x[off + c];
          best = c;
        }
      }
      out[r] = best;
    }
  }

  softmax(x: Float32Array, y: Float32Array, rows: number, cols: number, scale: number, causal: boolean): void {
    for (let r = 0; r < rows; r++) {
      const off = r * cols;
      const valid = causal ? (r % cols) + 1 : cols;
      let max = -Infinity;
      for (let c = 0; c < valid; c++) {
        const v = scale * x[off + c];
        if (v > max) max = v;
      }
      let sum = 0;
      for (let c = 0; c < valid; c++) {
        const e = Math.exp(scale * x[off + c] - max);
        y[off + c] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let c = 0; c < valid; c++) y[off + c] *= inv;
      for (let c = valid; c < cols; c++) y[off + c] = 0;
    }
  }

  softmaxBackward(y: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, cols: number, scale: number): void {
    for (let r = 0; r < rows; r++) {
      const off = r * cols;
      let dot = 0;
      for (let c = 0; c < cols; c++) dot += y[off + c] * dy[off + c];
      for (let c = 0; c < cols; c++) dx[off + c] = scale * y[off + c] * (dy[off + c] - dot);
    }
  }

  layerNorm(
    x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array,
    mean: Float32Array, rstd: Float32Array, rows: number, cols: number, eps: number,
  ): void {
    for (let r = 0; r < rows; r++) {
      const off = r * cols;
      blockMoments(x, off, cols, eps, mean, rstd, r);
      const mu = mean[r];
      const rs = rstd[r];
      for (let c = 0; c < cols; c++) y[off + c] = (x[off + c] - mu) * rs * gamma[c] + beta[c];
    }
  }

  layerNormBackward(
    x: Float32Array, dy: Float32Array, gamma: Float32Array, mean: Float32Array, rstd: Float32Array,
    dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, rows: number, cols: number,
  ): void {
    for (let r = 0; r < rows; r++) {
      const off = r * cols;
      const mu = mean[r];
      const rs = rstd[r];
      let sg = 0;
      let sgx = 0;
      for (let c = 0; c < cols; c++) {
        const xh = (x[off + c] - mu) * rs;
        const d = dy[off + c];
        dgamma[c] += d * xh;
        dbeta[c] += d;
        const g = d * gamma[c];
        sg += g;
        sgx += g * xh;
      }
      sg /= cols;
      sgx /= cols;
      for (let c = 0; c < cols; c++) {
        const xh = (x[off + c] - mu) * rs;
        dx[off + c] = rs * (dy[off + c] * gamma[c] - sg - xh * sgx);
      }
    }
  }

  batchNormTrain(
    x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, rstd: Float32Array,
    runningMean: Float32Array, runningVar: Float32Array, n: number, c: number, hw: number, eps: number, momentum: number,
  ): void {
    const count = n * hw;
    if (count === 0) return;
    for (let ch = 0; ch < c; ch++) {
      let s = 0;
      for (let img = 0; img < n; img++) {
        const base = (img * c + ch) * hw;
        for (let i = 0; i < hw; i++) s += x[base + i];
      }
      const mu = s / count;
      let v = 0;
      for (let img = 0; img < n; img++) {
        const base = (img * c + ch) * hw;
        for (let i = 0; i < hw; i++) {
          const d = x[base + i] - mu;
          v += d * d;
        }
      }
      const variance = v / count;
      const rs = 1 / Math.sqrt(variance + eps);
      mean[ch] = mu;
      rstd[ch] = rs;
      const g = gamma[ch] * rs;
      const b = beta[ch];
      for (let img = 0; img < n; img++) {
        const base = (img * c + ch) * hw;
        for (let i = 0; i < hw; i++) y[base + i] = (x[base + i] - mu) * g + b;
      }
      const unbiased = count > 1 ? (variance * count) / (count - 1) : variance;
      runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * mu;
      runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * unbiased;
    }
  }

  batchNormEval(
    x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array,
    runningMean: Float32Array, runningVar: Float32Array, n: number, c: number, hw: number, eps: number,
  ): void {
    for (let ch = 0; ch < c; ch++) {
      const g = gamma[ch] / Math.sqrt(runningVar[ch] + eps);
      const mu = runningMean[ch];
      const b = beta[ch];
      for (let img = 0; img < n; img++) {
        const base = (img * c + ch) * hw;
        for (let i = 0; i < hw; i++) y[base + i] = (x[base + i] - mu) * g + b;
      }
    }
  }

  batchNormBackward(
    x: Float32Array, dy: Float32Array, gamma: Float32Array, mean: Float32Array, rstd: Float32Array,
    dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, n: number, c: number, hw: number,
  ): void {
    const count = n * hw;
    if (count === 0) return;
    for (let ch = 0; ch < c; ch++) {
      const mu = mean[ch];
      const rs = rstd[ch];
      let sdy = 0;
      let sdyx = 0;
      for (let img = 0; img < n; img++) {
        const base = (img * c + ch) * hw;
        for (let i = 0; i < hw; i++) {
          const d = dy[base + i];
          sdy += d;
          sdyx += d * (x[base + i] - mu) * rs;
        }
      }
      dgamma[ch] += sdyx;
      dbeta[ch] += sdy;
      const mdy = sdy / count;
      const mdyx = sdyx / count;
      const g = gamma[ch] * rs;
      for (let img = 0; img < n; img++) {
        const base = (img * c + ch) * hw;
        for (let i = 0; i < hw; i++) {
          const xh = (x[base + i] - mu) * rs;
          dx[base + i] = g * (dy[base + i] - mdy - xh * mdyx);
        }
      }
    }
  }

  groupNorm(
    x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, rstd: Float32Array,
    n: number, c: number, hw: number, groups: number, eps: number,
  ): void {
    checkGroups(groups, c, 'groupNorm');
    const cpg = c / groups;
    const count = cpg * hw;
    if (count === 0) return;
    for (let img = 0; img < n; img++) {
      for (let grp = 0; grp < groups; grp++) {
        const blk = img * groups + grp;
        const base = blk * count;
        blockMoments(x, base, count, eps, mean, rstd, blk);
        const mu = mean[blk];
        const rs = rstd[blk];
        for (let k = 0; k < cpg; k++) {
          const ch = grp * cpg + k;
          const g = gamma[ch] * rs;
          const b = beta[ch];
          const off = base + k * hw;
          for (let i = 0; i < hw; i++) y[off + i] = (x[off + i] - mu) * g + b;
        }
      }
    }
  }

  groupNormBackward(
    x: Float32Array, dy: Float32Array, gamma: Float32Array, mean: Float32Array, rstd: Float32Array,
    dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, n: number, c: number, hw: number, groups: number,
  ): void {
    checkGroups(groups, c, 'groupNormBackward');
    const cpg = c / groups;
    const count = cpg * hw;
    if (count === 0) return;
    for (let img = 0; img < n; img++) {
      for (let grp = 0; grp < groups; grp++) {
        const blk = img * groups + grp;
        const base = blk * count;
        const mu = mean[blk];
        const rs = rstd[blk];
        // Per channel: Σ dy and Σ dy·x̂; the block's Σ g and Σ g·x̂ follow as gamma-weighted sums of them.
        let sg = 0;
        let sgx = 0;
        for (let k = 0; k < cpg; k++) {
          const ch = grp * cpg + k;
          const off = base + k * hw;
          let sdy = 0;
          let sdyx = 0;
          for (let i = 0; i < hw; i++) {
            const d = dy[off + i];
            sdy += d;
            sdyx += d * (x[off + i] - mu) * rs;
          }
          dgamma[ch] += sdyx;
          dbeta[ch] += sdy;
          sg += gamma[ch] * sdy;
          sgx += gamma[ch] * sdyx;
        }
        const mg = sg / count;
        const mgx = sgx / count;
        for (let k = 0; k < cpg; k++) {
          const gm = gamma[grp * cpg + k];
          const off = base + k * hw;
          for (let i = 0; i < hw; i++) {
            const xh = (x[off + i] - mu) * rs;
            dx[off + i] = rs * (dy[off + i] * gm - mg - xh * mgx);
          }
        }
      }
    }
  }

  im2col(
    x: Float32Array, cols: Float32Array, n: number, c: number, h: number, w: number,
    kh: number, kw: number, stride: number, pad: number,
  ): void {
    const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
    const ow = Math.floor((w + 2 * pad - kw) / stride) + 1;
    if (oh <= 0 || ow <= 0) return;
    let dst = 0;
    for (let img = 0; img < n; img++) {
      for (let ch = 0; ch < c; ch++) {
        const plane = (img * c + ch) * h * w;
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            for (let oy = 0; oy < oh; oy++) {
              const iy = oy * stride - pad + i;
              if (iy < 0 || iy >= h) {
                cols.fill(0, dst, dst + ow);
                dst += ow;
                continue;
              }
              const rowBase = plane + iy * w;
              for (let ox = 0; ox < ow; ox++) {
                const ix = ox * stride - pad + j;
                cols[dst++] = ix >= 0 && ix < w ? x[rowBase + ix] : 0;
              }
            }
          }
        }
      }
    }
  }

  col2im(
    cols: Float32Array, dx: Float32Array, n: number, c: number, h: number, w: number,
    kh: number, kw: number, stride: number, pad: number,
  ): void {
    dx.fill(0, 0, n * c * h * w);
    const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
    const ow = Math.floor((w + 2 * pad - kw) / stride) + 1;
    if (oh <= 0 || ow <= 0) return;
    let src = 0;
    for (let img = 0; img < n; img++) {
      for (let ch = 0; ch < c; ch++) {
        const plane = (img * c + ch) * h * w;
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            for (let oy = 0; oy < oh; oy++) {
              const iy = oy * stride - pad + i;
              if (iy < 0 || iy >= h) {
                src += ow;
                continue;
              }
              const rowBase = plane + iy * w;
              for (let ox = 0; ox < ow; ox++) {
                const ix = ox * stride - pad + j;
                if (ix >= 0 && ix < w) dx[rowBase + ix] += cols[src];
                src++;
              }
            }
          }
        }
      }
    }
  }

  maxPool2d(
    x: Float32Array, y: Float32Array, argmax: Int32Array, n: number, c: number, h: number, w: number,
    k: number, stride: number,
  ): void {
    const oh = Math.floor((h - k) / stride) + 1;
    const ow = Math.floor((w - k) / stride) + 1;
    if (oh <= 0 || ow <= 0) return;
    let o = 0;
    for (let p = 0; p < n * c; p++) {
      const plane = p * h * w;
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let best = plane + oy * stride * w + ox * stride;
          let bv = x[best];
          for (let i = 0; i < k; i++) {
            const row = plane + (oy * stride + i) * w + ox * stride;
            for (let j = 0; j < k; j++) {
              if (x[row + j] > bv) {
                bv = x[row + j];
                best = row + j;
              }
            }
          }
          y[o] = bv;
          argmax[o++] = best;
        }
      }
    }
  }

  maxPool2dBackward(dy: Float32Array, argmax: Int32Array, dx: Float32Array): void {
    dx.fill(0);
    for (let o = 0; o < dy.length; o++) dx[argmax[o]] += dy[o];
  }

  avgPoolGlobal(x: Float32Array, y: Float32Array, planes: number, hw: number): void {
    for (let p = 0; p < planes; p++) {
      let s = 0;
      const base = p * hw;
      for (let i = 0; i < hw; i++) s += x[base + i];
      y[p] = s / hw;
    }
  }

  avgPoolGlobalBackward(dy: Float32Array, dx: Float32Array, planes: number, hw: number): void {
    for (let p = 0; p < planes; p++) dx.fill(dy[p] / hw, p * hw, (p + 1) * hw);
  }

  embeddingGather(table: Float32Array, ids: Int32Array, out: Float32Array, dim: number): void {
    const rows = Math.floor(table.length / dim);
    for (let r = 0; r < ids.length; r++) {
      const id = ids[r];
      checkIndex(id, rows, 'token id');
      out.set(table.subarray(id * dim, id * dim + dim), r * dim);
    }
  }

  embeddingScatterAdd(dout: Float32Array, ids: Int32Array, dtable: Float32Array, dim: number): void {
    const rows = Math.floor(dtable.length / dim);
    for (let r = 0; r < ids.length; r++) {
      const id = ids[r];
      checkIndex(id, rows, 'token id');
      const dst = id * dim;
      const src = r * dim;
      for (let d = 0; d < dim; d++) dtable[dst + d] += dout[src + d];
    }
  }

  sgdStep(
    params: Float32Array, grads: Float32Array, buf: Float32Array,
    lr: number, momentum: number, weightDecay: number, nesterov: boolean,
  ): void {
    const n = params.length;
    if (momentum === 0) {
      for (let i = 0; i < n; i++) params[i] -= lr * (grads[i] + weightDecay * params[i]);
      return;
    }
    for (let i = 0; i < n; i++) {
      const g = grads[i] + weightDecay * params[i];
      const b = Math.fround(momentum * buf[i] + g);
      buf[i] = b;
      params[i] -= lr * (nesterov ? g + momentum * b : b);
    }
  }

  adamwStep(
    params: Float32Array, grads: Float32Array, m: Float32Array, v: Float32Array,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number,
  ): void {
    const bc1 = 1 - Math.pow(beta1, step);
    const bc2 = 1 - Math.pow(beta2, step);
    const stepSize = lr / bc1;
    const sqrtBc2 = Math.sqrt(bc2);
    const decay = 1 - lr * weightDecay;
    for (let i = 0; i < params.length; i++) {
      const g = grads[i];
      const mi = Math.fround(beta1 * m[i] + (1 - beta1) * g);
      const vi = Math.fround(beta2 * v[i] + (1 - beta2) * g * g);
      m[i] = mi;
      v[i] = vi;
      const p = Math.fround(params[i] * decay);
      params[i] = p - stepSize * mi / (Math.sqrt(vi) / sqrtBc2 + eps);
    }
  }
}

let instance: JsBackend | null = null;

/** The (stateless, shared) TypeScript backend. */
export function jsBackend(): JsBackend {
  instance ??= new JsBackend();
  return instance;
}
