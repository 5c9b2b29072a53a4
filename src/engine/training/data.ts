/**
 * The data sets every command trains on, in one place: name → training and test data, the models' input shape, the
 * batches of a worker and the evaluation of a model. `gossamer train` (one worker and clusters), `gossamer peer` and
 * the checkpoints' run records all go through here, so that one name always means the same data.
 */
import { UsageError } from '../../core/errors.js';
import { headOf, type ImageDataset } from '../../data/dataset.js';
import { isFileBytes } from '../../data/file-bytes.js';
import { workerShards, type DataSplit } from '../../data/shard.js';
import { loadMnist, MNIST_MEAN, MNIST_STD } from '../../data/mnist.js';
import { syntheticImages } from '../../data/synthetic.js';
import { loadText, splitText, unigramCrossEntropy } from '../../data/text.js';
import type { ModelName } from '../models/index.js';
import type { LabeledData, Model } from '../models/model.js';
import { ShuffledBatches, TextWindows, textEvalData, type BatchSource } from './batches.js';

export const DATASETS = ['mnist', 'moby-dick', 'synthetic'] as const;
export type DatasetName = (typeof DATASETS)[number];

/** The data set a model trains on when none is named. */
export const DEFAULT_DATASET: Record<ModelName, DatasetName> = { mlp: 'mnist', cnn: 'mnist', resnet20: 'synthetic', transformer: 'moby-dick' };

/** Context length of the transformer when none is given. */
export const DEFAULT_SEQ = 64;
/** Synthetic 16 × 16 images: training and test examples. */
export const SYNTHETIC_TRAIN = 8192;
export const SYNTHETIC_TEST = 2048;
/** The share of a text held out for evaluation (its end). */
export const TEXT_HELD_OUT = 0.1;

/** A loaded data set (plain arrays: worker threads receive it as it is). */
export type TrainingData =
  | { kind: 'images'; name: string; train: ImageDataset; test: ImageDataset }
  | { kind: 'text'; name: string; train: Uint8Array; test: Uint8Array; vocab: number };

export interface DataOptions {
  /** Seed of generated data. */
  seed: number;
  /** Training examples (images) or bytes (text) to keep. */
  limit?: number;
  /** Test examples to keep (images; text evaluation takes its windows from the whole held-out part). */
  evalLimit?: number;
  /** MNIST: leave the images in their files, read a batch at a time (data/mnist.ts). */
  onDisk?: boolean;
}

/** Image channels a model expects of the generated data (ResNet-20 is a CIFAR-style colour network). */
function channelsFor(model: ModelName): number {
  return model === 'resnet20' ? 3 : 1;
}

/** Refuses a model on data of the other kind. */
export function checkModelData(model: ModelName, dataset: DatasetName): void {
  const text = dataset === 'moby-dick';
  if (model === 'transformer' && !text) throw new UsageError(`model transformer is a language model and needs a text data set (moby-dick), not ${dataset}`);
  if (model !== 'transformer' && text) throw new UsageError(`model ${model} classifies images and cannot train on the text data set ${dataset} (use mnist or synthetic)`);
}

/** Loads a data set for a model. */
export function loadTrainingData(name: DatasetName, model: ModelName, o: DataOptions): TrainingData {
  checkModelData(model, name);
  if (name === 'moby-dick') {
    const corpus = loadText('moby-dick', { limit: o.limit });
    const { train, test } = splitText(corpus.bytes, TEXT_HELD_OUT);
    return { kind: 'text', name, train, test, vocab: corpus.vocab };
  }
  if (name === 'mnist') return { kind: 'images', name, train: loadMnist('train', { limit: o.limit, onDisk: o.onDisk }), test: loadMnist('test', { limit: o.evalLimit, onDisk: o.onDisk }) };
  const nTrain = o.limit ?? SYNTHETIC_TRAIN;
  const nTest = o.evalLimit ?? SYNTHETIC_TEST;
  const all = syntheticImages({ n: nTrain + nTest, seed: `synthetic:${o.seed}`, channels: channelsFor(model), height: 16, width: 16, classes: 10 });
  const row = all.channels * all.height * all.width;
  return {
    kind: 'images',
    name,
    train: { ...all, name: 'synthetic-train', images: all.images.subarray(0, nTrain * row), labels: all.labels.subarray(0, nTrain), n: nTrain },
    test: { ...all, name: 'synthetic-test', images: all.images.subarray(nTrain * row), labels: all.labels.subarray(nTrain), n: nTest },
  };
}

/** Image data sets given directly (tests, library users). */
export function imageData(train: ImageDataset, test: ImageDataset, limit?: number): TrainingData {
  return { kind: 'images', name: train.name, train: headOf(train, limit), test };
}

/** The options of a model's shape on this data (input size, classes, image shape, vocabulary). */
export function modelShape(model: ModelName, data: TrainingData, seq: number): Record<string, unknown> {
  if (data.kind === 'text') return { seq, vocab: data.vocab };
  const t = data.train;
  if (model === 'mlp') return { inputSize: t.channels * t.height * t.width, classes: t.classes };
  return { channels: t.channels, height: t.height, width: t.width, classes: t.classes };
}

/** Training examples (images) or windows of `seq` bytes (text) in one epoch. */
export function epochSize(data: TrainingData, seq: number): number {
  return data.kind === 'text' ? Math.floor((data.train.length - 1) / seq) : data.train.n;
}

/** A worker's batches, over its examples (default: the whole training set): a function of (seed, step) only. */
export function batchSource(data: TrainingData, seed: number, batchSize: number, seq: number, examples?: Int32Array): BatchSource {
  if (data.kind === 'text') {
    if (examples) throw new Error('a text is read whole by every worker: it has no shards');
    return new TextWindows(data.train, seq, seed, batchSize);
  }
  const t = data.train;
  return new ShuffledBatches({ inputs: t.images, decode: t.decode, targets: t.labels, count: t.n }, seed, batchSize, examples);
}

/**
 * Each worker's training examples under a split (data/shard.ts) — for the same seed, the same in `gossamer sim`, in
 * the threads of `gossamer train --workers N` and in the processes of `gossamer peer`; null: every worker has the
 * whole training set. A text is read whole by every worker: it has no shards.
 */
export function workerExamples(data: TrainingData, workers: number, split: DataSplit, seed: number): Int32Array[] | null {
  if (split.shard === 'full') return null;
  if (data.kind === 'text') throw new UsageError(`--shard ${split.shard} splits labelled examples: ${data.name} is a text, which every worker reads whole in its own order`);
  return workerShards(data.train, workers, split, seed);
}

/** testLoss and testAccuracy; for text also testBitsPerChar (the held-out loss in bits per character). */
export type Evaluation = Record<string, number>;

/** The held-out set of a data set: test images (the first `limit`), or windows of `seq` bytes of the held-out text. */
export function evaluationSet(data: TrainingData, seq: number, limit?: number): LabeledData {
  if (data.kind === 'text') return textEvalData(data.test, seq, limit);
  const test = headOf(data.test, limit);
  return { inputs: test.images, decode: test.decode, targets: test.labels, count: test.n };
}

/** Evaluates a model on a held-out set of this data. */
export function evaluate(model: Model, data: TrainingData, set: LabeledData): Evaluation {
  const r = model.evaluate(set, { batchSize: data.kind === 'text' ? 64 : 500 });
  return data.kind === 'text'
    ? { testLoss: r.loss, testAccuracy: r.accuracy, testBitsPerChar: r.loss / Math.LN2 }
    : { testLoss: r.loss, testAccuracy: r.accuracy };
}

/**
 * What a model's inputs are, for a checkpoint's "input" metadata (docs/checkpoints.md): images are NCHW float32
 * with x = (raw · scale − mean) / std per value, raw being the stored pixel (MNIST: bytes 0…255) or, for generated
 * data, the generated value itself (scale 1, mean 0, std 1); a text is a sequence of byte tokens (int32 ids).
 */
export function inputDescription(data: TrainingData, seq: number): Record<string, unknown> {
  if (data.kind === 'text') return { kind: 'text', dataset: data.name, tokens: 'utf-8 bytes', vocab: data.vocab, seq, dtype: 'int32' };
  const t = data.train;
  const shape = { layout: 'NCHW', channels: t.channels, height: t.height, width: t.width, dtype: 'float32', classes: t.classes };
  if (data.name === 'mnist') return { kind: 'images', dataset: 'mnist', ...shape, raw: 'uint8', scale: 1 / 255, mean: MNIST_MEAN, std: MNIST_STD };
  if (data.name === 'synthetic') return { kind: 'images', dataset: 'synthetic', ...shape, raw: 'float32', scale: 1, mean: 0, std: 1 };
  return { kind: 'images', dataset: data.name, ...shape };
}

/** What a run's summary says about its data. */
export function dataInfo(data: TrainingData, seq: number, evalLimit?: number): Record<string, number> {
  if (data.kind === 'text') {
    return { trainTokens: data.train.length, testTokens: evaluationSet(data, seq, evalLimit).count * seq, unigramLoss: unigramCrossEntropy(data.train, data.test) };
  }
  return { trainExamples: data.train.n, testExamples: data.test.n };
}

/** The training part alone (what a worker thread needs), on the given typed-array factory (e.g. shared memory). */
export function trainingPart(data: TrainingData, share: <T extends Float32Array | Int32Array | Uint8Array>(a: T) => T): TrainingData {
  if (data.kind === 'text') return { ...data, train: share(data.train), test: new Uint8Array(0) };
  const t = data.train;
  // (bytes left in their file stay there)
  return { ...data, train: { ...t, images: isFileBytes(t.images) ? t.images : share(t.images), labels: share(t.labels) }, test: { ...data.test, images: new Float32Array(0), labels: new Int32Array(0), n: 0 } };
}
