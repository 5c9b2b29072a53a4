import { Quadratic } from '../../src/objectives/quadratic.js';
import { mean, runSpec, sci, std, table } from './common.js';

/**
 * The paper's claim: on the ring, adding A2CiD2 has the same effect as doubling the communication rate.
 * Heterogeneous quadratics, constant step size: the steady-state distance to the optimum is dominated by the
 * consensus error, which the graph's connectivity controls.
 */
export function acidRate(opts: { seeds?: number; quick?: boolean } = {}) {
  const seeds = opts.seeds ?? 5;
  const sizes = opts.quick ? [16] : [16, 32, 64];
  const configs = [
    { label: 'baseline, rate 1', algo: 'gossip' as const, rate: 1 },
    { label: 'baseline, rate 2', algo: 'gossip' as const, rate: 2 },
    { label: 'A2CiD2, rate 1', algo: 'acid' as const, rate: 1 },
  ];
  const results: Array<Record<string, unknown>> = [];
  const rows: Array<Array<string | number>> = [];
  for (const topology of ['ring', 'exponential']) {
    for (const n of sizes) {
      const cells: Array<string | number> = [topology, n];
      const values: number[] = [];
      for (const c of configs) {
        const steady: number[] = [];
        const consensus: number[] = [];
        for (let seed = 1; seed <= seeds; seed++) {
          const objective = new Quadratic({ workers: n, dim: 10, seed, spread: 1 });
          // Long enough for the slowest mode of the ring (χ1 ≈ n²/2π² time units) to settle.
          const time = Math.max(400, (n * n) / 2);
          const { summary, rows: metrics } = runSpec({ algo: c.algo, topology, n, rate: c.rate, objective, time, seed, lr: 0.05 });
          steady.push(summary.steadyOptimality!);
          const half = metrics.filter((r) => r.t >= time / 2);
          consensus.push(mean(half.map((r) => r.consensus)));
        }
        values.push(mean(steady));
        cells.push(`${sci(mean(steady))} ± ${sci(std(steady), 2)}`);
        results.push({ topology, n, config: c.label, steadyOptimality: mean(steady), steadyOptimalityStd: std(steady), steadyConsensus: mean(consensus), seeds });
      }
      cells.push((values[0] / values[1]).toFixed(2), (values[0] / values[2]).toFixed(2));
      rows.push(cells);
    }
  }
  const markdown = table(
    ['graph', 'n', ...configs.map((c) => c.label), 'gain of rate ×2', 'gain of A2CiD2'],
    rows,
  );
  return { name: 'acid-rate', results, markdown };
}
