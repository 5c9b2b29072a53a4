/**
 * How one worker realises its share of the rate-weighted Laplacian when its exchanges are paced by a quota — the
 * runtime's rate control and pairing, the simulator's paced mode — instead of Poisson edges (docs/algorithms.md §1.2,
 * §2.8).
 *
 * Edge (i, j) must fire at λ_ij = (r/2)(m_ij/deg_i + m_ji/deg_j) (rates.ts) for χ1, χ2 and the A2CiD2 constants to
 * describe the run. A worker that takes part in r_i = Σ_j λ_ij exchanges per local step, with its partners drawn in
 * proportion to λ_ij, realises exactly those rates when every worker does. On a regular graph with symmetric lists
 * r_i = r and λ_ij ∝ m_ij (exponential-official: the n/2 neighbour twice as often); on a star of n the centre takes
 * part in n r/2 exchanges per step and a leaf in (r/2)(1 + 1/(n − 1)).
 */
import type { Rng } from '../core/rng.js';
import type { Graph } from './topology.js';

export interface Partners {
  /** r_i: the exchanges this worker takes part in per local step. */
  rate: number;
  /** Its distinct neighbours, in the order of their first appearance in its list. */
  ids: number[];
  /** How often each is its partner, relatively (∝ λ_ij): m_ij/deg_i + m_ji/deg_j. */
  weights: number[];
  /** Every weight is the same (every regular graph with symmetric lists and no repeated neighbour). */
  uniform: boolean;
}

/** Worker i's exchange rate and partner weights at communication rate r ≥ 0. */
export function partnersOf(g: Graph, rate: number, i: number): Partners {
  const count = (list: readonly number[], j: number) => list.reduce((c, v) => c + (v === j ? 1 : 0), 0);
  const ids = [...new Set(g.neighbors[i])];
  const deg = g.neighbors[i].length;
  const weights = ids.map((j) => count(g.neighbors[i], j) / deg + count(g.neighbors[j], i) / g.neighbors[j].length);
  // r_i = (r/2)(1 + Σ_j m_ji/deg_j), the sum taken per neighbour degree so that it is exactly 1 on a regular graph
  // with symmetric lists (r_i = r bit for bit there).
  const byDegree = new Map<number, number>();
  for (const j of ids) {
    const d = g.neighbors[j].length;
    byDegree.set(d, (byDegree.get(d) ?? 0) + count(g.neighbors[j], i));
  }
  let incoming = 0;
  for (const [d, m] of byDegree) incoming += m / d;
  return { rate: ids.length === 0 ? 0 : (rate / 2) * (1 + incoming), ids, weights, uniform: weights.every((w) => w === weights[0]) };
}

/** An index drawn with probability proportional to its weight. */
export function drawWeighted(weights: readonly number[], rng: Rng): number {
  let total = 0;
  for (const w of weights) total += w;
  let u = rng.uniform() * total;
  for (let k = 0; k < weights.length - 1; k++) {
    u -= weights[k];
    if (u < 0) return k;
  }
  return weights.length - 1;
}
