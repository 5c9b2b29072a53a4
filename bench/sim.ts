import { buildAlgorithm, type AlgorithmName } from '../src/algorithms/index.js';
import { makeTopology } from '../src/graph/topology.js';
import { Quadratic } from '../src/objectives/quadratic.js';
import { simulate } from '../src/sim/simulator.js';

/** Simulator throughput: events per second with 1024 workers on a one-dimensional problem. */
export async function runSimBench(opts: { workers?: number; time?: number } = {}): Promise<Record<string, unknown>> {
  const n = opts.workers ?? 1024;
  const time = opts.time ?? 400;
  const graph = makeTopology('ring', n);
  const objective = new Quadratic({ workers: n, dim: 1, seed: 1, noise: 0.1 });
  const out: Record<string, unknown> = { workers: n, dim: 1, topology: 'ring', rate: 1, time };
  for (const name of ['gossip', 'acid', 'allreduce'] as AlgorithmName[]) {
    const built = buildAlgorithm({ name, graph, rate: 1, dim: 1, dtype: 'f64', lr: 0.05 });
    // Metrics are sparse here so that the figure is the event loop's.
    const { summary } = simulate({ objective, graph, built, rate: 1, time, seed: 1, every: time / 4 });
    out[name] = { events: summary.events, seconds: +summary.wallSeconds.toFixed(3), eventsPerSecond: Math.round(summary.eventsPerSecond) };
  }
  return out;
}
