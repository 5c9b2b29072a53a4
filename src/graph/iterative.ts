/**
 * Iterative spectral quantities of large sparse Laplacians (connected graphs, kernel = the constant vectors).
 *
 * - Extreme eigenvalues: Lanczos on 1⊥ (the all-ones direction projected out at every step), on L for λmax
 *   (and λ2 on well-connected graphs), or on L⁺ — each step one solve of L x = v — whose largest eigenvalue
 *   1/λ2 stays well separated even when λ2 is tiny (rings, paths, geometric graphs).
 * - Solves: Jacobi-preconditioned conjugate gradients (Solver), or the exact profile Cholesky of direct.ts.
 * - Max effective resistance over the edges without a factorisation (maxEdgeResistance): exact solves for every
 *   edge are too many on large graphs, so every edge gets a cheap unbiased estimate with an error bar first, and
 *   exact solves are then done in decreasing order of the upper confidence bound until no remaining edge can
 *   beat the best exact value. The estimate uses the splitting L = D − A, P = D⁻¹A (b = e_i − e_j):
 *       bᵀL⁺b = Σ_{t<T} bᵀ Pᵗ D⁻¹ b  +  bᵀ Pᵀ L⁺ b,
 *   the first terms computed exactly from the edge's neighbourhood, the remainder by a Johnson–Lindenstrauss
 *   sketch L⁺ ≈ (1/K) Σ_q z_q z_qᵀ, z_q = L⁺ Bᵀ W^½ g_q (g_q random signs). The remainder shrinks like ρ^T
 *   (ρ = second eigenvalue modulus of P), so the estimates are sharp on expanders where all resistances are
 *   alike; on poorly connected graphs the resistances differ widely and few edges need an exact solve anyway.
 *   The screening keeps the edges whose estimate is within six standard errors (and below the Rayleigh bound
 *   1/λ_e), so the maximising edge is missed only with a probability far below 1e−6. Bridges (all edges of a
 *   tree) are exact at once: R_e = 1/λ_e. When many resistances tie (symmetric graphs), the n columns of L⁺
 *   give every edge exactly instead. Exact values are accurate to about 1e−10.
 */
import { Rng } from '../core/rng.js';
import { laplacianTimes, type SparseLaplacian } from './rates.js';
import { tridiagonalEigenvalues } from './dense.js';

const SKETCH = 48;
const MIN_EXACT_BEFORE_COLUMNS = 16;
const MARGIN = 6;

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function projectOnes(v: Float64Array): void {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  s /= v.length;
  for (let i = 0; i < v.length; i++) v[i] -= s;
}

/** Scratch vectors for conjugate gradients on one Laplacian. */
export class Solver {
  private readonly r: Float64Array;
  private readonly z: Float64Array;
  private readonly p: Float64Array;
  private readonly ap: Float64Array;
  private readonly inv: Float64Array;
  /** total CG iterations so far */
  iterations = 0;

  constructor(readonly L: SparseLaplacian) {
    const n = L.n;
    this.r = new Float64Array(n);
    this.z = new Float64Array(n);
    this.p = new Float64Array(n);
    this.ap = new Float64Array(n);
    this.inv = L.diag.map((d) => 1 / d);
  }

  /**
   * x = L⁺ b for b ⊥ 1 (Jacobi-preconditioned CG from x = 0, until ‖r‖ ≤ tol ‖b‖), with x ⊥ 1 on return.
   */
  solve(b: Float64Array, x: Float64Array, tol: number): void {
    const { r, z, p, ap, inv } = this;
    const n = this.L.n;
    const maxIter = 20 * n + 100;
    x.fill(0);
    r.set(b);
    const bnorm = Math.sqrt(dot(b, b));
    if (bnorm === 0) return;
    for (let i = 0; i < n; i++) z[i] = r[i] * inv[i];
    p.set(z);
    let rz = dot(r, z);
    const stop = tol * tol * bnorm * bnorm;
    for (let it = 0; it < maxIter; it++) {
      laplacianTimes(this.L, p, ap);
      const pap = dot(p, ap);
      if (!(pap > 0)) break;
      const alpha = rz / pap;
      let sum = 0;
      for (let i = 0; i < n; i++) {
        x[i] += alpha * p[i];
        const ri = r[i] - alpha * ap[i];
        r[i] = ri;
        sum += ri;
      }
      // the true residual b − L x is orthogonal to 1: keep rounding from building up along the kernel
      sum /= n;
      let rr = 0;
      for (let i = 0; i < n; i++) {
        const ri = r[i] - sum;
        r[i] = ri;
        rr += ri * ri;
      }
      this.iterations++;
      if (rr <= stop) break;
      let rzNew = 0;
      for (let i = 0; i < n; i++) {
        const zi = r[i] * inv[i];
        z[i] = zi;
        rzNew += r[i] * zi;
      }
      if (!(rzNew > 0)) break;
      const beta = rzNew / rz;
      rz = rzNew;
      for (let i = 0; i < n; i++) p[i] = z[i] + beta * p[i];
    }
    projectOnes(x);
  }
}

export interface LanczosResult {
  /** smallest and largest Ritz values (eigenvalue estimates of the operator on 1⊥) */
  min: number;
  max: number;
  /** Lanczos residual bounds |λ − θ| ≤ residual of the two */
  minResidual: number;
  maxResidual: number;
  steps: number;
}

/**
 * Extreme eigenvalues of the symmetric operator `apply` restricted to 1⊥ (Lanczos, the all-ones direction
 * projected out at every step). Stops when the wanted extremes have a residual bound ≤ tol·|θ|, or after
 * maxSteps. The three-term recurrence is not reorthogonalised: lost orthogonality only duplicates converged Ritz
 * values, which does not affect the extreme ones or their residual bounds.
 */
export function lanczos(
  n: number,
  apply: (v: Float64Array, out: Float64Array) => void,
  seed: number,
  opts: { want: 'max' | 'both'; tol: number; maxSteps: number },
): LanczosResult {
  const rng = new Rng(seed);
  const maxSteps = Math.min(n - 1, opts.maxSteps);
  const alpha: number[] = [];
  const beta: number[] = [];
  let prev = new Float64Array(n);
  let v = new Float64Array(n);
  let w = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
  projectOnes(v);
  scale(v, 1 / Math.sqrt(dot(v, v)));
  let result: LanczosResult = { min: NaN, max: NaN, minResidual: Infinity, maxResidual: Infinity, steps: 0 };
  let nextCheck = 0;
  for (let k = 0; k < maxSteps; k++) {
    apply(v, w);
    const a = dot(v, w);
    alpha.push(a);
    const bPrev = k > 0 ? beta[k - 1] : 0;
    for (let i = 0; i < n; i++) w[i] -= a * v[i] + bPrev * prev[i];
    // one local reorthogonalisation against v keeps the recurrence accurate
    const c = dot(v, w);
    for (let i = 0; i < n; i++) w[i] -= c * v[i];
    // the kernel direction would grow back from rounding (it lies outside the spectrum on 1⊥): remove it again
    projectOnes(w);
    const b = Math.sqrt(dot(w, w));
    const last = k === maxSteps - 1 || b <= 1e-13 * Math.max(Math.abs(alpha[0]), Math.abs(a));
    // a check costs O(k²): every step at first, then at steps growing by 5%, so that the checks cost O(k²) in all
    if (last || k < 20 || k >= nextCheck) {
      nextCheck = Math.ceil(k * 1.05);
      const ritz = ritzExtremes(alpha, beta);
      result = {
        min: ritz.min,
        max: ritz.max,
        minResidual: b * Math.abs(ritz.lastMin),
        maxResidual: b * Math.abs(ritz.lastMax),
        steps: k + 1,
      };
      const maxDone = result.maxResidual <= opts.tol * Math.abs(result.max);
      const minDone = result.minResidual <= opts.tol * Math.abs(result.min);
      if (last || (maxDone && (opts.want === 'max' || minDone))) break;
    }
    beta.push(b);
    scale(w, 1 / b);
    const t = prev;
    prev = v;
    v = w;
    w = t;
  }
  return result;
}

function scale(v: Float64Array, c: number): void {
  for (let i = 0; i < v.length; i++) v[i] *= c;
}

/**
 * Extreme eigenvalues of the tridiagonal matrix (diagonal alpha, off-diagonal beta) and the last components of
 * their unit eigenvectors (by inverse iteration), which bound the Lanczos residuals.
 */
function ritzExtremes(alpha: number[], beta: number[]): { min: number; max: number; lastMin: number; lastMax: number } {
  const k = alpha.length;
  const d = Float64Array.from(alpha);
  const e = new Float64Array(k);
  for (let i = 1; i < k; i++) e[i] = beta[i - 1];
  tridiagonalEigenvalues(d, e);
  let min = Infinity;
  let max = -Infinity;
  for (const x of d) {
    min = Math.min(min, x);
    max = Math.max(max, x);
  }
  if (k === 1) return { min, max, lastMin: 1, lastMax: 1 };
  const spread = Math.max(Math.abs(min), Math.abs(max), 1e-300);
  const lastComponent = (theta: number, side: number): number => {
    const shift = theta + side * 1e-10 * spread;
    let x: Float64Array = new Float64Array(k).fill(1);
    for (let it = 0; it < 3; it++) {
      x = solveTridiagonal(alpha, beta, shift, x);
      let norm = 0;
      for (const xi of x) norm += xi * xi;
      norm = Math.sqrt(norm);
      if (!Number.isFinite(norm) || norm === 0) return 1;
      for (let i = 0; i < k; i++) x[i] /= norm;
    }
    return x[k - 1];
  };
  return { min, max, lastMin: lastComponent(min, -1), lastMax: lastComponent(max, 1) };
}

/** Solves (T − s I) x = rhs for the symmetric tridiagonal T (Gaussian elimination with partial pivoting). */
function solveTridiagonal(alpha: number[], beta: number[], s: number, rhs: Float64Array): Float64Array {
  const k = alpha.length;
  // rows as (sub, diag, sup, sup2) after pivoting
  const dg = new Float64Array(k);
  const up = new Float64Array(k);
  const up2 = new Float64Array(k);
  const lo = new Float64Array(k);
  const b = Float64Array.from(rhs);
  for (let i = 0; i < k; i++) {
    dg[i] = alpha[i] - s;
    up[i] = i < k - 1 ? beta[i] : 0;
    lo[i] = i > 0 ? beta[i - 1] : 0;
  }
  for (let i = 0; i < k - 1; i++) {
    // eliminate lo[i+1] using row i, swapping rows if needed
    if (Math.abs(lo[i + 1]) > Math.abs(dg[i])) {
      // swap row i and row i+1
      const d0 = dg[i], u0 = up[i], w0 = up2[i], b0 = b[i];
      dg[i] = lo[i + 1];
      up[i] = dg[i + 1];
      up2[i] = up[i + 1];
      b[i] = b[i + 1];
      lo[i + 1] = d0;
      dg[i + 1] = u0;
      up[i + 1] = w0;
      b[i + 1] = b0;
    }
    const piv = dg[i] === 0 ? 1e-300 : dg[i];
    const f = lo[i + 1] / piv;
    dg[i + 1] -= f * up[i];
    up[i + 1] -= f * up2[i];
    b[i + 1] -= f * b[i];
    lo[i + 1] = 0;
  }
  const x = new Float64Array(k);
  for (let i = k - 1; i >= 0; i--) {
    let v = b[i];
    if (i + 1 < k) v -= up[i] * x[i + 1];
    if (i + 2 < k) v -= up2[i] * x[i + 2];
    x[i] = v / (dg[i] === 0 ? 1e-300 : dg[i]);
  }
  return x;
}

export interface MaxResistance {
  /** max over edges of (e_i − e_j)ᵀ L⁺ (e_i − e_j) */
  value: number;
  /** index of the maximising edge */
  edge: number;
  /** number of exact per-edge solves performed */
  exactSolves: number;
}

/** Maximum effective resistance over the edges (see the file comment). `rates` are the edge weights of L. */
export function maxEdgeResistance(
  L: SparseLaplacian,
  edges: ReadonlyArray<readonly [number, number]>,
  rates: Float64Array,
  opts: { seed?: number; lambda2?: number } = {},
): MaxResistance {
  const n = L.n;
  const m = edges.length;
  const { diag, ptr, col, weight } = L;
  // A bridge carries all the current between its ends: R_e = 1/λ_e exactly (every edge of a tree is one).
  const bridge = findBridges(n, edges);
  let best = -Infinity;
  let edge = -1;
  let bridges = 0;
  for (let e = 0; e < m; e++) {
    if (!bridge[e]) continue;
    bridges++;
    if (1 / rates[e] > best) {
      best = 1 / rates[e];
      edge = e;
    }
  }
  if (bridges === m) return { value: best, edge, exactSolves: 0 };
  // Exact local terms up to T = 4 when the two-hop neighbourhoods are small enough, else T = 2.
  let cost = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = ptr[i]; k < ptr[i + 1]; k++) s += ptr[col[k] + 1] - ptr[col[k]];
    cost += (ptr[i + 1] - ptr[i]) * s;
  }
  const T = cost <= 5e7 ? 4 : 2;

  // Sketch: z_q = L⁺ Bᵀ W^½ g_q and zt_q = P^T z_q, stored interleaved: entry (i, q) at i·K + q.
  const rng = new Rng(opts.seed ?? 1);
  const solver = new Solver(L);
  // CG leaves an error ‖x − x_k‖²_L ≤ ‖r_k‖²/λ2 in bᵀx, ‖b‖² = 2: aim at 1e−10 absolute
  const exactTol = opts.lambda2 ? Math.min(1e-5, Math.sqrt(5e-11 * opts.lambda2)) : 1e-8;
  const K = SKETCH;
  const Z = new Float64Array(K * n);
  const ZT = new Float64Array(K * n);
  const y = new Float64Array(n);
  const z = new Float64Array(n);
  const tmp = new Float64Array(n);
  const sqrtRate = rates.map(Math.sqrt);
  for (let q = 0; q < K; q++) {
    y.fill(0);
    for (let e = 0; e < m; e++) {
      const s = rng.nextUint32() & 1 ? sqrtRate[e] : -sqrtRate[e];
      y[edges[e][0]] += s;
      y[edges[e][1]] -= s;
    }
    solver.solve(y, z, 1e-6);
    for (let i = 0; i < n; i++) Z[i * K + q] = z[i];
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let k = ptr[i]; k < ptr[i + 1]; k++) s += weight[k] * z[col[k]];
        tmp[i] = s / diag[i];
      }
      z.set(tmp);
    }
    for (let i = 0; i < n; i++) ZT[i * K + q] = z[i];
  }

  // Estimates and upper confidence bounds.
  const ucb = new Float64Array(m);
  const val = new Float64Array(n);
  const touched: number[] = [];
  for (let e = 0; e < m; e++) {
    const [i, j] = edges[e];
    const di = diag[i];
    const dj = diag[j];
    let local = 1 / di + 1 / dj - (2 * rates[e]) / (di * dj);
    if (T === 4) {
      // w1 = A D⁻¹ b on N(i) ∪ N(j); terms w1ᵀ D⁻¹ w1 and w1ᵀ D⁻¹ A D⁻¹ w1
      for (let k = ptr[i]; k < ptr[i + 1]; k++) {
        const p = col[k];
        if (val[p] === 0) touched.push(p);
        val[p] += weight[k] / di;
      }
      for (let k = ptr[j]; k < ptr[j + 1]; k++) {
        const p = col[k];
        if (val[p] === 0) touched.push(p);
        val[p] -= weight[k] / dj;
      }
      let t2 = 0;
      let t3 = 0;
      for (const p of touched) {
        const vp = val[p] / diag[p];
        t2 += val[p] * vp;
        let s = 0;
        for (let k = ptr[p]; k < ptr[p + 1]; k++) {
          const q = col[k];
          if (val[q] !== 0) s += (weight[k] * val[q]) / diag[q];
        }
        t3 += vp * s;
      }
      for (const p of touched) val[p] = 0;
      touched.length = 0;
      local += t2 + t3;
    }
    let mean = 0;
    let sq = 0;
    for (let q = 0, oi = i * K, oj = j * K; q < K; q++) {
      const prod = (ZT[oi + q] - ZT[oj + q]) * (Z[oi + q] - Z[oj + q]);
      mean += prod;
      sq += prod * prod;
    }
    mean /= K;
    const variance = Math.max(0, sq / K - mean * mean) / (K - 1);
    const estimate = local + mean;
    ucb[e] = bridge[e] ? -Infinity : Math.min(estimate + MARGIN * Math.sqrt(variance) + 1e-6 * Math.abs(estimate), 1 / rates[e]);
  }

  // Exact solves in decreasing order of the upper bound. When more edges remain candidates than there are
  // nodes (many equal resistances, as in symmetric graphs), the n columns of L⁺ give every edge at once.
  const order = Array.from({ length: m }, (_, e) => e).sort((a, b) => ucb[b] - ucb[a]);
  let exactSolves = 0;
  const b = new Float64Array(n);
  for (let k = 0; k < m; k++) {
    const e = order[k];
    if (ucb[e] <= best) break;
    if (exactSolves >= MIN_EXACT_BEFORE_COLUMNS && exactSolves + countAbove(ucb, order, k, best, n) > n) {
      const all = allEdgeResistances(L, edges, solver);
      exactSolves += n;
      for (let f = 0; f < m; f++) {
        if (all[f] > best) {
          best = all[f];
          edge = f;
        }
      }
      break;
    }
    const [i, j] = edges[e];
    b[i] = 1;
    b[j] = -1;
    solver.solve(b, z, exactTol);
    b[i] = 0;
    b[j] = 0;
    exactSolves++;
    const r = z[i] - z[j];
    if (r > best) {
      best = r;
      edge = e;
    }
  }
  return { value: best, edge, exactSolves };
}

/** Marks the bridges of a connected graph (iterative Tarjan low-link search). */
export function findBridges(n: number, edges: ReadonlyArray<readonly [number, number]>): Uint8Array {
  const m = edges.length;
  const start = new Int32Array(n + 1);
  for (const [i, j] of edges) {
    start[i + 1]++;
    start[j + 1]++;
  }
  for (let i = 0; i < n; i++) start[i + 1] += start[i];
  const fill = start.slice(0, n);
  const other = new Int32Array(2 * m);
  const id = new Int32Array(2 * m);
  edges.forEach(([i, j], e) => {
    other[fill[i]] = j;
    id[fill[i]++] = e;
    other[fill[j]] = i;
    id[fill[j]++] = e;
  });
  const bridge = new Uint8Array(m);
  const order = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const parentEdge = new Int32Array(n).fill(-1);
  const cursor = new Int32Array(n);
  const stack = new Int32Array(n);
  let counter = 0;
  for (let root = 0; root < n; root++) {
    if (order[root] >= 0) continue;
    let top = 0;
    stack[0] = root;
    order[root] = low[root] = counter++;
    cursor[root] = start[root];
    while (top >= 0) {
      const u = stack[top];
      if (cursor[u] < start[u + 1]) {
        const k = cursor[u]++;
        const v = other[k];
        if (id[k] === parentEdge[u]) continue;
        if (order[v] < 0) {
          order[v] = low[v] = counter++;
          parentEdge[v] = id[k];
          cursor[v] = start[v];
          stack[++top] = v;
        } else if (order[v] < low[u]) {
          low[u] = order[v];
        }
      } else {
        top--;
        if (top >= 0) {
          const p = stack[top];
          if (low[u] < low[p]) low[p] = low[u];
          if (low[u] > order[p]) bridge[parentEdge[u]] = 1;
        }
      }
    }
  }
  return bridge;
}

/** Number of edges order[k..] with ucb > best, counting at most limit + 1. */
function countAbove(ucb: Float64Array, order: number[], k: number, best: number, limit: number): number {
  let c = 0;
  for (let t = k; t < order.length && ucb[order[t]] > best && c <= limit; t++) c++;
  return c;
}

/** Every edge's effective resistance from the n columns of L⁺ (n solves, O(n + m) memory). */
function allEdgeResistances(L: SparseLaplacian, edges: ReadonlyArray<readonly [number, number]>, solver: Solver): Float64Array {
  const n = L.n;
  const m = edges.length;
  // edges grouped by their smaller endpoint
  const start = new Int32Array(n + 1);
  for (const [i, j] of edges) start[Math.min(i, j) + 1]++;
  for (let i = 0; i < n; i++) start[i + 1] += start[i];
  const fill = start.slice(0, n);
  const byNode = new Int32Array(m);
  edges.forEach(([i, j], e) => {
    byNode[fill[Math.min(i, j)]++] = e;
  });
  const diag = new Float64Array(n);
  const cross = new Float64Array(m);
  const b = new Float64Array(n);
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // column i of L⁺: solve L x = e_i − 1/n
    b.fill(-1 / n);
    b[i] += 1;
    solver.solve(b, x, 1e-9);
    diag[i] = x[i];
    for (let k = start[i]; k < start[i + 1]; k++) {
      const [u, v] = edges[byNode[k]];
      cross[byNode[k]] = x[u === i ? v : u];
    }
  }
  const out = new Float64Array(m);
  edges.forEach(([i, j], e) => {
    out[e] = diag[i] + diag[j] - 2 * cross[e];
  });
  return out;
}
