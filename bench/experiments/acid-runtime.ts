import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gossamerRun, mean, std, table } from './common.js';

/**
 * A2CiD2 on a neural network in the runtime: `gossamer train` with one worker thread per node of a ring, the MLP on
 * MNIST, batch 32, 150 gradient steps per worker (the simulator's 150 time units), A2CiD2 at rate 1 against the
 * gossip baseline at rates 1 and 2. Two tables:
 * - the paper's setting: every worker on the whole training set in its own order, momentum SGD (lr 0.05, μ 0.9)
 *   with a warm-up over 5% of the run then a cosine decay; rings of 16 and 32 threads; consensus distance and test
 *   accuracy of the average model (10,000 images) at a quarter, half and the end of the run;
 * - the non-iid map: Dirichlet label splits α ∈ {0.1, 0.5, 10}, with momentum (lr 0.05, μ 0.9) and without
 *   (lr 0.2), at a constant learning rate as in the simulator's map (acid-noniid.ts), ring of 16; the mean consensus
 *   distance over the last 40% of the run and the final test accuracy.
 * Both report A2CiD2's clock: its local time t at the end over the steps taken (the time a worker spends outside its
 * gradient steps, waiting or exchanging, counts in t, over which A2CiD2's momentum mixes; the simulator's is 1).
 * --quick: ring of 8, 60 steps per worker, one seed, α 0.1 alone. `-- --part setting|map`: one table only.
 */
export function acidRuntime(opts: { quick?: boolean; seeds?: number; args?: string[]; log?: (line: string) => void } = {}) {
  const part = opts.args?.includes('--part') ? opts.args[opts.args.indexOf('--part') + 1] : undefined;
  if (part !== undefined && part !== 'setting' && part !== 'map') throw new Error(`acid-runtime: --part takes setting or map, got ${part}`);
  const quick = opts.quick ?? false;
  const seeds = opts.seeds ?? (quick ? 1 : 2);
  const perWorker = quick ? 60 : 150;
  const rings = quick ? [8] : [16, 32];
  const mapRing = quick ? 8 : 16;
  const alphas = quick ? [0.1] : [0.1, 0.5, 10];
  const optimizers = [{ lr: 0.05, momentum: 0.9 }, { lr: 0.2, momentum: 0 }];
  const runs = [['acid', 1], ['gossip', 1], ['gossip', 2]] as const;
  const marks = [0.25, 0.5, 1];
  const command = (n: number, algo: string, rate: number, seed: number, o: { lr: number; momentum: number }, more: string[]) => [
    'train', '--workers', String(n), '--topology', 'ring', '--algo', algo, '--rate', String(rate), '--batch-size', '32',
    '--optimizer', 'sgd', '--lr', String(o.lr), '--momentum', String(o.momentum), '--weight-decay', '0',
    '--steps', String(perWorker * n), '--log-every', String((perWorker * n) / 20), '--eval-limit', '10000', '--seed', String(seed), ...more,
  ];
  const cosine = ['--schedule', 'cosine', '--warmup', String(Math.round(0.05 * perWorker))];
  /** A2CiD2's local time per step taken, from the last row before the closing average. */
  const clock = (rows: Array<Record<string, number>>, n: number) => {
    const last = rows.filter((row) => row.final === undefined).at(-1)!;
    return last.t / (last.gradients / n);
  };
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-acid-runtime-'));
  const setting: Array<Record<string, unknown>> = [];
  const map: Array<Record<string, unknown>> = [];
  let count = 0;
  const run = (args: string[]) => {
    opts.log?.(`acid-runtime: gossamer ${args.join(' ')}`);
    return gossamerRun(args, join(dir, String(count++)));
  };
  try {
    for (const n of part === 'map' ? [] : rings) {
      for (const [algo, rate] of runs) {
        for (let seed = 1; seed <= seeds; seed++) {
          const args = command(n, algo, rate, seed, optimizers[0], cosine);
          const { rows } = run(args);
          const at = (f: number) => rows.find((row) => row.gradients >= f * perWorker * n) ?? rows[rows.length - 1];
          setting.push({
            n, algo, rate, seed, command: `gossamer ${args.join(' ')}`, clock: clock(rows, n),
            marks: marks.map((f) => ({ f, consensus: at(f).consensus, testAccuracy: at(f).testAccuracy })),
          });
        }
      }
    }
    for (const alpha of part === 'setting' ? [] : alphas) {
      for (const o of optimizers) {
        for (const [algo, rate] of runs) {
          const args = command(mapRing, algo, rate, 1, o, ['--schedule', 'constant', '--shard', 'dirichlet', '--alpha', String(alpha)]);
          const { summary, rows } = run(args);
          const late = rows.filter((row) => row.final === undefined && row.gradients >= 0.6 * perWorker * mapRing).map((row) => row.consensus);
          map.push({ alpha, ...o, algo, rate, command: `gossamer ${args.join(' ')}`, lateConsensus: mean(late), testAccuracy: summary.testAccuracy, clock: clock(rows, mapRing) });
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const cell = (xs: number[], f: (v: number) => string) => (xs.length > 1 ? `${f(mean(xs))} ± ${f(std(xs))}` : f(xs[0]));
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  const settingRows = (setting.length === 0 ? [] : rings).flatMap((n) => runs.map(([algo, rate]) => {
    const mine = setting.filter((r) => r.n === n && r.algo === algo && r.rate === rate);
    const m = (k: number, key: 'consensus' | 'testAccuracy') => mine.map((r) => (r.marks as Array<Record<string, number>>)[k][key]);
    return [
      `ring ${n}`, `${algo} @${rate}`, ...marks.flatMap((_, k) => [cell(m(k, 'consensus'), (v) => v.toExponential(2)), cell(m(k, 'testAccuracy'), pct)]),
      mean(mine.map((r) => r.clock as number)).toFixed(2),
    ];
  }));
  const mapRows = (map.length === 0 ? [] : alphas).flatMap((alpha) => optimizers.map((o) => [alpha, o.lr, o.momentum, ...runs.flatMap(([algo, rate]) => {
    const r = map.find((x) => x.alpha === alpha && x.lr === o.lr && x.algo === algo && x.rate === rate)!;
    return [(r.lateConsensus as number).toExponential(2), pct(r.testAccuracy as number), (r.clock as number).toFixed(2)];
  })]));
  const markdown = [
    ...(setting.length === 0 ? [] : [
      table(['graph', 'run', ...marks.flatMap((f) => [`consensus at ${f * perWorker} steps`, `accuracy at ${f * perWorker} steps`]), 't per step'], settingRows),
      `\nWorker threads, MLP on MNIST, every worker on the whole training set; SGD lr 0.05 μ 0.9 batch 32, warm-up then cosine; ${perWorker} steps per worker; ${seeds} seed(s) (mean ± std). Command of the first: \`${setting[0].command as string}\`\n`,
    ]),
    ...(map.length === 0 ? [] : [
      table(['α', 'lr', 'μ', ...runs.flatMap(([algo, rate]) => [`${algo} @${rate} late consensus`, 'accuracy', 't per step'])], mapRows),
      `\nRing of ${mapRing} worker threads, Dirichlet label split, constant learning rate; late consensus: mean over the last 40% of the run; one seed. Command of the first: \`${map[0].command as string}\``,
    ]),
  ].join('\n');
  return { name: 'acid-runtime', results: { setting, map }, markdown };
}
