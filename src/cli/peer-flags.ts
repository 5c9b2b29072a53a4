/**
 * The flags of `gossamer peer` (commander's camel-cased names) and the training settings they resolve to, shared by
 * the fixed-index mode (peer.ts) and open mode (peer-open.ts).
 */
import type { Aggregate } from '../runtime/aggregate.js';
import type { AdversaryKind } from '../runtime/adversary.js';
import type { BackendChoice } from '../engine/backends/index.js';
import type { Codec } from '../core/codecs.js';
import { DEFAULT_SEQ, type DatasetName } from '../engine/training/data.js';
import type { TrainingSettings } from '../config/run.js';
import type { LaneInit } from '../runtime/net/lane.js';
import { recipe, warmupSteps } from '../config/recipe.js';
import { DEFAULT_BRAKING } from '../engine/optim/braking.js';
import { dataSplit, type DilocoFlags, type TrainingFlags } from './options.js';

export const PEER_ALGORITHMS = ['acid', 'gossip', 'allreduce', 'diloco', 'streaming-diloco', 'gossip-diloco', 'async-diloco', 'acco', 'dpu'] as const;

/** The command's flags (commander's camel-cased names); the DiLoCo family's are DilocoFlags'. */
export interface PeerFlags extends Omit<DilocoFlags, 'algo'>, TrainingFlags {
  listen: string[];
  shardOptimizer?: boolean;
  init?: string;
  bootstrap?: string[];
  swarmKey?: string;
  /** False with --no-lane. */
  lane: boolean;
  /** --lean-memory: the young generation given back (runtime/allocator.ts). */
  leanMemory?: boolean;
  lanePort?: number;
  index?: number;
  workers?: number;
  algo: (typeof PEER_ALGORITHMS)[number];
  aggregate?: Aggregate;
  topology: string;
  rate: number;
  codec: Codec;
  errorFeedback?: boolean;
  finalExchanges: number;
  timeout: number;
  joinTimeout: number;
  barrierTimeout: number;
  latency?: number;
  jitter?: number;
  bandwidth?: number;
  loss?: number;
  links?: string;
  slow?: number;
  adversary?: AdversaryKind;
  bounds: boolean;
  backend: BackendChoice;
  verbose?: boolean;
  dashboard?: number | boolean;
  duration?: number;
}

/**
 * The worker's training settings: its flags, over the cluster recipe of its model (config/recipe.ts); `epochSize`
 * turns the recipe's budget into this worker's share of steps.
 */
export function peerTraining(flags: PeerFlags, workers: number, dataset: DatasetName, epochSize: number): TrainingSettings & { steps: number; seq: number; warmup: number } {
  const model = flags.model ?? 'mlp';
  const r = recipe(model, workers, { optimizer: flags.optimizer, batchSize: flags.batchSize });
  const steps = flags.steps ?? Math.max(1, Math.ceil(('epochs' in r.budget ? r.budget.epochs * epochSize : r.budget.steps) / (r.batchSize * workers)));
  return {
    model, modelConfig: flags.modelConfig, dataset, ...dataSplit(flags), seq: flags.seq ?? DEFAULT_SEQ, limit: flags.limit ?? null, evalLimit: flags.evalLimit ?? null,
    batchSize: r.batchSize, optimizer: r.optimizer, lr: flags.lr ?? r.lr, momentum: flags.momentum ?? r.momentum, nesterov: flags.nesterov ?? false,
    weightDecay: flags.weightDecay ?? r.weightDecay, decayAll: flags.decayAll ?? false, braking: flags.braking ?? DEFAULT_BRAKING, schedule: flags.schedule ?? r.schedule,
    warmup: flags.warmup ?? warmupSteps(r.warmup, steps), clip: flags.clip === undefined ? r.clip : flags.clip > 0 ? flags.clip : null,
    seed: flags.seed ?? 1, steps,
  };
}

/** The transport's bulk lane: on unless --no-lane. */
export function laneOf(flags: PeerFlags): LaneInit | undefined {
  return flags.lane ? { port: flags.lanePort } : undefined;
}
