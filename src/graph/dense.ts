/**
 * Dense symmetric linear algebra in Float64, enough for the spectral quantities of graphs up to a few hundred
 * nodes: all eigenvalues (Householder tridiagonalisation, then the implicit QL algorithm) and effective
 * resistances (Cholesky factorisation of L + (s/n) 11ᵀ).
 */

/** All eigenvalues of the symmetric n×n matrix `a` (row-major, left untouched), in increasing order. */
export function symmetricEigenvalues(a: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tridiagonalize(m, n, d, e);
  tridiagonalEigenvalues(d, e);
  return d.sort();
}

/**
 * Householder reduction of the symmetric matrix m (destroyed) to tridiagonal form: diagonal d, sub-diagonal
 * e[1..n−1] (e[0] = 0). Only the lower triangle of m is read.
 */
function tridiagonalize(m: Float64Array, n: number, d: Float64Array, e: Float64Array): void {
  for (let i = n - 1; i > 0; i--) {
    const l = i - 1;
    const ri = i * n;
    let h = 0;
    if (l > 0) {
      let scale = 0;
      for (let k = 0; k <= l; k++) scale += Math.abs(m[ri + k]);
      if (scale === 0) {
        e[i] = m[ri + l];
      } else {
        for (let k = 0; k <= l; k++) {
          m[ri + k] /= scale;
          h += m[ri + k] * m[ri + k];
        }
        let f = m[ri + l];
        let g = f >= 0 ? -Math.sqrt(h) : Math.sqrt(h);
        e[i] = scale * g;
        h -= f * g;
        m[ri + l] = f - g;
        f = 0;
        for (let j = 0; j <= l; j++) {
          const rj = j * n;
          g = 0;
          for (let k = 0; k <= j; k++) g += m[rj + k] * m[ri + k];
          for (let k = j + 1; k <= l; k++) g += m[k * n + j] * m[ri + k];
          e[j] = g / h;
          f += e[j] * m[ri + j];
        }
        const hh = f / (h + h);
        for (let j = 0; j <= l; j++) {
          const rj = j * n;
          f = m[ri + j];
          g = e[j] - hh * f;
          e[j] = g;
          for (let k = 0; k <= j; k++) m[rj + k] -= f * e[k] + g * m[ri + k];
        }
      }
    } else {
      e[i] = m[ri + l];
    }
    d[i] = h;
  }
  e[0] = 0;
  for (let i = 0; i < n; i++) d[i] = m[i * n + i];
}

/**
 * Eigenvalues of the symmetric tridiagonal matrix with diagonal d and sub-diagonal e[1..n−1] (implicit QL with
 * Wilkinson shifts). On return d holds the eigenvalues (unsorted); e is destroyed.
 */
export function tridiagonalEigenvalues(d: Float64Array, e: Float64Array): void {
  const n = d.length;
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  if (n > 0) e[n - 1] = 0;
  for (let l = 0; l < n; l++) {
    let iter = 0;
    let m: number;
    do {
      for (m = l; m < n - 1; m++) {
        const dd = Math.abs(d[m]) + Math.abs(d[m + 1]);
        if (Math.abs(e[m]) <= Number.EPSILON * dd) break;
      }
      if (m !== l) {
        if (iter++ === 100) throw new Error('tridiagonal QL did not converge');
        let g = (d[l + 1] - d[l]) / (2 * e[l]);
        let r = hypot(g, 1);
        g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
        let s = 1;
        let c = 1;
        let p = 0;
        let i: number;
        for (i = m - 1; i >= l; i--) {
          const f = s * e[i];
          const b = c * e[i];
          r = hypot(f, g);
          e[i + 1] = r;
          if (r === 0) {
            d[i + 1] -= p;
            e[m] = 0;
            break;
          }
          s = f / r;
          c = g / r;
          g = d[i + 1] - p;
          r = (d[i] - g) * s + 2 * c * b;
          p = s * r;
          d[i + 1] = g + p;
          g = c * r - b;
        }
        if (r === 0 && i >= l) continue;
        d[l] -= p;
        e[l] = g;
        e[m] = 0;
      }
    } while (m !== l);
  }
}

function hypot(a: number, b: number): number {
  const x = Math.abs(a);
  const y = Math.abs(b);
  if (x > y) {
    const t = y / x;
    return x * Math.sqrt(1 + t * t);
  }
  if (y === 0) return 0;
  const t = x / y;
  return y * Math.sqrt(1 + t * t);
}

/**
 * Effective resistances (e_i − e_j)ᵀ L⁺ (e_i − e_j) of the given pairs, for the Laplacian L (n×n, row-major) of
 * a connected graph. Uses M = L + (s/n) 11ᵀ, which is positive definite and agrees with L⁺'s inverse on 1⊥:
 * M = C Cᵀ, and the resistance of (i, j) is ‖C⁻¹(e_i − e_j)‖² = (M⁻¹)_ii + (M⁻¹)_jj − 2 (M⁻¹)_ij.
 */
export function effectiveResistances(L: Float64Array, n: number, pairs: ReadonlyArray<readonly [number, number]>): Float64Array {
  let s = 0;
  for (let i = 0; i < n; i++) s += L[i * n + i];
  s /= n * n;
  const c = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) c[i] = L[i] + s;
  // Cholesky, lower triangle in place (row-major, rows contiguous).
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let diag = c[rj + j];
    for (let k = 0; k < j; k++) diag -= c[rj + k] * c[rj + k];
    if (!(diag > 0)) throw new Error('Laplacian is not positive semi-definite with a one-dimensional kernel');
    const cjj = Math.sqrt(diag);
    c[rj + j] = cjj;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let v = c[ri + j];
      for (let k = 0; k < j; k++) v -= c[ri + k] * c[rj + k];
      c[ri + j] = v / cjj;
    }
  }
  // U[a] (row a) = column a of C⁻¹: entries a..n−1.
  const u = new Float64Array(n * n);
  const x = new Float64Array(n);
  for (let a = 0; a < n; a++) {
    x[a] = 1 / c[a * n + a];
    for (let i = a + 1; i < n; i++) {
      const ri = i * n;
      let v = 0;
      for (let k = a; k < i; k++) v -= c[ri + k] * x[k];
      x[i] = v / c[ri + i];
    }
    u.set(x.subarray(a), a * n + a);
  }
  const dot = (a: number, b: number): number => {
    const from = Math.max(a, b);
    let v = 0;
    const ra = a * n;
    const rb = b * n;
    for (let k = from; k < n; k++) v += u[ra + k] * u[rb + k];
    return v;
  };
  const diagInv = new Float64Array(n);
  for (let a = 0; a < n; a++) diagInv[a] = dot(a, a);
  const out = new Float64Array(pairs.length);
  pairs.forEach(([i, j], e) => {
    out[e] = diagInv[i] + diagInv[j] - 2 * dot(i, j);
  });
  return out;
}
