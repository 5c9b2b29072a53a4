/**
 * `gossamer train` with several workers: the options that only a cluster has, how a run's configuration is
 * resolved from the train command's flags, and the command's output (summary, JSON, where the metrics and the
 * plot are). The train command dispatches here when --workers > 1, when a cluster option is given, or when it is
 * run with no training flag at all (the embedded default: 8 worker threads on a ring, A2CiD2, MLP on MNIST).
 */
import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { UsageError } from '../core/errors.js';
import { CLUSTER_DEFAULTS, recipe } from '../config/recipe.js';
import { TOPOLOGIES } from '../graph/topology.js';
import type { BackendChoice } from '../engine/backends/index.js';
import { readCheckpoint } from '../engine/checkpoint.js';
import { checkModelData, DATASETS, DEFAULT_SEQ, type DatasetName } from '../engine/training/data.js';
import { optimizerConfigOf } from '../engine/optim/index.js';
import { runCluster } from '../runtime/cluster.js';
import { CLUSTER_ALGORITHMS, isClusterRunRecord, readClusterCheckpoint, type ClusterAlgorithm, type ClusterConfig, type ClusterSummary, type SavedClusterRun } from '../runtime/cluster-config.js';
import { clusterDisplay } from './cluster-display.js';
import { algorithmText, recipeLine } from './recipe-line.js';
import { RunDir } from './run-dir.js';
import { addCodecOptions, addDilocoOptions, addShardOptimizerOption, addShardOptions, withOuterRecipe, dataSplit, oneOf, optionName, type DilocoFlags, type TrainingFlags } from './options.js';
import { emulatesLinks, parseBandwidth, readLinkTable, type LinkSpec, type LinkTable } from '../runtime/emulator.js';
import type { AdversaryKind } from '../runtime/adversary.js';
import type { Codec } from '../core/codecs.js';
import { AGGREGATES, type Aggregate } from '../runtime/aggregate.js';
import { adversaryList } from './adversary-option.js';
import { boundsLines } from './bounds-summary.js';
import { startDashboard } from './dashboard-option.js';
import { makeTopology } from '../graph/topology.js';

/** Options that only make sense for a cluster. */
const CLUSTER_KEYS = ['topology', 'algo', 'rate', 'shard', 'alpha', 'rateMode', 'exchange', 'innerSteps', 'outerLr', 'outerMomentum', 'outerOptimizer', 'outerBraking', 'dynamicH', 'eager', 'fragments', 'overlap', 'mix', 'delayWarmup', 'pairing', 'codec', 'errorFeedback', 'latency', 'jitter', 'bandwidth', 'loss', 'links', 'slow', 'kill', 'rejoin', 'exchangeTimeout', 'adversary', 'bounds', 'aggregate', 'shardOptimizer'] as const;
/** Options of one worker that a cluster does not honour. */
const ONE_WORKER_KEYS = ['evalEvery', 'checkpointEvery', 'prompt', 'sampleLength', 'temperature'] as const;

function slowList(value: string): Record<number, number> {
  const out: Record<number, number> = {};
  for (const part of value.split(',')) {
    const m = /^\s*(\d+)\s*[:=]\s*([0-9.eE+]+)\s*$/.exec(part);
    if (!m || !(Number(m[2]) >= 1)) throw new InvalidArgumentError(`expected worker:factor pairs with factors ≥ 1, e.g. "3:3,6:3", got "${value}"`);
    out[Number(m[1])] = Number(m[2]);
  }
  return out;
}

function killList(value: string): Array<{ worker: number; atStep: number }> {
  return value.split(',').map((part) => {
    const m = /^\s*(\d+)\s*@\s*(\d+)\s*$/.exec(part);
    if (!m) throw new InvalidArgumentError(`expected worker@step pairs, e.g. "3@2000,5@4000", got "${value}"`);
    return { worker: Number(m[1]), atStep: Number(m[2]) };
  });
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative number, got "${value}"`);
  return n;
}

function probability(value: string): number {
  const n = nonNegative(value);
  if (n > 1) throw new InvalidArgumentError(`expected a probability in [0, 1], got "${value}"`);
  return n;
}

/** Commander parser of a bandwidth such as 100Mbit or 12.5MB (per second). */
export function bandwidth(value: string): number {
  try {
    return parseBandwidth(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

/** Adds the cluster options to the train command. */
export function addClusterOptions(cmd: Command): Command {
  cmd
    .option('--topology <name>', `cluster: graph of the workers, ${TOPOLOGIES.join(', ')} (default ring)`, oneOf(TOPOLOGIES))
    .option('--algo <name>', `cluster: ${CLUSTER_ALGORITHMS.join(', ')} (default acid: A2CiD2; gossip: without its momentum; allreduce: synchronous)`, oneOf(CLUSTER_ALGORITHMS))
    .option('--rate <r>', 'cluster: expected pairwise exchanges per worker per local step (default 1)', nonNegative)
    .option('--rate-mode <mode>', 'cluster: poisson (default) or exact numbers of exchanges per step', oneOf(['poisson', 'exact'] as const))
    .option('--exchange <rule>', 'cluster, acid: ideal (default) or official exchange rule', oneOf(['ideal', 'official'] as const))
    .option('--aggregate <rule>', `cluster, collectives: how the contributions are combined, ${AGGREGATES.join(', ')} (default mean)`, oneOf(AGGREGATES));
  addDilocoOptions(cmd, 'cluster, ', 'recipe');
  addShardOptions(cmd, 'cluster');
  addCodecOptions(cmd, 'cluster');
  addShardOptimizerOption(cmd, 'cluster, ', ' or --kill; --clip clips each micro-batch, as without it');
  return cmd
    .option('--pairing <how>', 'cluster: decentralized (default: neighbours pair without a coordinator) or fifo (the authors\' central orchestrator)', oneOf(['decentralized', 'fifo'] as const))
    .option('--latency <ms>', 'cluster: emulated one-way link latency, ms', nonNegative)
    .option('--jitter <ms>', 'cluster: emulated latency jitter (uniform ±), ms', nonNegative)
    .option('--bandwidth <rate>', 'cluster: emulated link bandwidth, e.g. 100Mbit or 12.5MB (per second)', bandwidth)
    .option('--loss <p>', 'cluster: probability that one direction of an exchange is lost', probability)
    .option('--links <file>', 'cluster: JSON link table with per-worker and per-edge links, e.g. {"default": {"latencyMs": 20}, "workers": {"3": {"bandwidth": "10Mbit"}}, "edges": {"0-1": {"loss": 0.1}}}')
    .option('--slow <list>', 'cluster: compute slow-down factors, e.g. "3:3,6:3" makes workers 3 and 6 three times slower', slowList)
    .option('--kill <list>', 'cluster: fault injection, e.g. "3@2000" kills worker 3 once all workers together have taken 2000 steps (the others train on without it)', killList)
    .option('--rejoin <list>', 'cluster: brings killed workers back, e.g. "3@4000": worker 3 restarts from a live neighbour\'s parameters and trains on (acid, gossip)', killList)
    .option('--exchange-timeout <ms>', 'cluster: give up an exchange after this long (default 2000)', nonNegative)
    .option('--adversary <list>', 'cluster: fault injection, e.g. "3:huge": worker 3 sends forged models instead of its own (huge, random, sign-flip, stale, nan); repeatable', adversaryList)
    .option('--no-bounds', 'cluster: apply neighbours\' messages unchecked (to measure what the bounds on exchanges prevent)')
    .option('--no-display', 'cluster: no live per-worker display on the terminal');
}

/** The train command's flags that matter here (commander's camel-cased names). */
export interface ClusterFlags extends TrainingFlags, Omit<DilocoFlags, 'algo'> {
  workers?: number;
  init?: string;
  epochs?: number;
  minLr?: number;
  lrStepSize?: number;
  lrGamma?: number;
  backend?: BackendChoice;
  logEvery?: number;
  topology?: string;
  algo?: ClusterAlgorithm;
  rate?: number;
  rateMode?: 'poisson' | 'exact';
  exchange?: 'ideal' | 'official';
  aggregate?: Aggregate;
  pairing?: 'decentralized' | 'fifo';
  codec?: Codec;
  errorFeedback?: boolean;
  shardOptimizer?: boolean;
  latency?: number;
  jitter?: number;
  bandwidth?: number;
  loss?: number;
  links?: string;
  slow?: Record<number, number>;
  kill?: Array<{ worker: number; atStep: number }>;
  rejoin?: Array<{ worker: number; atStep: number }>;
  exchangeTimeout?: number;
  display?: boolean;
  dashboard?: number | boolean;
  adversary?: Record<number, AdversaryKind>;
  bounds?: boolean;
}

/**
 * Whether a train invocation is a cluster run: always, but with --workers 1 (the number of workers does not depend
 * on the other flags). `explicit` lists the options given on the command line.
 */
export function isClusterRun(flags: ClusterFlags, explicit: readonly string[]): boolean {
  if (!explicit.includes('workers') || (flags.workers ?? 1) > 1) return true;
  const given = CLUSTER_KEYS.find((k) => explicit.includes(k));
  if (given) throw new UsageError(`${optionName(given)} applies to a cluster, not to one worker (--workers 1)`);
  return false;
}

/** The options given on the command line (not defaults), by attribute name. */
export function explicitOptions(cmd: Command): string[] {
  return cmd.options.map((o) => o.attributeName()).filter((name) => cmd.getOptionValueSource(name) === 'cli');
}

/** Whether a checkpoint was written by a cluster run (reading it: a missing or corrupt file is a UsageError). */
export function isClusterCheckpoint(file: string): boolean {
  return isClusterRunRecord(readCheckpoint(resolve(file)).run);
}

const LINK_KEYS = ['links', 'latency', 'jitter', 'bandwidth', 'loss'] as const;

/** The link-emulation flags of `gossamer train` and `gossamer peer`. */
export interface LinkFlags {
  links?: string;
  latency?: number;
  jitter?: number;
  bandwidth?: number;
  loss?: number;
}

/** The link table of the flags: the file's table, whose default the link flags override; undefined if nothing is emulated. */
export function linksOf(flags: LinkFlags): LinkTable | undefined {
  const table: LinkTable = flags.links !== undefined ? readLinkTable(flags.links) : {};
  const link: LinkSpec = { ...table.default };
  if (flags.latency !== undefined) link.latencyMs = flags.latency;
  if (flags.jitter !== undefined) link.jitterMs = flags.jitter;
  if (flags.bandwidth !== undefined) link.bandwidth = flags.bandwidth;
  if (flags.loss !== undefined) link.loss = flags.loss;
  const links: LinkTable = { ...table, default: link };
  return emulatesLinks(links) ? links : undefined;
}

/**
 * Flags that define what a cluster trains, with the field of the saved run they must equal on --resume, and the
 * value a missing field stands for.
 */
const RUN_FLAGS: Array<{ flag: keyof ClusterFlags; name: string; field: keyof SavedClusterRun; absent?: unknown; value?: (v: unknown) => unknown }> = [
  { flag: 'workers', name: 'workers', field: 'workers' },
  { flag: 'topology', name: 'topology', field: 'topology' },
  { flag: 'algo', name: 'algo', field: 'algorithm' },
  { flag: 'rate', name: 'rate', field: 'rate' },
  { flag: 'rateMode', name: 'rate-mode', field: 'rateMode', absent: 'poisson' },
  { flag: 'exchange', name: 'exchange', field: 'exchange', absent: 'ideal' },
  { flag: 'aggregate', name: 'aggregate', field: 'aggregate', absent: 'mean' },
  { flag: 'innerSteps', name: 'inner-steps', field: 'innerSteps' },
  { flag: 'outerLr', name: 'outer-lr', field: 'outerLr' },
  { flag: 'outerMomentum', name: 'outer-momentum', field: 'outerMomentum' },
  { flag: 'outerOptimizer', name: 'outer-optimizer', field: 'outerOptimizer' },
  { flag: 'eager', name: 'eager', field: 'eager', absent: false },
  { flag: 'fragments', name: 'fragments', field: 'fragments' },
  { flag: 'overlap', name: 'overlap', field: 'overlap' },
  { flag: 'mix', name: 'mix', field: 'mix' },
  { flag: 'delayWarmup', name: 'delay-warmup', field: 'delayWarmup' },
  { flag: 'outerBraking', name: 'outer-braking', field: 'outerBraking', absent: 0 },
  { flag: 'braking', name: 'braking', field: 'braking', absent: 0 },
  { flag: 'dynamicH', name: 'dynamic-h', field: 'dynamicH', absent: false },
  { flag: 'pairing', name: 'pairing', field: 'pairing', absent: 'decentralized' },
  { flag: 'codec', name: 'codec', field: 'codec', absent: 'f32' },
  { flag: 'errorFeedback', name: 'error-feedback', field: 'errorFeedback', absent: false },
  { flag: 'shardOptimizer', name: 'shard-optimizer', field: 'shardOptimizer', absent: false },
  { flag: 'model', name: 'model', field: 'model' },
  { flag: 'modelConfig', name: 'model-config', field: 'modelConfig' },
  { flag: 'dataset', name: 'dataset', field: 'dataset' },
  // Runs from before --shard trained every worker on the whole set.
  { flag: 'shard', name: 'shard', field: 'shard', absent: 'full' },
  { flag: 'alpha', name: 'alpha', field: 'alpha' },
  { flag: 'seq', name: 'seq', field: 'seq', absent: DEFAULT_SEQ },
  { flag: 'limit', name: 'limit', field: 'limit' },
  { flag: 'batchSize', name: 'batch-size', field: 'batchSize' },
  { flag: 'optimizer', name: 'optimizer', field: 'optimizer' },
  { flag: 'lr', name: 'lr', field: 'lr' },
  { flag: 'momentum', name: 'momentum', field: 'momentum' },
  { flag: 'weightDecay', name: 'weight-decay', field: 'weightDecay' },
  { flag: 'nesterov', name: 'nesterov', field: 'nesterov', absent: false },
  { flag: 'decayAll', name: 'decay-all', field: 'decayAll', absent: false },
  { flag: 'braking', name: 'braking', field: 'braking', absent: 0 },
  { flag: 'schedule', name: 'schedule', field: 'schedule' },
  { flag: 'warmup', name: 'warmup', field: 'warmup' },
  { flag: 'minLr', name: 'min-lr', field: 'minLr' },
  { flag: 'lrStepSize', name: 'lr-step-size', field: 'stepSize' },
  { flag: 'lrGamma', name: 'lr-gamma', field: 'gamma' },
  { flag: 'clip', name: 'clip', field: 'clip', value: (v) => ((v as number) > 0 ? v : null) },
  { flag: 'seed', name: 'seed', field: 'seed' },
];

/** The cluster configuration's fields whose flag is spelled otherwise, for the runtime's errors (inFlagTerms). */
export const CLUSTER_FLAG_NAMES: Readonly<Record<string, string>> = {
  ...Object.fromEntries(RUN_FLAGS.filter((f) => f.flag !== f.field).map((f) => [f.field, f.flag])),
  slowdown: 'slow', timeoutMs: 'exchangeTimeout', metricsEvery: 'logEvery',
};

const show = (v: unknown) => (v === undefined ? '(default)' : typeof v === 'string' ? v : JSON.stringify(v));

/** A cluster checkpoint's run; one of a single worker is refused with what to do instead. */
function clusterCheckpoint(file: string): ReturnType<typeof readClusterCheckpoint> {
  try {
    return readClusterCheckpoint(file);
  } catch (err) {
    if (err instanceof UsageError && err.field === 'workers') throw new UsageError(`${err.message}; resume it without --workers or cluster options`);
    throw err;
  }
}

/**
 * The configuration of a resumed cluster run: the checkpoint's run, with the budget (--steps, --epochs), the
 * emulation (links, slow-downs, timeout), the metrics settings and the machinery taken from the flags when given.
 * A flag that would change what is trained (workers, graph, algorithm, model, data, optimizer, schedule, seed) must
 * agree with the checkpoint; otherwise a UsageError.
 */
function resumedClusterConfig(flags: ClusterFlags, explicit: readonly string[], file: string): ClusterConfig {
  const { run, resume } = clusterCheckpoint(file);
  const given = (k: string) => explicit.includes(k);
  if (given('init')) throw new UsageError('--init starts a run from given weights; --resume continues one from its checkpoint');
  for (const f of RUN_FLAGS) {
    if (!given(f.flag)) continue;
    const value = f.value ? f.value(flags[f.flag]) : flags[f.flag];
    const saved = run[f.field] ?? f.absent;
    if (JSON.stringify(value) !== JSON.stringify(saved)) {
      throw new UsageError(`checkpoint ${resume.file} was written by a run with --${f.name} ${show(saved)}; it cannot continue with --${f.name} ${show(value)}`);
    }
  }
  if (!isDataset(run.dataset)) throw new UsageError(`checkpoint ${resume.file}: its run trained on ${run.dataset}, which the command line cannot load (${DATASETS.join(', ')})`);
  if (given('steps') && given('epochs')) throw new UsageError('give either --steps or --epochs, not both');
  const budget = given('steps') ? { steps: flags.steps, epochs: undefined } : given('epochs') ? { steps: undefined, epochs: flags.epochs } : { steps: run.steps, epochs: run.epochs };
  const links = LINK_KEYS.some((k) => given(k)) ? linksOf(flags) : (run.links as LinkTable | undefined);
  return {
    workers: run.workers, topology: run.topology, algorithm: run.algorithm, rate: run.rate, rateMode: run.rateMode, exchange: run.exchange,
    aggregate: run.aggregate, innerSteps: run.innerSteps, outerLr: run.outerLr, outerMomentum: run.outerMomentum, outerOptimizer: run.outerOptimizer,
    outerBraking: run.outerBraking, dynamicH: run.dynamicH, eager: run.eager, fragments: run.fragments, overlap: run.overlap, mix: run.mix, delayWarmup: run.delayWarmup,
    shardOptimizer: run.shardOptimizer,
    model: run.model, modelConfig: run.modelConfig, dataset: run.dataset, shard: run.shard, alpha: run.alpha, seq: run.seq, limit: run.limit ?? undefined, evalLimit: flags.evalLimit ?? run.evalLimit ?? undefined,
    batchSize: run.batchSize, ...budget, optimizer: run.optimizer, lr: run.lr, momentum: run.momentum, weightDecay: run.weightDecay,
    nesterov: run.nesterov, decayAll: run.decayAll, braking: run.braking,
    schedule: run.schedule, warmup: run.warmup, milestones: run.milestones, minLr: run.minLr, stepSize: run.stepSize ?? undefined, gamma: run.gamma, clip: run.clip, seed: run.seed, backend: flags.backend,
    links, slowdown: flags.slow ?? run.slowdown, timeoutMs: flags.exchangeTimeout ?? run.timeoutMs, pairing: run.pairing, codec: run.codec, errorFeedback: run.errorFeedback, kill: flags.kill, rejoin: flags.rejoin,
    adversary: flags.adversary, bounds: flags.bounds,
    metricsEvery: flags.logEvery ?? run.metricsEvery, metricsEverySeconds: run.metricsEverySeconds,
    resume,
  };
}

const isDataset = (name: string): name is DatasetName => (DATASETS as readonly string[]).includes(name);

/** Resolves a cluster configuration from the train command's flags (with --resume: from the checkpoint's run). */
export function clusterConfig(flags: ClusterFlags, explicit: readonly string[]): ClusterConfig {
  const alone = ONE_WORKER_KEYS.find((k) => explicit.includes(k));
  if (alone) throw new UsageError(`${optionName(alone)} applies to one worker: add --workers 1 (a cluster does not honour it)`);
  const given = (k: string) => explicit.includes(k);
  if (given('epochs') && given('steps')) throw new UsageError('give either --epochs or --steps, not both');
  const workers = given('workers') ? flags.workers! : CLUSTER_DEFAULTS.workers;
  const model = flags.model ?? 'mlp';
  const r = recipe(model, workers, { optimizer: flags.optimizer, batchSize: flags.batchSize });
  const schedule = flags.schedule ?? r.schedule;
  if (flags.minLr !== undefined && schedule !== 'cosine') throw new UsageError('--min-lr applies to --schedule cosine');
  if (flags.lrStepSize !== undefined && schedule !== 'step') throw new UsageError('--lr-step-size applies to --schedule step');
  if (flags.lrGamma !== undefined && schedule !== 'step' && schedule !== 'multistep') throw new UsageError(`--lr-gamma applies to the step schedules, not to --schedule ${schedule}`);
  if (flags.resume !== undefined) return resumedClusterConfig(flags, explicit, flags.resume);
  const dataset = (flags.dataset ?? r.dataset) as DatasetName;
  checkModelData(model, dataset);
  const epochs = flags.steps === undefined ? (flags.epochs ?? ('epochs' in r.budget ? r.budget.epochs : undefined)) : undefined;
  const algorithm = flags.algo ?? CLUSTER_DEFAULTS.algorithm;
  const outer = withOuterRecipe({ ...flags, algo: algorithm }, r.outer);
  return {
    workers, topology: flags.topology ?? CLUSTER_DEFAULTS.topology, algorithm, rate: flags.rate ?? CLUSTER_DEFAULTS.rate,
    rateMode: flags.rateMode, exchange: flags.exchange, aggregate: flags.aggregate, innerSteps: outer.innerSteps, outerLr: outer.outerLr, outerMomentum: outer.outerMomentum, outerOptimizer: flags.outerOptimizer,
    outerBraking: flags.outerBraking, dynamicH: flags.dynamicH, eager: flags.eager, fragments: flags.fragments, overlap: flags.overlap, mix: flags.mix, delayWarmup: flags.delayWarmup,
    shardOptimizer: flags.shardOptimizer,
    model, modelConfig: flags.modelConfig, dataset, ...dataSplit(flags), seq: flags.seq, limit: flags.limit,
    evalLimit: flags.evalLimit, batchSize: r.batchSize, epochs, steps: flags.steps, optimizer: r.optimizer, lr: flags.lr ?? r.lr,
    momentum: flags.momentum ?? r.momentum, weightDecay: flags.weightDecay ?? r.weightDecay,
    nesterov: flags.nesterov, decayAll: flags.decayAll, braking: flags.braking,
    schedule, warmup: flags.warmup, minLr: flags.minLr, stepSize: flags.lrStepSize, gamma: flags.lrGamma,
    clip: flags.clip === undefined ? r.clip : flags.clip > 0 ? flags.clip : null, seed: flags.seed ?? 1, backend: flags.backend,
    init: flags.init, links: linksOf(flags), slowdown: flags.slow, timeoutMs: flags.exchangeTimeout, pairing: flags.pairing, codec: flags.codec, errorFeedback: flags.errorFeedback, kill: flags.kill, rejoin: flags.rejoin,
    adversary: flags.adversary, bounds: flags.bounds,
    metricsEvery: flags.logEvery,
  };
}

const fmt = (v: number, digits = 4) => (Number.isInteger(v) ? String(v) : v.toPrecision(digits));

/** Runs a cluster from the train command's flags and prints its summary; returns the process exit code. */
export async function runClusterCommand(flags: ClusterFlags, explicit: readonly string[]): Promise<number> {
  const config = clusterConfig(flags, explicit);
  optimizerConfigOf(config); // inconsistent optimizer flags are reported before anything loads
  // A resumed run continues in its checkpoint's directory unless told otherwise.
  const { resume, ...settings } = config;
  const runConfig = { ...settings, ...(resume ? { resume: resume.file } : {}) };
  const runDir = RunDir.claim({
    command: 'train', out: flags.out, resumes: resume ? dirname(resume.file) : undefined, name: `cluster-${config.algorithm}-${config.topology}${config.workers}-${config.model}`,
    config: runConfig, overwrite: flags.overwrite,
  });
  const out = runDir.path;
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(130);
    process.stderr.write('\ngossamer: stopping the workers (Ctrl-C again to leave at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const logs: string[] = [];
  let summary: ClusterSummary;
  // The live display (drawn on a terminal only); without it, the run's log lines go to stderr.
  const display = flags.display !== false && !flags.json;
  // The live page: the graph's edges, the rows the metrics file gets, the workers' counts the display gets.
  const dashboard = await startDashboard(flags.dashboard, {
    name: basename(out), kind: 'cluster', workers: config.workers, edges: makeTopology(config.topology, config.workers, { seed: config.seed }).edges,
    description: `${config.algorithm} on a ${config.topology} of ${config.workers} workers, ${config.model} on ${config.dataset}`,
  }, flags.json === true);
  let status = 'failed';
  try {
    summary = await runCluster({
      ...config, out, signal: controller.signal, logFormats: flags.logFormat,
      onRow: dashboard ? (row) => dashboard.row(row) : undefined,
      // The threads are ready: the run begins.
      progress: (shape) => {
        runDir.begin();
        if (!flags.json) process.stdout.write(`${recipeLine(config as ClusterConfig & { dataset: DatasetName }, { workers: config.workers, budget: `${shape.budget} steps in all (${shape.perWorker} per worker)`, algorithm: algorithmText(config.algorithm, config.topology, config) })}\n`);
        const shown = display ? clusterDisplay(shape) : { update() {}, stop() {} };
        return dashboard ? { update: (workers, total) => { shown.update(workers, total); dashboard.workers(workers); }, stop: () => shown.stop() } : shown;
      },
      log: (line) => {
        logs.push(line);
        if (!flags.json && !display) process.stderr.write(`${line}\n`);
      },
    });
    status = summary.interrupted ? 'interrupted' : summary.diverged ? 'diverged' : 'finished';
  } finally {
    process.off('SIGINT', onSigint);
    await dashboard?.close(status);
  }
  runDir.close(summary.interrupted ? 'interrupted' : summary.diverged ? 'failed' : 'finished', { ...summary, config: runConfig });
  if (summary.diverged) {
    const reason = logs.find((l) => /diverged|ruined/.test(l)) ?? 'non-finite loss';
    // A model ruined by what a neighbour sent calls for the bounds, one ruined by its own steps for a gentler step.
    const hint = /ruined after an exchange|ruined after a collective/.test(reason)
      ? (flags.bounds === false ? 'drop --no-bounds to refuse such messages' : 'a neighbour sent a model the bounds did not catch')
      : 'try a lower --lr or --clip';
    throw new UsageError(`training diverged (${reason}); ${hint}`);
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ ...summary, config: runConfig })}\n`);
  } else {
    const s = summary;
    const lines = [
      `${s.algorithm} on a ${s.topology} of ${s.workers} workers, rate ${s.rate}: ${s.model} on ${s.dataset} (${s.params} parameters, ${s.backend} backend)`,
      `steps            ${s.steps} of ${s.budget} (${fmt(s.epochs, 3)} epochs)${s.resumedAtStep === null ? '' : `, resumed at ${s.resumedAtStep},`} in ${fmt(s.seconds, 3)} s, ${fmt(s.stepsPerSecond, 3)} steps/s`,
      ...(s.shard === 'full' ? [] : [`data             ${s.shard}${s.alpha === null ? '' : ` (α ${s.alpha})`} shards of ${Math.min(...s.perWorker.map((w) => w.examples))}–${Math.max(...s.perWorker.map((w) => w.examples))} examples per worker`]),
      `exchanges        ${s.exchanges}`,
      `idle             ${(100 * s.idleFraction).toFixed(1)}% of the compute loops' time waiting for communication`,
      `consensus        ${s.consensus.toExponential(3)} (mean squared distance to the average, before the final averaging)`,
      `test accuracy    ${(100 * s.testAccuracy).toFixed(2)}% (the global average of the final parameters, on all ${s.testExamples} held-out examples; test loss ${fmt(s.testLoss)})`,
    ];
    if (s.server) {
      lines.push(`pushes           ${s.server.pushes} to the server (staleness ${fmt(s.server.meanStaleness, 3)} on average, ${s.server.maxStaleness} at most), held by worker ${s.server.holders.join(' then ')}`);
    }
    if (s.killed.length > 0) lines.push(`lost workers     ${s.killed.join(', ')}`);
    lines.push(...boundsLines(s.perWorker));
    lines.push(`metrics          ${s.metrics}`);
    if (s.plot) lines.push(`plot             ${s.plot}`);
    lines.push(`checkpoint       ${s.checkpoint} (the averaged model)`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  if (summary.interrupted) {
    process.stderr.write(`gossamer: interrupted after ${summary.steps} of ${summary.budget} steps; the averaged model is in ${summary.checkpoint} (continue with --resume ${summary.checkpoint})\n`);
    return 130;
  }
  return 0;
}
