/**
 * A cluster run's configuration (what `gossamer train --workers N` resolves its flags into), its validation, its
 * summary, and the run record and progress that its checkpoints hold (readClusterCheckpoint reads them back for
 * `--resume`). runCluster (cluster.ts) runs it.
 */
import { resolve } from 'node:path';
import { CODECS } from '../core/codecs.js';
import { UsageError } from '../core/errors.js';
import type { ImageDataset } from '../data/dataset.js';
import type { ShardMode } from '../data/shard.js';
import type { BackendChoice } from '../engine/backends/index.js';
import { readCheckpoint, type Checkpoint } from '../engine/checkpoint.js';
import type { ModelName } from '../engine/models/index.js';
import type { OptimizerSettings } from '../engine/optim/index.js';
import type { DatasetName } from '../engine/training/data.js';
import { OUTER_OPTIMIZERS, type OuterOptimizer } from '../algorithms/diloco.js';
import { misappliedOption, scopeText } from '../algorithms/diloco-options.js';
import { COLLECTIVE_ALGORITHMS, SERVER_ALGORITHMS, SHARDED_ALGORITHMS } from '../algorithms/index.js';
import { checkShardable } from '../algorithms/shards.js';
import { streamingRules } from '../algorithms/streaming-diloco.js';
import { TOPOLOGIES } from '../graph/topology.js';
import type { MetricsRow } from '../report/metrics.js';
import { checkAdversaries, type AdversaryKind } from './adversary.js';
import { AGGREGATES, type Aggregate } from './aggregate.js';
import type { LinkTable } from './emulator.js';
import type { RunSchedule } from './schedule.js';
import type { MessageHeader } from './transport.js';
import { z } from 'zod';
import { parseRunRecord, TrainingRecord } from '../config/run.js';
import type { LogFormat } from '../report/metrics.js';

export const CLUSTER_ALGORITHMS = ['acid', 'gossip', 'allreduce', 'diloco', 'streaming-diloco', 'gossip-diloco', 'async-diloco', 'acco', 'dpu'] as const;
/** The algorithms whose workers meet in collectives (the others exchange pairwise). */
export type ClusterAlgorithm = (typeof CLUSTER_ALGORITHMS)[number];

/** A cluster run; the optimizer settings (optimizer, lr, momentum, ...) are those of the command line. */
export interface ClusterConfig extends OptimizerSettings {
  workers: number;
  topology: string;
  algorithm: ClusterAlgorithm;
  /** Expected exchanges per worker per local step (pairwise algorithms). */
  rate: number;
  rateMode?: 'poisson' | 'exact';
  /** How collectives combine the contributions (aggregate.ts; default the mean). */
  aggregate?: Aggregate;
  /** DiLoCo and Streaming DiLoCo (docs/algorithms.md §5): inner steps per round and the outer step (defaults: DILOCO_DEFAULTS). */
  innerSteps?: number;
  outerLr?: number;
  outerMomentum?: number;
  outerOptimizer?: OuterOptimizer;
  /** DiLoCo: eager outer steps, overlapping each round's all-reduce with the next round. */
  eager?: boolean;
  /** Streaming DiLoCo: fragments P, overlap τ, mixing factor α (defaults: STREAMING_DEFAULTS). */
  fragments?: number;
  overlap?: number;
  mix?: number;
  /** Adaptive Braking of the outer step (default 0: off). */
  outerBraking?: number;
  /** dpu: rounds that wait for their all-reduce before the updates are delayed (default DPU_DEFAULT_WARMUP). */
  delayWarmup?: number;
  /** async-diloco: Dynamic Local Updates (docs/algorithms.md §5.6). @default false */
  dynamicH?: boolean;
  /** acco, dpu: the optimizer's state sharded over the workers (ZeRO-1; docs/algorithms.md §6.3). @default false */
  shardOptimizer?: boolean;
  /** A2CiD2's exchange rule (docs/algorithms.md §2). */
  exchange?: 'ideal' | 'official';
  model: ModelName;
  modelConfig?: Record<string, unknown>;
  /** A data set by name, or image sets given directly (tests). */
  dataset: DatasetName | { train: ImageDataset; test: ImageDataset };
  /**
   * How the training set is split across the workers (data/shard.ts; the simulator's split for the same seed).
   * Absent (older checkpoints too): 'full', every worker on the whole set in its own order.
   */
  shard?: ShardMode;
  /** Concentration of the Dirichlet split (shard 'dirichlet'; default DEFAULT_ALPHA). */
  alpha?: number;
  /** Context length of the transformer (default 64). */
  seq?: number;
  /** Keep only the first n training examples. */
  limit?: number;
  /** Test examples used by the metrics rows during the run (the final evaluation uses the whole test set). */
  evalLimit?: number;
  batchSize: number;
  /** Budget: epochs of the training set over all workers together, or gradient steps of all workers together. */
  epochs?: number;
  steps?: number;
  schedule: RunSchedule['kind'];
  /** Linear warm-up, in expected local steps (default: 5% of them). */
  warmup?: number;
  milestones?: number[];
  /** cosine: the final rate (default 0). */
  minLr?: number;
  /** step: each worker's steps between decays (default a third of them). */
  stepSize?: number;
  /** step and multistep: the decay factor (default 0.1). */
  gamma?: number;
  clip: number | null;
  seed: number;
  backend?: BackendChoice;
  /** Starting weights of every worker, from a safetensors file (engine/init-weights.ts; not with resume). */
  init?: string;
  /** Link emulation: pairwise exchanges through the link emulator, all-reduce rounds as a ring all-reduce's time. */
  links?: LinkTable;
  /**
   * Codec of what crosses the links (pairwise messages, contributions to collectives and their means, pushes):
   * a lossy one rounds them as on the network (core/contribution.ts). @default 'f32'
   */
  codec?: MessageHeader['codec'];
  /** Contributions and pushes under a lossy codec carry what the rounding of the earlier ones dropped. @default false */
  errorFeedback?: boolean;
  /** Compute slow-down factor per worker (1: none). */
  slowdown?: Record<number, number>;
  /** Exchange timeout, ms. */
  timeoutMs?: number;
  /** How pairs form: 'decentralized' (default, coordinator-free) or 'fifo' (the authors' central orchestrator). */
  pairing?: 'decentralized' | 'fifo';
  /** Gradient steps (all workers) between metrics rows (default: a fortieth of the budget). */
  metricsEvery?: number;
  /** Also a metrics row every this many wall-clock seconds (default: none). */
  metricsEverySeconds?: number;
  /** Also write the metrics as CSV and/or TensorBoard events (report/metrics.ts). @default [] */
  logFormats?: readonly LogFormat[];
  /** Continue the run saved in a checkpoint (readClusterCheckpoint); the configuration must be the saved one. */
  resume?: ClusterResume;
  /** Directory for metrics.jsonl, metrics.svg and checkpoint.safetensors (none: nothing written). */
  out?: string;
  /** Live progress (e.g. a terminal display), started once the threads are ready. */
  progress?: (shape: { workers: number; perWorker: number; budget: number; testExamples: number }) => ClusterProgress;
  /** Stops the run cleanly (SIGINT). */
  signal?: AbortSignal;
  /** Kill these workers when all workers together have taken `atStep` steps (fault injection). */
  kill?: Array<{ worker: number; atStep: number }>;
  /** Bring killed workers back at these step counts (pairwise algorithms; fault injection). */
  rejoin?: Array<{ worker: number; atStep: number }>;
  /** Workers that send forged models instead of their own (fault injection). */
  adversary?: Record<number, AdversaryKind>;
  /** false: neighbours' messages are applied unchecked (default: bounded, exchange-guard.ts). */
  bounds?: boolean;
  onRow?: (row: MetricsRow) => void;
  log?: (line: string) => void;
}

export interface WorkerSummary {
  id: number;
  alive: boolean;
  steps: number;
  exchanges: number;
  idleFraction: number;
  msPerStep: number;
  /** Loss of its last training step. */
  trainLoss: number;
  timeouts: number;
  forgiven: number;
  /** Per step, ms: gradient computation (slow-down included), local update in the handlers, exchanges in the handlers. */
  computeMs: number;
  applyMs: number;
  exchangeMs: number;
  /** Neighbours' messages refused by the bounds, and the neighbours banned for it. */
  rejected: number;
  banned: Array<{ worker: number; reason: string }>;
  /** Its training examples: how many, and their fingerprint (data/shard.ts examplesDigest). */
  examples: number;
  examplesDigest: string;
}

export interface ClusterSummary {
  algorithm: string;
  workers: number;
  topology: string;
  rate: number;
  /** Codec of what crosses the links, and whether contributions carry error feedback. */
  codec: MessageHeader['codec'];
  errorFeedback: boolean;
  model: string;
  dataset: string;
  /** How the training set was split across the workers, and the Dirichlet concentration (null: not Dirichlet). */
  shard: ShardMode;
  alpha: number | null;
  params: number;
  budget: number;
  /** Gradient steps of all workers. */
  steps: number;
  /** Pairwise exchanges (or all-reduce rounds × (n − 1), as the simulator counts them). */
  exchanges: number;
  seconds: number;
  stepsPerSecond: number;
  epochs: number;
  /** Consensus distance (1/n) Σ ‖x_i − x̄‖² of the final parameters, before the final averaging. */
  consensus: number;
  testLoss: number;
  testAccuracy: number;
  /** Held-out examples of the final evaluation (all of them; the rows' take the first evalLimit). */
  testExamples: number;
  /** Share of the compute loops' time spent waiting for communication. */
  idleFraction: number;
  /**
   * Payload bytes all workers sent, encoded: each side's message of an exchange, 2(n − 1)/n of a contribution per
   * worker and collective (a ring all-reduce), a push and the model sent back.
   */
  bytesSent: number;
  /** Collective rounds completed, or pushes the server applied (0 for pairwise algorithms). */
  outerSteps: number;
  trainLoss: number;
  interrupted: boolean;
  diverged: boolean;
  killed: number[];
  /** Workers brought back after being killed (config.rejoin). */
  rejoined: number[];
  perWorker: WorkerSummary[];
  /** async-diloco: the server's pushes, which workers held it in turn, and the record of every applied push. */
  server?: ServerSummary;
  constants: Record<string, number>;
  /** The checkpoint this run continued, and the gradient steps it had done (null: a fresh run). */
  resumedFrom: string | null;
  resumedAtStep: number | null;
  backend: string;
  metrics: string | null;
  plot: string | null;
  checkpoint: string | null;
}

export interface ServerSummary {
  /** Pushes applied. */
  pushes: number;
  meanStaleness: number;
  maxStaleness: number;
  /** The workers that held the server, in turn. */
  holders: number[];
  /** Every applied push as [worker, round], in the order applied (a push is applied once). */
  applied: Array<[number, number]>;
}

/** Where a saved cluster run stood, to continue it. */
export interface ClusterResume {
  /** The checkpoint file (for messages). */
  file: string;
  layoutHash: string;
  /** The averaged parameters and the saved non-learnable state. */
  params: Float32Array;
  state: Float32Array;
  /** The checkpoint as read, with its per-worker tensors (cluster-checkpoint.ts). */
  saved: Checkpoint;
  /** Gradient steps of all workers done. */
  steps: number;
  /** Per worker: its gradient steps done (its data order continues there). */
  workerSteps: number[];
  /** Local time (expected local steps), wall-clock seconds and exchanges of the runs before. */
  t: number;
  seconds: number;
  communications: number;
}

export const Progress = z.object({
  steps: z.number().int().nonnegative(),
  workerSteps: z.array(z.number().int().nonnegative()),
  t: z.number().nonnegative(),
  seconds: z.number().nonnegative(),
  communications: z.number().nonnegative(),
});

/**
 * The run of a cluster checkpoint: the shared training record (config/run.ts) with the cluster's shape, its
 * emulation and metrics settings (without data, callbacks and machinery), the budget and the progress.
 */
const SavedCluster = TrainingRecord.extend({
  kind: z.literal('cluster'),
  /** A data set by name, or the name of image sets a program handed in (it must hand them in again to resume). */
  dataset: z.string(),
  workers: z.number().int().positive(),
  topology: z.string(),
  algorithm: z.enum(CLUSTER_ALGORITHMS),
  rate: z.number().nonnegative(),
  rateMode: z.enum(['poisson', 'exact']).optional(),
  exchange: z.enum(['ideal', 'official']).optional(),
  aggregate: z.enum(AGGREGATES).optional(),
  innerSteps: z.number().int().positive().optional(),
  outerLr: z.number().positive().optional(),
  outerMomentum: z.number().min(0).max(1).optional(),
  outerOptimizer: z.enum(OUTER_OPTIMIZERS).optional(),
  outerBraking: z.number().min(0).optional(),
  eager: z.boolean().optional(),
  fragments: z.number().int().positive().optional(),
  overlap: z.number().int().nonnegative().optional(),
  mix: z.number().min(0).max(1).optional(),
  dynamicH: z.boolean().optional(),
  delayWarmup: z.number().int().nonnegative().optional(),
  shardOptimizer: z.boolean().optional(),
  /** Budget as given: epochs of the training set over all workers, or gradient steps of all workers. */
  epochs: z.number().positive().optional(),
  steps: z.number().int().positive().optional(),
  links: z.record(z.string(), z.unknown()).optional(),
  slowdown: z.record(z.string(), z.number()).optional(),
  timeoutMs: z.number().nonnegative().optional(),
  pairing: z.enum(['decentralized', 'fifo']).optional(),
  codec: z.enum(CODECS).optional(),
  errorFeedback: z.boolean().optional(),
  metricsEvery: z.number().positive().optional(),
  metricsEverySeconds: z.number().positive().optional(),
  budget: z.number().int().positive(),
  progress: Progress,
});
export type SavedClusterRun = z.infer<typeof SavedCluster>;

/** Whether a checkpoint's run is a cluster's (an averaged model). */
export function isClusterRunRecord(run: Record<string, unknown>): boolean {
  return run.kind === 'cluster' || run.averaged === true;
}

/**
 * Reads a cluster checkpoint: the saved run (validated) and where it stood. A file that is not a checkpoint, a
 * one-worker checkpoint, or one without a valid cluster run is a UsageError naming the file.
 */
export function readClusterCheckpoint(file: string): { run: SavedClusterRun; resume: ClusterResume } {
  const ck = readCheckpoint(resolve(file));
  if (!isClusterRunRecord(ck.run)) {
    throw new UsageError(`checkpoint ${ck.file} was written by a one-worker run, not by a cluster`, { field: 'workers' });
  }
  const run = parseRunRecord(SavedCluster, ck.run, ck.file, 'cannot resume its cluster run');
  const p = run.progress;
  if (p.workerSteps.length !== run.workers) throw new UsageError(`checkpoint ${ck.file}: ${p.workerSteps.length} per-worker step counts for ${run.workers} workers`);
  if (p.workerSteps.reduce((a, b) => a + b, 0) !== p.steps || ck.step !== p.steps) {
    throw new UsageError(`checkpoint ${ck.file}: inconsistent step counts (${ck.step} in all, ${p.steps} in its run, ${p.workerSteps.join('+')} per worker)`);
  }
  return {
    run,
    resume: {
      file: ck.file, layoutHash: ck.layoutHash, params: ck.params, state: ck.state, saved: ck, steps: p.steps, workerSteps: [...p.workerSteps],
      t: p.t, seconds: p.seconds, communications: p.communications,
    },
  };
}

/**
 * Validates a configuration; throws a UsageError with a one-line reason that names the configuration field (its
 * `field`; the CLI names the flag instead).
 */
export function checkClusterConfig(c: ClusterConfig): void {
  const bad = (field: keyof ClusterConfig, message: string): never => {
    throw new UsageError(message, { field });
  };
  if (!Number.isInteger(c.workers) || c.workers < 1) bad('workers', `workers must be a positive integer, got ${c.workers}`);
  if (!(CLUSTER_ALGORITHMS as readonly string[]).includes(c.algorithm)) bad('algorithm', `algorithm must be one of ${CLUSTER_ALGORITHMS.join(', ')}, got ${c.algorithm}`);
  if (!TOPOLOGIES.includes(c.topology)) bad('topology', `topology ${c.topology} is unknown (expected one of ${TOPOLOGIES.join(', ')})`);
  if (!(c.rate >= 0) || !Number.isFinite(c.rate)) bad('rate', `rate must be a non-negative number, got ${c.rate}`);
  const pairwise = !COLLECTIVE_ALGORITHMS.includes(c.algorithm) && !SERVER_ALGORITHMS.includes(c.algorithm);
  if (pairwise && c.rate === 0 && c.workers > 1) bad('rate', 'rate 0 means no exchanges at all: the workers would never average');
  if (c.steps === undefined && c.epochs === undefined) throw new UsageError('a budget is needed: epochs or steps');
  for (const [w, s] of Object.entries(c.slowdown ?? {})) {
    if (!(Number(w) >= 0 && Number(w) < c.workers)) bad('slowdown', `slow-down given for worker ${w}, outside 0…${c.workers - 1}`);
    if (!(s >= 1)) bad('slowdown', `slow-down factors are at least 1, got ${s} for worker ${w}`);
  }
  for (const [field, list] of [['kill', c.kill], ['rejoin', c.rejoin]] as const) {
    for (const k of list ?? []) {
      if (!(Number.isInteger(k.worker) && k.worker >= 0 && k.worker < c.workers)) bad(field, `${field} names worker ${k.worker}, outside 0…${c.workers - 1}`);
      if (!(Number.isInteger(k.atStep) && k.atStep >= 0)) bad(field, `${field} needs a step count of at least 0 for worker ${k.worker}, got ${k.atStep}`);
    }
  }
  if (c.alpha !== undefined && (c.shard ?? 'full') !== 'dirichlet') bad('alpha', `alpha applies to the dirichlet split, not to the ${c.shard ?? 'full'} one`);
  if (c.alpha !== undefined && !(c.alpha > 0 && Number.isFinite(c.alpha))) bad('alpha', `alpha must be a positive number, got ${c.alpha}`);
  checkAdversaries(c.adversary, c.workers);
  if ((c.rejoin ?? []).length > 0 && !pairwise) bad('rejoin', `rejoin applies to the pairwise algorithms: ${c.algorithm} does not take workers back`);
  if (c.aggregate !== undefined && c.aggregate !== 'mean' && !COLLECTIVE_ALGORITHMS.includes(c.algorithm)) {
    bad('aggregate', `aggregate applies to the algorithms with collectives (${COLLECTIVE_ALGORITHMS.join(', ')}), not to ${c.algorithm}`);
  }
  if (c.shardOptimizer) checkSharded(c);
  const misapplied = misappliedOption(c.algorithm, c);
  if (misapplied) bad(misapplied.key, `${misapplied.key} applies to ${scopeText(misapplied.scope)}, not to ${c.algorithm}`);
  if (c.algorithm === 'streaming-diloco') {
    try {
      streamingRules(c);
    } catch (err) {
      throw err instanceof RangeError ? new UsageError(err.message) : err;
    }
  }
  for (const r of c.rejoin ?? []) {
    const before = (c.kill ?? []).filter((k) => k.worker === r.worker && k.atStep <= r.atStep).length;
    const rejoinsBefore = (c.rejoin ?? []).filter((q) => q.worker === r.worker && q.atStep < r.atStep).length;
    if (before <= rejoinsBefore) bad('rejoin', `rejoin ${r.worker}@${r.atStep}: worker ${r.worker} is not killed before step ${r.atStep}`);
  }
}

/**
 * A sharded optimizer needs every worker in every round (a worker gone takes its shard of the optimizer's state
 * with it) and the plain mean of the contributions; its shards cut tensors, which Adaptive Braking needs whole.
 */
function checkSharded(c: ClusterConfig): void {
  if (!(SHARDED_ALGORITHMS as readonly string[]).includes(c.algorithm)) {
    throw new UsageError(`shardOptimizer applies to ${SHARDED_ALGORITHMS.join(' and ')}, not to ${c.algorithm}`, { field: 'shardOptimizer' });
  }
  if ((c.kill ?? []).length > 0) throw new UsageError('kill takes a worker away, and with it its shard of the optimizer\'s state, which a sharded optimizer cannot lose', { field: 'kill' });
  if ((c.aggregate ?? 'mean') !== 'mean') throw new UsageError(`aggregate ${c.aggregate} needs whole contributions: a sharded optimizer sums shards of the mean`, { field: 'aggregate' });
  checkShardable({ braking: c.braking });
}

/** One worker's line of the live progress. */
export interface WorkerProgress {
  steps: number;
  /** Loss of its last training step. */
  trainLoss: number;
  exchanges: number;
  /** Share of its time the compute loop waited. */
  idle: number;
  alive: boolean;
  /** The partner of its last pairwise exchange (none yet, or no pairwise exchanges: undefined). */
  peer?: number;
}

/** Live progress of a run: updated at every metrics sample, stopped at the end. */
export interface ClusterProgress {
  update(workers: WorkerProgress[], total: { steps: number; accuracy?: number }): void;
  stop(): void;
}
