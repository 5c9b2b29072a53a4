/**
 * Spectral quantities of a weighted graph Laplacian L (docs/algorithms.md §1):
 *   chi1 = 1/λ2 (λ2 = smallest positive eigenvalue), chi2 = max over edges of ½ (e_i − e_j)ᵀ L⁺ (e_i − e_j).
 *
 * Methods:
 * - closed-form: complete graph and star (explicit), ring, torus, hypercube and exponential graphs (Cayley graphs
 *   of abelian groups: the characters diagonalise L, so every eigenvalue and every edge resistance is an explicit
 *   sum over the group). With edge rates c_s on the generators s:
 *       μ_k = Σ_s c_s (1 − cos θ_k(s)),   R_s = (1/n) Σ_{k≠0} 2 (1 − cos θ_k(s)) / μ_k.
 *   Rings: chi1 = 1/(r (1 − cos(2π/n))), chi2 = (n − 1)/(n r). Complete: chi1 = chi2 = (n − 1)/(n r).
 *   Hypercube 2^k: chi1 = k/(2r), chi2 = (n − 1)/(n r). Square torus: chi1 = 2/(r (1 − cos(2π/√n))),
 *   chi2 = (n − 1)/(n r). (Every edge-transitive regular graph has chi2 = (n − 1)/(n r), by Foster's theorem.)
 * - dense: all eigenvalues (Householder + QL) and the resistances from a Cholesky factorisation; n ≤ DENSE_MAX.
 * - iterative (above DENSE_MAX): λmax by Lanczos on L. Then, when the graph has a small profile (paths, rings,
 *   grids, geometric graphs: the factorisation costs at most about what conjugate gradients would), an exact
 *   envelope Cholesky factorisation (direct.ts) gives λ2 by Lanczos on L⁺ and every edge resistance exactly by
 *   selected inversion. Otherwise (expanders such as Erdős–Rényi) λ2 comes from the same Lanczos run on L (or on
 *   L⁺ with conjugate-gradient solves if it has not converged), and chi2 from the screened search of
 *   iterative.ts: exact per-edge solves only for the edges whose estimated resistance may be the largest.
 *   Eigenvalues are converged to a relative Lanczos residual of 1e−9.
 */
import { UsageError } from '../core/errors.js';
import { effectiveResistances, symmetricEigenvalues } from './dense.js';
import { EnvelopeCholesky } from './direct.js';
import { lanczos, maxEdgeResistance, Solver } from './iterative.js';
import { checkLaplacianInput, checkRate, edgeRates, laplacian, laplacianTimes, pairRate, sparseLaplacian } from './rates.js';
import { countComponents, type Graph } from './topology.js';

export interface Spectral {
  /** 1/lambda2 */
  chi1: number;
  /** max over edges of half the effective resistance */
  chi2: number;
  /** smallest positive eigenvalue of L */
  lambda2: number;
  /**
   * largest eigenvalue of L (iterative: a Lanczos value converged to a relative 1e−9 within 1000 steps; on very
   * long rings and paths, whose top eigenvalues are packed, it may be low in the fifth digit)
   */
  lambdaMax: number;
  method: 'closed-form' | 'dense' | 'iterative';
}

/** Largest graph handled by the dense method when the method is chosen automatically. */
export const DENSE_MAX = 300;

export interface SpectralOptions {
  /** 'auto' (default): dense up to DENSE_MAX nodes, iterative above */
  method?: 'auto' | 'dense' | 'iterative';
  /**
   * Linear solver of the iterative method: 'direct' (exact profile Cholesky), 'cg' (conjugate gradients and the
   * screened edge search), or 'auto' (default: direct when its factorisation is cheap enough).
   */
  solver?: 'auto' | 'direct' | 'cg';
}

/**
 * Spectral quantities of the rate-weighted Laplacian of g (see rates.ts); closed forms when g's structure allows
 * and opts.method is 'auto' (the default); 'dense' or 'iterative' force that method.
 */
export function spectral(g: Graph, rate: number, opts: SpectralOptions = {}): Spectral {
  checkRate(rate);
  if (g.structure && (opts.method ?? 'auto') === 'auto') {
    const s = g.structure;
    if (s.kind === 'complete') return completeSpectral(g.n, pairRate(g, 0, 1, rate));
    if (s.kind === 'star') return starSpectral(g.n, pairRate(g, s.center, s.center === 0 ? 1 : 0, rate));
    return cayleySpectral(g, rate, s.dims);
  }
  return spectralOfLaplacian(g.n, g.edges, edgeRates(g, rate), opts);
}

/** Spectral quantities of L = Σ_e rates_e (e_i − e_j)(e_i − e_j)ᵀ (general weighted case; parallel edges add up). */
export function spectralOfLaplacian(n: number, edges: Array<[number, number]>, rates: Float64Array, opts: SpectralOptions = {}): Spectral {
  checkLaplacianInput(n, edges, rates);
  if (n < 2) throw new UsageError(`spectral quantities need at least 2 nodes, got ${n}`);
  const merged = mergeEdges(edges, rates);
  const parts = countComponents(n, merged.edges);
  if (parts > 1) throw new UsageError(`the graph is disconnected (${parts} components): chi1 and chi2 are infinite`);
  const method = opts.method === 'dense' || opts.method === 'iterative' ? opts.method : n <= DENSE_MAX ? 'dense' : 'iterative';
  return method === 'dense' ? denseSpectral(n, merged.edges, merged.rates) : iterativeSpectral(n, merged.edges, merged.rates, opts.solver ?? 'auto');
}

/** Unique edges i < j, rates of repeated pairs summed. */
function mergeEdges(edges: ReadonlyArray<readonly [number, number]>, rates: Float64Array): { edges: Array<[number, number]>; rates: Float64Array } {
  const sorted = edges
    .map(([i, j], e) => ({ i: Math.min(i, j), j: Math.max(i, j), w: rates[e] }))
    .sort((a, b) => a.i - b.i || a.j - b.j);
  const outEdges: Array<[number, number]> = [];
  const outRates: number[] = [];
  for (const { i, j, w } of sorted) {
    const last = outEdges.length - 1;
    if (last >= 0 && outEdges[last][0] === i && outEdges[last][1] === j) outRates[last] += w;
    else {
      outEdges.push([i, j]);
      outRates.push(w);
    }
  }
  return { edges: outEdges, rates: Float64Array.from(outRates) };
}

function denseSpectral(n: number, edges: Array<[number, number]>, rates: Float64Array): Spectral {
  const L = laplacian(n, edges, rates);
  const ev = symmetricEigenvalues(L, n);
  const lambda2 = ev[1];
  const lambdaMax = ev[n - 1];
  if (!(lambda2 > 1e-12 * lambdaMax)) throw new Error('numerically disconnected Laplacian');
  const res = effectiveResistances(L, n, edges);
  let rmax = 0;
  for (const r of res) rmax = Math.max(rmax, r);
  return { chi1: 1 / lambda2, chi2: rmax / 2, lambda2, lambdaMax, method: 'dense' };
}

/**
 * Budget of the exact profile solver, in multiply–adds of its factorisation: at most DIRECT_PER_NONZERO per
 * nonzero of L (about what conjugate gradients would spend on a well-connected graph) and DIRECT_MAX_FLOPS.
 */
const DIRECT_PER_NONZERO = 3000;
const DIRECT_MAX_FLOPS = 1e9;
const LANCZOS_TOL = 1e-9;

function iterativeSpectral(n: number, edges: Array<[number, number]>, rates: Float64Array, which: 'auto' | 'direct' | 'cg'): Spectral {
  const L = sparseLaplacian(n, edges, rates);
  const budget = which === 'cg' ? -1 : which === 'direct' ? Infinity : Math.min(DIRECT_MAX_FLOPS, DIRECT_PER_NONZERO * (L.col.length + n));
  const direct = EnvelopeCholesky.tryFactor(L, budget);
  const onL = lanczos(n, (v, out) => laplacianTimes(L, v, out), 1, { want: direct ? 'max' : 'both', tol: LANCZOS_TOL, maxSteps: 1000 });
  const lambdaMax = onL.max;
  let lambda2: number;
  if (!direct && onL.minResidual <= LANCZOS_TOL * onL.min) {
    lambda2 = onL.min;
  } else {
    // λ2 is the inverse of the largest eigenvalue of L⁺, which Lanczos finds in a few steps
    let solve: (v: Float64Array, out: Float64Array) => void;
    if (direct) solve = (v, out) => direct.solve(v, out);
    else {
      const solver = new Solver(L);
      solve = (v, out) => solver.solve(v, out, 1e-11);
    }
    lambda2 = 1 / lanczos(n, solve, 2, { want: 'max', tol: LANCZOS_TOL, maxSteps: 400 }).max;
  }
  let rmax: number;
  if (direct) {
    rmax = 0;
    for (const r of direct.edgeResistances(edges)) rmax = Math.max(rmax, r);
  } else {
    rmax = maxEdgeResistance(L, edges, rates, { seed: 3, lambda2 }).value;
  }
  return { chi1: 1 / lambda2, chi2: rmax / 2, lambda2, lambdaMax, method: 'iterative' };
}

function completeSpectral(n: number, c: number): Spectral {
  // L = c (n I − 11ᵀ): eigenvalue n c on 1⊥; L⁺ = (I − 11ᵀ/n)/(n c), resistance 2/(n c)
  const lambda = n * c;
  return { chi1: 1 / lambda, chi2: 1 / lambda, lambda2: lambda, lambdaMax: lambda, method: 'closed-form' };
}

function starSpectral(n: number, c: number): Spectral {
  // eigenvalues c (n − 2 times), n c; a tree, so each edge's resistance is 1/c
  const lambda2 = n === 2 ? 2 * c : c;
  return { chi1: 1 / lambda2, chi2: 1 / (2 * c), lambda2, lambdaMax: n * c, method: 'closed-form' };
}

/** Closed form for a translation-invariant graph on Z_dims[0] × … (see the file comment). */
function cayleySpectral(g: Graph, rate: number, dims: number[]): Spectral {
  const n = g.n;
  const d = dims.length;
  if (dims.reduce((a, b) => a * b, 1) !== n) throw new Error(`${g.name}: group ${dims.join('×')} does not have ${n} elements`);
  // weight of coordinate t in the phase numerator: 2π Σ_t k_t s_t / m_t = 2π (Σ_t k_t s_t (n/m_t)) / n
  const stride = dims.map((m) => n / m);
  const digits = (x: number): number[] => {
    const out = new Array<number>(d);
    for (let t = d - 1; t >= 0; t--) {
      out[t] = x % dims[t];
      x = Math.floor(x / dims[t]);
    }
    return out;
  };
  // generators: the distinct neighbours s of node 0, with the rates of the edges (0, s)
  const gens = [...new Set(g.neighbors[0])].map((s) => ({ s: digits(s), c: pairRate(g, 0, s, rate) }));
  const oneMinusCos = new Float64Array(n);
  for (let t = 0; t < n; t++) oneMinusCos[t] = 1 - Math.cos((2 * Math.PI * t) / n);
  // phase[k][gen] numerator mod n
  const G = gens.length;
  const phase = new Int32Array(n * G);
  const mu = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const kd = digits(k);
    let sum = 0;
    for (let a = 0; a < G; a++) {
      let num = 0;
      for (let t = 0; t < d; t++) num += ((kd[t] * gens[a].s[t]) % dims[t]) * stride[t];
      num %= n;
      phase[k * G + a] = num;
      sum += gens[a].c * oneMinusCos[num];
    }
    mu[k] = sum;
  }
  let lambda2 = Infinity;
  let lambdaMax = 0;
  for (let k = 1; k < n; k++) {
    lambda2 = Math.min(lambda2, mu[k]);
    lambdaMax = Math.max(lambdaMax, mu[k]);
  }
  if (!(lambda2 > 0)) throw new Error(`${g.name}: the generators do not connect the group`);
  let rmax = 0;
  for (let a = 0; a < G; a++) {
    let r = 0;
    for (let k = 1; k < n; k++) r += oneMinusCos[phase[k * G + a]] / mu[k];
    rmax = Math.max(rmax, (2 * r) / n);
  }
  return { chi1: 1 / lambda2, chi2: rmax / 2, lambda2, lambdaMax, method: 'closed-form' };
}
