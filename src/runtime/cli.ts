/**
 * `gossamer train` with several workers: the options that only a cluster has, how a run's configuration is
 * resolved from the train command's flags, and the command's output (summary, JSON, where the metrics and the
 * plot are). The train command dispatches here when --workers > 1, when a cluster option is given, or when it is
 * run with no training flag at all (the embedded default: 8 worker threads on a ring, A2CiD2, MLP on MNIST).
 */
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { UsageError } from '../core/errors.js';
import { TOPOLOGIES } from '../graph/topology.js';
import type { BackendChoice } from '../engine/backends/index.js';
import type { ModelName } from '../engine/models/index.js';
import { CLUSTER_ALGORITHMS, runCluster, type ClusterAlgorithm, type ClusterConfig, type ClusterSummary } from './cluster.js';
import { emulatesLinks, parseBandwidth, readLinkTable, type LinkSpec, type LinkTable } from './emulator.js';

/** The embedded default run (`gossamer train` with no flags). */
export const CLUSTER_DEFAULTS = {
  workers: 8,
  topology: 'ring',
  algorithm: 'acid' as ClusterAlgorithm,
  rate: 1,
  model: 'mlp' as ModelName,
  dataset: 'mnist' as const,
  epochs: 3,
  batchSize: 128,
};

/** Options that only make sense for a cluster. */
const CLUSTER_KEYS = ['topology', 'algo', 'rate', 'rateMode', 'exchange', 'pairing', 'latency', 'jitter', 'bandwidth', 'loss', 'links', 'slow', 'exchangeTimeout'] as const;
/** Options that do not change what is trained (output and machinery). */
const NEUTRAL_KEYS = new Set(['json', 'out', 'backend', 'seed', 'verbose', 'display', 'prompt', 'sampleLength', 'temperature']);

function slowList(value: string): Record<number, number> {
  const out: Record<number, number> = {};
  for (const part of value.split(',')) {
    const m = /^\s*(\d+)\s*[:=]\s*([0-9.eE+]+)\s*$/.exec(part);
    if (!m || !(Number(m[2]) >= 1)) throw new InvalidArgumentError(`expected worker:factor pairs with factors ≥ 1, e.g. "3:3,6:3", got "${value}"`);
    out[Number(m[1])] = Number(m[2]);
  }
  return out;
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

function bandwidth(value: string): number {
  try {
    return parseBandwidth(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

function choice<T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got "${value}"`);
    return value as T;
  };
}

/** Adds the cluster options to the train command. */
export function addClusterOptions(cmd: Command): Command {
  return cmd
    .option('--topology <name>', `cluster: graph of the workers, ${TOPOLOGIES.join(', ')} (default ring)`, choice(TOPOLOGIES))
    .option('--algo <name>', `cluster: ${CLUSTER_ALGORITHMS.join(', ')} (default acid: A2CiD2; gossip: without its momentum; allreduce: synchronous)`, choice(CLUSTER_ALGORITHMS))
    .option('--rate <r>', 'cluster: expected pairwise exchanges per worker per local step (default 1)', nonNegative)
    .option('--rate-mode <mode>', 'cluster: poisson (default) or exact numbers of exchanges per step', choice(['poisson', 'exact'] as const))
    .option('--exchange <rule>', 'cluster, acid: ideal (default) or official exchange rule', choice(['ideal', 'official'] as const))
    .option('--pairing <how>', 'cluster: decentralized (default: neighbours pair without a coordinator) or fifo (the authors\' central orchestrator)', choice(['decentralized', 'fifo'] as const))
    .option('--latency <ms>', 'cluster: emulated one-way link latency, ms', nonNegative)
    .option('--jitter <ms>', 'cluster: emulated latency jitter (uniform ±), ms', nonNegative)
    .option('--bandwidth <rate>', 'cluster: emulated link bandwidth, e.g. 100Mbit or 12.5MB (per second)', bandwidth)
    .option('--loss <p>', 'cluster: probability that one direction of an exchange is lost', probability)
    .option('--links <file>', 'cluster: JSON link table with per-worker and per-edge links, e.g. {"default": {"latencyMs": 20}, "workers": {"3": {"bandwidth": "10Mbit"}}, "edges": {"0-1": {"loss": 0.1}}}')
    .option('--slow <list>', 'cluster: compute slow-down factors, e.g. "3:3,6:3" makes workers 3 and 6 three times slower', slowList)
    .option('--exchange-timeout <ms>', 'cluster: give up an exchange after this long (default 2000)', nonNegative)
    .option('--no-display', 'cluster: no live per-worker display on the terminal');
}

/** The train command's flags that matter here (commander's camel-cased names). */
export interface ClusterFlags {
  workers?: number;
  model?: ModelName;
  dataset?: string;
  epochs?: number;
  steps?: number;
  batchSize?: number;
  optimizer?: 'sgd' | 'adamw';
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  schedule?: 'constant' | 'cosine' | 'step';
  warmup?: number;
  clip?: number;
  seed?: number;
  backend?: BackendChoice;
  out?: string;
  limit?: number;
  evalLimit?: number;
  logEvery?: number;
  modelConfig?: Record<string, unknown>;
  json?: boolean;
  resume?: string;
  topology?: string;
  algo?: ClusterAlgorithm;
  rate?: number;
  rateMode?: 'poisson' | 'exact';
  exchange?: 'ideal' | 'official';
  pairing?: 'decentralized' | 'fifo';
  latency?: number;
  jitter?: number;
  bandwidth?: number;
  loss?: number;
  links?: string;
  slow?: Record<number, number>;
  exchangeTimeout?: number;
  display?: boolean;
}

/**
 * Whether a train invocation is a cluster run: more than one worker, a cluster option, or no training flag at all
 * (the embedded default). `explicit` lists the options given on the command line.
 */
export function isClusterRun(flags: ClusterFlags, explicit: readonly string[]): boolean {
  if (explicit.includes('workers')) return (flags.workers ?? 1) > 1;
  if (CLUSTER_KEYS.some((k) => explicit.includes(k))) return true;
  return explicit.every((k) => NEUTRAL_KEYS.has(k));
}

/** The options given on the command line (not defaults), by attribute name. */
export function explicitOptions(cmd: Command): string[] {
  return cmd.options.map((o) => o.attributeName()).filter((name) => cmd.getOptionValueSource(name) === 'cli');
}

/** Resolves a cluster configuration from the train command's flags. */
export function clusterConfig(flags: ClusterFlags, explicit: readonly string[]): ClusterConfig {
  if (flags.resume !== undefined) throw new UsageError('--resume is for one worker; a cluster run saves its averaged model, which a one-worker run can resume');
  const given = (k: string) => explicit.includes(k);
  const workers = given('workers') ? flags.workers! : CLUSTER_DEFAULTS.workers;
  const model = flags.model ?? CLUSTER_DEFAULTS.model;
  if (model === 'transformer') throw new UsageError('a cluster trains image classifiers (mlp, cnn, resnet20); the transformer needs one worker for now');
  const dataset = flags.dataset ?? (model === 'resnet20' ? 'synthetic' : CLUSTER_DEFAULTS.dataset);
  if (dataset !== 'mnist' && dataset !== 'synthetic') throw new UsageError(`a cluster trains on mnist or synthetic images, not ${dataset}`);
  const batchSize = flags.batchSize ?? CLUSTER_DEFAULTS.batchSize;
  const optimizer = flags.optimizer ?? 'sgd';
  // The authors' recipe: lr0 · (B·n / 256) after a linear warm-up, ×0.1 at 50% and 75% of the budget, momentum 0.9,
  // weight decay 5e-4 (not on biases and norms), gradient clipping at 1. lr0 = 0.1 for SGD.
  const lr = flags.lr ?? (optimizer === 'sgd' ? 0.1 * Math.max(1, (batchSize * workers) / 256) : 1e-3);
  // Links: the file's table, whose default the link flags override.
  const table: LinkTable = flags.links !== undefined ? readLinkTable(flags.links) : {};
  const link: LinkSpec = { ...table.default };
  if (flags.latency !== undefined) link.latencyMs = flags.latency;
  if (flags.jitter !== undefined) link.jitterMs = flags.jitter;
  if (flags.bandwidth !== undefined) link.bandwidth = flags.bandwidth;
  if (flags.loss !== undefined) link.loss = flags.loss;
  const links: LinkTable = { ...table, default: link };
  const emulated = emulatesLinks(links);
  const algorithm = flags.algo ?? CLUSTER_DEFAULTS.algorithm;
  const epochs = flags.steps === undefined ? (flags.epochs ?? CLUSTER_DEFAULTS.epochs) : undefined;
  return {
    workers, topology: flags.topology ?? CLUSTER_DEFAULTS.topology, algorithm, rate: flags.rate ?? CLUSTER_DEFAULTS.rate,
    rateMode: flags.rateMode, exchange: flags.exchange, model, modelConfig: flags.modelConfig, dataset, limit: flags.limit,
    evalLimit: flags.evalLimit, batchSize, epochs, steps: flags.steps, optimizer, lr,
    momentum: flags.momentum ?? (optimizer === 'sgd' ? 0.9 : 0), weightDecay: flags.weightDecay ?? (optimizer === 'sgd' ? 5e-4 : 0.01),
    schedule: flags.schedule ?? 'multistep', warmup: flags.warmup,
    clip: flags.clip === undefined ? 1 : flags.clip > 0 ? flags.clip : null, seed: flags.seed ?? 1, backend: flags.backend,
    links: emulated ? links : undefined, slowdown: flags.slow, timeoutMs: flags.exchangeTimeout, pairing: flags.pairing,
    metricsEvery: flags.logEvery, display: flags.display !== false && !flags.json,
  };
}

const fmt = (v: number, digits = 4) => (Number.isInteger(v) ? String(v) : v.toPrecision(digits));

/** Runs a cluster from the train command's flags and prints its summary; returns the process exit code. */
export async function runClusterCommand(flags: ClusterFlags, explicit: readonly string[]): Promise<number> {
  const config = clusterConfig(flags, explicit);
  const out = resolve(flags.out ?? join('runs', `cluster-${config.algorithm}-${config.topology}${config.workers}-${config.model}-s${config.seed}`));
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
  try {
    summary = await runCluster({
      ...config, out, signal: controller.signal,
      log: (line) => {
        logs.push(line);
        if (!flags.json && !config.display) process.stderr.write(`${line}\n`);
      },
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (summary.diverged) {
    throw new UsageError(`training diverged (${logs.find((l) => l.includes('diverged')) ?? 'non-finite loss'}); try a lower --lr or --clip`);
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    const s = summary;
    const lines = [
      `${s.algorithm} on a ${s.topology} of ${s.workers} workers, rate ${s.rate}: ${s.model} on ${s.dataset} (${s.params} parameters, ${s.backend} backend)`,
      `steps            ${s.steps} of ${s.budget} (${fmt(s.epochs, 3)} epochs) in ${fmt(s.seconds, 3)} s, ${fmt(s.stepsPerSecond, 3)} steps/s`,
      `exchanges        ${s.exchanges}`,
      `idle             ${(100 * s.idleFraction).toFixed(1)}% of the compute loops' time waiting for communication`,
      `consensus        ${s.consensus.toExponential(3)} (mean squared distance to the average, before the final averaging)`,
      `test accuracy    ${(100 * s.testAccuracy).toFixed(2)}% (the global average of the final parameters; test loss ${fmt(s.testLoss)})`,
    ];
    if (s.killed.length > 0) lines.push(`lost workers     ${s.killed.join(', ')}`);
    lines.push(`metrics          ${s.metrics}`);
    if (s.plot) lines.push(`plot             ${s.plot}`);
    lines.push(`checkpoint       ${s.checkpoint} (the averaged model)`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  if (summary.interrupted) {
    process.stderr.write(`gossamer: interrupted after ${summary.steps} of ${summary.budget} steps; the averaged model is in ${summary.checkpoint}\n`);
    return 130;
  }
  return 0;
}
