import { UsageError } from '../core/errors.js';
import type { ShardMode } from '../data/shard.js';
import { LeastSquares } from './least-squares.js';
import { Logistic } from './logistic.js';
import type { Objective } from './objective.js';
import { Quadratic } from './quadratic.js';

export const CONVEX_PROBLEMS = ['quadratic', 'least-squares', 'logistic'] as const;

export interface ProblemOptions {
  workers: number;
  seed: number;
  dim?: number;
  /** Additive Gaussian gradient noise. */
  noise?: number;
  /** ℓ2 regularisation (least-squares, logistic). */
  l2?: number;
  /** Samples per worker (least-squares, logistic). */
  samples?: number;
  /** Neural problems: mini-batch size, data split over workers, Dirichlet concentration, training-set size limit. */
  batchSize?: number;
  shard?: ShardMode;
  alpha?: number;
  limit?: number;
  /** Neural problems: test examples behind each metrics row (default 2000). */
  evalLimit?: number;
}

export type ObjectiveFactory = (opts: ProblemOptions) => Objective | Promise<Objective>;

/** Problems by name; neural objectives register themselves here too. */
const registry = new Map<string, ObjectiveFactory>([
  ['quadratic', (o) => new Quadratic({ workers: o.workers, dim: o.dim ?? 10, seed: o.seed, noise: o.noise })],
  ['least-squares', (o) => new LeastSquares({ workers: o.workers, dim: o.dim ?? 10, seed: o.seed, noise: o.noise, l2: o.l2, samples: o.samples })],
  ['logistic', (o) => new Logistic({ workers: o.workers, dim: o.dim ?? 10, seed: o.seed, noise: o.noise, l2: o.l2, samples: o.samples })],
  ['mlp-mnist', (o) => neural('mlp', 'mnist', o)],
  ['cnn-mnist', (o) => neural('cnn', 'mnist', o)],
  ['mlp-synthetic', (o) => neural('mlp', 'synthetic', o)],
  ['resnet20-synthetic', (o) => registered('resnet20', 'synthetic', o)],
  ['transformer-moby-dick', (o) => registered('transformer', 'moby-dick', o)],
]);

/**
 * A model on a data set of the registry that `gossamer train` and `gossamer peer` use (engine/training/data.ts): the
 * same data by the same name in every mode.
 */
async function registered(modelName: 'resnet20' | 'transformer', dataset: 'synthetic' | 'moby-dick', o: ProblemOptions): Promise<Objective> {
  const [{ createModel }, data] = await Promise.all([import('../engine/index.js'), import('../engine/training/data.js')]);
  const loaded = data.loadTrainingData(dataset, modelName, { seed: o.seed, limit: o.limit });
  const seq = data.DEFAULT_SEQ;
  const model = createModel(modelName, { ...data.modelShape(modelName, loaded, seq), seed: o.seed } as never);
  if (loaded.kind === 'text') {
    if ((o.shard ?? 'full') !== 'full') throw new UsageError(`shard ${o.shard} splits labelled examples: ${dataset} is a text, which every worker reads whole in its own order`, { field: 'shard' });
    const { TextObjective } = await import('./text.js');
    return new TextObjective({ model, data: loaded, seq, workers: o.workers, seed: o.seed, batchSize: o.batchSize, evalLimit: o.evalLimit });
  }
  const { NeuralObjective } = await import('./neural.js');
  return new NeuralObjective({ name: `${modelName}-${dataset}`, model, train: loaded.train, test: loaded.test, workers: o.workers, seed: o.seed, batchSize: o.batchSize, shard: o.shard, alpha: o.alpha, evalLimit: o.evalLimit });
}

/** A model of the engine on a real (or synthetic) data set; modules load only when such a problem is asked for. */
async function neural(modelName: 'mlp' | 'cnn', dataset: 'mnist' | 'synthetic', o: ProblemOptions): Promise<Objective> {
  const [{ createModel }, { NeuralObjective }] = await Promise.all([import('../engine/index.js'), import('./neural.js')]);
  let train;
  let test;
  if (dataset === 'mnist') {
    const { loadMnist } = await import('../data/mnist.js');
    train = loadMnist('train', { limit: o.limit });
    test = loadMnist('test');
  } else {
    const { syntheticClassification } = await import('../data/synthetic.js');
    const all = syntheticClassification({ n: 2400, features: 32, classes: 4, seed: o.seed });
    const { headOf, subsetOf } = await import('../data/dataset.js');
    train = headOf(all, 2000);
    test = subsetOf(all, Array.from({ length: 400 }, (_, k) => 2000 + k));
  }
  const config = dataset === 'synthetic' ? { inputSize: 32, hidden: [64], classes: 4 } : {};
  const model = createModel(modelName, { ...config, seed: o.seed });
  return new NeuralObjective({ model, train, test, workers: o.workers, seed: o.seed, batchSize: o.batchSize, shard: o.shard, alpha: o.alpha, evalLimit: o.evalLimit });
}

export function registerProblem(name: string, factory: ObjectiveFactory): void {
  registry.set(name, factory);
}

export function problemNames(): string[] {
  return [...registry.keys()];
}

export async function makeObjective(name: string, opts: ProblemOptions): Promise<Objective> {
  const factory = registry.get(name);
  if (!factory) throw new UsageError(`unknown problem "${name}" (expected one of ${problemNames().join(', ')})`);
  return factory(opts);
}
