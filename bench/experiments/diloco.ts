import { runCluster } from '../../src/runtime/cluster.js';
import { type ClusterConfig } from '../../src/runtime/cluster-config.js';
import { table } from './common.js';

/**
 * DiLoCo (plain, eager, streaming) against AllReduce and A2CiD2 in the default run's setting: 8 worker threads train the MLP on MNIST for 4
 * epochs of total steps with the cluster's SGD recipe (momentum 0.9, lr 0.1 x (128 x 8 / 256), warm-up then x0.1 at
 * 50% and 75% of the budget, weight decay 5e-4, clipping at 1) as DiLoCo's inner optimizer. Reported: the final test
 * accuracy of the average model, the communication rounds (all-reduces or pairwise exchanges) and the messages,
 * the wall-clock seconds and the compute loops' idle share. --quick: 1 epoch.
 */
export async function diloco(opts: { quick?: boolean; seeds?: number; log?: (line: string) => void } = {}) {
  const n = 8;
  const base: Omit<ClusterConfig, 'algorithm' | 'seed'> = {
    workers: n, topology: 'ring', rate: 1, model: 'mlp', dataset: 'mnist', batchSize: 128, epochs: opts.quick ? 1 : 4,
    optimizer: 'sgd', lr: 0.1 * ((128 * n) / 256), momentum: 0.9, weightDecay: 5e-4, schedule: 'multistep', clip: 1,
  };
  const variants: Array<{ name: string; config: Partial<ClusterConfig> & Pick<ClusterConfig, 'algorithm'> }> = [
    { name: 'allreduce', config: { algorithm: 'allreduce' } },
    { name: 'acid', config: { algorithm: 'acid' } },
    { name: 'diloco H=20', config: { algorithm: 'diloco', innerSteps: 20 } },
    { name: 'diloco H=20, periodic averaging (outer sgd, lr 1, momentum 0)', config: { algorithm: 'diloco', innerSteps: 20, outerOptimizer: 'sgd', outerLr: 1, outerMomentum: 0 } },
    { name: 'diloco H=100', config: { algorithm: 'diloco', innerSteps: 100 } },
    { name: 'diloco H=20, eager', config: { algorithm: 'diloco', innerSteps: 20, eager: true } },
    { name: 'streaming-diloco H=21, P=3, τ=2, α=0.5', config: { algorithm: 'streaming-diloco', innerSteps: 21, fragments: 3, overlap: 2, mix: 0.5 } },
  ];
  const results: Array<Record<string, unknown>> = [];
  for (const v of variants) {
    for (let seed = 1; seed <= (opts.seeds ?? 1); seed++) {
      opts.log?.(`diloco: ${v.name}, seed ${seed}`);
      const s = await runCluster({ ...base, ...v.config, seed });
      // (streaming: one fragment per round; eager and streaming: the closing average counted too)
      const rounds = v.config.algorithm === 'acid' ? s.exchanges : s.exchanges / (n - 1);
      results.push({ variant: v.name, seed, testAccuracy: s.testAccuracy, rounds, messages: s.exchanges, seconds: s.seconds, idleFraction: s.idleFraction, steps: s.steps });
    }
  }
  const markdown = table(
    ['variant', 'seed', 'test accuracy', 'rounds', 'messages', 'seconds', 'idle'],
    results.map((r) => [
      r.variant as string, r.seed as number, `${(100 * (r.testAccuracy as number)).toFixed(2)}%`, r.rounds as number, r.messages as number,
      (r.seconds as number).toFixed(1), `${(100 * (r.idleFraction as number)).toFixed(1)}%`,
    ]),
  );
  return { name: 'diloco', results, markdown };
}
