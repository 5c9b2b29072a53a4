import { LeastSquares } from '../../src/objectives/least-squares.js';
import { Logistic } from '../../src/objectives/logistic.js';
import type { Objective } from '../../src/objectives/objective.js';
import type { MetricsRow } from '../../src/report/metrics.js';
import { runSpec, sci, slope, table } from './common.js';

/** The first metrics row whose optimality is below eps × the initial optimality. */
function reach(rows: MetricsRow[], eps: number): MetricsRow | undefined {
  const target = eps * rows[0].optimality!;
  return rows.find((r) => r.optimality! <= target);
}

/** Linear fit of log(optimality) against time: the convergence rate per time unit. */
function linearRate(rows: MetricsRow[]): number {
  const pts = rows.filter((r) => r.t > 0 && r.optimality! > 1e-26);
  const half = pts.slice(Math.floor(pts.length / 4));
  return -slope(half.map((r) => r.t), half.map((r) => Math.log(r.optimality!)));
}

/**
 * DADAO: linear convergence on cycle, star and complete graphs for least squares and logistic regression, and the
 * communications it needs for a given precision against the gossip baseline (its step size tuned on a grid).
 */
export function dadao(opts: { quick?: boolean } = {}) {
  const n = 16;
  const precisions = [1e-4, 1e-8];
  const problems: Array<[string, (seed: number) => Objective]> = [
    ['least squares', (seed) => new LeastSquares({ workers: n, dim: 10, seed })],
    ['logistic', (seed) => new Logistic({ workers: n, dim: 10, seed })],
  ];
  const graphs = opts.quick ? ['ring'] : ['ring', 'star', 'complete'];
  const rows: Array<Array<string | number>> = [];
  const results: Array<Record<string, unknown>> = [];
  for (const [label, make] of problems) {
    for (const topology of graphs) {
      const objective = make(1);
      const d = runSpec({ algo: 'dadao', topology, n, rate: 1, objective, time: 1500, seed: 1, every: 5 });
      const gossip = [1, 0.5, 0.25, 0.1, 0.05, 0.02].map((f) => {
        const lr = f / objective.smoothness!;
        return { lr, run: runSpec({ algo: 'gossip', topology, n, rate: 1, objective, time: 1500, seed: 1, lr, every: 5 }) };
      });
      const floor = Math.min(...gossip.map((g) => g.run.summary.steadyOptimality! / g.run.rows[0].optimality!));
      const rate = linearRate(d.rows);
      const cells: Array<string | number> = [label, topology, rate.toPrecision(3), sci(d.summary.optimality!)];
      const record: Record<string, unknown> = { problem: label, topology, n, dadaoRate: rate, dadaoFinal: d.summary.optimality, gossipRelativeFloor: floor, info: d.info };
      for (const eps of precisions) {
        const dHit = reach(d.rows, eps);
        let best: { lr: number; hit: MetricsRow } | null = null;
        for (const g of gossip) {
          const hit = reach(g.run.rows, eps);
          if (hit && (!best || hit.communications < best.hit.communications)) best = { lr: g.lr, hit };
        }
        record[`eps${eps}`] = { dadao: dHit ? { communications: dHit.communications, gradients: dHit.gradients } : null, gossip: best ? { communications: best.hit.communications, gradients: best.hit.gradients, lr: best.lr } : null };
        cells.push(dHit ? `${dHit.communications} / ${dHit.gradients}` : 'not reached', best ? `${best.hit.communications} / ${best.hit.gradients}` : 'not reached');
      }
      cells.push(sci(floor, 2));
      results.push(record);
      rows.push(cells);
    }
  }
  const markdown = table(
    [
      'problem', 'graph (n = 16)', 'DADAO rate (log-error per time unit)', 'DADAO final (1/n)Σ‖x_i − x*‖²',
      ...precisions.flatMap((eps) => [`DADAO comms / grads to ε = ${eps}`, `gossip comms / grads to ε = ${eps}`]),
      'gossip best relative floor',
    ],
    rows,
  );
  return { name: 'dadao', results, markdown };
}
