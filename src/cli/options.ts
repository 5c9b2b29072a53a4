import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { misappliedOption } from '../algorithms/diloco-options.js';
import type { AlgorithmSetup } from '../algorithms/index.js';
import { DILOCO_DEFAULTS, OUTER_OPTIMIZERS, type OuterOptimizer } from '../algorithms/outer.js';
import { STREAMING_DEFAULTS, streamingRules } from '../algorithms/streaming-diloco.js';
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

/** The flags of the DiLoCo family (commander's camel-cased names). */
export interface DilocoFlags {
  algo: string;
  innerSteps?: number;
  outerLr?: number;
  outerMomentum?: number;
  outerOptimizer?: OuterOptimizer;
  eager?: boolean;
  fragments?: number;
  overlap?: number;
  mix?: number;
}

/**
 * The DiLoCo family's flags as the settings of AlgorithmSetup; an option given with an algorithm it does not apply to
 * is refused, and so are settings that break Streaming DiLoCo's rules.
 */
export function dilocoSettings(flags: DilocoFlags): Pick<AlgorithmSetup, 'diloco' | 'streaming'> {
  const misapplied = misappliedOption(flags.algo, flags);
  if (misapplied) throw new UsageError(`${optionName(misapplied.key)} applies to --algo ${misapplied.scope.join(' or ')}`);
  const { innerSteps, outerLr, outerMomentum, outerOptimizer, eager, fragments, overlap, mix } = flags;
  if (flags.algo === 'streaming-diloco') {
    try {
      streamingRules({ innerSteps, fragments, overlap, mix });
    } catch (err) {
      throw err instanceof RangeError ? new UsageError(err.message) : err;
    }
  }
  return { diloco: { innerSteps, outerLr, outerMomentum, outerOptimizer, eager }, streaming: { fragments, overlap, mix } };
}

/** The DiLoCo family's options (sim, train's clusters, peer); `scope` starts their descriptions (e.g. 'cluster, '). */
export function addDilocoOptions(cmd: Command, scope: string): Command {
  const d = DILOCO_DEFAULTS;
  const s = STREAMING_DEFAULTS;
  const both = `${scope}diloco, streaming-diloco`;
  return cmd
    .option('--inner-steps <H>', `${both}: inner steps between two outer steps of the model (streaming: of each fragment) (default ${d.innerSteps})`, integer(1))
    .option('--outer-lr <lr>', `${both}: outer learning rate (default ${d.outerLr})`, real({ positive: true }))
    .option('--outer-momentum <m>', `${both}: outer momentum (default ${d.outerMomentum})`, real({ min: 0, max: 0.999 }))
    .option('--outer-optimizer <kind>', `${both}: ${OUTER_OPTIMIZERS.join(' or ')} (default ${d.outerOptimizer})`, oneOf(OUTER_OPTIMIZERS))
    .option('--eager', `${scope}diloco: eager outer steps — a round's all-reduce overlaps the next round, its outer step uses the local pseudo-gradient as a stand-in for the others' (default off)`)
    .option('--fragments <P>', `${scope}streaming-diloco: fragments of the model (strided over its layers), one synchronised every H/P steps; H must be a multiple of P (default ${s.fragments})`, integer(1))
    .option('--overlap <tau>', `${scope}streaming-diloco: local steps taken while a fragment's all-reduce is in flight, fewer than H/P (default ${s.overlap})`, integer(0))
    .option('--mix <alpha>', `${scope}streaming-diloco: weight of the local parameters when a synchronised fragment is merged, θ ← (1 − α) θ_global + α θ_local, in [0, 1] (default ${s.mix})`, real());
}
