import { UsageError } from '../core/errors.js';
import { LeastSquares } from './least-squares.js';
import { Logistic } from './logistic.js';
import type { Objective } from './objective.js';
import { Quadratic } from './quadratic.js';

export const CONVEX_PROBLEMS = ['quadratic', 'least-squares', 'logistic'] as const;

export interface ProblemOptions {
  workers: number;
  seed: number;
  dim?: number;
  /** Additive Gaussian gradient noise. */
  noise?: number;
  /** ℓ2 regularisation (least-squares, logistic). */
  l2?: number;
  /** Samples per worker (least-squares, logistic). */
  samples?: number;
}

export type ObjectiveFactory = (opts: ProblemOptions) => Objective | Promise<Objective>;

/** Problems by name; neural objectives register themselves here too. */
const registry = new Map<string, ObjectiveFactory>([
  ['quadratic', (o) => new Quadratic({ workers: o.workers, dim: o.dim ?? 10, seed: o.seed, noise: o.noise })],
  ['least-squares', (o) => new LeastSquares({ workers: o.workers, dim: o.dim ?? 10, seed: o.seed, noise: o.noise, l2: o.l2, samples: o.samples })],
  ['logistic', (o) => new Logistic({ workers: o.workers, dim: o.dim ?? 10, seed: o.seed, noise: o.noise, l2: o.l2, samples: o.samples })],
]);

export function registerProblem(name: string, factory: ObjectiveFactory): void {
  registry.set(name, factory);
}

export function problemNames(): string[] {
  return [...registry.keys()];
}

export async function makeObjective(name: string, opts: ProblemOptions): Promise<Objective> {
  const factory = registry.get(name);
  if (!factory) throw new UsageError(`unknown problem "${name}" (expected one of ${problemNames().join(', ')})`);
  return factory(opts);
}
