import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { DILOCO_OPTION_SCOPE, misappliedOption, scopeText } from '../algorithms/diloco-options.js';
import type { AlgorithmSetup } from '../algorithms/index.js';
import { DILOCO_DEFAULTS, OUTER_OPTIMIZERS, type OuterOptimizer } from '../algorithms/outer.js';
import { STREAMING_DEFAULTS, streamingRules } from '../algorithms/streaming-diloco.js';
import { ASYNC_DILOCO_OUTER_OPTIMIZER } from '../algorithms/async-diloco.js';
import { DPU_DEFAULT_WARMUP } from '../algorithms/dpu.js';
import { UsageError } from '../core/errors.js';
import type { OptimizerName, ScheduleName } from '../config/run.js';
import { OUTER_RECIPES, type OuterRecipe } from '../config/recipe.js';
import type { ModelName } from '../engine/models/index.js';
import type { DatasetName } from '../engine/training/data.js';
import { DEFAULT_ALPHA, SHARD_MODES, type DataSplit, type ShardMode } from '../data/shard.js';
import { DEFAULT_BRAKING } from '../engine/optim/braking.js';
import { CODECS, type Codec } from '../core/codecs.js';
import { LOG_FORMATS, type LogFormat } from '../report/metrics.js';

/** Commander argument parsers that reject bad numbers with a message naming the problem. */
export function integer(min = -Infinity, max = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[-+]?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected an integer, got "${value}"`);
    if (n < min) throw new InvalidArgumentError(`must be at least ${min}, got ${n}`);
    if (n > max) throw new InvalidArgumentError(`must be at most ${max}, got ${n}`);
    return n;
  };
}

export function real(opts: { min?: number; max?: number; positive?: boolean } = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${value}"`);
    if (opts.positive && n <= 0) throw new InvalidArgumentError(`must be positive, got ${n}`);
    if (opts.min !== undefined && n < opts.min) throw new InvalidArgumentError(`must be at least ${opts.min}, got ${n}`);
    if (opts.max !== undefined && n > opts.max) throw new InvalidArgumentError(`must be at most ${opts.max}, got ${n}`);
    return n;
  };
}

export function oneOf<T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got "${value}"`);
    return value as T;
  };
}

/** A comma-separated list of positive numbers, e.g. "1,1,0.5". */
export function realList(value: string): number[] {
  const parts = value.split(',').map((s) => Number(s.trim()));
  if (parts.length === 0 || parts.some((x) => !Number.isFinite(x) || x <= 0)) {
    throw new InvalidArgumentError(`expected a comma-separated list of positive numbers, got "${value}"`);
  }
  return parts;
}

/** --model-config: extra model options as a JSON object. */
export function modelConfig(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError(`must be a JSON object, got ${JSON.stringify(value.slice(0, 60))}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError('must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** The command-line spelling of an option from its camel-cased name (outerLr → --outer-lr). */
export function optionName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * A library's UsageError restated in this command line's terms: an error about a configuration field names the
 * field's flag — in place of the field's name when the message starts with it ("innerSteps applies to …" →
 * "--inner-steps applies to …"), else before the message. `flags` maps the fields whose flag is spelled otherwise
 * (algorithm → algo); any other error is returned as it is.
 */
export function inFlagTerms(err: unknown, flags: Readonly<Record<string, string>> = {}): unknown {
  if (!(err instanceof UsageError) || err.field === undefined) return err;
  const { field, message } = err;
  const flag = optionName(flags[field] ?? field);
  const named = new UsageError(message.startsWith(field) && !/\w/.test(message.charAt(field.length)) ? `${flag}${message.slice(field.length)}` : `${flag}: ${message}`);
  // --verbose shows where the input was refused, not where it was restated
  named.stack = err.stack;
  return named;
}

/** --braking: Adaptive Braking of the local optimizer (docs/algorithms.md §6); `scope` starts its description. */
export function addBrakingOption(cmd: Command, scope = 'local optimizer'): Command {
  return cmd.option(
    '--braking <rho>',
    `${scope}: Adaptive Braking, each tensor's gradient scaled by 1 − ρ·cos(gradient, momentum) before the momentum update (needs a momentum: SGD with --momentum > 0, or adamw; default ${DEFAULT_BRAKING}: off)`,
    real({ min: 0 }),
  );
}

/** --shard-optimizer: ACCO's and DPU's optimizer state sharded over the workers (ZeRO-1; docs/algorithms.md §6.3). */
export function addShardOptimizerOption(cmd: Command, scope: string, note = ''): Command {
  return cmd.option(
    '--shard-optimizer',
    `${scope}acco, dpu: shard the optimizer's state over the workers (ZeRO-1) — a reduce-scatter of the gradient sums, each worker's optimizer step on its own contiguous 1/n of the parameters with that shard's state only, an all-gather of the parameters; the same result and bytes sent as the all-reduce, 1/n of the optimizer's memory (not with --braking${note})`,
  );
}

/** --init: starting weights from a safetensors file of another program (engine/init-weights.ts). */
export function addInitOption(cmd: Command): Command {
  return cmd.option('--init <file>', 'start from the weights of a safetensors file, e.g. a PyTorch state_dict saved with safetensors (the same tensor names and shapes as the model\'s, docs/checkpoints.md; every worker starts from them)');
}

/** --codec and --error-feedback, one meaning in sim, train and peer (core/contribution.ts). */
export function addCodecOptions(cmd: Command, scope: string, fallback?: Codec): Command {
  return cmd
    .option('--codec <c>', `${scope}: payload codec of what crosses the links, f32 (default, exact), f16, i8 (blockwise 8-bit) or i4 (blockwise 4-bit): pairwise messages, contributions to collectives (gradients, pseudo-gradients) and their means, pushes to a server (closing averages and pulled models stay f32); receivers sum in float32 and emulated links charge the encoded size`, oneOf(CODECS), fallback)
    .option('--error-feedback', `${scope}, a lossy --codec with collectives or a server: every worker adds what the rounding of its earlier contributions dropped to its next one`);
}

/** --log-format: the metrics also as CSV and/or TensorBoard event files, next to metrics.jsonl. */
export function addLogFormatOption(cmd: Command): Command {
  return cmd.option('--log-format <formats>', `also write the metrics rows as ${LOG_FORMATS.join(' and/or ')}, comma-separated: metrics.csv, and TensorBoard event files under tensorboard/ (\`tensorboard --logdir <out>\`); metrics.jsonl is always written`, logFormats);
}

function logFormats(value: string): LogFormat[] {
  const parts = value.split(',').map((s) => s.trim());
  const bad = parts.find((p) => !(LOG_FORMATS as readonly string[]).includes(p));
  if (bad !== undefined) throw new InvalidArgumentError(`expected ${LOG_FORMATS.join(', ')} or both comma-separated, got "${value}"`);
  return [...new Set(parts as LogFormat[])];
}

/** A command's action whose UsageErrors name this command line's flags (inFlagTerms). */
export function namingFlags<A extends unknown[]>(action: (...args: A) => unknown, flags: Readonly<Record<string, string>> = {}): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await action(...args);
    } catch (err) {
      throw inFlagTerms(err, flags);
    }
  };
}

/**
 * The flags every training command shares (commander's camel-cased names): what is trained, how, and where it goes;
 * absent ones come from the recipe (config/recipe.ts), or a checkpoint's run with --resume.
 */
export interface TrainingFlags {
  logFormat?: LogFormat[];
  model?: ModelName;
  modelConfig?: Record<string, unknown>;
  dataset?: DatasetName;
  shard?: ShardMode;
  alpha?: number;
  seq?: number;
  limit?: number;
  evalLimit?: number;
  /** Budget in steps (a cluster: of all workers; a peer: of this worker). */
  steps?: number;
  batchSize?: number;
  optimizer?: OptimizerName;
  lr?: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  decayAll?: boolean;
  braking?: number;
  schedule?: ScheduleName;
  warmup?: number;
  clip?: number;
  seed?: number;
  out?: string;
  overwrite?: boolean;
  resume?: string;
  json?: boolean;
}

/** The flags of the DiLoCo family (commander's camel-cased names). */
export interface DilocoFlags {
  algo: string;
  innerSteps?: number;
  outerLr?: number;
  outerMomentum?: number;
  outerOptimizer?: OuterOptimizer;
  outerBraking?: number;
  dynamicH?: boolean;
  eager?: boolean;
  fragments?: number;
  overlap?: number;
  mix?: number;
  delayWarmup?: number;
}

/**
 * The DiLoCo family's flags as the settings of AlgorithmSetup; an option given with an algorithm it does not apply to
 * is refused, and so are settings that break Streaming DiLoCo's rules.
 */
export function dilocoSettings(flags: DilocoFlags): Pick<AlgorithmSetup, 'diloco' | 'streaming' | 'dynamicH' | 'delayWarmup'> {
  const misapplied = misappliedOption(flags.algo, flags);
  if (misapplied) throw new UsageError(`${optionName(misapplied.key)} applies to ${scopeText(misapplied.scope)}, not to ${flags.algo}`);
  const { innerSteps, outerLr, outerMomentum, outerOptimizer, outerBraking, dynamicH, eager, fragments, overlap, mix, delayWarmup } = flags;
  if (flags.algo === 'streaming-diloco') {
    try {
      streamingRules({ innerSteps, fragments, overlap, mix });
    } catch (err) {
      throw err instanceof RangeError ? new UsageError(err.message) : err;
    }
  }
  return { diloco: { innerSteps, outerLr, outerMomentum, outerOptimizer, outerBraking, eager }, streaming: { fragments, overlap, mix }, dynamicH, delayWarmup };
}

/**
 * The DiLoCo family's flags with the recipe's outer loop (config/recipe.ts) where the command line is silent, for
 * the algorithms each setting applies to.
 */
export function withOuterRecipe<F extends DilocoFlags>(flags: F, outer: OuterRecipe | null): F {
  if (!outer) return flags;
  const filled = { ...flags };
  for (const key of ['innerSteps', 'outerLr', 'outerMomentum'] as const) {
    const scope: readonly string[] = DILOCO_OPTION_SCOPE[key];
    if (filled[key] === undefined && scope.includes(flags.algo)) filled[key] = outer[key];
  }
  return filled;
}

/**
 * The DiLoCo family's options (sim, train's clusters, peer); `scope` starts their descriptions (e.g. 'cluster, ').
 * Their defaults: the papers' (sim), or the recipe's by the inner optimizer (train and peer, config/recipe.ts).
 */
export function addDilocoOptions(cmd: Command, scope: string, defaults: 'paper' | 'recipe' = 'paper'): Command {
  const d = DILOCO_DEFAULTS;
  const s = STREAMING_DEFAULTS;
  const { sgd, adamw } = OUTER_RECIPES;
  const byRecipe = (key: keyof OuterRecipe) => (defaults === 'recipe' ? `default ${sgd[key]} over SGD, ${adamw[key]} over AdamW` : `default ${d[key]}`);
  const all = `${scope}diloco, streaming-diloco, gossip-diloco, async-diloco`;
  return cmd
    .option('--inner-steps <H>', `${all}: inner steps between two outer steps of the model (streaming: of each fragment) (${byRecipe('innerSteps')})`, integer(1))
    .option('--outer-lr <lr>', `${all}: outer learning rate (${byRecipe('outerLr')})`, real({ positive: true }))
    .option('--outer-momentum <m>', `${all}: outer momentum (${byRecipe('outerMomentum')})`, real({ min: 0, max: 0.999 }))
    .option('--outer-optimizer <kind>', `${all}: ${OUTER_OPTIMIZERS.join(', ')} (default ${d.outerOptimizer}; for async-diloco ${ASYNC_DILOCO_OUTER_OPTIMIZER}, which only it has)`, oneOf(OUTER_OPTIMIZERS))
    .option('--dynamic-h', `${scope}async-diloco: Dynamic Local Updates, each worker's rounds take inner steps in proportion to its measured speed`)
    .option('--outer-braking <rho>', `${scope}diloco: Adaptive Braking of the outer step, each tensor's pseudo-gradient scaled by 1 − ρ·cos(pseudo-gradient, outer momentum) (default 0: off)`, real({ min: 0 }))
    .option('--eager', `${scope}diloco: eager outer steps — a round's all-reduce overlaps the next round, its outer step uses the local pseudo-gradient as a stand-in for the others' (default off)`)
    .option('--fragments <P>', `${scope}streaming-diloco: fragments of the model (strided over its layers), one synchronised every H/P steps; H must be a multiple of P (default ${s.fragments})`, integer(1))
    .option('--overlap <tau>', `${scope}streaming-diloco: local steps taken while a fragment's all-reduce is in flight, fewer than H/P (default ${s.overlap})`, integer(0))
    .option('--mix <alpha>', `${scope}streaming-diloco: weight of the local parameters when a synchronised fragment is merged, θ ← (1 − α) θ_global + α θ_local, in [0, 1] (default ${s.mix})`, real())
    .option('--delay-warmup <rounds>', `${scope}dpu: rounds that wait for their all-reduce before the updates are delayed by one step (default ${DPU_DEFAULT_WARMUP}; acco needs none)`, integer(0));
}

/**
 * How the training set is split across the workers (sim, train's clusters, peer): --shard and --alpha. No defaults
 * here: a resumed run takes its checkpoint's; dataSplit resolves what is left.
 */
export function addShardOptions(cmd: Command, scope: string): Command {
  return cmd
    .option('--shard <mode>', `${scope}: each worker's training data: full (the whole set, in its own order; the default), iid (disjoint random shards) or dirichlet (disjoint shards, label proportions ~ Dirichlet(--alpha)); the same split for the same --seed in sim, train and peer`, oneOf(SHARD_MODES))
    .option('--alpha <a>', `${scope}, --shard dirichlet: concentration of the label split, smaller is more heterogeneous (default ${DEFAULT_ALPHA})`, real({ positive: true }));
}

/** The split of --shard and --alpha (default: full); --alpha without --shard dirichlet is refused. */
export function dataSplit(flags: { shard?: ShardMode; alpha?: number }): DataSplit {
  const shard = flags.shard ?? 'full';
  if (flags.alpha !== undefined && shard !== 'dirichlet') throw new UsageError(`--alpha applies to --shard dirichlet, not to --shard ${shard}`);
  return shard === 'dirichlet' ? { shard, alpha: flags.alpha ?? DEFAULT_ALPHA } : { shard };
}
