/**
 * Exact sparse solver for Laplacians of graphs with a small profile (paths, rings, grids, geometric graphs …):
 * reverse Cuthill–McKee ordering, the last node grounded, and a Cholesky factorisation of the remaining
 * (positive definite) block in envelope storage. It gives exact solves of L x = b (b ⊥ 1) and, by Takahashi's
 * selected inversion, the exact inverse on the envelope, hence every edge's effective resistance.
 * Expanders (Erdős–Rényi) have a profile close to n²/2 and are left to conjugate gradients.
 */
import type { SparseLaplacian } from './rates.js';

export class EnvelopeCholesky {
  /** new index → node */
  private readonly perm: Int32Array;
  /** node → new index (n − 1 is the grounded node) */
  private readonly inv: Int32Array;
  /** first stored column of each reduced row (non-decreasing) */
  private readonly first: Int32Array;
  /** offset of entry (i, first[i]) in `factor` */
  private readonly offset: Int32Array;
  private readonly factor: Float64Array;
  private readonly work: Float64Array;

  private constructor(
    private readonly n: number,
    perm: Int32Array,
    first: Int32Array,
    offset: Int32Array,
    size: number,
  ) {
    this.perm = perm;
    this.inv = new Int32Array(n);
    for (let k = 0; k < n; k++) this.inv[perm[k]] = k;
    this.first = first;
    this.offset = offset;
    this.factor = new Float64Array(size);
    this.work = new Float64Array(n);
  }

  /** Flop estimate of the factorisation for the profile ordering of L, and the ordering. */
  static plan(L: SparseLaplacian): { perm: Int32Array; first: Int32Array; offset: Int32Array; size: number; flops: number } {
    const n = L.n;
    const perm = reverseCuthillMcKee(L);
    const inv = new Int32Array(n);
    for (let k = 0; k < n; k++) inv[perm[k]] = k;
    const N = n - 1;
    const first = new Int32Array(N);
    for (let i = 0; i < N; i++) {
      const v = perm[i];
      let f = i;
      for (let k = L.ptr[v]; k < L.ptr[v + 1]; k++) {
        const j = inv[L.col[k]];
        if (j < f) f = j;
      }
      first[i] = f;
    }
    // make the profile monotone: first[i] = min over rows ≥ i, so that every column's pattern is contiguous
    for (let i = N - 2; i >= 0; i--) if (first[i + 1] < first[i]) first[i] = first[i + 1];
    let size = 0;
    let flops = 0;
    for (let i = 0; i < N; i++) {
      const w = i - first[i] + 1;
      size += w;
      flops += w * w;
    }
    const offset = new Int32Array(N + 1);
    if (size < 2 ** 30) for (let i = 0; i < N; i++) offset[i + 1] = offset[i] + (i - first[i] + 1);
    return { perm, first, offset, size, flops };
  }

  /** Factorises L when the profile costs at most maxFlops multiply–adds; null otherwise. */
  static tryFactor(L: SparseLaplacian, maxFlops: number): EnvelopeCholesky | null {
    if (L.n < 2 || maxFlops < 0) return null;
    const plan = EnvelopeCholesky.plan(L);
    if (plan.flops > maxFlops || plan.size >= 2 ** 30) return null;
    const chol = new EnvelopeCholesky(L.n, plan.perm, plan.first, plan.offset, plan.size);
    return chol.factorize(L) ? chol : null;
  }

  private factorize(L: SparseLaplacian): boolean {
    const { perm, inv, first, offset } = this;
    const E = this.factor;
    const N = this.n - 1;
    for (let i = 0; i < N; i++) {
      const v = perm[i];
      const oi = offset[i] - first[i];
      E[oi + i] = L.diag[v];
      for (let k = L.ptr[v]; k < L.ptr[v + 1]; k++) {
        const j = inv[L.col[k]];
        if (j < i) E[oi + j] -= L.weight[k];
      }
    }
    for (let i = 0; i < N; i++) {
      const fi = first[i];
      const oi = offset[i] - fi;
      for (let j = fi; j < i; j++) {
        const oj = offset[j] - first[j];
        const k0 = first[j] > fi ? first[j] : fi;
        let s = E[oi + j];
        for (let k = k0; k < j; k++) s -= E[oi + k] * E[oj + k];
        E[oi + j] = s / E[oj + j];
      }
      let s = E[oi + i];
      for (let k = fi; k < i; k++) s -= E[oi + k] * E[oi + k];
      if (!(s > 0)) return false;
      E[oi + i] = Math.sqrt(s);
    }
    return true;
  }

  /** x = L⁺ b for b ⊥ 1 (x ⊥ 1). */
  solve(b: Float64Array, x: Float64Array): void {
    const { perm, first, offset, work: y } = this;
    const E = this.factor;
    const n = this.n;
    const N = n - 1;
    for (let i = 0; i < N; i++) {
      const oi = offset[i] - first[i];
      let s = b[perm[i]];
      for (let k = first[i]; k < i; k++) s -= E[oi + k] * y[k];
      y[i] = s / E[oi + i];
    }
    for (let i = N - 1; i >= 0; i--) {
      const oi = offset[i] - first[i];
      const xi = y[i] / E[oi + i];
      y[i] = xi;
      for (let k = first[i]; k < i; k++) y[k] -= E[oi + k] * xi;
    }
    y[N] = 0;
    let mean = 0;
    for (let i = 0; i < n; i++) mean += y[i];
    mean /= n;
    for (let i = 0; i < n; i++) x[perm[i]] = y[i] - mean;
  }

  /**
   * Effective resistance (e_i − e_j)ᵀ L⁺ (e_i − e_j) of every given edge, exactly, from the entries of the
   * grounded inverse Z on the envelope (Takahashi: Z_ij = (δ_ij/L_ii − Σ_{k>i} L_ki Z_kj)/L_ii, i ≤ j).
   */
  edgeResistances(edges: ReadonlyArray<readonly [number, number]>): Float64Array {
    const { first, offset, inv } = this;
    const E = this.factor;
    const N = this.n - 1;
    const Z = new Float64Array(E.length);
    // last[i] = last row whose profile reaches column i (contiguous since `first` is non-decreasing)
    const last = new Int32Array(N);
    for (let i = 0, k = 0; i < N; i++) {
      if (k < i) k = i;
      while (k + 1 < N && first[k + 1] <= i) k++;
      last[i] = k;
    }
    const col = new Float64Array(N);
    for (let i = N - 1; i >= 0; i--) {
      const lii = E[offset[i] - first[i] + i];
      const c = last[i];
      // column i of L below the diagonal
      for (let k = i + 1; k <= c; k++) col[k] = E[offset[k] - first[k] + i];
      for (let j = i + 1; j <= c; j++) {
        const oj = offset[j] - first[j];
        let s = 0;
        for (let k = i + 1; k < j; k++) s += col[k] * Z[oj + k];
        for (let k = j; k <= c; k++) s += col[k] * Z[offset[k] - first[k] + j];
        Z[oj + i] = -s / lii;
      }
      let s = 0;
      for (let k = i + 1; k <= c; k++) s += col[k] * Z[offset[k] - first[k] + i];
      Z[offset[i] - first[i] + i] = (1 / lii - s) / lii;
    }
    const entry = (a: number, b: number): number => {
      if (a === N || b === N) return 0;
      return a >= b ? Z[offset[a] - first[a] + b] : Z[offset[b] - first[b] + a];
    };
    const out = new Float64Array(edges.length);
    edges.forEach(([u, v], e) => {
      const a = inv[u];
      const b = inv[v];
      out[e] = entry(a, a) + entry(b, b) - 2 * entry(a, b);
    });
    return out;
  }
}

/** Reverse Cuthill–McKee ordering from a pseudo-peripheral node (connected graph). */
function reverseCuthillMcKee(L: SparseLaplacian): Int32Array {
  const { n, ptr, col } = L;
  const degree = new Int32Array(n);
  for (let i = 0; i < n; i++) degree[i] = ptr[i + 1] - ptr[i];
  const level = new Int32Array(n);
  const queue = new Int32Array(n);
  const bfsLast = (start: number): { node: number; depth: number } => {
    level.fill(-1);
    level[start] = 0;
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    while (head < tail) {
      const u = queue[head++];
      for (let k = ptr[u]; k < ptr[u + 1]; k++) {
        const v = col[k];
        if (level[v] < 0) {
          level[v] = level[u] + 1;
          queue[tail++] = v;
        }
      }
    }
    const depth = level[queue[tail - 1]];
    let node = queue[tail - 1];
    for (let t = tail - 1; t >= 0 && level[queue[t]] === depth; t--) if (degree[queue[t]] < degree[node]) node = queue[t];
    return { node, depth };
  };
  let start = 0;
  for (let i = 1; i < n; i++) if (degree[i] < degree[start]) start = i;
  let depth = -1;
  for (let round = 0; round < 5; round++) {
    const far = bfsLast(start);
    if (far.depth <= depth) break;
    depth = far.depth;
    start = far.node;
  }
  const order = new Int32Array(n);
  const seen = new Uint8Array(n);
  let head = 0;
  let tail = 0;
  order[tail++] = start;
  seen[start] = 1;
  const next: number[] = [];
  while (head < tail) {
    const u = order[head++];
    next.length = 0;
    for (let k = ptr[u]; k < ptr[u + 1]; k++) {
      const v = col[k];
      if (!seen[v]) {
        seen[v] = 1;
        next.push(v);
      }
    }
    next.sort((a, b) => degree[a] - degree[b] || a - b);
    for (const v of next) order[tail++] = v;
  }
  if (tail !== n) throw new Error('reverse Cuthill–McKee needs a connected graph');
  return order.reverse();
}
