/**
 * An algorithm that only records who exchanged with whom: a worker's message carries its id, and receiving one
 * counts an exchange on that edge. Drivers (the paced simulator, runtime agents) run it like any pairwise algorithm,
 * so that the exchange process they realise can be compared with the edge rates the constants assume.
 */
import type { Built } from '../../src/algorithms/index.js';
import type { Algorithm, WorkerState } from '../../src/algorithms/types.js';
import type { Vec } from '../../src/core/vec.js';
import { EdgeIndex } from '../../src/graph/rates.js';
import type { Graph } from '../../src/graph/topology.js';

interface ProbeState extends WorkerState {
  x: Vec;
  id: number;
  steps: number;
}

export interface EdgeProbe {
  graph: Graph;
  /** Workers' states are numbered in the order they are created: create them for workers 0, 1, … in turn. */
  built: Built;
  /** Exchanges completed on each edge of graph.edges (counted once, by the lower id's side). */
  edgeCounts(): Float64Array;
  /** Exchanges each worker took part in. */
  workerExchanges(): Float64Array;
  /** Local steps each worker took. */
  workerSteps(): Float64Array;
}

export function edgeProbe(graph: Graph, dim: number): EdgeProbe {
  const index = new EdgeIndex(graph.n, graph.edges);
  const edges = new Float64Array(graph.edges.length);
  const exchanges = new Float64Array(graph.n);
  const steps = new Float64Array(graph.n);
  let created = 0;
  const algorithm: Algorithm<ProbeState> = {
    name: 'edge-probe',
    createState: (x0) => ({ x: x0.slice(), id: created++, steps: 0 }),
    advance: () => {},
    localStep: (s) => {
      steps[s.id]++;
      return 0;
    },
    pairwise: {
      messageLength: () => dim,
      message: (s, _t, out) => void out.fill(s.id),
      receive: (s, _t, peer) => {
        const j = peer[0];
        exchanges[s.id]++;
        if (s.id < j) edges[index.find(s.id, j)]++;
      },
    },
    saved: () => ({ vectors: {}, scalars: {} }),
    restore: () => {},
  };
  return {
    graph,
    built: { algorithm: algorithm as unknown as Algorithm, edgeRates: null, info: {} },
    edgeCounts: () => edges.slice(),
    workerExchanges: () => exchanges.slice(),
    workerSteps: () => steps.slice(),
  };
}

/** Exchanges per step of the edges (i, i + n/2) of exponential-official over those of its other edges, on average. */
export function halfEdgeRatio(graph: Graph, probe: EdgeProbe): number {
  const counts = probe.edgeCounts();
  let half = 0;
  let halfEdges = 0;
  let other = 0;
  graph.edges.forEach(([i, j], e) => {
    if (j - i === graph.n / 2) {
      half += counts[e];
      halfEdges++;
    } else other += counts[e];
  });
  return half / halfEdges / (other / (graph.edges.length - halfEdges));
}

/**
 * Compares each edge's exchanges per step with the edge rates the constants are computed from (rates.ts), and each
 * worker's with r_i: a count of expected mean μ must lie within `sigmas` √μ of it (a quota-paced count is no more
 * dispersed than a Poisson one), or within the relative tolerance when that is wider. Returns the largest relative
 * deviations.
 */
export function checkEdgeRates(
  graph: Graph, probe: EdgeProbe, lambda: Float64Array, workerRates: readonly number[], bounds: { sigmas: number; relative: number },
): { edge: number; worker: number } {
  const steps = probe.workerSteps();
  const mean = steps.reduce((a, b) => a + b, 0) / graph.n;
  const within = (count: number, mu: number, what: string) => {
    const slack = Math.max(bounds.sigmas * Math.sqrt(mu), bounds.relative * mu);
    if (Math.abs(count - mu) > slack) throw new Error(`${what}: ${count} exchanges, expected ${mu.toFixed(1)} ± ${slack.toFixed(1)}`);
    return Math.abs(count / mu - 1);
  };
  let edge = 0;
  const counts = probe.edgeCounts();
  graph.edges.forEach(([i, j], e) => (edge = Math.max(edge, within(counts[e], lambda[e] * mean, `edge (${i}, ${j})`))));
  let worker = 0;
  const exchanges = probe.workerExchanges();
  for (let i = 0; i < graph.n; i++) worker = Math.max(worker, within(exchanges[i], workerRates[i] * steps[i], `worker ${i}`));
  return { edge, worker };
}
