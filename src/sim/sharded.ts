/**
 * A sharded collective in the simulator (ZeRO-1, --shard-optimizer): a reduce-scatter hands worker w the mean of its
 * shard of the contributions (shardOf), the worker steps on it with its shard's optimizer, and an all-gather hands
 * every worker the whole vector of the workers' parts. The mean is the one the drivers sum for an all-reduce, so a
 * sharded run takes the same values as an unsharded one. On the wire, a ring reduce-scatter then a ring all-gather
 * each take n − 1 steps moving 1/n of the vector: every worker sends (n − 1)/n of its contribution, then (n − 1)/n of
 * the parameters, the bytes of a ring all-reduce but for the extra scalars, which the all-gather does not carry.
 */
import type { LocalOptimizer } from '../algorithms/local-optimizer.js';
import { shardOf } from '../algorithms/shards.js';
import type { ShardedCompletion, WorkerState } from '../algorithms/types.js';
import { allocVec, type Dtype, type Vec } from '../core/vec.js';

/** Completes a round of the given mean ([dim values, extra scalars]) on every worker through its shard. */
export function completeSharded(sharded: ShardedCompletion<WorkerState>, states: WorkerState[], t: number, mean: Vec, optimizers: LocalOptimizer[], dim: number, dtype: Dtype): void {
  const n = states.length;
  const whole = allocVec(dtype, dim);
  const parts: Vec[] = [];
  const shards = states.map((_, i) => shardOf(dim, n, i));
  for (let i = 0; i < n; i++) {
    const shard = shards[i];
    const len = shard.end - shard.start;
    const part = allocVec(dtype, len + mean.length - dim);
    part.set(mean.subarray(shard.start, shard.end));
    part.set(mean.subarray(dim), len);
    parts.push(part);
    sharded.completeShard(states[i], t, shard, part, optimizers[i], whole.subarray(shard.start, shard.end));
  }
  for (let i = 0; i < n; i++) sharded.gathered(states[i], t, shards[i], whole, parts[i]);
}

/** Payload bytes of a sharded round among n workers, all together: a reduce-scatter of `len` values, an all-gather of dim. */
export function shardedRoundBytes(n: number, len: number, dim: number): number {
  return (n - 1) * 4 * len + (n - 1) * 4 * dim;
}
