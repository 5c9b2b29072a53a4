/**
 * Runtime benchmark: how much of their time the compute loops spend waiting for communication, asynchronous
 * (A2CiD2 and the gossip baseline over the coordinator-free pairing) against the synchronous AllReduce baseline,
 * with homogeneous workers and with two workers made 3× slower by the compute slow-down factor. Also reports the
 * throughput (gradient steps per second over all workers) and the test accuracy reached with the same budget.
 *
 *   node --import tsx bench/runtime.ts [--json] [--model mlp|cnn] [--workers 8] [--epochs 0.5] [--hidden 512,512]
 *                                      [--batch-size 128] [--scenarios homogeneous,slow] [--algos acid,gossip,allreduce]
 *
 * Every figure comes from one run per configuration, in turn, on the same machine; compare ratios within one
 * invocation (the machines are shared and noisy).
 */
import { cpus } from 'node:os';
import { runCluster } from '../src/runtime/cluster.js';
import { type ClusterAlgorithm, type ClusterSummary } from '../src/runtime/cluster-config.js';

export interface RuntimeBenchOptions {
  model?: 'mlp' | 'cnn';
  workers?: number;
  epochs?: number;
  hidden?: number[];
  batchSize?: number;
  scenarios?: Array<'homogeneous' | 'slow'>;
  algos?: ClusterAlgorithm[];
  log?: (line: string) => void;
}

export async function runRuntimeBench(opts: RuntimeBenchOptions = {}): Promise<Record<string, unknown>> {
  const model = opts.model ?? 'mlp';
  const n = opts.workers ?? 8;
  const epochs = opts.epochs ?? 0.5;
  const scenarios = opts.scenarios ?? ['homogeneous', 'slow'];
  const algos = opts.algos ?? ['acid', 'gossip', 'allreduce'];
  // Two slow workers, as far apart on the ring as possible.
  const slow = { [Math.floor(n / 2) - 1]: 3, [n - 1]: 3 };
  const results: Record<string, unknown>[] = [];
  for (const scenario of scenarios) {
    for (const algorithm of algos) {
      opts.log?.(`${scenario} ${algorithm}…`);
      const s: ClusterSummary = await runCluster({
        workers: n, topology: 'ring', algorithm, rate: 1, model, modelConfig: model === 'mlp' && opts.hidden ? { hidden: opts.hidden } : undefined,
        dataset: 'mnist', batchSize: opts.batchSize ?? 128, epochs, optimizer: 'sgd', lr: 0.1 * Math.max(1, (128 * n) / 256), momentum: 0.9,
        weightDecay: 5e-4, schedule: 'multistep', clip: 1, seed: 1, slowdown: scenario === 'slow' ? slow : undefined,
      });
      const fast = s.perWorker.filter((w) => !(w.id in (scenario === 'slow' ? slow : {})));
      results.push({
        scenario, algorithm, steps: s.steps, seconds: +s.seconds.toFixed(2), stepsPerSecond: +s.stepsPerSecond.toFixed(2),
        idleFraction: +s.idleFraction.toFixed(4),
        idleFractionFast: +(fast.reduce((a, w) => a + w.idleFraction, 0) / fast.length).toFixed(4),
        exchangesPerStep: +(s.perWorker.reduce((a, w) => a + w.exchanges, 0) / Math.max(1, s.steps)).toFixed(3),
        testAccuracy: s.testAccuracy, consensus: s.consensus,
        msPerStep: {
          compute: +(s.perWorker.reduce((a, w) => a + w.computeMs, 0) / n).toFixed(2),
          apply: +(s.perWorker.reduce((a, w) => a + w.applyMs, 0) / n).toFixed(2),
          exchange: +(s.perWorker.reduce((a, w) => a + w.exchangeMs, 0) / n).toFixed(2),
        },
      });
      opts.log?.(JSON.stringify(results[results.length - 1]));
    }
  }
  return { model, workers: n, topology: 'ring', rate: 1, epochs, batchSize: opts.batchSize ?? 128, slow, cpus: cpus().length, results };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const args = process.argv.slice(2);
  const value = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const json = args.includes('--json');
  const result = await runRuntimeBench({
    model: (value('model') as 'mlp' | 'cnn' | undefined) ?? 'mlp',
    workers: value('workers') ? Number(value('workers')) : undefined,
    epochs: value('epochs') ? Number(value('epochs')) : undefined,
    hidden: value('hidden') ? value('hidden')!.split(',').map(Number) : undefined,
    batchSize: value('batch-size') ? Number(value('batch-size')) : undefined,
    scenarios: value('scenarios')?.split(',') as RuntimeBenchOptions['scenarios'],
    algos: value('algos')?.split(',') as ClusterAlgorithm[] | undefined,
    log: json ? undefined : (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(json ? `${JSON.stringify({ bench: 'runtime', ...result })}\n` : `runtime: ${JSON.stringify(result, null, 2)}\n`);
}
