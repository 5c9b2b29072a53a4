/** Small dense linear algebra in float64 for problem set-up (optima, smoothness constants); not for hot paths. */

/** Solves A x = b for a symmetric positive-definite n×n A (row-major) by Cholesky. */
export function solveSpd(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      if (i === j) {
        if (s <= 0) throw new Error('matrix is not positive definite');
        l[i * n + i] = Math.sqrt(s);
      } else {
        l[i * n + j] = s / l[j * n + j];
      }
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * y[k];
    y[i] = s / l[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * x[k];
    x[i] = s / l[i * n + i];
  }
  return x;
}

/** Extreme eigenvalues {min, max} of a symmetric n×n matrix by cyclic Jacobi rotations (n up to ~100). */
export function symmetricEigenvalues(matrix: Float64Array, n: number): Float64Array {
  const a = Float64Array.from(matrix);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = a[i * n + i];
  return out.sort();
}

/**
 * exp(M·dt) for a fixed small k×k matrix M (row-major) and many different dt, by scaling and squaring with a
 * degree-14 Taylor polynomial in Horner form (error below 1e-16 once ‖M·dt‖ ≤ ½). Allocation-free after set-up.
 */
export class MatrixExponential {
  private readonly k: number;
  private readonly m: Float64Array;
  private readonly norm: number;
  private readonly a: Float64Array;
  private readonly acc: Float64Array;
  private readonly tmp: Float64Array;
  /** The last result, overwritten by the next call. */
  readonly out: Float64Array;

  constructor(m: Float64Array, k: number) {
    this.k = k;
    this.m = Float64Array.from(m);
    let norm = 0;
    for (let i = 0; i < k; i++) {
      let row = 0;
      for (let j = 0; j < k; j++) row += Math.abs(m[i * k + j]);
      norm = Math.max(norm, row);
    }
    this.norm = norm;
    this.a = new Float64Array(k * k);
    this.acc = new Float64Array(k * k);
    this.tmp = new Float64Array(k * k);
    this.out = new Float64Array(k * k);
  }

  /** Computes exp(M·dt) into this.out and returns it. */
  at(dt: number): Float64Array {
    const { k, a, acc, tmp } = this;
    const n2 = k * k;
    const x = this.norm * Math.abs(dt);
    const squarings = x > 0.5 ? Math.ceil(Math.log2(x / 0.5)) : 0;
    const scale = dt / 2 ** squarings;
    for (let i = 0; i < n2; i++) a[i] = this.m[i] * scale;
    // Horner: acc = I + A/14; acc = I + A·acc/j for j = 13 … 1.
    for (let i = 0; i < n2; i++) acc[i] = a[i] / 14;
    for (let i = 0; i < k; i++) acc[i * k + i] += 1;
    for (let j = 13; j >= 1; j--) {
      multiply(a, acc, tmp, k);
      for (let i = 0; i < n2; i++) acc[i] = tmp[i] / j;
      for (let i = 0; i < k; i++) acc[i * k + i] += 1;
    }
    for (let s = 0; s < squarings; s++) {
      multiply(acc, acc, tmp, k);
      acc.set(tmp);
    }
    this.out.set(acc);
    return this.out;
  }
}

function multiply(a: Float64Array, b: Float64Array, c: Float64Array, k: number): void {
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += a[i * k + l] * b[l * k + j];
      c[i * k + j] = s;
    }
  }
}
