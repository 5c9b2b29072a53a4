import { buildAlgorithm } from '../../src/algorithms/index.js';
import { makeTopology } from '../../src/graph/topology.js';
import { makeObjective } from '../../src/objectives/index.js';
import { simulate } from '../../src/sim/simulator.js';
import { mean, std, table } from './common.js';

/**
 * A2CiD2 on a neural network with non-iid data (docs/algorithms.md §2.10): a ring of 16 virtual workers trains the
 * MLP on MNIST for 150 time units (batch 32), the training set split by labels with Dirichlet α ∈ {0.1, 0.5, 10},
 * with heavy-ball momentum 0.9 (lr 0.02, 0.05, 0.1) and plain SGD (lr 0.1, 0.2, 0.4); A2CiD2 at rate 1 against the
 * baseline at rates 1 and 2, two seeds.
 * Final consensus distance, its mean over the last 40% of the run, and the final test accuracy of the average
 * model on the 10,000 test images. The same runs as `gossamer sim --problem mlp-mnist --workers 16 --time 150
 * --batch-size 32 --shard dirichlet --alpha <α> --lr <lr> --momentum <μ> --algo <acid|gossip> --rate <r> --every 30
 * --eval-limit 10000 --seed <s>`. About 15 s per run on one core: half an hour in all (--quick: α 0.1, the middle
 * learning rates, one seed).
 */
export async function acidNoniid(opts: { seeds?: number; quick?: boolean; log?: (line: string) => void } = {}) {
  const seeds = opts.seeds ?? (opts.quick ? 1 : 2);
  const n = 16;
  const time = 150;
  const graph = makeTopology('ring', n);
  const alphas = opts.quick ? [0.1] : [0.1, 0.5, 10];
  const optimizers = opts.quick
    ? [{ lr: 0.05, momentum: 0.9 }, { lr: 0.2, momentum: 0 }]
    : [0.02, 0.05, 0.1].map((lr) => ({ lr, momentum: 0.9 })).concat([0.1, 0.2, 0.4].map((lr) => ({ lr, momentum: 0 })));
  const runs = [['acid', 1], ['gossip', 1], ['gossip', 2]] as const;
  const results: Array<Record<string, unknown>> = [];
  const rows: Array<Array<string | number>> = [];
  for (const alpha of alphas) {
    for (const o of optimizers) {
      const cells: string[] = [];
      for (const [algo, rate] of runs) {
        const finals: number[] = [];
        const lates: number[] = [];
        const accuracies: number[] = [];
        for (let seed = 1; seed <= seeds; seed++) {
          const objective = await makeObjective('mlp-mnist', { workers: n, seed, batchSize: 32, shard: 'dirichlet', alpha, evalLimit: 10_000 });
          const built = buildAlgorithm({ name: algo, graph, rate, dim: objective.dim, dtype: objective.dtype, backend: objective.backend });
          const r = simulate({ objective, graph, built, optimizer: o, rate, time, seed, every: 30 });
          finals.push(r.summary.consensus);
          lates.push(mean(r.rows.filter((row) => row.t >= 0.6 * time).map((row) => row.consensus)));
          accuracies.push(r.rows[r.rows.length - 1].testAccuracy as number);
          results.push({ alpha, ...o, algo, rate, seed, consensus: r.summary.consensus, lateConsensus: lates[lates.length - 1], testAccuracy: accuracies[accuracies.length - 1] });
          opts.log?.(`α ${alpha}, lr ${o.lr}, μ ${o.momentum}, ${algo} @${rate}, seed ${seed}: consensus ${r.summary.consensus.toPrecision(3)}, accuracy ${accuracies[accuracies.length - 1]}`);
        }
        const pm = (xs: number[], digits: number, scale = 1) => `${(mean(xs) * scale).toFixed(digits)}${xs.length > 1 ? ` ± ${(std(xs) * scale).toFixed(digits)}` : ''}`;
        cells.push(`${pm(finals, 2)} (${pm(lates, 2)})`, `${pm(accuracies, 2, 100)}%`);
      }
      rows.push([alpha, o.lr, o.momentum, ...cells]);
    }
  }
  const markdown = table(
    ['α', 'lr', 'μ', 'A2CiD2 @1 consensus (late mean)', 'accuracy', 'gossip @1 consensus (late mean)', 'accuracy', 'gossip @2 consensus (late mean)', 'accuracy'],
    rows,
  );
  return { name: 'acid-noniid', results, markdown };
}
