/**
 * A language model of the engine on a text as an objective: worker i's gradient is the next-character loss of a
 * mini-batch of windows drawn from its own seeded stream over the whole training text (every worker sees all of
 * it, in its own order); the metrics evaluate the average model on windows of the held-out text.
 */
import type { Vec } from '../core/vec.js';
import type { Backend } from '../engine/backend.js';
import type { LayoutEntry } from '../engine/layout.js';
import type { LabeledData, Model } from '../engine/models/model.js';
import type { BatchSource } from '../engine/training/batches.js';
import { batchSource, evaluate, evaluationSet, type TrainingData } from '../engine/training/data.js';
import type { Objective } from './objective.js';

export interface TextObjectiveOptions {
  model: Model;
  /** A text data set (loadTrainingData). */
  data: Extract<TrainingData, { kind: 'text' }>;
  seq: number;
  workers: number;
  seed: number;
  /** @default 32 */
  batchSize?: number;
  /** Held-out windows behind each metrics row. @default 200 */
  evalLimit?: number;
}

export class TextObjective implements Objective {
  readonly name: string;
  readonly heldOut = true;
  readonly dtype = 'f32' as const;
  readonly dim: number;
  readonly workers: number;
  readonly backend: Backend;
  readonly layout: readonly LayoutEntry[];
  private readonly model: Model;
  private readonly data: TextObjectiveOptions['data'];
  private readonly batches: BatchSource[];
  private readonly steps: number[];
  private readonly held: LabeledData;
  private readonly seed: number;

  constructor(o: TextObjectiveOptions) {
    this.model = o.model;
    this.data = o.data;
    this.name = `${o.model.name}-${o.data.name}`;
    this.dim = o.model.size;
    this.workers = o.workers;
    this.backend = o.model.backend;
    this.layout = o.model.layout;
    this.seed = o.seed;
    this.batches = Array.from({ length: o.workers }, (_, i) => batchSource(o.data, (o.seed * 1000003 + i) >>> 0, o.batchSize ?? 32, o.seq));
    this.steps = new Array(o.workers).fill(0);
    this.held = evaluationSet(o.data, o.seq, o.evalLimit ?? 200);
  }

  initial(): Vec {
    this.model.initialize(this.seed);
    return Float32Array.from(this.model.params);
  }

  gradient(i: number, x: Vec, grad: Vec): number {
    this.model.setParams(x as Float32Array);
    this.model.setGrads(grad as Float32Array);
    const batch = this.batches[i].batch(this.steps[i]++);
    return this.model.lossAndGradient(batch.inputs, batch.targets);
  }

  loss(x: Vec): number {
    return this.evaluate(x).testLoss;
  }

  metrics(x: Vec): Record<string, number> {
    const { testAccuracy, testBitsPerChar } = this.evaluate(x);
    return { testAccuracy, testBitsPerChar };
  }

  private lastX: Vec | null = null;
  private last: Record<string, number> = {};

  private evaluate(x: Vec): Record<string, number> {
    if (this.lastX === x) return this.last;
    this.model.setParams(x as Float32Array);
    this.last = evaluate(this.model, this.data, this.held);
    this.lastX = x;
    return this.last;
  }
}
