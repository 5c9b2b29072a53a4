import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { DILOCO_DEFAULTS, DILOCO_SETTINGS, OUTER_OPTIMIZERS, type OuterOptimizer } from '../algorithms/diloco.js';
import { UsageError } from '../core/errors.js';
import { DEFAULT_BRAKING } from '../engine/optim/braking.js';

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
export function dilocoSettings(flags: { algo: string; innerSteps?: number; outerLr?: number; outerMomentum?: number; outerOptimizer?: OuterOptimizer; outerBraking?: number }) {
  const given = DILOCO_SETTINGS.find((k) => flags[k] !== undefined);
  if (given && flags.algo !== 'diloco') throw new UsageError(`${optionName(given)} applies to --algo diloco`);
  return { innerSteps: flags.innerSteps, outerLr: flags.outerLr, outerMomentum: flags.outerMomentum, outerOptimizer: flags.outerOptimizer, outerBraking: flags.outerBraking };
}

/** --braking: Adaptive Braking of the local optimizer (docs/algorithms.md §6); `scope` starts its description. */
export function addBrakingOption(cmd: Command, scope = 'local optimizer'): Command {
  return cmd.option(
    '--braking <rho>',
    `${scope}: Adaptive Braking, each tensor's gradient scaled by 1 − ρ·cos(gradient, momentum) before the momentum update (needs a momentum: SGD with --momentum > 0, or adamw; default ${DEFAULT_BRAKING}: off)`,
    real({ min: 0 }),
  );
}

/** DiLoCo's options (sim, train's clusters, peer); `scope` starts their descriptions (e.g. 'cluster, diloco'). */
export function addDilocoOptions(cmd: Command, scope: string): Command {
  const d = DILOCO_DEFAULTS;
  return cmd
    .option('--inner-steps <H>', `${scope}: inner steps between two outer steps (default ${d.innerSteps})`, integer(1))
    .option('--outer-lr <lr>', `${scope}: outer learning rate (default ${d.outerLr})`, real({ positive: true }))
    .option('--outer-momentum <m>', `${scope}: outer momentum (default ${d.outerMomentum})`, real({ min: 0, max: 0.999 }))
    .option('--outer-optimizer <kind>', `${scope}: ${OUTER_OPTIMIZERS.join(' or ')} (default ${d.outerOptimizer})`, oneOf(OUTER_OPTIMIZERS))
    .option('--outer-braking <rho>', `${scope}: Adaptive Braking of the outer step, each tensor's pseudo-gradient scaled by 1 − ρ·cos(pseudo-gradient, outer momentum) (default ${d.outerBraking}: off)`, real({ min: 0 }));
}
