import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acidNoniid } from './acid-noniid.js';
import { acidRuntime } from './acid-runtime.js';
import { gossamerRun, mean, std, table } from './common.js';

type StudyOptions = { quick?: boolean; seeds?: number; log?: (line: string) => void };

/**
 * A2CiD2 on neural networks, the whole study in one command: the paper's deep-learning setting in the simulator
 * (acidNeuralSim), the non-iid map in the simulator (acid-noniid.ts) and both again with worker threads
 * (acid-runtime.ts). About two hours in full on two cores.
 */
export async function acidNeural(opts: StudyOptions = {}) {
  const parts = [acidNeuralSim(opts), await acidNoniid(opts), acidRuntime(opts)];
  return {
    name: 'acid-neural',
    results: Object.fromEntries(parts.map((p) => [p.name, p.results])),
    markdown: parts.map((p) => `### ${p.name}\n\n${p.markdown}`).join('\n\n'),
  };
}

/**
 * A2CiD2 in the paper's deep-learning setting, as far as the simulator takes it: every worker trains the MLP on the
 * whole MNIST training set in its own order (the paper's setting), momentum SGD (lr 0.05, momentum 0.9, batch 32)
 * with a linear warm-up over 5% of the run then a cosine decay, for 150 time units, on rings of 16, 32 and 64 workers
 * and the authors' exponential graph of 32; A2CiD2 at rate 1 against the gossip baseline at rates 1 and 2. Reported
 * per graph and run, over the seeds: the consensus distance and the test accuracy of the average model (10,000 test
 * images) at a quarter, half and the end of the run. Each run is the `gossamer sim` command printed under the tables.
 * --quick: the ring of 16 alone, 60 time units, one seed.
 */
export function acidNeuralSim(opts: StudyOptions & { graphs?: Array<[string, number]> } = {}) {
  const quick = opts.quick ?? false;
  const seeds = opts.seeds ?? (quick ? 1 : 3);
  const time = quick ? 60 : 150;
  const graphs: Array<[string, number]> = opts.graphs ?? (quick ? [['ring', 16]] : [['ring', 16], ['ring', 32], ['ring', 64], ['exponential-official', 32]]);
  const runs = [['acid', 1], ['gossip', 1], ['gossip', 2]] as const;
  const marks = [0.25, 0.5, 1];
  const common = (topology: string, n: number, seed: number) => [
    'sim', '--problem', 'mlp-mnist', '--topology', topology, '--workers', String(n), '--batch-size', '32', '--lr', '0.05', '--momentum', '0.9',
    '--schedule', 'cosine', '--warmup', String(Math.round(0.05 * time)), '--time', String(time), '--every', String(time / 4),
    '--eval-limit', '10000', '--seed', String(seed), '--no-plot',
  ];
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-acid-neural-'));
  const results: Array<Record<string, unknown>> = [];
  try {
    for (const [topology, n] of graphs) {
      for (const [algo, rate] of runs) {
        for (let seed = 1; seed <= seeds; seed++) {
          opts.log?.(`acid-neural: ${topology} ${n}, ${algo} at rate ${rate}, seed ${seed}`);
          const args = [...common(topology, n, seed), '--algo', algo, '--rate', String(rate)];
          const { rows } = gossamerRun(args, join(dir, `${topology}-${n}-${algo}-${rate}-${seed}`));
          const at = (f: number) => rows.find((row) => row.t >= f * time - 1e-9) ?? rows[rows.length - 1];
          results.push({
            topology, n, algo, rate, seed, command: `gossamer ${args.join(' ')}`,
            marks: marks.map((f) => ({ t: f * time, consensus: at(f).consensus, testAccuracy: at(f).testAccuracy })),
          });
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const cell = (xs: number[], f: (v: number) => string) => (xs.length > 1 ? `${f(mean(xs))} ± ${f(std(xs))}` : f(xs[0]));
  const rows = graphs.flatMap(([topology, n]) => runs.map(([algo, rate]) => {
    const mine = results.filter((r) => r.topology === topology && r.n === n && r.algo === algo && r.rate === rate);
    const m = (k: number, key: 'consensus' | 'testAccuracy') => mine.map((r) => (r.marks as Array<Record<string, number>>)[k][key]);
    return [
      `${topology} ${n}`, `${algo} @${rate}`,
      ...marks.flatMap((_, k) => [cell(m(k, 'consensus'), (v) => v.toExponential(2)), cell(m(k, 'testAccuracy'), (v) => `${(100 * v).toFixed(2)}%`)]),
    ];
  }));
  const markdown = table(
    ['graph', 'run', ...marks.flatMap((f) => [`consensus t=${f * time}`, `accuracy t=${f * time}`])],
    rows,
  ) + `\n\nMLP on MNIST, every worker on the whole training set; SGD lr 0.05 momentum 0.9 batch 32, warm-up then cosine; ${time} time units; ${seeds} seed(s) (mean ± std).\n\nCommands (seed 1):\n\n${results.filter((r) => r.seed === 1).map((r) => `    ${r.command as string}`).join('\n')}`;
  return { name: 'acid-neural-sim', results, markdown };
}
