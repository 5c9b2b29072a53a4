/**
 * The shards of a flat vector among the workers of a sharded optimizer (ZeRO-1, ACCO's --shard-optimizer): worker w
 * of n owns the contiguous range [⌊w·dim/n⌋, ⌊(w+1)·dim/n⌋) of the parameters, and keeps the optimizer's state of
 * that range only.
 */
import { UsageError } from '../core/errors.js';
import type { LayoutEntry } from '../engine/layout.js';
import type { ParamRange } from './param-range.js';

/** Worker w's shard of [0, dim) among n workers: contiguous, the shards' sizes differ by one at most. */
export function shardOf(dim: number, n: number, w: number): ParamRange {
  if (!(Number.isInteger(w) && w >= 0 && w < n)) throw new RangeError(`worker ${w} has no shard among ${n}`);
  return { start: Math.floor((w * dim) / n), end: Math.floor(((w + 1) * dim) / n) };
}

/** The layout's tensors cut to a shard, their offsets from the shard's start (what the shard's optimizer sees). */
export function shardLayout(layout: readonly LayoutEntry[], shard: ParamRange): LayoutEntry[] {
  const out: LayoutEntry[] = [];
  for (const e of layout) {
    const start = Math.max(e.offset, shard.start);
    const end = Math.min(e.offset + e.size, shard.end);
    if (end > start) out.push({ name: e.name, kind: e.kind, shape: [end - start], offset: start - shard.start, size: end - start });
  }
  return out;
}

/**
 * A shard's optimizer sees a part of the mean gradient: the settings that need all of it — clipping it (its global
 * norm), Adaptive Braking (the cosines of whole tensors) — are refused (UsageErrors naming the field).
 */
export function checkShardable(settings: { clip?: number | null; braking?: number }): void {
  if ((settings.clip ?? 0) > 0) throw new UsageError('shardOptimizer steps on shards of the mean gradient, and clipping it needs its global norm: a sharded optimizer does not clip', { field: 'shardOptimizer' });
  if ((settings.braking ?? 0) > 0) throw new UsageError('shardOptimizer steps on shards that cut tensors, whose cosines Adaptive Braking needs: a sharded optimizer does not brake', { field: 'shardOptimizer' });
}
