import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { ASYNC_DILOCO_OUTER_OPTIMIZER } from '../algorithms/async-diloco.js';
import { DILOCO_DEFAULTS, OUTER_OPTIMIZERS, type OuterOptimizer } from '../algorithms/diloco.js';
import { DILOCO_FAMILY } from '../algorithms/index.js';
import { UsageError } from '../core/errors.js';

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

/** DiLoCo's flags as its settings; refused with another algorithm. */
export function dilocoSettings(flags: { algo: string; innerSteps?: number; outerLr?: number; outerMomentum?: number; outerOptimizer?: OuterOptimizer; dynamicH?: boolean }) {
  const given = (['innerSteps', 'outerLr', 'outerMomentum', 'outerOptimizer'] as const).find((k) => flags[k] !== undefined);
  if (given && !(DILOCO_FAMILY as readonly string[]).includes(flags.algo)) throw new UsageError(`${optionName(given)} applies to ${DILOCO_FAMILY.join(', ')}, not to ${flags.algo}`);
  if (flags.dynamicH && flags.algo !== 'async-diloco') throw new UsageError(`--dynamic-h applies to async-diloco, not to ${flags.algo}`);
  return { innerSteps: flags.innerSteps, outerLr: flags.outerLr, outerMomentum: flags.outerMomentum, outerOptimizer: flags.outerOptimizer };
}

/** DiLoCo's options (sim, train's clusters, peer); `scope` starts their descriptions (e.g. 'cluster'). */
export function addDilocoOptions(cmd: Command, scope?: string): Command {
  const d = DILOCO_DEFAULTS;
  const family = [scope, ...DILOCO_FAMILY].filter(Boolean).join(', ');
  return cmd
    .option('--inner-steps <H>', `${family}: inner steps between two outer steps (default ${d.innerSteps})`, integer(1))
    .option('--outer-lr <lr>', `${family}: outer learning rate (default ${d.outerLr})`, real({ positive: true }))
    .option('--outer-momentum <m>', `${family}: outer momentum (default ${d.outerMomentum})`, real({ min: 0, max: 0.999 }))
    .option(
      '--outer-optimizer <kind>',
      `${family}: ${OUTER_OPTIMIZERS.join(', ')} (default ${d.outerOptimizer}; for async-diloco ${ASYNC_DILOCO_OUTER_OPTIMIZER}, which only it has)`,
      oneOf(OUTER_OPTIMIZERS),
    )
    .option('--dynamic-h', `${[scope, 'async-diloco'].filter(Boolean).join(', ')}: Dynamic Local Updates, each worker's rounds take inner steps in proportion to its measured speed`);
}
