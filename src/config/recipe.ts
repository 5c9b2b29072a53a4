/**
 * The defaults of a training run, in one place: what `gossamer train` (one worker or a cluster) and `gossamer
 * peer` train with when the command line does not say. One worker follows the model's own recipe; several workers
 * (threads or peers) follow the A2CiD2 authors' recipe for decentralized training, with the learning rate scaled by
 * the cluster's total batch.
 */
import type { ModelName } from '../engine/models/index.js';
import { DEFAULT_DATASET, type DatasetName } from '../engine/training/data.js';
import type { OptimizerName, ScheduleName } from './run.js';

export interface Recipe {
  dataset: DatasetName;
  /** Budget: epochs of the training set (all workers together) or updates (one worker). */
  budget: { epochs: number } | { steps: number };
  batchSize: number;
  optimizer: OptimizerName;
  lr: number;
  momentum: number;
  weightDecay: number;
  schedule: ScheduleName;
  /** Linear warm-up: steps, or a fraction of each worker's steps. */
  warmup: { steps: number } | { fraction: number };
  clip: number | null;
  /** The DiLoCo family's outer loop (several workers; null: one worker has none). */
  outer: OuterRecipe | null;
}

/** H and the outer step of the DiLoCo family (the rule stays the algorithm's own: Nesterov, Delayed Nesterov). */
export interface OuterRecipe {
  innerSteps: number;
  outerLr: number;
  outerMomentum: number;
}

type OneWorker = Omit<Recipe, 'dataset' | 'warmup' | 'outer'> & { warmup: { steps: number } };

/** One worker: the reference workloads with settings that train them well in a few minutes on one core. */
const ONE_WORKER: Record<ModelName, OneWorker> = {
  mlp: { budget: { epochs: 2 }, batchSize: 128, optimizer: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0, schedule: 'cosine', warmup: { steps: 0 }, clip: null },
  cnn: { budget: { epochs: 2 }, batchSize: 128, optimizer: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 0, schedule: 'cosine', warmup: { steps: 0 }, clip: null },
  resnet20: { budget: { epochs: 2 }, batchSize: 128, optimizer: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 5e-4, schedule: 'cosine', warmup: { steps: 0 }, clip: null },
  transformer: { budget: { steps: 2000 }, batchSize: 32, optimizer: 'adamw', lr: 3e-3, momentum: 0, weightDecay: 0.01, schedule: 'cosine', warmup: { steps: 100 }, clip: 1 },
};

/** One worker, another optimizer than the model's: generic settings of that optimizer. */
const ONE_WORKER_OPTIMIZER = {
  sgd: { lr: 0.05, momentum: 0.9, weightDecay: 0 },
  adamw: { lr: 1e-3, momentum: 0, weightDecay: 0.01 },
} as const;

/** A cluster's shape when the command line does not give one (`gossamer train` with no flag at all). */
export const CLUSTER_DEFAULTS = {
  workers: 8,
  topology: 'ring',
  algorithm: 'acid',
  /** Expected pairwise exchanges per worker per local step. */
  rate: 1,
} as const;

/**
 * The DiLoCo family over momentum SGD (the image models): H = 10 and an outer Nesterov step of lr 0.7 with momentum
 * 0.5, which reach one worker's accuracy in the budget (README, "Recipes": the paper's momentum 0.9 on top of the
 * inner momentum overshoots, 91.9–95.6% on MNIST for H = 5–20); over AdamW (the language model), the paper's outer
 * step (0.7, 0.9) with H = 50.
 */
export const OUTER_RECIPES: Record<OptimizerName, OuterRecipe> = {
  sgd: { innerSteps: 10, outerLr: 0.7, outerMomentum: 0.5 },
  adamw: { innerSteps: 50, outerLr: 0.7, outerMomentum: 0.9 },
};

/**
 * Several workers, the authors' recipe: lr0 · max(1, B·n / 256) after a linear warm-up over 5% of the steps, ×0.1
 * at 50% and 75% of the budget, momentum 0.9, weight decay 5e-4 (not on biases and norms), clipping at 1; lr0 =
 * 0.1. The language model trains with AdamW (lr 1e-3, weight decay 0.01), as with one worker. 4 epochs of the
 * training set over all workers together. The DiLoCo family's outer loop by the inner optimizer (OUTER_RECIPES).
 */
function clusterRecipe(model: ModelName, workers: number, optimizer: OptimizerName | undefined, batchSize: number | undefined): Recipe {
  const opt = optimizer ?? (model === 'transformer' ? 'adamw' : 'sgd');
  const batch = batchSize ?? 128;
  const sgd = opt === 'sgd';
  return {
    dataset: DEFAULT_DATASET[model], budget: { epochs: 4 }, batchSize: batch, optimizer: opt,
    lr: sgd ? 0.1 * Math.max(1, (batch * workers) / 256) : 1e-3, momentum: sgd ? 0.9 : 0, weightDecay: sgd ? 5e-4 : 0.01,
    schedule: 'multistep', warmup: { fraction: 0.05 }, clip: 1, outer: OUTER_RECIPES[opt],
  };
}

/**
 * The recipe of a run of `workers` workers training `model`; `optimizer` and `batchSize`, when the command line
 * gives them, choose among the recipe's settings (the learning rate depends on both).
 */
export function recipe(model: ModelName, workers: number, given: { optimizer?: OptimizerName; batchSize?: number } = {}): Recipe {
  if (workers > 1) return clusterRecipe(model, workers, given.optimizer, given.batchSize);
  const own = { dataset: DEFAULT_DATASET[model], ...ONE_WORKER[model], outer: null };
  const optimizer = given.optimizer ?? own.optimizer;
  return optimizer === own.optimizer ? own : { ...own, optimizer, ...ONE_WORKER_OPTIMIZER[optimizer] };
}

/** A warm-up in steps, for a worker taking `steps` steps. */
export function warmupSteps(warmup: Recipe['warmup'], steps: number): number {
  return 'steps' in warmup ? warmup.steps : Math.round(warmup.fraction * steps);
}
