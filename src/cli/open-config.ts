/**
 * The run config of an open-mode cluster (`gossamer peer` without --index and --workers): what the first peer's flags
 * define and every later peer learns from the membership's announcements — the training record of config/run.ts, the
 * algorithm, the live topology, the communication rate, the budget of steps (the cluster's: a late joiner goes on from
 * the step of the worker it pulls from), the final averaging and the exchange deadline. Checked with its schema when it
 * arrives; a late joiner's own explicit flags must agree with it.
 */
import { z } from 'zod';
import { UsageError } from '../core/errors.js';
import { TrainingRecord } from '../config/run.js';
import { LIVE_TOPOLOGIES } from '../graph/circulant.js';
import { optionName } from './options.js';

/** The algorithms of open mode: pairwise ones (collectives need a fixed cluster). */
export const OPEN_ALGORITHMS = ['acid', 'gossip'] as const;

/** Bounds on what a config from a peer may ask of this process (its model options stay small). */
const MAX_MODEL_CONFIG_CHARS = 2048;
const MAX_BATCH = 1 << 16;

export const OpenRunConfig = TrainingRecord.extend({
  v: z.literal(1),
  modelConfig: z.record(z.string(), z.unknown()).refine((c) => JSON.stringify(c).length <= MAX_MODEL_CONFIG_CHARS, `at most ${MAX_MODEL_CONFIG_CHARS} characters of model options`).optional(),
  batchSize: z.number().int().positive().max(MAX_BATCH),
  algo: z.enum(OPEN_ALGORITHMS),
  topology: z.enum(LIVE_TOPOLOGIES),
  rate: z.number().min(0).max(64),
  steps: z.number().int().positive().max(1e9),
  /** When the first peer started (epoch ms): with a deadline, the schedule follows the time elapsed since. */
  started: z.number().int().positive(),
  /** A budget in time too: training ends at this wall-clock time (epoch ms) if the steps are not done by then (null: none). */
  deadline: z.number().int().positive().nullable(),
  seq: z.number().int().positive(),
  warmup: z.number().int().nonnegative(),
  codec: z.enum(['f32', 'f16', 'i8']),
  finalExchanges: z.number().int().nonnegative().max(1e6),
  timeout: z.number().int().positive().max(3_600_000),
}).strict();
export type OpenRunConfig = z.infer<typeof OpenRunConfig>;

/** The config a peer learned, checked: a one-line UsageError naming the first field at fault. */
export function parseOpenConfig(value: unknown): OpenRunConfig {
  const parsed = OpenRunConfig.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new UsageError(`the cluster announced an invalid run config (${issue.path.join('.') || '(root)'}: ${issue.message})`);
}

/**
 * A late joiner's explicit flags against the cluster's config: each one given must have the config's value (--clip 0
 * is the config's null).
 */
export function checkJoinerFlags(config: OpenRunConfig, flags: Record<string, unknown>, explicit: readonly string[]): void {
  for (const key of explicit) {
    if (!(key in config)) continue;
    const mine = key === 'clip' && flags.clip === 0 ? null : flags[key];
    const theirs = (config as Record<string, unknown>)[key];
    if (JSON.stringify(mine) !== JSON.stringify(theirs)) {
      throw new UsageError(`the cluster trains with ${optionName(key)} ${JSON.stringify(theirs)}; this peer was given ${optionName(key)} ${JSON.stringify(mine)} (leave it out to take the cluster's)`);
    }
  }
}
