/**
 * Cache-blocked single-precision matrix product in plain TypeScript (the reference backend's sgemm).
 *
 * C ← alpha · op(A) · op(B) + beta · C. Blocks of op(A) (MC × KC) and op(B) (KC × NC) are packed into contiguous
 * scratch panels — 4-row strips of A and 4-column strips of B, interleaved along k, zero-padded at the edges — and
 * a 4×4 register-blocked micro-kernel accumulates each tile of C over the block's k range in 16 local variables.
 * Transposition is handled entirely by the packing.
 */

const KC = 256;
const MC = 64;
const NC = 512;

const aPanel = new Float32Array(KC * MC);
const bPanel = new Float32Array(KC * NC);
const tile = new Float64Array(16);

export function sgemmJs(
  transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
  a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number,
): void {
  if (m <= 0 || n <= 0) return;
  if (beta !== 1) {
    for (let i = 0; i < m; i++) {
      const row = i * ldc;
      if (beta === 0) c.fill(0, row, row + n);
      else for (let j = row; j < row + n; j++) c[j] *= beta;
    }
  }
  if (alpha === 0 || k <= 0) return;
  // op(A)(i, p) = a[i·aRow + p·aCol];  op(B)(p, j) = b[p·bRow + j·bCol]
  const aRow = transA ? 1 : lda;
  const aCol = transA ? lda : 1;
  const bRow = transB ? 1 : ldb;
  const bCol = transB ? ldb : 1;
  const ap = aPanel;
  const bp = bPanel;

  for (let j0 = 0; j0 < n; j0 += NC) {
    const nb = Math.min(NC, n - j0);
    for (let p0 = 0; p0 < k; p0 += KC) {
      const kb = Math.min(KC, k - p0);
      // Pack op(B)[p0 : p0+kb, j0 : j0+nb]: strip s (4 columns) at bp[s·kb + 4p + jj].
      for (let s = 0; s < nb; s += 4) {
        const base = s * kb;
        const cols = Math.min(4, nb - s);
        for (let jj = 0; jj < 4; jj++) {
          if (jj >= cols) {
            for (let p = 0; p < kb; p++) bp[base + 4 * p + jj] = 0;
            continue;
          }
          let src = p0 * bRow + (j0 + s + jj) * bCol;
          for (let p = 0; p < kb; p++, src += bRow) bp[base + 4 * p + jj] = b[src];
        }
      }
      for (let i0 = 0; i0 < m; i0 += MC) {
        const mb = Math.min(MC, m - i0);
        // Pack op(A)[i0 : i0+mb, p0 : p0+kb]: strip r (4 rows) at ap[r·kb + 4p + ii].
        for (let r = 0; r < mb; r += 4) {
          const base = r * kb;
          const rows = Math.min(4, mb - r);
          for (let ii = 0; ii < 4; ii++) {
            if (ii >= rows) {
              for (let p = 0; p < kb; p++) ap[base + 4 * p + ii] = 0;
              continue;
            }
            let src = (i0 + r + ii) * aRow + p0 * aCol;
            for (let p = 0; p < kb; p++, src += aCol) ap[base + 4 * p + ii] = a[src];
          }
        }
        for (let r = 0; r < mb; r += 4) {
          const ao = r * kb;
          const rows = Math.min(4, mb - r);
          for (let s = 0; s < nb; s += 4) {
            const bo = s * kb;
            let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
            let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
            for (let p = 0, x = ao, y = bo; p < kb; p++, x += 4, y += 4) {
              const a0 = ap[x], a1 = ap[x + 1], a2 = ap[x + 2], a3 = ap[x + 3];
              const b0 = bp[y], b1 = bp[y + 1], b2 = bp[y + 2], b3 = bp[y + 3];
              c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
              c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
              c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
              c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            const cols = Math.min(4, nb - s);
            let o = (i0 + r) * ldc + j0 + s;
            if (rows === 4 && cols === 4) {
              c[o] += alpha * c00; c[o + 1] += alpha * c01; c[o + 2] += alpha * c02; c[o + 3] += alpha * c03; o += ldc;
              c[o] += alpha * c10; c[o + 1] += alpha * c11; c[o + 2] += alpha * c12; c[o + 3] += alpha * c13; o += ldc;
              c[o] += alpha * c20; c[o + 1] += alpha * c21; c[o + 2] += alpha * c22; c[o + 3] += alpha * c23; o += ldc;
              c[o] += alpha * c30; c[o + 1] += alpha * c31; c[o + 2] += alpha * c32; c[o + 3] += alpha * c33;
            } else {
              tile[0] = c00; tile[1] = c01; tile[2] = c02; tile[3] = c03;
              tile[4] = c10; tile[5] = c11; tile[6] = c12; tile[7] = c13;
              tile[8] = c20; tile[9] = c21; tile[10] = c22; tile[11] = c23;
              tile[12] = c30; tile[13] = c31; tile[14] = c32; tile[15] = c33;
              for (let ii = 0; ii < rows; ii++, o += ldc) {
                for (let jj = 0; jj < cols; jj++) c[o + jj] += alpha * tile[4 * ii + jj];
              }
            }
          }
        }
      }
    }
  }
}
