import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ALGORITHMS, buildAlgorithm, type AlgorithmName } from '../algorithms/index.js';
import { OPTIMIZERS, SCHEDULES, type OptimizerName, type ScheduleName } from '../config/run.js';
import { makeSchedule } from '../engine/optim/schedule.js';
import { UsageError } from '../core/errors.js';
import { makeTopology, type Graph } from '../graph/topology.js';
import { makeObjective, problemNames } from '../objectives/index.js';
import { MetricsWriter, type LogFormat } from '../report/metrics.js';
import { writeRunPlot } from '../report/plot.js';
import { messageCodec, type Codec } from '../core/codecs.js';
import { parseGradientDelay, simulate, type ChurnEvent, type GradientDelay } from '../sim/simulator.js';
import { workerSpeeds } from '../sim/speeds.js';
import { checkShardable } from '../algorithms/shards.js';
import { addBrakingOption, addCodecOptions, addLogFormatOption, addShardOptimizerOption, addDilocoOptions, addShardOptions, dataSplit, dilocoSettings, integer, namingFlags, oneOf, real, realList } from './options.js';
import type { DilocoFlags } from './options.js';
import type { ShardMode } from '../data/shard.js';
import { progressBar } from './progress.js';
import { RunDir } from './run-dir.js';

/** The command's flags (commander's camel-cased names); the DiLoCo family's are DilocoFlags'. */
interface SimFlags extends Omit<DilocoFlags, 'algo'> {
  problem: string;
  algo: AlgorithmName;
  topology: string;
  workers: number;
  rate: number;
  time: number;
  seed: number;
  optimizer: OptimizerName;
  lr: number;
  momentum: number;
  nesterov?: boolean;
  weightDecay: number;
  decayAll?: boolean;
  clip?: number;
  braking?: number;
  shardOptimizer?: boolean;
  gradientDelay?: GradientDelay;
  schedule: ScheduleName;
  warmup: number;
  minLr?: number;
  lrStepSize?: number;
  lrGamma?: number;
  dim: number;
  noise: number;
  batchSize: number;
  shard?: ShardMode;
  alpha?: number;
  limit?: number;
  evalLimit?: number;
  speeds?: number[];
  speedDistribution?: string;
  stragglers: number;
  slowdown: number;
  gradients: boolean;
  init?: 'shared' | 'random';
  exchange: 'ideal' | 'official';
  latency?: number;
  bandwidth?: number;
  pacing: 'free' | 'quota';
  rounds?: 'lockstep' | 'events';
  codec: Codec;
  errorFeedback?: boolean;
  logFormat?: LogFormat[];
  churn?: ChurnEvent[];
  every?: number;
  eta?: number;
  alphaTilde?: number;
  p?: number;
  radius?: number;
  out?: string;
  overwrite?: boolean;
  plot: boolean;
  json?: boolean;
}

export function simCommand(): Command {
  const command: Command = new Command('sim')
    .summary('Simulate decentralized optimisation in virtual time, bit-for-bit reproducible.')
    .description(
      'Simulate asynchronous decentralized optimisation in virtual time (time unit: one expected local gradient step).\n' +
        'Deterministic: the same seed gives bit-identical metrics. Writes metrics.jsonl and metrics.svg to --out.',
    )
    .option('--problem <name>', `objective: ${problemNames().join(', ')}`, 'quadratic')
    .addOption(new Option('--algo <name>', 'algorithm').choices(ALGORITHMS).default('acid'))
    .option('--topology <name|file>', 'graph: complete, ring, path, star, torus, hypercube, exponential, exponential-official, erdos-renyi, geometric, or an edge-list file', 'ring')
    .option('--workers <n>', 'number of workers', integer(1, 1 << 20), 16)
    .option('--rate <r>', 'expected pairwise averagings per worker per gradient step', real({ positive: true }), 1)
    .option('--time <T>', 'virtual time to simulate', real({ positive: true }), 200)
    .option('--seed <s>', 'random seed', integer(0), 1)
    .option('--optimizer <kind>', 'local optimizer of every worker: sgd or adamw (adamw on neural problems)', oneOf(OPTIMIZERS), 'sgd')
    .option('--lr <lr>', 'local step size (the peak of the schedule)', real({ positive: true }), 0.05)
    .option('--momentum <m>', 'SGD momentum (heavy ball)', real({ min: 0, max: 0.999 }), 0)
    .option('--nesterov', 'SGD: Nesterov momentum (neural problems)')
    .option('--weight-decay <wd>', 'weight decay of the local optimizer', real({ min: 0 }), 0)
    .option('--decay-all', 'neural problems: weight decay on biases and norm parameters too (by default they are excluded)')
    .option('--clip <norm>', 'clip every gradient to this norm', real({ positive: true }));
  addBrakingOption(command)
    .option('--gradient-delay <D>', 'every gradient at the parameters of D local steps before (each worker keeps its last D parameter vectors): a number of steps, or uniform:a:b for a delay drawn per step (seeded) in a…b (default 0: none)', gradientDelay)
    .option('--schedule <kind>', "learning-rate schedule over each worker's own steps: constant, cosine (to --min-lr at --time steps), step or multistep (×gamma at 50% and 75% of --time)", oneOf(SCHEDULES), 'constant')
    .option('--warmup <steps>', 'linear warm-up steps', integer(0), 0)
    .option('--min-lr <lr>', 'final learning rate of the cosine schedule (default 0)', real({ min: 0 }))
    .option('--lr-step-size <steps>', 'step schedule: steps between decays (default a third of --time)', integer(1))
    .option('--lr-gamma <g>', 'step schedule: decay factor (default 0.1)', real({ positive: true }))
    .option('--dim <d>', 'dimension of convex problems', integer(1), 10)
    .option('--noise <sigma>', 'standard deviation of Gaussian gradient noise', real({ min: 0 }), 0)
    .option('--batch-size <b>', 'neural problems: mini-batch size', integer(1), 32)
    .option('--limit <n>', 'neural problems: use only the first n training examples', integer(1))
    .option('--eval-limit <n>', 'neural problems: test examples behind each metrics row (default 2000; they dominate the run time of short simulations)', integer(1))
    .option('--speeds <list>', 'gradient speeds of the workers, cycled (e.g. 1,1,0.5)', realList)
    .option('--speed-distribution <spec>', 'heterogeneous speeds: uniform:a:b or lognormal:sigma')
    .option('--stragglers <k>', 'make k (seeded) workers slower', integer(0), 0)
    .option('--slowdown <f>', 'slow-down factor of stragglers', real({ min: 1 }), 3)
    .option('--no-gradients', 'pure gossip: no gradient events (workers start at distinct random points)')
    .addOption(new Option('--init <mode>', 'starting points: shared or random (default: shared, random with --no-gradients)').choices(['shared', 'random']))
    .addOption(new Option('--exchange <variant>', "A2CiD2 exchange: 'ideal' (symmetric) or 'official' (peer sends x before its mixing step)").choices(['ideal', 'official']).default('ideal'))
    .option('--latency <t>', 'faithful mode: fixed duration of an exchange (time units)', real({ min: 0 }))
    .option('--bandwidth <floats>', 'faithful mode: floats moved per time unit', real({ positive: true }))
    .option('--churn <list>', 'workers leaving and coming back (free pacing), e.g. "3@100-200,5@50": worker 3 is away from time 100 to 200 (it returns from a live neighbour\'s x), worker 5 leaves at 50 for good', churnList)
    .option('--pacing <mode>', 'free: independent Poisson gradient and exchange clocks; quota: the runtime\'s rate control, a worker\'s next step waits for its quota of exchanges (acid, gossip)', oneOf(['free', 'quota'] as const), 'free')
    .option('--rounds <mode>', 'collectives that wait (allreduce, diloco, streaming-diloco without overlap): lockstep (default: rounds, every worker\'s steps in turn) or events (every worker on its own clock, as when collectives overlap; metrics rows at their times)', oneOf(['lockstep', 'events'] as const))
    .option('--every <dt>', 'metrics grid step in virtual time (default time/200)', real({ positive: true }));
  addShardOptions(command, 'neural problems');
  addCodecOptions(command, 'as on the wire (faithful mode: sized on the link)', 'f32');
  addLogFormatOption(command);
  addShardOptimizerOption(command, '', ' or --clip, which clips the mean gradient');
  return addDilocoOptions(command, '')
    .option('--eta <eta>', 'override A2CiD2 η', real({ min: 0 }))
    .option('--alpha-tilde <a>', 'override A2CiD2 α̃', real({ min: 0 }))
    .option('--p <p>', 'edge probability for erdos-renyi', real({ min: 0, max: 1 }))
    .option('--radius <r>', 'connection radius for geometric', real({ positive: true }))
    .option('--out <dir>', 'output directory (default runs/sim-<algo>-<topology>-<n>-<hash of the configuration>); it receives run.json with the configuration, the status and the summary')
    .option('--overwrite', 'replace the run already in the output directory (otherwise refused)')
    .option('--no-plot', 'do not write the SVG plot')
    .option('--json', 'print a JSON summary on stdout and nothing else')
    .action(namingFlags(async (flags: SimFlags) => {
      const summary = await runSim(flags);
      if (summary.divergedAt !== null) process.stderr.write(`gossamer: the run diverged: its models were no longer finite at t = ${summary.divergedAt as number} (try a smaller --lr)\n`);
      if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else printSummary(summary);
    }, { distribution: 'speedDistribution' }));
}

async function runSim(flags: SimFlags): Promise<Record<string, unknown>> {
  const n = flags.workers;
  // A single worker is plain local training: a graph of one node and no edges.
  const graph = n === 1 ? ({ n: 1, name: 'single', neighbors: [[]], edges: [] } satisfies Graph) : makeTopology(flags.topology, n, { seed: flags.seed, p: flags.p, radius: flags.radius });
  const { out: given, overwrite, json: _json, plot: _plot, ...settings } = flags;
  const runDir = RunDir.claim({ command: 'sim', out: given, name: `sim-${flags.algo}-${graph.name}-${n}`, config: settings, overwrite });
  const out = runDir.path;
  const objective = await makeObjective(flags.problem, { workers: n, seed: flags.seed, dim: flags.dim, noise: flags.noise, batchSize: flags.batchSize, ...dataSplit(flags), limit: flags.limit, evalLimit: flags.evalLimit });
  const built = buildAlgorithm({
    name: flags.algo, graph, rate: flags.rate, dim: objective.dim, dtype: objective.dtype, backend: objective.backend,
    exchange: flags.exchange, eta: flags.eta, alphaTilde: flags.alphaTilde, ...dilocoSettings(flags), layout: objective.layout,
    smoothness: objective.smoothness, strongConvexity: objective.strongConvexity, shardOptimizer: flags.shardOptimizer,
  });
  if (flags.schedule !== 'step' && flags.lrStepSize !== undefined) throw new UsageError('--lr-step-size applies to --schedule step');
  if (flags.schedule !== 'step' && flags.schedule !== 'multistep' && flags.lrGamma !== undefined) throw new UsageError('--lr-gamma applies to the step schedules');
  if (flags.schedule !== 'cosine' && flags.minLr !== undefined) throw new UsageError('--min-lr applies to --schedule cosine');
  const totalSteps = Math.ceil(flags.time);
  const schedule = makeSchedule({
    kind: flags.schedule, lr: flags.lr, warmupSteps: flags.warmup, totalSteps, minLr: flags.minLr,
    stepSize: flags.lrStepSize ?? Math.max(1, Math.floor(totalSteps / 3)), gamma: flags.lrGamma,
  });
  const optimizer = {
    optimizer: flags.optimizer, lr: flags.lr, momentum: flags.momentum, nesterov: flags.nesterov, weightDecay: flags.weightDecay,
    decayAll: flags.decayAll, clip: flags.clip, braking: flags.braking,
  };
  if (flags.shardOptimizer) checkShardable(optimizer);
  const speeds = workerSpeeds(n, { list: flags.speeds, distribution: flags.speedDistribution, stragglers: flags.stragglers, slowdown: flags.slowdown, seed: flags.seed });
  if ((flags.latency === undefined) !== (flags.bandwidth === undefined)) throw new UsageError('faithful mode needs both --latency and --bandwidth');
  const link = flags.latency !== undefined && flags.bandwidth !== undefined ? { latency: flags.latency, bandwidth: flags.bandwidth } : undefined;

  runDir.begin();
  const writer = new MetricsWriter(join(out, 'metrics.jsonl'), { formats: flags.logFormat });
  const bar = progressBar(flags.time, 'sim', !flags.json);
  const { summary, rows } = simulate({
    objective, graph, built, optimizer, schedule, rate: flags.rate, time: flags.time, seed: flags.seed, speeds, link, pacing: flags.pacing, rounds: flags.rounds,
    codec: flags.codec === 'f32' ? undefined : messageCodec(flags.codec), errorFeedback: flags.errorFeedback, churn: flags.churn, gradientDelay: flags.gradientDelay,
    gradients: flags.gradients, init: flags.init ?? (flags.gradients ? 'shared' : 'random'),
    every: flags.every ?? flags.time / 200,
    onMetrics: (row) => writer.write(row),
    onProgress: (t) => bar.update(t),
  });
  bar.stop();
  await writer.close();
  let plot: string | null = null;
  if (flags.plot) {
    plot = join(out, 'metrics.svg');
    await writeRunPlot(plot, {
      name: `${summary.algorithm} ${graph.name} n=${n}`, kind: 'sim', rows,
      title: `${summary.algorithm} on ${objective.name}, ${graph.name}, n = ${n}, rate ${flags.rate}`,
    });
  }
  const last = rows[rows.length - 1];
  const result = { ...summary, ...(last.testAccuracy !== undefined ? { testAccuracy: last.testAccuracy } : {}), topology: graph.name, rate: flags.rate, codec: flags.codec, seed: flags.seed, ...built.info, metrics: writer.path, plot, config: settings };
  runDir.close('finished', result);
  return result;
}

function printSummary(s: Record<string, unknown>): void {
  const fmt = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(5)) : String(v));
  const keys = ['algorithm', 'problem', 'topology', 'workers', 'rate', 'codec', 'time', 'consensus', 'optimality', 'steadyOptimality', 'objective', 'testLoss', 'testAccuracy', 'gradients', 'communications', 'bytesSent', 'outerSteps', 'peakSyncBytes', 'skipped', 'events', 'eventsPerSecond', 'eta', 'alphaTilde', 'metrics', 'plot'];
  for (const k of keys) if (s[k] !== undefined && s[k] !== null) process.stdout.write(`${k.padEnd(18)} ${fmt(s[k])}\n`);
}

/** Commander parser of --gradient-delay: D or uniform:a:b. */
function gradientDelay(value: string): GradientDelay {
  try {
    return parseGradientDelay(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

/** Commander parser of --churn: worker@leave[-back], comma-separated. */
function churnList(value: string): ChurnEvent[] {
  return value.split(',').map((part) => {
    const m = /^\s*(\d+)\s*@\s*([0-9.eE+]+)\s*(?:-\s*([0-9.eE+]+))?\s*$/.exec(part);
    if (!m || !Number.isFinite(Number(m[2])) || (m[3] !== undefined && !Number.isFinite(Number(m[3])))) {
      throw new InvalidArgumentError(`expected worker@leave or worker@leave-back, e.g. "3@100-200,5@50", got "${value}"`);
    }
    return { worker: Number(m[1]), leave: Number(m[2]), ...(m[3] === undefined ? {} : { back: Number(m[3]) }) };
  });
}
