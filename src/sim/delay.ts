/**
 * Delayed gradients (`gossamer sim --gradient-delay`): the gradient of a worker's k-th local step is computed at the
 * point its (k − D_k)-th local step asked for — x_{k−D_k}, the parameters of D_k local steps before (x_0 while
 * k < D_k) — as when gradients come back from a deep pipeline, an accelerator or a parameter server D updates late.
 * D_k is fixed, or drawn uniformly in {a, …, b} at every step from the worker's own seeded stream. The step itself
 * (the optimizer, the algorithm) is unchanged: it applies the stale gradient at the current parameters.
 *
 * Each worker keeps a ring of its last max D + 1 points (allocated as it fills). The wrapper sits between the
 * algorithm and the objective, so it delays the gradient of every algorithm whose local step takes one. With D = 0
 * the simulator leaves the gradient sources as they are: its outputs are those of a run without the option.
 */
import type { GradientSource } from '../algorithms/types.js';
import { UsageError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import { allocVec, type Dtype, type Vec } from '../core/vec.js';

/** A fixed delay D (min = max = D) or one drawn uniformly in {min, …, max} at every step. */
export interface GradientDelay {
  readonly min: number;
  readonly max: number;
}

/** The command line's spelling: "D" (a fixed delay) or "uniform:a:b" (a delay drawn per step, a ≤ b). */
export function parseGradientDelay(spec: string): GradientDelay {
  const int = (s: string) => (/^\s*\d+\s*$/.test(s) ? Number(s) : NaN);
  const fixed = int(spec);
  if (Number.isSafeInteger(fixed)) return checkGradientDelay({ min: fixed, max: fixed });
  const m = /^uniform:([^:]*):([^:]*)$/.exec(spec.trim());
  if (!m || !Number.isSafeInteger(int(m[1])) || !Number.isSafeInteger(int(m[2]))) {
    throw new UsageError(`expected a number of steps D ≥ 0 or uniform:a:b with integers 0 ≤ a ≤ b, got "${spec}"`);
  }
  return checkGradientDelay({ min: int(m[1]), max: int(m[2]) });
}

/** A delay must be integers 0 ≤ min ≤ max. */
export function checkGradientDelay(d: GradientDelay): GradientDelay {
  if (!(Number.isSafeInteger(d.min) && Number.isSafeInteger(d.max) && d.min >= 0)) {
    throw new UsageError(`the gradient delay must be whole steps ≥ 0 (got ${d.min}…${d.max})`);
  }
  if (d.min > d.max) throw new UsageError(`uniform:${d.min}:${d.max} has its smallest delay above its largest (uniform:a:b needs a ≤ b)`);
  return d;
}

/** Whether a delay delays anything (D = 0 does not). */
export function delays(d: GradientDelay | undefined): d is GradientDelay {
  return d !== undefined && d.max > 0;
}

/**
 * The gradient source of one worker with its gradients delayed: step k evaluates `source` at the point given to
 * step k − D_k. `rng` draws D_k when the delay is a range (one draw per step, also while k < D_k).
 */
export function delayedSource(source: GradientSource, delay: GradientDelay, rng: Rng, dtype: Dtype): GradientSource {
  const capacity = delay.max + 1;
  const spread = delay.max - delay.min;
  const ring: Vec[] = [];
  let k = 0;
  return (x, grad) => {
    const slot = k % capacity;
    if (ring.length <= slot) ring.push(allocVec(dtype, x.length));
    ring[slot].set(x);
    const d = Math.min(k, spread === 0 ? delay.min : delay.min + rng.int(spread + 1));
    const at = ring[(k - d) % capacity];
    k++;
    return source(at, grad);
  };
}
