import { UsageError } from '../core/errors.js';
import type { Vec } from '../core/vec.js';
import { BatchIterator } from '../data/batch.js';
import { headOf, type ImageDataset } from '../data/dataset.js';
import { shardRng, splitExamples, type ShardMode } from '../data/shard.js';
import type { Backend } from '../engine/backend.js';
import type { LayoutEntry } from '../engine/layout.js';
import type { Model } from '../engine/models/model.js';
import type { Objective } from './objective.js';

export interface NeuralObjectiveOptions {
  /** @default the model's name and the training set's */
  name?: string;
  model: Model;
  train: ImageDataset;
  test: ImageDataset;
  workers: number;
  seed: number;
  batchSize?: number;
  /** 'full': every worker sees the whole training set in its own order (the authors' default); 'iid' or 'dirichlet' shards. */
  shard?: ShardMode;
  /** Concentration of the Dirichlet label split (smaller: more heterogeneous). */
  alpha?: number;
  /** Test examples used for the metrics (the loss at the average model and its accuracy). */
  evalLimit?: number;
}

/**
 * A neural network of the engine on real data as an objective: worker i's gradient is the mini-batch gradient of
 * the model at x on worker i's data. Parameters are float32 flat vectors in the model's layout, so the simulator
 * drives virtual workers with real gradients. Normalisation statistics (if any) are shared by the virtual workers.
 */
export class NeuralObjective implements Objective {
  readonly name: string;
  readonly heldOut = true;
  readonly dtype = 'f32' as const;
  readonly dim: number;
  readonly workers: number;
  private readonly model: Model;
  readonly backend: Backend;
  readonly layout: readonly LayoutEntry[];
  private readonly iterators: BatchIterator[];
  /** Each worker's training examples (null: every worker has the whole set), as the runtime splits them (data/shard.ts). */
  readonly shards: readonly Int32Array[] | null;
  private readonly test: ImageDataset;
  private readonly seed: number;

  constructor(opts: NeuralObjectiveOptions) {
    const { model, train, workers } = opts;
    this.model = model;
    this.backend = model.backend;
    this.layout = model.layout;
    this.name = opts.name ?? `${model.name}-${train.name}`;
    this.dim = model.size;
    this.workers = workers;
    this.seed = opts.seed;
    if (train.channels * train.height * train.width !== model.inputSize) {
      throw new UsageError(`model ${model.name} expects inputs of size ${model.inputSize}, data set ${train.name} has ${train.channels * train.height * train.width}`);
    }
    const rng = shardRng(opts.seed);
    const shards = splitExamples(train, workers, { shard: opts.shard ?? 'full', alpha: opts.alpha }, rng);
    this.shards = shards;
    const batchSize = opts.batchSize ?? 32;
    this.iterators = Array.from({ length: workers }, (_, i) => new BatchIterator(train, { batchSize, rng: rng.fork(i), indices: shards?.[i] }));
    this.test = headOf(opts.test, opts.evalLimit ?? 2000);
  }

  initial(): Vec {
    this.model.initialize(this.seed);
    return Float32Array.from(this.model.params);
  }

  /** Mini-batch gradient of worker i's data at x (the data order comes from the worker's own seeded stream). */
  gradient(i: number, x: Vec, grad: Vec): number {
    this.model.setParams(x as Float32Array);
    this.model.setGrads(grad as Float32Array);
    const batch = this.iterators[i].next();
    return this.model.lossAndGradient(batch.images.subarray(0, batch.size * this.model.inputSize), batch.labels.subarray(0, batch.size));
  }

  /** Test loss at x. */
  loss(x: Vec): number {
    return this.evaluate(x).loss;
  }

  metrics(x: Vec): Record<string, number> {
    return { testAccuracy: this.evaluate(x).accuracy };
  }

  private lastX: Vec | null = null;
  private last = { loss: NaN, accuracy: NaN };

  private evaluate(x: Vec): { loss: number; accuracy: number } {
    if (this.lastX === x) return this.last;
    this.model.setParams(x as Float32Array);
    const r = this.model.evaluate({ inputs: this.test.images, decode: this.test.decode, targets: this.test.labels, count: this.test.n });
    this.lastX = x;
    this.last = { loss: r.loss, accuracy: r.accuracy };
    return this.last;
  }
}
