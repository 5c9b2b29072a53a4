/**
 * Topologies over any number of workers, for a membership that grows and shrinks (open mode): the ring, and the
 * exponential graph generalised to every n — i linked to i ± 2^j mod n for every 2^j ≤ n/2 (for a power of two, the
 * exponential graph of topology.ts). Both are circulant: every node has the same neighbourhood up to a rotation, so
 * every worker's exchange rate r_i equals the communication rate (partners.ts), whatever n.
 */
import { exponential, ring, type Graph } from './topology.js';

export const LIVE_TOPOLOGIES = ['ring', 'exponential'] as const;
export type LiveTopologyName = (typeof LIVE_TOPOLOGIES)[number];

/** The topology over n ≥ 2 nodes. */
export function circulant(name: LiveTopologyName, n: number): Graph {
  if (name === 'ring' || n <= 3) return ring(n);
  if (Number.isInteger(Math.log2(n))) return exponential(n, false);
  const neighbors: number[][] = [];
  for (let i = 0; i < n; i++) {
    const list: number[] = [];
    for (let s = 1; s <= n / 2; s *= 2) for (const v of [(i + s) % n, (i - s + n) % n]) if (!list.includes(v)) list.push(v);
    neighbors.push(list);
  }
  const edges: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) for (const j of neighbors[i]) if (j > i) edges.push([i, j]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const offsets: number[] = [];
  for (let s = 1; s <= n / 2; s *= 2) offsets.push(s);
  return { n, name: 'exponential', neighbors, edges, structure: { kind: 'cayley', dims: [n] }, meta: { offsets: offsets.join(' ') } };
}
