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
    const built = buildAlgorithm({ name, graph, rate: 1, dim: 1, dtype: 'f64' });
    // Metrics are sparse here so that the figure is the event loop's; best of three runs (the machine is shared).
    let best = { events: 0, wallSeconds: Infinity, eventsPerSecond: 0 };
    for (let r = 0; r < 3; r++) {
      const { summary } = simulate({ objective, graph, built, optimizer: { lr: 0.05 }, rate: 1, time, seed: 1, every: time / 4 });
      if (summary.wallSeconds < best.wallSeconds) best = summary;
    }
    out[name] = { events: best.events, seconds: +best.wallSeconds.toFixed(3), eventsPerSecond: Math.round(best.eventsPerSecond) };
  }
  return out;
}
