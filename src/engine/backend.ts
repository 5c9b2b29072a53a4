/**
 * The compute backend of the engine: every hot loop of a training step lives behind this interface, so that layers
 * never loop over elements in JavaScript. Two implementations give the same results within float tolerance:
 * the native addon (C++ with run-time SIMD dispatch) and the TypeScript reference backend (backends/js).
 *
 * Conventions (they hold for every kernel unless its comment says otherwise):
 * - Row-major, float32. Images are NCHW. Arrays are passed as (sub)array views, never with separate offsets; a
 *   kernel touches only the elements its size arguments describe, starting at index 0 of each view.
 * - Parameters named out / y / dx / dlogits / cols / mask / mean / rstd are WRITTEN (their previous contents are
 *   ignored). Parameters named dW / dgamma / dbeta / dbias / dtable are ACCUMULATED (+=), because the model zeroes
 *   its gradient buffer once per step and several uses of a parameter add up.
 * - "May alias" means the output view may be the very same view as the named input (same buffer, same offset);
 *   any other overlap between inputs and outputs is not allowed.
 * - Reductions (sums, means, variances, losses) accumulate in at least float32 with a stable order; values that
 *   are returned as numbers (losses, sums of squares) are accumulated in float64.
 * - Index arrays (labels, token ids, argmax positions) are Int32Array. Kernels that take indices from the caller
 *   (labels, token ids) throw a RangeError on an out-of-range index instead of reading or writing out of bounds.
 * - Sizes are non-negative integers; a size of 0 makes the kernel a no-op (returning 0 where it returns a number).
 */
export interface Backend {
  /** 'native' or 'js'. */
  readonly name: 'native' | 'js';
  /** Instruction set in use: 'avx512', 'avx2', 'scalar' (native) or 'js'. */
  readonly isa: string;

  // ---------------------------------------------------------------------------------------------------------------
  // Matrix products

  /**
   * C ← alpha · op(A) · op(B) + beta · C, with op(A) m×k, op(B) k×n, C m×n; lda/ldb/ldc are row strides of the
   * stored A, B, C (so A is stored m×k with stride lda when !transA, k×m with stride lda when transA).
   * When beta is 0, C is written without being read (NaN in C does not propagate).
   */
  sgemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number,
  ): void;

  /**
   * A batch of sgemm calls: for i = 0 … count−1, in this order and as if by separate sgemm calls,
   *   C_i ← alpha · op(A_i) · op(B_i) + beta · C_i,
   * where A_i = a.subarray(i·strideA), B_i = b.subarray(i·strideB), C_i = c.subarray(i·strideC).
   * A stride of 0 reuses the same matrix for every i; strideC = 0 with beta = 1 therefore accumulates the sum of
   * all products into one C (used for convolution weight gradients over a batch of images).
   */
  sgemmBatched(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Float32Array, lda: number, strideA: number, b: Float32Array, ldb: number, strideB: number,
    beta: number, c: Float32Array, ldc: number, strideC: number, count: number,
  ): void;

  // ---------------------------------------------------------------------------------------------------------------
  // Vector operations (n = length of the output view unless given)

  /** x[i] ← value for all i < x.length. */
  fill(x: Float32Array, value: number): void;
  /** dst[i] ← src[i] for i < src.length (dst.length ≥ src.length). */
  copy(src: Float32Array, dst: Float32Array): void;
  /** x[i] ← alpha · x[i] for all i < x.length (in place). */
  scale(x: Float32Array, alpha: number): void;
  /** y[i] ← y[i] + alpha · x[i] for i < y.length. */
  axpy(alpha: number, x: Float32Array, y: Float32Array): void;
  /** y[i] ← alpha · x[i] + beta · y[i] for i < y.length. */
  axpby(alpha: number, x: Float32Array, beta: number, y: Float32Array): void;
  /** out[i] ← a[i] + b[i] for i < out.length. out may alias a or b. */
  add(a: Float32Array, b: Float32Array, out: Float32Array): void;
  /** out[i] ← a[i] · b[i] for i < out.length. out may alias a or b. */
  mul(a: Float32Array, b: Float32Array, out: Float32Array): void;
  /** a[i] ← ½ (a[i] + b[i]) for i < a.length (pairwise gossip averaging, in place on a). */
  average(a: Float32Array, b: Float32Array): void;
  /** Σ x[i]² over all i < x.length, accumulated in float64 (for gradient-norm clipping and metrics). */
  sumSquares(x: Float32Array): number;
  /** Σ x[i]·y[i] over i < x.length (y at least as long), accumulated in float64 (cosines, e.g. Adaptive Braking's). */
  dot(x: Float32Array, y: Float32Array): number;
  /**
   * A2CiD2's vector work in one pass, for i < x.length (x, xt updated in place; v read):
   *   a = p·x[i] + q·xt[i],  b = q·x[i] + p·xt[i],  w = v[i] − c·a,  x[i] ← a + kx·w,  xt[i] ← b + kt·w.
   * The mixing of the continuous momentum (p, q) followed by a local step (c = 0, kx = kt = −lr, v = the
   * direction) or by an exchange (c = 1, kx = ½, kt = α̃, v = the peer's x); p = 1, q = 0 skips the mixing.
   */
  acidMix(x: Float32Array, xt: Float32Array, v: Float32Array, p: number, q: number, c: number, kx: number, kt: number): void;

  // ---------------------------------------------------------------------------------------------------------------
  // Bias, activations, dropout

  /**
   * Broadcast add over a channel axis: x[(o·channels + c)·inner + i] += bias[c] for o < outer, c < channels,
   * i < inner (in place). A Linear layer uses (rows, features, 1); a convolution uses (N, C, H·W); a learned
   * positional embedding added to [B, T, D] activations uses (B, T·D, 1).
   */
  addBias(x: Float32Array, bias: Float32Array, outer: number, channels: number, inner: number): void;
  /** dbias[c] += Σ_{o < outer, i < inner} dy[(o·channels + c)·inner + i] (accumulated). */
  biasGrad(dy: Float32Array, dbias: Float32Array, outer: number, channels: number, inner: number): void;

  /** y[i] ← max(x[i], 0) for i < y.length. y may alias x. */
  relu(x: Float32Array, y: Float32Array): void;
  /**
   * dx[i] ← y[i] > 0 ? dy[i] : 0 for i < dx.length, where y is the forward output of relu (the forward input works
   * equally, since they are positive at the same places). dx may alias dy.
   */
  reluBackward(y: Float32Array, dy: Float32Array, dx: Float32Array): void;

  /**
   * GELU, tanh approximation (as in GPT-2; both backends use exactly this formula):
   *   y = ½ · x · (1 + tanh(u)),  u = √(2/π) · (x + 0.044715 · x³).
   * y[i] ← gelu(x[i]) for i < y.length. y may alias x.
   */
  gelu(x: Float32Array, y: Float32Array): void;
  /**
   * dx[i] ← dy[i] · gelu'(x[i]) for i < dx.length, x being the forward INPUT, with
   *   gelu'(x) = ½ (1 + tanh u) + ½ x (1 − tanh² u) · √(2/π) (1 + 3 · 0.044715 · x²).
   * dx may alias dy.
   */
  geluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void;

  /**
   * Inverted dropout with a counter-based random stream, identical on every backend. For i < out.length:
   *   h = fmix32((i · 0x9E3779B1 mod 2³²) XOR seed);  h = fmix32((h + seed) mod 2³²);
   *   keep = h ≥ threshold, threshold = min(floor(p · 2³²), 2³² − 1);
   *   mask[i] ← keep ? 1 / (1 − p) : 0;  out[i] ← x[i] · mask[i],
   * where fmix32 is MurmurHash3's finaliser on uint32 (h ^= h >>> 16; h = h · 0x85EBCA6B; h ^= h >>> 13;
   * h = h · 0xC2B2AE35; h ^= h >>> 16, products mod 2³²) and seed is a uint32. 1/(1 − p) is computed in float64
   * and rounded to float32 once. Requires 0 ≤ p < 1. out may alias x. The backward pass is mul(dy, mask, dx).
   */
  dropout(x: Float32Array, out: Float32Array, mask: Float32Array, p: number, seed: number): void;

  // ---------------------------------------------------------------------------------------------------------------
  // Losses and softmax

  /**
   * Softmax cross-entropy over rows of logits [rows, classes] with integer labels (each in [0, classes)).
   * Returns Σ_r −log softmax(logits_r)[labels[r]] (the SUM over rows, float64, computed with log-sum-exp).
   * When dlogits is not null it is written: dlogits[r, c] ← gradScale · (softmax(logits_r)[c] − [c = labels[r]]);
   * pass gradScale = 1/rows for the gradient of the mean loss. dlogits may alias logits.
   */
  softmaxCrossEntropy(
    logits: Float32Array, labels: Int32Array, rows: number, classes: number,
    dlogits: Float32Array | null, gradScale: number,
  ): number;

  /** out[r] ← index of the largest value of row r of x [rows, cols] (the first one on ties). */
  argmaxRows(x: Float32Array, rows: number, cols: number, out: Int32Array): void;

  /**
   * Row softmax of scaled inputs: y[r, c] ← exp(scale·x[r, c] − max) / Σ, over rows of x [rows, cols].
   * When causal is true, cols is the sequence length T and row r is the query at position q = r mod cols: entries
   * c > q are excluded from the max and the sum and written as exactly 0 (attention over [..., T, T] scores).
   * y may alias x.
   */
  softmax(x: Float32Array, y: Float32Array, rows: number, cols: number, scale: number, causal: boolean): void;
  /**
   * Backward of softmax(x, y, …, scale, causal) given its output y and the output gradient dy:
   *   dx[r, c] ← scale · y[r, c] · (dy[r, c] − Σ_j y[r, j] · dy[r, j]).
   * (Masked entries have y = 0 and get dx = 0.) dx may alias dy.
   */
  softmaxBackward(y: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, cols: number, scale: number): void;

  // ---------------------------------------------------------------------------------------------------------------
  // Normalisation

  /**
   * LayerNorm over the last axis of x [rows, cols]: for each row, mean μ and biased variance σ² over cols,
   *   rstd = 1/√(σ² + eps),  y[r, c] ← (x[r, c] − μ) · rstd · gamma[c] + beta[c].
   * mean[r] and rstd[r] are written (kept for the backward pass).
   */
  layerNorm(
    x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array,
    mean: Float32Array, rstd: Float32Array, rows: number, cols: number, eps: number,
  ): void;
  /**
   * Backward of layerNorm, with x̂ = (x − μ) · rstd:
   *   dgamma[c] += Σ_r dy[r, c] · x̂[r, c];  dbeta[c] += Σ_r dy[r, c];
   *   dx[r, c] ← rstd · (g[r, c] − mean_c(g[r, ·]) − x̂[r, c] · mean_c(g[r, ·] · x̂[r, ·])),  g = dy · gamma.
   * dx is written; dx may alias dy.
   */
  layerNormBackward(
    x: Float32Array, dy: Float32Array, gamma: Float32Array, mean: Float32Array, rstd: Float32Array,
    dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, rows: number, cols: number,
  ): void;

  /**
   * BatchNorm2d forward in training mode over x [n, c, hw]: per channel, batch mean μ and biased variance σ² over
   * the M = n·hw values; rstd = 1/√(σ² + eps); y ← (x − μ) · rstd · gamma + beta. mean[c], rstd[c] are written.
   * Running statistics are updated in place (as in PyTorch):
   *   runningMean ← (1 − momentum) · runningMean + momentum · μ,
   *   runningVar  ← (1 − momentum) · runningVar + momentum · σ² · M/(M − 1)   (σ² unchanged when M = 1).
   */
  batchNormTrain(
    x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, rstd: Float32Array,
    runningMean: Float32Array, runningVar: Float32Array, n: number, c: number, hw: number, eps: number, momentum: number,
  ): void;
  /** BatchNorm2d in evaluation mode: y ← (x − runningMean) / √(runningVar + eps) · gamma + beta, per channel. */
  batchNormEval(
    x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array,
    runningMean: Float32Array, runningVar: Float32Array, n: number, c: number, hw: number, eps: number,
  ): void;
  /**
   * Backward of batchNormTrain, per channel over its M = n·hw values, x̂ = (x − μ) · rstd:
   *   dgamma[c] += Σ dy · x̂;  dbeta[c] += Σ dy;
   *   dx ← gamma[c] · rstd · (dy − mean(dy) − x̂ · mean(dy · x̂)).
   * dx is written; dx may alias dy.
   */
  batchNormBackward(
    x: Float32Array, dy: Float32Array, gamma: Float32Array, mean: Float32Array, rstd: Float32Array,
    dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, n: number, c: number, hw: number,
  ): void;

  /**
   * GroupNorm over x [n, c, hw] (as torch.nn.GroupNorm; no running statistics, the same in training and
   * evaluation): the c channels form `groups` groups of C/G = c/groups consecutive channels, and block b = (s, k),
   * s < n, k < groups, is the contiguous run x[(s·c + k·C/G)·hw … (s·c + (k+1)·C/G)·hw) of M = (C/G)·hw values.
   * Per block, mean μ_b and biased variance σ²_b over its M values; rstd_b = 1/√(σ²_b + eps);
   *   y[s, ch, i] ← (x[s, ch, i] − μ_b) · rstd_b · gamma[ch] + beta[ch],  b = s·groups + ⌊ch / (C/G)⌋.
   * mean[b] and rstd[b] (length n·groups) are written. groups must be a positive divisor of c (RangeError
   * otherwise). groups = 1 is LayerNorm over each sample's c·hw values (with per-channel affine); groups = c is
   * InstanceNorm.
   */
  groupNorm(
    x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, rstd: Float32Array,
    n: number, c: number, hw: number, groups: number, eps: number,
  ): void;
  /**
   * Backward of groupNorm, with x̂ = (x − μ_b) · rstd_b and g = dy · gamma[ch]:
   *   dgamma[ch] += Σ_{s, i} dy[s, ch, i] · x̂[s, ch, i];  dbeta[ch] += Σ_{s, i} dy[s, ch, i];
   *   dx ← rstd_b · (g − mean_b(g) − x̂ · mean_b(g · x̂)),
   * where mean_b averages over the M = (C/G)·hw values of the block b the element belongs to. dx is written;
   * dx may alias dy. groups must be a positive divisor of c (RangeError otherwise).
   */
  groupNormBackward(
    x: Float32Array, dy: Float32Array, gamma: Float32Array, mean: Float32Array, rstd: Float32Array,
    dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, n: number, c: number, hw: number, groups: number,
  ): void;

  // ---------------------------------------------------------------------------------------------------------------
  // Convolution and pooling (NCHW)

  /**
   * Unfolds a batch of images x [n, c, h, w] into cols [n, c·kh·kw, oh·ow] (one column matrix per image, written),
   * with oh = ⌊(h + 2·pad − kh)/stride⌋ + 1, ow = ⌊(w + 2·pad − kw)/stride⌋ + 1:
   *   cols[img, (ch·kh + i)·kw + j, oy·ow + ox] ← x[img, ch, oy·stride − pad + i, ox·stride − pad + j]  (0 outside).
   */
  im2col(
    x: Float32Array, cols: Float32Array, n: number, c: number, h: number, w: number,
    kh: number, kw: number, stride: number, pad: number,
  ): void;
  /**
   * The adjoint of im2col: dx [n, c, h, w] is WRITTEN with the sum, over every cols entry, of its value at the
   * image position it was read from (entries that fell in the padding are dropped).
   */
  col2im(
    cols: Float32Array, dx: Float32Array, n: number, c: number, h: number, w: number,
    kh: number, kw: number, stride: number, pad: number,
  ): void;

  /**
   * Max pooling without padding over x [n, c, h, w], window k×k, step stride: y [n, c, oh, ow] with
   * oh = ⌊(h − k)/stride⌋ + 1, ow likewise. argmax[o] ← the index in x (from the start of the x view) of the
   * maximum of window o (the first in row-major order on ties). y and argmax are written.
   */
  maxPool2d(
    x: Float32Array, y: Float32Array, argmax: Int32Array, n: number, c: number, h: number, w: number,
    k: number, stride: number,
  ): void;
  /** dx is zeroed, then dx[argmax[o]] += dy[o] for o < dy.length (dx written). */
  maxPool2dBackward(dy: Float32Array, argmax: Int32Array, dx: Float32Array): void;

  /** Global average pooling: y[p] ← (1/hw) Σ_{i<hw} x[p·hw + i] for p < planes (planes = n·c). */
  avgPoolGlobal(x: Float32Array, y: Float32Array, planes: number, hw: number): void;
  /** dx[p·hw + i] ← dy[p] / hw (dx written). */
  avgPoolGlobalBackward(dy: Float32Array, dx: Float32Array, planes: number, hw: number): void;

  // ---------------------------------------------------------------------------------------------------------------
  // Embeddings

  /** out[r, :] ← table[ids[r], :] for r < ids.length, rows of length dim (each id in [0, table.length/dim)). */
  embeddingGather(table: Float32Array, ids: Int32Array, out: Float32Array, dim: number): void;
  /** dtable[ids[r], :] += dout[r, :] for r < ids.length (accumulated; repeated ids add up). */
  embeddingScatterAdd(dout: Float32Array, ids: Int32Array, dtable: Float32Array, dim: number): void;

  // ---------------------------------------------------------------------------------------------------------------
  // Optimizer updates (in place on flat views; the optimizer calls them once per contiguous range of parameters
  // sharing the same weight decay, so a decay mask is expressed as ranges)

  /**
   * SGD with momentum, Nesterov and (coupled, L2) weight decay, as torch.optim.SGD with dampening 0. For each i:
   *   g = grads[i] + weightDecay · params[i]
   *   if momentum ≠ 0: buf[i] ← momentum · buf[i] + g;  g = nesterov ? g + momentum · buf[i] : buf[i]
   *   params[i] ← params[i] − lr · g
   * buf is read and written only when momentum ≠ 0 (it may then be a zero-length view). grads is not modified.
   */
  sgdStep(
    params: Float32Array, grads: Float32Array, buf: Float32Array,
    lr: number, momentum: number, weightDecay: number, nesterov: boolean,
  ): void;

  /**
   * AdamW (decoupled weight decay) as torch.optim.AdamW, step t ≥ 1 (the count including this step). For each i:
   *   params[i] ← params[i] · (1 − lr · weightDecay)
   *   m[i] ← beta1 · m[i] + (1 − beta1) · g;  v[i] ← beta2 · v[i] + (1 − beta2) · g²   (g = grads[i])
   *   params[i] ← params[i] − (lr / bc1) · m[i] / (√v[i] / √bc2 + eps),  bc1 = 1 − beta1^t, bc2 = 1 − beta2^t
   * (bc1 and bc2 computed in float64). grads is not modified.
   */
  adamwStep(
    params: Float32Array, grads: Float32Array, m: Float32Array, v: Float32Array,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number,
  ): void;
}

/** The names of every kernel of the Backend interface (for parity tests and for checking a native build). */
export const KERNEL_NAMES = [
  'sgemm', 'sgemmBatched',
  'fill', 'copy', 'scale', 'axpy', 'axpby', 'add', 'mul', 'average', 'sumSquares', 'dot', 'acidMix',
  'addBias', 'biasGrad', 'relu', 'reluBackward', 'gelu', 'geluBackward', 'dropout',
  'softmaxCrossEntropy', 'argmaxRows', 'softmax', 'softmaxBackward',
  'layerNorm', 'layerNormBackward', 'batchNormTrain', 'batchNormEval', 'batchNormBackward',
  'groupNorm', 'groupNormBackward',
  'im2col', 'col2im', 'maxPool2d', 'maxPool2dBackward', 'avgPoolGlobal', 'avgPoolGlobalBackward',
  'embeddingGather', 'embeddingScatterAdd',
  'sgdStep', 'adamwStep',
] as const satisfies readonly (keyof Backend)[];

/** The name of one kernel of the Backend interface. */
export type KernelName = (typeof KERNEL_NAMES)[number];

// Compile-time check that KERNEL_NAMES lists every kernel of the interface.
type UnlistedKernel = Exclude<keyof Backend, 'name' | 'isa' | KernelName>;
const everyKernelListed: [UnlistedKernel] extends [never] ? true : UnlistedKernel = true;
void everyKernelListed;
