/**
 * Edge rates and Laplacians.
 *
 * Communication model: every worker initiates pairwise averagings at rate r/2, each time with an entry of its
 * neighbour list drawn uniformly, so that it takes part in r averagings per unit time on average. Edge (i, j)
 * then fires at rate
 *     lambda_ij = (r/2) (m_ij/deg_i + m_ji/deg_j),
 * m_ij = multiplicity of j in i's list, deg_i = length of i's list. On a regular graph with symmetric lists this
 * is the official A2CiD2 Laplacian L = r (I − W), W_ij = m_ij/deg_i.
 *
 * The Laplacian of edges with rates lambda_e is L = Σ_e lambda_e (e_i − e_j)(e_i − e_j)ᵀ.
 */
import { UsageError } from '../core/errors.js';
import type { Graph } from './topology.js';

export function checkRate(rate: number): void {
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) {
    throw new UsageError(`the communication rate must be a positive number, got ${rate}`);
  }
}

/** Poisson rate of each unique edge for communication rate r (expected pairwise averagings per worker per unit time):
 *  each worker initiates at rate r/2 towards an entry of its neighbour list chosen uniformly, so
 *  lambda_ij = (r/2) (m_ij/deg_i + m_ij/deg_j), m_ij = multiplicity of j in i's list, deg = list length.
 *  On regular graphs this is exactly the official Laplacian r (I − W), W_ij = m_ij/deg_i. */
export function edgeRates(g: Graph, rate: number): Float64Array {
  checkRate(rate);
  const index = new EdgeIndex(g.n, g.edges);
  const out = new Float64Array(g.edges.length);
  for (let i = 0; i < g.n; i++) {
    const list = g.neighbors[i];
    if (list.length === 0) continue;
    const w = rate / 2 / list.length;
    for (const j of list) {
      const e = index.find(i, j);
      if (e < 0) throw new Error(`${g.name}: neighbour ${j} of ${i} is not among the edges`);
      out[e] += w;
    }
  }
  for (let e = 0; e < out.length; e++) {
    if (!(out[e] > 0)) throw new Error(`${g.name}: edge (${g.edges[e][0]}, ${g.edges[e][1]}) is in no neighbour list`);
  }
  return out;
}

/** Rate of the single edge {i, j} (same formula as edgeRates, without building the whole vector). */
export function pairRate(g: Graph, i: number, j: number, rate: number): number {
  checkRate(rate);
  let mij = 0;
  let mji = 0;
  for (const v of g.neighbors[i]) if (v === j) mij++;
  for (const v of g.neighbors[j]) if (v === i) mji++;
  return (rate / 2) * (mij / g.neighbors[i].length + mji / g.neighbors[j].length);
}

/** Lookup of an undirected edge's index (edges are given as unique pairs). */
export class EdgeIndex {
  private readonly start: Int32Array;
  private readonly other: Int32Array;
  private readonly id: Int32Array;

  constructor(n: number, edges: ReadonlyArray<readonly [number, number]>) {
    const count = new Int32Array(n + 1);
    for (const [i, j] of edges) {
      count[i + 1]++;
      count[j + 1]++;
    }
    for (let i = 0; i < n; i++) count[i + 1] += count[i];
    this.start = count;
    const fill = count.slice(0, n);
    this.other = new Int32Array(2 * edges.length);
    this.id = new Int32Array(2 * edges.length);
    edges.forEach(([i, j], e) => {
      this.other[fill[i]] = j;
      this.id[fill[i]++] = e;
      this.other[fill[j]] = i;
      this.id[fill[j]++] = e;
    });
    // sort each node's slice by neighbour for binary search (already sorted when the edges are)
    for (let i = 0; i < n; i++) {
      const a = count[i];
      const b = count[i + 1];
      let sorted = true;
      for (let k = a + 1; k < b && sorted; k++) if (this.other[k] < this.other[k - 1]) sorted = false;
      if (sorted) continue;
      const slice = Array.from({ length: b - a }, (_, k) => [this.other[a + k], this.id[a + k]] as const).sort((x, y) => x[0] - y[0]);
      slice.forEach(([o, e], k) => {
        this.other[a + k] = o;
        this.id[a + k] = e;
      });
    }
  }

  /** Index of edge {i, j}, or −1. */
  find(i: number, j: number): number {
    let lo = this.start[i];
    let hi = this.start[i + 1] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const o = this.other[mid];
      if (o === j) return this.id[mid];
      if (o < j) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}

export function checkLaplacianInput(n: number, edges: ReadonlyArray<readonly [number, number]>, rates: Float64Array): void {
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`a Laplacian needs at least 1 node, got ${n}`);
  if (rates.length !== edges.length) throw new Error(`${rates.length} rates for ${edges.length} edges`);
  edges.forEach(([i, j], e) => {
    if (!Number.isInteger(i) || !Number.isInteger(j) || i < 0 || j < 0 || i >= n || j >= n || i === j) {
      throw new UsageError(`edge ${e} (${i}, ${j}) is not an edge between two distinct nodes of 0..${n - 1}`);
    }
    if (!(rates[e] > 0) || !Number.isFinite(rates[e])) throw new UsageError(`edge ${e} (${i}, ${j}) has a non-positive rate ${rates[e]}`);
  });
}

/** Dense n×n Laplacian, row-major. */
export function laplacian(n: number, edges: Array<[number, number]>, rates: Float64Array): Float64Array {
  checkLaplacianInput(n, edges, rates);
  const L = new Float64Array(n * n);
  edges.forEach(([i, j], e) => {
    const w = rates[e];
    L[i * n + i] += w;
    L[j * n + j] += w;
    L[i * n + j] -= w;
    L[j * n + i] -= w;
  });
  return L;
}

/**
 * Sparse Laplacian: diag holds the weighted degrees, and row i's off-diagonal weights (positive: L_ij = −weight)
 * are weight[ptr[i]..ptr[i+1]) at columns col[...]. Parallel edges are summed.
 */
export interface SparseLaplacian {
  n: number;
  diag: Float64Array;
  ptr: Int32Array;
  col: Int32Array;
  weight: Float64Array;
}

export function sparseLaplacian(n: number, edges: ReadonlyArray<readonly [number, number]>, rates: Float64Array): SparseLaplacian {
  checkLaplacianInput(n, edges, rates);
  const ptr = new Int32Array(n + 1);
  for (const [i, j] of edges) {
    ptr[i + 1]++;
    ptr[j + 1]++;
  }
  for (let i = 0; i < n; i++) ptr[i + 1] += ptr[i];
  const fill = ptr.slice(0, n);
  const col = new Int32Array(ptr[n]);
  const weight = new Float64Array(ptr[n]);
  const diag = new Float64Array(n);
  edges.forEach(([i, j], e) => {
    const w = rates[e];
    diag[i] += w;
    diag[j] += w;
    col[fill[i]] = j;
    weight[fill[i]++] = w;
    col[fill[j]] = i;
    weight[fill[j]++] = w;
  });
  return { n, diag, ptr, col, weight };
}

/** y = L x */
export function laplacianTimes(L: SparseLaplacian, x: Float64Array, y: Float64Array): void {
  const { n, diag, ptr, col, weight } = L;
  for (let i = 0; i < n; i++) {
    let s = diag[i] * x[i];
    for (let k = ptr[i], end = ptr[i + 1]; k < end; k++) s -= weight[k] * x[col[k]];
    y[i] = s;
  }
}
