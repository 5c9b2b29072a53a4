/**
 * A2CiD2 constants (official `compute_acid_constants`, docs/algorithms.md §2):
 *   eta = 1/(2 √(chi1 chi2)),  alpha = ½,  alphaTilde = ½ √(chi1/chi2),
 * and the theoretical communication gain chi1/√(chi1 chi2) = √(chi1/chi2).
 */
import { UsageError } from '../core/errors.js';
import { spectral, type Spectral } from './spectral.js';
import type { Graph } from './topology.js';

export interface AcidConstants {
  eta: number;
  alpha: number;
  alphaTilde: number;
  gain: number;
}

export function acidConstants(chi1: number, chi2: number): AcidConstants {
  if (!(chi1 > 0) || !Number.isFinite(chi1)) throw new UsageError(`chi1 must be a positive number, got ${chi1}`);
  if (!(chi2 > 0) || !Number.isFinite(chi2)) throw new UsageError(`chi2 must be a positive number, got ${chi2}`);
  return {
    eta: 1 / (2 * Math.sqrt(chi1 * chi2)),
    alpha: 0.5,
    alphaTilde: 0.5 * Math.sqrt(chi1 / chi2),
    gain: Math.sqrt(chi1 / chi2),
  };
}

/** True when every pair of nodes is linked (whatever the graph is called). */
export function isCompleteGraph(g: Graph): boolean {
  return g.edges.length === (g.n * (g.n - 1)) / 2;
}

/**
 * A2CiD2 is refused on the complete graph, as in the official code: there chi1 = chi2, so the momentum brings no
 * acceleration. Throws a UsageError naming the problem.
 */
export function assertAcidAllowed(g: Graph): void {
  if (isCompleteGraph(g)) {
    throw new UsageError(
      `A2CiD2 is refused on the complete graph (${g.name}, ${g.n} workers): chi1 = chi2, so it cannot accelerate; use the asynchronous baseline`,
    );
  }
}

/** Spectral quantities of g at the given rate together with the A2CiD2 constants they give. */
export function acidForGraph(g: Graph, rate: number): Spectral & AcidConstants {
  const s = spectral(g, rate);
  return { ...s, ...acidConstants(s.chi1, s.chi2) };
}
