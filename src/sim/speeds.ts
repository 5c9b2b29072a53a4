import { UsageError } from '../core/errors.js';
import { Rng } from '../core/rng.js';

export interface SpeedOptions {
  /** Explicit speeds, cycled over the workers (e.g. [1, 1, 0.5]). */
  list?: number[];
  /** A distribution: 'uniform:a:b' or 'lognormal:sigma' (median 1). */
  distribution?: string;
  /** Number of stragglers (the first k workers after a seeded shuffle) and their slow-down factor. */
  stragglers?: number;
  slowdown?: number;
  seed: number;
}

/** Gradient-clock rate of each worker (1 = one expected local step per unit of virtual time). */
export function workerSpeeds(n: number, opts: SpeedOptions): Float64Array {
  const speeds = new Float64Array(n).fill(1);
  const rng = new Rng(opts.seed).fork('speeds');
  if (opts.list) {
    for (let i = 0; i < n; i++) speeds[i] = opts.list[i % opts.list.length];
  } else if (opts.distribution) {
    const [kind, ...params] = opts.distribution.split(':');
    const p = params.map(Number);
    if (kind === 'uniform' && p.length === 2 && p[0] > 0 && p[1] >= p[0]) {
      for (let i = 0; i < n; i++) speeds[i] = p[0] + (p[1] - p[0]) * rng.uniform();
    } else if (kind === 'lognormal' && p.length === 1 && p[0] >= 0) {
      for (let i = 0; i < n; i++) speeds[i] = Math.exp(p[0] * rng.normal());
    } else {
      throw new UsageError(`bad speed distribution "${opts.distribution}": expected uniform:a:b (0 < a <= b) or lognormal:sigma`, { field: 'distribution' });
    }
  }
  const k = opts.stragglers ?? 0;
  if (k > 0) {
    if (k > n) throw new UsageError(`stragglers ${k} exceeds the number of workers (${n})`, { field: 'stragglers' });
    const slow = opts.slowdown ?? 3;
    if (!(slow >= 1)) throw new UsageError(`straggler slow-down must be at least 1, got ${slow}`, { field: 'slowdown' });
    const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
    for (let s = 0; s < k; s++) speeds[order[s]] /= slow;
  }
  return speeds;
}
