/**
 * Cache-blocked single-precision matrix product in plain TypeScript (the reference backend's sgemm).
 *
 * C ← alpha · op(A) · op(B) + beta · C. B is packed, one k-block × n-block panel at a time, into a contiguous
 * scratch buffer (transposing it when transB), so that the innermost loop always streams over contiguous memory;
 * four rows of C are updated per pass over a panel row to reuse each loaded B value four times.
 */

const KB = 128;
const NB = 512;

let scratch = new Float64Array(KB * NB);

export function sgemmJs(
  transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
  a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number,
): void {
  if (m <= 0 || n <= 0) return;
  // C ← beta · C (beta = 0 writes zeros without reading C).
  if (beta !== 1) {
    for (let i = 0; i < m; i++) {
      const row = i * ldc;
      if (beta === 0) c.fill(0, row, row + n);
      else for (let j = row; j < row + n; j++) c[j] *= beta;
    }
  }
  if (alpha === 0 || k <= 0) return;
  if (scratch.length < KB * NB) scratch = new Float64Array(KB * NB);
  const panel = scratch;
  // A(i, p) = transA ? a[p·lda + i] : a[i·lda + p]
  const aRow = transA ? 1 : lda;
  const aCol = transA ? lda : 1;

  for (let j0 = 0; j0 < n; j0 += NB) {
    const nb = Math.min(NB, n - j0);
    for (let p0 = 0; p0 < k; p0 += KB) {
      const kb = Math.min(KB, k - p0);
      // Pack op(B)[p0:p0+kb, j0:j0+nb] into panel (kb × nb, row stride nb).
      if (transB) {
        for (let j = 0; j < nb; j++) {
          const src = (j0 + j) * ldb + p0;
          for (let p = 0; p < kb; p++) panel[p * nb + j] = b[src + p];
        }
      } else {
        for (let p = 0; p < kb; p++) {
          const src = (p0 + p) * ldb + j0;
          const dst = p * nb;
          for (let j = 0; j < nb; j++) panel[dst + j] = b[src + j];
        }
      }
      let i = 0;
      for (; i + 4 <= m; i += 4) {
        const c0 = i * ldc + j0;
        const c1 = c0 + ldc;
        const c2 = c1 + ldc;
        const c3 = c2 + ldc;
        const a0 = i * aRow + p0 * aCol;
        for (let p = 0; p < kb; p++) {
          const ap = a0 + p * aCol;
          const v0 = alpha * a[ap];
          const v1 = alpha * a[ap + aRow];
          const v2 = alpha * a[ap + 2 * aRow];
          const v3 = alpha * a[ap + 3 * aRow];
          const bp = p * nb;
          for (let j = 0; j < nb; j++) {
            const bv = panel[bp + j];
            c[c0 + j] += v0 * bv;
            c[c1 + j] += v1 * bv;
            c[c2 + j] += v2 * bv;
            c[c3 + j] += v3 * bv;
          }
        }
      }
      for (; i < m; i++) {
        const c0 = i * ldc + j0;
        const a0 = i * aRow + p0 * aCol;
        for (let p = 0; p < kb; p++) {
          const v0 = alpha * a[a0 + p * aCol];
          const bp = p * nb;
          for (let j = 0; j < nb; j++) c[c0 + j] += v0 * panel[bp + j];
        }
      }
    }
  }
}
