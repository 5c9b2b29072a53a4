import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { DILOCO_DEFAULTS, OUTER_OPTIMIZERS, type OuterOptimizer } from '../algorithms/diloco.js';
import { UsageError } from '../core/errors.js';
import { DEFAULT_ALPHA, SHARD_MODES, type DataSplit, type ShardMode } from '../data/shard.js';

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

/** DiLoCo's flags as its settings; refused with another algorithm. */
export function dilocoSettings(flags: { algo: string; innerSteps?: number; outerLr?: number; outerMomentum?: number; outerOptimizer?: OuterOptimizer }) {
  const given = (['innerSteps', 'outerLr', 'outerMomentum', 'outerOptimizer'] as const).find((k) => flags[k] !== undefined);
  if (given && flags.algo !== 'diloco') throw new UsageError(`${optionName(given)} applies to --algo diloco`);
  return { innerSteps: flags.innerSteps, outerLr: flags.outerLr, outerMomentum: flags.outerMomentum, outerOptimizer: flags.outerOptimizer };
}

/** DiLoCo's options (sim, train's clusters, peer); `scope` starts their descriptions (e.g. 'cluster, diloco'). */
export function addDilocoOptions(cmd: Command, scope: string): Command {
  const d = DILOCO_DEFAULTS;
  return cmd
    .option('--inner-steps <H>', `${scope}: inner steps between two outer steps (default ${d.innerSteps})`, integer(1))
    .option('--outer-lr <lr>', `${scope}: outer learning rate (default ${d.outerLr})`, real({ positive: true }))
    .option('--outer-momentum <m>', `${scope}: outer momentum (default ${d.outerMomentum})`, real({ min: 0, max: 0.999 }))
    .option('--outer-optimizer <kind>', `${scope}: ${OUTER_OPTIMIZERS.join(' or ')} (default ${d.outerOptimizer})`, oneOf(OUTER_OPTIMIZERS));
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
