/**
 * The compute backend of the engine: every hot loop of a training step lives behind this interface, so that layers
 * never loop over elements in JavaScript. Two implementations give the same results within float tolerance:
 * the native addon (C++ with run-time SIMD dispatch) and the TypeScript reference backend.
 *
 * Conventions: row-major, float32; arrays are passed as (sub)array views, never with separate offsets;
 * "out" parameters are written, "grad" parameters are accumulated (+=) unless said otherwise.
 */
export interface Backend {
  /** 'native' or 'js'. */
  readonly name: 'native' | 'js';
  /** Instruction set in use: 'avx512', 'avx2', 'scalar' (native) or 'js'. */
  readonly isa: string;

  /** C ← alpha · op(A) · op(B) + beta · C, with op(A) m×k, op(B) k×n, C m×n; lda/ldb/ldc are row strides. */
  sgemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number,
  ): void;

  // The engine issue extends this interface with the elementwise, normalisation, convolution, pooling, loss and
  // optimizer kernels the layers need; each kernel is added here, in the TypeScript backend and in the addon.
}
