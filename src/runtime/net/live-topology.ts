/**
 * The communication graph over the live membership (open mode): the members, this worker included, in peer-id order
 * are the nodes 0 … n − 1 of a ring or an exponential graph (graph/circulant.ts); this worker's neighbours, partner
 * weights and exchange rate follow from it (graph/partners.ts), and A2CiD2's constants from its spectrum at the
 * communication rate (graph/acid.ts). Recomputed whenever a member joins, leaves or expires.
 *
 * On two workers both topologies are the complete graph, where A2CiD2 brings no acceleration (the fixed-index mode
 * refuses it there); open mode passes through it as the cluster grows and keeps the constants the spectrum gives
 * (η = 1/(2χ1), α̃ = ½). Alone, a worker trains by itself: no neighbours, η = α̃ = 0.
 */
import { acidConstants } from '../../graph/acid.js';
import { circulant, type LiveTopologyName } from '../../graph/circulant.js';
import { partnersOf } from '../../graph/partners.js';
import { spectral } from '../../graph/spectral.js';
import type { WorkerId } from '../transport.js';
import { workerIdOf } from './worker-id.js';

export interface LiveTopology {
  /** Members' peer ids in order (this worker's included): node k of the graph is members[k]. */
  members: string[];
  /** Their worker ids (worker-id.ts), in the same order. */
  ids: WorkerId[];
  /** This worker's neighbours (worker ids), their weights as partners, and its exchanges per local step. */
  neighbours: WorkerId[];
  weights: number[];
  rate: number;
  /** A2CiD2's constants (gossip: η = α̃ = 0) and the spectrum they come from (null alone). */
  eta: number;
  alphaTilde: number;
  chi1: number | null;
  chi2: number | null;
}

export function liveTopology(name: LiveTopologyName, members: readonly string[], self: string, rate: number, momentum: boolean): LiveTopology {
  const sorted = [...new Set([...members, self])].sort();
  const ids = sorted.map(workerIdOf);
  const n = sorted.length;
  if (n === 1) return { members: sorted, ids, neighbours: [], weights: [], rate: 0, eta: 0, alphaTilde: 0, chi1: null, chi2: null };
  const graph = circulant(name, n);
  const p = partnersOf(graph, rate, sorted.indexOf(self));
  const s = spectral(graph, rate);
  const c = acidConstants(s.chi1, s.chi2);
  return {
    members: sorted, ids, neighbours: p.ids.map((k) => ids[k]), weights: p.weights, rate: p.rate,
    eta: momentum ? c.eta : 0, alphaTilde: momentum ? c.alphaTilde : 0, chi1: s.chi1, chi2: s.chi2,
  };
}
