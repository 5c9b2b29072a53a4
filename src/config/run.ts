/**
 * What a training run is, as one schema shared by every mode — `gossamer train` with one worker or a cluster,
 * `gossamer peer`, and the checkpoints they write — so that a run record is written and checked one way. The
 * defaults of a run live beside it, in recipe.ts.
 *
 * A record holds the settings of the training itself (model, data, batch, optimizer, schedule, clipping, seed);
 * each mode extends it with its own (a cluster's graph and algorithm, a peer's index). Fields a checkpoint of an
 * earlier version may lack are optional here, and their absence means the value documented on the field.
 */
import { z } from 'zod';
import { UsageError } from '../core/errors.js';
import { MODEL_NAMES, type ModelName } from '../engine/models/index.js';
import { SHARD_MODES } from '../data/shard.js';
import { DATASETS } from '../engine/training/data.js';

/** The optimizers of a run's local steps. */
export const OPTIMIZERS = ['sgd', 'adamw'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** The learning-rate schedules (multistep: the authors' ×gamma at fixed fractions of the budget). */
export const SCHEDULES = ['constant', 'cosine', 'step', 'multistep'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

/** The compute backends one may ask for. */
export const BACKENDS = ['auto', 'js', 'native'] as const;

const count = z.number().int().positive();

/** The settings of the training itself, as every run record holds them. */
export const TrainingRecord = z.object({
  model: z.enum(MODEL_NAMES as unknown as [ModelName, ...ModelName[]]),
  /** Extra model options, merged over those the data set implies (absent: none). */
  modelConfig: z.record(z.string(), z.unknown()).optional(),
  dataset: z.enum(DATASETS),
  /** How the training set is split across the workers (absent: 'full', each worker on the whole set). */
  shard: z.enum(SHARD_MODES).optional(),
  /** 'dirichlet': the concentration of the label split. */
  alpha: z.number().positive().optional(),
  /** Context length of text models (absent: DEFAULT_SEQ). */
  seq: count.optional(),
  /** Training examples (images) or characters (text) kept (absent or null: all). */
  limit: count.nullish(),
  /** Test examples (images) or windows (text) per evaluation (absent or null: the whole test set). */
  evalLimit: count.nullish(),
  batchSize: count,
  optimizer: z.enum(OPTIMIZERS),
  lr: z.number().positive(),
  /** SGD's momentum (0 for AdamW). */
  momentum: z.number().min(0).max(0.999),
  /** SGD: Nesterov momentum (absent: false). */
  nesterov: z.boolean().optional(),
  weightDecay: z.number().min(0),
  /** Weight decay on biases and norm parameters too (absent: false). */
  decayAll: z.boolean().optional(),
  /** Adaptive Braking's ρ (absent: 0, off). */
  braking: z.number().min(0).optional(),
  schedule: z.enum(SCHEDULES),
  /** Linear warm-up steps (absent: the mode's default). */
  warmup: z.number().nonnegative().optional(),
  /** cosine: final rate (absent: 0). */
  minLr: z.number().min(0).optional(),
  /** step: steps between decays (absent or null: a third of the budget). */
  stepSize: count.nullish(),
  /** step and multistep: decay factor (absent: 0.1). */
  gamma: z.number().positive().optional(),
  /** multistep: fractions of the budget where the rate decays (absent: 0.5 and 0.75). */
  milestones: z.array(z.number()).optional(),
  /** Gradient clipping norm (null: none). */
  clip: z.number().positive().nullable(),
  seed: z.number().int().nonnegative(),
});
export type TrainingSettings = z.infer<typeof TrainingRecord>;

/**
 * A run record checked against its schema: the parsed record, or a UsageError naming the file, what was being
 * read and the first field at fault.
 */
export function parseRunRecord<S extends z.ZodTypeAny>(schema: S, record: unknown, file: string, reading: string): z.infer<S> {
  const parsed = schema.safeParse(record);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new UsageError(`checkpoint ${file}: ${reading}: invalid run at ${issue.path.join('.') || '(root)'}: ${issue.message}`);
}
