/**
 * What a cluster run trains, resolved from its configuration before any thread starts: the data (loaded once, shared
 * by all workers), the graph, the supervisor's model (the starting point, the layout, and the evaluation of the
 * average), the budget, the algorithm, each worker's local step and learning-rate schedule, and the fault schedule.
 * A resumed run is checked against them here, and its model starts from the saved average. Every problem is a
 * UsageError raised before anything is spawned.
 */
import { buildAlgorithm, type AlgorithmSetup, type Built } from '../algorithms/index.js';
import type { LocalStepSettings } from '../algorithms/local-optimizer.js';
import { recipe, warmupSteps } from '../config/recipe.js';
import { UsageError } from '../core/errors.js';
import { checkContributionCodec } from '../core/contribution.js';
import type { Backend } from '../engine/backend.js';
import { getBackend } from '../engine/backends/index.js';
import { createModel } from '../engine/models/index.js';
import { initFromSafetensors } from '../engine/init-weights.js';
import type { Model } from '../engine/models/model.js';
import { optimizerConfigOf, type OptimizerConfig } from '../engine/optim/index.js';
import { DEFAULT_SEQ, epochSize, imageData, loadTrainingData, modelShape, workerExamples, type TrainingData } from '../engine/training/data.js';
import { makeTopology, type Graph } from '../graph/topology.js';
import type { ClusterConfig, ClusterResume } from './cluster-config.js';
import { ClusterFaults } from './cluster-faults.js';
import type { RunSchedule } from './schedule.js';

export interface ClusterPlan {
  /** Workers. */
  n: number;
  backend: Backend;
  data: TrainingData;
  graph: Graph;
  /** Context length of text models. */
  seq: number;
  /** The model's options (its shape from the data, then the run's own), as the compute threads rebuild it. */
  modelConfig: Record<string, unknown>;
  /** The supervisor's model: its parameters are the starting point (a resumed run's average). */
  model: Model;
  /** Parameters of the model. */
  dim: number;
  /** Training examples in one epoch. */
  trainCount: number;
  /** Gradient steps of all workers together, and the expected share of one worker. */
  budget: number;
  perWorker: number;
  resume: ClusterResume | null;
  /** Gradient steps of all workers done before this run (those of the resumed run). */
  startSteps: number;
  setup: AlgorithmSetup;
  built: Built;
  /** Workers exchange pairwise (else they meet in collectives). */
  pairwise: boolean;
  /** Pairs form through the supervisor's central orchestrator. */
  central: boolean;
  optimizer: OptimizerConfig;
  localStep: LocalStepSettings;
  schedule: RunSchedule;
  faults: ClusterFaults;
  /** Each worker's training examples: the simulator's split for the seed (null: the whole set each). */
  shards: Int32Array[] | null;
}

/** An error of a builder given the configuration: bad input, whatever its class. */
const usage = (err: unknown): UsageError => (err instanceof UsageError ? err : new UsageError(err instanceof Error ? err.message : String(err)));

/** The run's data: by name from the registry, or given. */
function prepareData(config: ClusterConfig): TrainingData {
  const ds = config.dataset;
  if (typeof ds === 'object') return imageData(ds.train, ds.test, config.limit);
  // MNIST stays in its files, each thread reading its batches' rows (the page cache holds the set once).
  return loadTrainingData(ds, config.model, { seed: config.seed, limit: config.limit, onDisk: true });
}

/** Resolves a checked configuration (checkClusterConfig) into the run's plan. */
export function planCluster(config: ClusterConfig): ClusterPlan {
  const n = config.workers;
  const backend = getBackend({ backend: config.backend });
  const data = prepareData(config);
  let graph: Graph;
  try {
    graph = makeTopology(config.topology, n, { seed: config.seed });
  } catch (err) {
    throw usage(err);
  }

  const seq = config.seq ?? DEFAULT_SEQ;
  const modelConfig = { ...modelShape(config.model, data, seq), ...config.modelConfig };
  let model: Model;
  try {
    model = createModel(config.model, { ...modelConfig, backend, seed: config.seed } as never);
  } catch (err) {
    throw new UsageError(`cannot build model ${config.model}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const resume = config.resume ?? null;
  if (config.init !== undefined) {
    if (resume) throw new UsageError('init starts a run from given weights; resume continues one from its checkpoint', { field: 'init' });
    initFromSafetensors(model, config.init);
  }
  const trainCount = epochSize(data, seq);
  const budget = config.steps ?? Math.max(n, Math.ceil(((config.epochs ?? 1) * trainCount) / config.batchSize));
  const perWorker = Math.max(1, Math.ceil(budget / n));
  const faults = new ClusterFaults({
    budget, kill: config.kill, rejoin: config.rejoin, adversary: config.adversary, slowdown: config.slowdown, log: config.log,
  });

  if (resume) {
    const short = (h: string) => h.slice(0, 12);
    if (resume.layoutHash !== model.layoutHash) {
      throw new UsageError(`checkpoint ${resume.file} holds a model with layout ${short(resume.layoutHash)}, which does not match this run's ${config.model} (layout ${short(model.layoutHash)})`);
    }
    if (resume.workerSteps.length !== n) throw new UsageError(`checkpoint ${resume.file} was written by a run of ${resume.workerSteps.length} workers, not ${n}`);
    if (resume.steps >= budget) {
      throw new UsageError(`checkpoint ${resume.file} has done ${resume.steps} steps, the whole budget of ${budget} (a larger budget, in steps or epochs, trains on)`);
    }
    model.params.set(resume.params);
    model.state.set(resume.state);
  }

  const setup: AlgorithmSetup = {
    name: config.algorithm, graph, rate: config.rate, dim: model.size, dtype: 'f32', exchange: config.exchange,
    diloco: { innerSteps: config.innerSteps, outerLr: config.outerLr, outerMomentum: config.outerMomentum, outerOptimizer: config.outerOptimizer, outerBraking: config.outerBraking, eager: config.eager },
    streaming: { fragments: config.fragments, overlap: config.overlap, mix: config.mix },
    dynamicH: config.dynamicH, delayWarmup: config.delayWarmup, shardOptimizer: config.shardOptimizer,
  };
  let built: Built;
  try {
    built = buildAlgorithm({ ...setup, backend, layout: model.layout });
  } catch (err) {
    throw usage(err);
  }
  const pairwise = built.algorithm.pairwise !== undefined;
  checkContributionCodec(config.codec, config.errorFeedback, built.algorithm);
  const localStep: LocalStepSettings = {
    optimizer: config.optimizer, lr: config.lr, momentum: config.momentum, nesterov: config.nesterov, weightDecay: config.weightDecay, decayAll: config.decayAll,
    braking: config.braking,
  };
  const schedule: RunSchedule = {
    kind: config.schedule, lr: config.lr, warmup: config.warmup ?? warmupSteps(recipe(config.model, n).warmup, perWorker), totalSteps: perWorker,
    milestones: config.milestones, minLr: config.minLr, stepSize: config.stepSize, gamma: config.gamma,
  };
  return {
    n, backend, data, graph, seq, modelConfig, model, dim: model.size, trainCount, budget, perWorker, resume, startSteps: resume?.steps ?? 0,
    setup, built, pairwise, central: pairwise && config.pairing === 'fifo', optimizer: optimizerConfigOf(config), localStep, schedule, faults,
    shards: workerExamples(data, n, { shard: config.shard ?? 'full', alpha: config.alpha }, config.seed),
  };
}
