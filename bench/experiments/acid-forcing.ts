import { buildAlgorithm } from '../../src/algorithms/index.js';
import { makeTopology } from '../../src/graph/topology.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { simulate } from '../../src/sim/simulator.js';
import { mean, table } from './common.js';

/**
 * What A2CiD2's momentum does to the workers' disagreement when training keeps pushing them apart, on heterogeneous
 * quadratics (docs/algorithms.md §2.10): a persistent push (each worker's own minimiser, no gradient noise), white
 * noise from step to step (one minimiser for all, Gaussian gradient noise), and the same noise through heavy-ball
 * momentum (μ = 0.9 and lr / 10: the same step in the long run). Mean consensus distance over the second half of the
 * run, A2CiD2 at rate 1 against the baseline at rates 1 and 2.
 */
export function acidForcing(opts: { seeds?: number; quick?: boolean } = {}) {
  const seeds = opts.seeds ?? 3;
  const sizes = opts.quick ? [16] : [16, 32];
  const cases = [
    { forcing: 'persistent (heterogeneous minimisers)', spread: 1, noise: 0, lr: 0.05, momentum: 0 },
    { forcing: 'white gradient noise', spread: 0, noise: 1, lr: 0.05, momentum: 0 },
    { forcing: 'white gradient noise', spread: 0, noise: 1, lr: 0.2, momentum: 0 },
    { forcing: 'white gradient noise, through momentum', spread: 0, noise: 1, lr: 0.005, momentum: 0.9 },
  ];
  const runs = [['acid', 1], ['gossip', 1], ['gossip', 2]] as const;
  const results: Array<Record<string, unknown>> = [];
  const rows: Array<Array<string | number>> = [];
  for (const n of sizes) {
    const graph = makeTopology('ring', n);
    for (const c of cases) {
      const consensus: number[] = [];
      for (const [algo, rate] of runs) {
        const values: number[] = [];
        for (let seed = 1; seed <= seeds; seed++) {
          const objective = new Quadratic({ workers: n, dim: 20, seed, spread: c.spread, noise: c.noise });
          const built = buildAlgorithm({ name: algo, graph, rate, dim: 20, dtype: 'f64' });
          const time = opts.quick ? 200 : 400;
          const r = simulate({ objective, graph, built, optimizer: { lr: c.lr, momentum: c.momentum }, rate, time, seed, every: 10 });
          values.push(mean(r.rows.filter((row) => row.t >= time / 2).map((row) => row.consensus)));
        }
        consensus.push(mean(values));
        results.push({ n, ...c, algo, rate, consensus: mean(values) });
      }
      rows.push([n, c.forcing, c.lr, c.momentum, ...consensus.map((v) => v.toPrecision(3)), (consensus[0] / consensus[1]).toFixed(2)]);
    }
  }
  const markdown = table(['ring of', 'what pushes the workers apart', 'lr', 'μ', 'A2CiD2 @1', 'gossip @1', 'gossip @2', 'A2CiD2 / gossip @1'], rows);
  return { name: 'acid-forcing', results, markdown };
}
