import { UsageError } from '../core/errors.js';
import type { Vec } from '../core/vec.js';
import type { ParamRange } from './types.js';

/**
 * The outer loop of the DiLoCo family (docs/algorithms.md §5): the round length H and the outer optimizer, their
 * defaults and checks, and the outer step — one definition for DiLoCo, its eager variant and Streaming DiLoCo.
 */

/** The outer optimizers; delayed-nesterov is asynchronous Local-SGD's (outer-server.ts), the others every member's. */
export const OUTER_OPTIMIZERS = ['sgd', 'nesterov', 'delayed-nesterov'] as const;
export type OuterOptimizer = (typeof OUTER_OPTIMIZERS)[number];

/** The paper's outer step and round length. */
export const DILOCO_DEFAULTS = { innerSteps: 500, outerLr: 0.7, outerMomentum: 0.9, outerOptimizer: 'nesterov' as OuterOptimizer };

export interface OuterOptions {
  /** H: inner steps between two outer steps. @default 500 */
  innerSteps?: number;
  /** Outer learning rate. @default 0.7 */
  outerLr?: number;
  /** Outer momentum μ. @default 0.9 */
  outerMomentum?: number;
  /** 'nesterov' (the paper's), 'sgd' (heavy-ball momentum, or none with μ = 0) or, asynchronous Local-SGD only, 'delayed-nesterov'. @default 'nesterov' */
  outerOptimizer?: OuterOptimizer;
}

/** The resolved outer loop: H, lr, μ, the rule, and whether the step is Nesterov's. */
export interface OuterLoop {
  readonly H: number;
  readonly lr: number;
  readonly mu: number;
  readonly optimizer: OuterOptimizer;
  readonly nesterov: boolean;
}

/**
 * Resolves the defaults and checks the settings (a UsageError names the first bad field); `rules` are the outer
 * optimizers the algorithm has, `defaultRule` the one it takes when none is given.
 */
export function outerLoop(
  opts: OuterOptions, algorithm = 'diloco', rules: readonly OuterOptimizer[] = ['sgd', 'nesterov'], defaultRule: OuterOptimizer = DILOCO_DEFAULTS.outerOptimizer,
): OuterLoop {
  const H = opts.innerSteps ?? DILOCO_DEFAULTS.innerSteps;
  const lr = opts.outerLr ?? DILOCO_DEFAULTS.outerLr;
  const mu = opts.outerMomentum ?? DILOCO_DEFAULTS.outerMomentum;
  const optimizer = opts.outerOptimizer ?? defaultRule;
  if (!(Number.isInteger(H) && H >= 1)) throw new UsageError(`the inner steps per round must be a positive integer (got ${H})`, { field: 'innerSteps' });
  if (!(lr > 0)) throw new UsageError(`the outer learning rate must be positive (got ${lr})`, { field: 'outerLr' });
  if (!(mu >= 0 && mu < 1)) throw new UsageError(`the outer momentum must be in [0, 1) (got ${mu})`, { field: 'outerMomentum' });
  if (!rules.includes(optimizer)) throw new UsageError(`${algorithm}'s outer optimizer is ${rules.join(' or ')}, not ${optimizer}`, { field: 'outerOptimizer' });
  return { H, lr, mu, optimizer, nesterov: optimizer === 'nesterov' };
}

/**
 * The outer step from θ with the pseudo-gradient Δ, on the given ranges of θ and m (Δ packs them in order):
 *   nesterov: m ← μ m + Δ;  θ ← θ − lr (Δ + μ m)        sgd: m ← μ m + Δ;  θ ← θ − lr m
 * Ranges outside those given are left as they are: each fragment keeps its own outer optimizer state. `alike`, when
 * given, receives the same increment as θ (gossip-DiLoCo's second copy of the outer model).
 */
export function outerStep(loop: OuterLoop, outer: Vec, m: Vec, delta: Vec, ranges: readonly ParamRange[], alike: Vec | null = null): void {
  const { lr, mu, nesterov } = loop;
  let j = 0;
  for (const r of ranges) {
    for (let k = r.start; k < r.end; k++, j++) {
      const d = delta[j];
      const b = mu * m[k] + d;
      m[k] = b;
      const step = lr * (nesterov ? d + mu * b : b);
      outer[k] -= step;
      if (alike) alike[k] -= step;
    }
  }
}

/** Writes the pseudo-gradient Δ = θ − x over the given ranges into out, packed in order. */
export function pseudoGradient(outer: Vec, x: Vec, ranges: readonly ParamRange[], out: Vec): void {
  let j = 0;
  for (const r of ranges) for (let k = r.start; k < r.end; k++, j++) out[j] = outer[k] - x[k];
}
