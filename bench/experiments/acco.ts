import type { MetricsRow } from '../../src/report/metrics.js';
import { runCluster } from '../../src/runtime/cluster.js';
import { type ClusterAlgorithm, type ClusterConfig } from '../../src/runtime/cluster-config.js';
import { mean, table } from './common.js';

/**
 * ACCO against AllReduce and the one-step-delayed update (DPU), for real: 4 worker threads train the MLP on MNIST
 * (SGD with momentum 0.9, lr 0.1 x (128 x 4 / 256), warm-up then x0.1 at 50% and 75% of the budget, weight decay
 * 5e-4, clipping at 1) in four settings: homogeneous workers (shared memory, no emulated link), workers 1 and 2
 * three times slower, an emulated slow all-reduce ring (100 Mbit/s, 20 ms: a ring all-reduce of the 670k
 * parameters takes about 0.3 s, many micro-batches' time) and a faster one (1 Gbit/s, 2 ms: about 40 ms, a few
 * micro-batches' time, the regime ACCO is made for). Reported: the wall-clock seconds at which the averaged
 * model's test accuracy first reaches the target (null if never within the budget), the final accuracy, and the
 * idle fraction of the compute loops (time waiting for a collective over the run's time).
 *
 * Then the character transformer on Moby-Dick (AdamW lr 3e-3, cosine, batch 32, 2000 micro-batches over all workers
 * for AllReduce, twice as many for ACCO and DPU): the held-out loss of the averaged model at the moment AllReduce's
 * run ends (interpolated between rows), its final value, and the idle fraction, homogeneous workers.
 *
 * Full version: target 97%, a budget of 4 epochs of micro-batches over all workers for AllReduce. --quick: target
 * 90%, 600 micro-batches, 2000 test examples. ACCO and DPU take fewer optimizer steps per micro-batch (a step sums
 * every micro-batch computed during its all-reduces): they get OVERLAP_BUDGET times AllReduce's micro-batches, so that
 * their runs last at least as long in wall-clock time and the time to the target is what compares them. The
 * machine should be quiet: the figures are wall-clock times.
 */
/** The micro-batch budget of ACCO and DPU, in multiples of AllReduce's. */
const OVERLAP_BUDGET = 10;

export async function acco(opts: { quick?: boolean; seeds?: number; log?: (line: string) => void } = {}) {
  const quick = opts.quick ?? false;
  const seeds = opts.seeds ?? 1;
  const target = quick ? 0.9 : 0.97;
  const n = 4;
  const algorithms: ClusterAlgorithm[] = ['allreduce', 'dpu', 'acco'];
  const settings: Array<{ name: string; extra: Partial<ClusterConfig> }> = [
    { name: 'homogeneous', extra: {} },
    { name: 'two workers 3x slower', extra: { slowdown: { 1: 3, 2: 3 } } },
    { name: 'slow link (100 Mbit/s, 20 ms)', extra: { links: { default: { latencyMs: 20, bandwidth: 100e6 / 8 } } } },
    { name: 'link ≈ compute (1 Gbit/s, 2 ms)', extra: { links: { default: { latencyMs: 2, bandwidth: 1e9 / 8 } } } },
  ];
  const budgetOf = (algorithm: ClusterAlgorithm) => {
    const k = algorithm === 'allreduce' ? 1 : OVERLAP_BUDGET;
    return quick ? { steps: 600 * k } : { epochs: 4 * k };
  };
  const total = quick ? 600 : Math.ceil((4 * 60000) / 128);
  const base: Omit<ClusterConfig, 'algorithm' | 'seed'> = {
    workers: n, topology: 'complete', rate: 1, model: 'mlp', dataset: 'mnist', batchSize: 128,
    optimizer: 'sgd', lr: 0.1 * ((128 * n) / 256), momentum: 0.9, weightDecay: 5e-4, schedule: 'multistep', clip: 1,
    evalLimit: quick ? 2000 : 10000, metricsEverySeconds: quick ? 1 : 2,
  };
  const results: Array<Record<string, unknown>> = [];
  for (const setting of settings) {
    for (const algorithm of algorithms) {
      for (let seed = 1; seed <= seeds; seed++) {
        opts.log?.(`acco: ${setting.name}, ${algorithm}, seed ${seed}`);
        const rows: MetricsRow[] = [];
        const s = await runCluster({ ...base, ...budgetOf(algorithm), ...setting.extra, algorithm, seed, metricsEvery: Math.max(1, Math.round(total / 60)), onRow: (r) => rows.push(r) });
        const hit = rows.find((r) => (r.testAccuracy as number) >= target);
        results.push({
          setting: setting.name, algorithm, seed, target, reached: hit !== undefined,
          seconds: hit ? +(hit.seconds as number).toFixed(2) : null, finalAccuracy: s.testAccuracy, totalSeconds: +s.seconds.toFixed(2),
          steps: s.steps, idleFraction: +s.idleFraction.toFixed(4), collectives: s.exchanges / (n - 1),
        });
      }
    }
  }
  const text = quick ? [] : await accoText(algorithms, opts.log);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const rows = settings.flatMap((setting) => algorithms.map((algorithm) => {
    const mine = results.filter((r) => r.setting === setting.name && r.algorithm === algorithm);
    const hits = mine.filter((r) => r.reached);
    return [
      setting.name, algorithm,
      hits.length === 0 ? 'never' : `${mean(hits.map((r) => r.seconds as number)).toFixed(1)}${hits.length < mine.length ? ` (${hits.length}/${mine.length} seeds)` : ''}`,
      pct(mean(mine.map((r) => r.finalAccuracy as number))),
      mean(mine.map((r) => r.totalSeconds as number)).toFixed(1),
      pct(mean(mine.map((r) => r.idleFraction as number))),
      Math.round(mean(mine.map((r) => r.collectives as number))),
    ];
  }));
  const markdown = table(['setting', 'algorithm', `seconds to ${pct(target)}`, 'final accuracy', 'run seconds', 'idle', 'collectives'], rows)
    + `\n\n${n} worker threads, MLP on MNIST, batch 128 per micro-batch; ${quick ? '600 micro-batches' : '4 epochs'} over all workers for allreduce, ${OVERLAP_BUDGET}× for acco and dpu; ${seeds} seed(s); dpu with its default warm-up.`
    + (text.length === 0 ? '' : `\n\n${table(['algorithm', 'held-out loss when AllReduce ends', 'final held-out loss', 'run seconds', 'idle'], text.map((r) => [
      r.algorithm as string, (r.lossAtAllReduceEnd as number).toFixed(4), (r.finalLoss as number).toFixed(4), (r.totalSeconds as number).toFixed(1), pct(r.idleFraction as number),
    ]))}\n\n${n} worker threads, the character transformer on Moby-Dick, AdamW lr 3e-3, cosine, batch 32; 2000 micro-batches over all workers for allreduce, twice as many for acco and dpu; held-out loss on 200 windows.`);
  return { name: 'acco', config: { workers: n, budget: budgetOf('allreduce'), overlapBudget: OVERLAP_BUDGET, target, lr: base.lr, seeds, settings }, results: { mnist: results, mobyDick: text }, markdown };
}

/** The transformer on Moby-Dick, homogeneous workers: held-out loss against wall-clock time. */
async function accoText(algorithms: ClusterAlgorithm[], log?: (line: string) => void): Promise<Array<Record<string, unknown>>> {
  const base: Omit<ClusterConfig, 'algorithm' | 'seed' | 'steps'> = {
    workers: 4, topology: 'complete', rate: 1, model: 'transformer', dataset: 'moby-dick', batchSize: 32, optimizer: 'adamw', lr: 3e-3,
    momentum: 0, weightDecay: 0.01, schedule: 'cosine', warmup: 25, clip: 1, evalLimit: 200, metricsEverySeconds: 2,
  };
  const runs: Array<{ algorithm: ClusterAlgorithm; rows: MetricsRow[]; seconds: number; idle: number; loss: number }> = [];
  for (const algorithm of algorithms) {
    log?.(`acco: Moby-Dick, ${algorithm}`);
    const rows: MetricsRow[] = [];
    const steps = algorithm === 'allreduce' ? 2000 : 4000;
    const s = await runCluster({ ...base, steps, algorithm, seed: 1, metricsEvery: 50, onRow: (r) => rows.push(r) });
    runs.push({ algorithm, rows: rows.filter((r) => r.final === undefined), seconds: s.seconds, idle: s.idleFraction, loss: s.testLoss });
  }
  const end = runs.find((r) => r.algorithm === 'allreduce')!.seconds;
  return runs.map((r) => ({ algorithm: r.algorithm, lossAtAllReduceEnd: lossAt(r.rows, end), finalLoss: r.loss, totalSeconds: r.seconds, idleFraction: r.idle }));
}

/** The held-out loss at `seconds`, interpolated between the rows around it (the last row's past the end). */
function lossAt(rows: MetricsRow[], seconds: number): number {
  const k = rows.findIndex((r) => (r.seconds as number) >= seconds);
  if (k < 0) return rows[rows.length - 1].testLoss as number;
  if (k === 0) return rows[0].testLoss as number;
  const [a, b] = [rows[k - 1], rows[k]];
  const w = (seconds - (a.seconds as number)) / Math.max(1e-9, (b.seconds as number) - (a.seconds as number));
  return (a.testLoss as number) * (1 - w) + (b.testLoss as number) * w;
}
