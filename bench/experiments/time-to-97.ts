import type { MetricsRow } from '../../src/report/metrics.js';
import { runCluster } from '../../src/runtime/cluster.js';
import { type ClusterAlgorithm, type ClusterConfig } from '../../src/runtime/cluster-config.js';
import type { Codec } from '../../src/core/codecs.js';
import { mean, table } from './common.js';

/**
 * Wall-clock time to a test accuracy, for real: 8 worker threads on a ring train the MLP on MNIST (the default run
 * of `gossamer train`: SGD with momentum 0.9, lr 0.1 x (128 x 8 / 256), warm-up then x0.1 at 50% and 75% of the
 * budget, weight decay 5e-4, clipping at 1) over emulated links of 100 Mbit/s and 20 ms latency, workers 3 and 6
 * three times slower, with A2CiD2, the gossip baseline and the synchronous AllReduce baseline. The averaged model
 * is evaluated on the test set at regular intervals (every few seconds and every 1/60 of the budget); reported: the
 * wall-clock seconds and the gradient steps (all workers) at which the test accuracy first reaches the target,
 * null if it never does within the budget, and the final accuracy on the whole test set.
 *
 * Full version: target 97%, a budget of 6 epochs (of total steps) so that A2CiD2 gets there (the default run does
 * in about 3), the whole test set at every evaluation. --quick: target 90%, 360 steps, 2000 test examples.
 * The machine should be quiet: the figures are wall-clock times.
 */
/** A run of the table: its name and what its configuration sets besides the common one. */
interface Variant {
  name: string;
  config: Partial<ClusterConfig> & Pick<ClusterConfig, 'algorithm'>;
}

/**
 * The DiLoCo family in the same setting, with the recipe's outer loop (H 10, outer lr 0.7, momentum 0.5; Streaming
 * DiLoCo in two fragments; Delayed Nesterov for the asynchronous one), against A2CiD2 and AllReduce.
 */
export const DILOCO_FAMILY: Variant[] = [
  { name: 'allreduce', config: { algorithm: 'allreduce' } },
  { name: 'acid', config: { algorithm: 'acid' } },
  ...(['diloco', 'streaming-diloco', 'gossip-diloco', 'async-diloco'] as const).map((algorithm) => ({
    name: algorithm, config: { algorithm, innerSteps: 10, outerLr: 0.7, outerMomentum: 0.5 },
  })),
];

export async function timeTo97(opts: { quick?: boolean; seeds?: number; rate?: number; codec?: Codec; variants?: Variant[]; name?: string; log?: (line: string) => void } = {}) {
  const quick = opts.quick ?? false;
  const seeds = opts.seeds ?? 1;
  const target = quick ? 0.9 : 0.97;
  const rate = opts.rate ?? 1;
  const n = 8;
  const codec = opts.codec ?? 'f32';
  // AllReduce has no exchange rate: it runs at the default rate only.
  const algorithms: ClusterAlgorithm[] = rate === 1 ? ['acid', 'gossip', 'allreduce'] : ['acid', 'gossip'];
  const variants = opts.variants ?? algorithms.map((algorithm) => ({ name: algorithm, config: { algorithm } }));
  const links = { default: { latencyMs: 20, bandwidth: 100e6 / 8 } };
  const slowdown = { 3: 3, 6: 3 };
  const budget = quick ? { steps: 360 } : { epochs: 6 };
  const base: Omit<ClusterConfig, 'algorithm' | 'seed'> = {
    workers: n, topology: 'ring', rate, model: 'mlp', dataset: 'mnist', batchSize: 128, ...budget,
    optimizer: 'sgd', lr: 0.1 * ((128 * n) / 256), momentum: 0.9, weightDecay: 5e-4, schedule: 'multistep', clip: 1,
    links, slowdown, evalLimit: quick ? 2000 : 10000, metricsEverySeconds: quick ? 1 : 3, codec,
  };
  const results: Array<Record<string, unknown>> = [];
  for (const { name: algorithm, config } of variants) {
    for (let seed = 1; seed <= seeds; seed++) {
      opts.log?.(`${opts.name ?? 'time-to-97'}: ${algorithm}, seed ${seed}`);
      const rows: MetricsRow[] = [];
      const s = await runCluster({
        ...base, ...config, rate: config.algorithm === 'allreduce' ? 1 : rate, seed, metricsEvery: Math.max(1, Math.round((quick ? 360 : Math.ceil((6 * 60000) / 128)) / 60)), onRow: (r) => rows.push(r),
      });
      const hit = rows.find((r) => (r.testAccuracy as number) >= target);
      results.push({
        algorithm, seed, target, reached: hit !== undefined,
        seconds: hit ? +(hit.seconds as number).toFixed(2) : null, gradients: hit ? hit.gradients : null,
        finalAccuracy: s.testAccuracy, totalSeconds: +s.seconds.toFixed(2), steps: s.steps, budget: s.budget,
        idleFraction: +s.idleFraction.toFixed(4), exchanges: s.exchanges, bytesSent: s.bytesSent, outerSteps: s.outerSteps,
        stepsByWorker: s.perWorker.map((w) => w.steps),
        curve: rows.map((r) => ({ seconds: +(r.seconds as number).toFixed(2), gradients: r.gradients, testAccuracy: r.testAccuracy, final: r.final })),
      });
    }
  }
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  const rows = variants.map(({ name: algorithm }) => {
    const mine = results.filter((r) => r.algorithm === algorithm);
    const hits = mine.filter((r) => r.reached);
    return [
      algorithm,
      hits.length === 0 ? 'never' : `${mean(hits.map((r) => r.seconds as number)).toFixed(1)}${hits.length < mine.length ? ` (${hits.length}/${mine.length} seeds)` : ''}`,
      hits.length === 0 ? '-' : Math.round(mean(hits.map((r) => r.gradients as number))),
      pct(mean(mine.map((r) => r.finalAccuracy as number))),
      mean(mine.map((r) => r.totalSeconds as number)).toFixed(1),
      `${(100 * mean(mine.map((r) => r.idleFraction as number))).toFixed(1)}%`,
      `${(mean(mine.map((r) => r.bytesSent as number)) / 1e6).toFixed(0)} MB`,
    ];
  });
  const markdown = table(
    ['algorithm', `seconds to ${pct(target)}`, 'gradient steps then', 'final accuracy', 'run seconds', 'idle', 'bytes sent'],
    rows,
  ) + `\n\n8 workers on a ring at rate ${rate}${codec === 'f32' ? '' : `, ${codec} exchanges`}, MLP on MNIST, links 100 Mbit/s and 20 ms, workers 3 and 6 three times slower; ${quick ? '360 steps' : '6 epochs'}, ${seeds} seed(s).`;
  return {
    name: opts.name ?? 'time-to-97',
    config: { workers: n, topology: 'ring', rate, codec, links, slowdown, budget, target, evalLimit: base.evalLimit, lr: base.lr, seeds },
    results, markdown,
  };
}
