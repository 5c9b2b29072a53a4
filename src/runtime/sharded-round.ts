/**
 * A worker's part in a round of a sharded optimizer (ZeRO-1, --shard-optimizer), once its contribution is in the
 * collective's slot: the reduce-scatter brings the mean of its shard, the algorithm steps on it with the shard's
 * optimizer, the all-gather brings the whole vector. Should the all-gather fail (a worker gone, or one that gave the
 * round up), the optimizer's state goes back to what it was and the round leaves no trace on this worker.
 */
import type { LocalOptimizer } from '../algorithms/local-optimizer.js';
import type { ParamRange, ShardedCompletion, WorkerState } from '../algorithms/types.js';
import type { ShardedRounds } from './transport.js';

export class ShardedRound {
  private mean: Float32Array;
  private readonly part: Float32Array;
  private readonly whole: Float32Array;
  private kept: Float32Array;

  constructor(private readonly shard: ParamRange, private readonly dim: number, private readonly optimizer: LocalOptimizer) {
    this.mean = new Float32Array(0);
    this.part = new Float32Array(shard.end - shard.start);
    this.whole = new Float32Array(dim);
    this.kept = new Float32Array(optimizer.state.length);
  }

  /** The round whose contribution (`length` values) is in the slot; resolves false when it failed or was cancelled. */
  async run(c: ShardedCompletion<WorkerState>, rounds: ShardedRounds, state: WorkerState, length: number, now: () => number, cancelled: () => boolean): Promise<boolean> {
    const { shard, dim, optimizer } = this;
    const len = shard.end - shard.start;
    if (this.mean.length !== len + length - dim) this.mean = new Float32Array(len + length - dim);
    const count = await rounds.reduceScatter(this.mean, [shard, { start: dim, end: length }], length, cancelled);
    if (count === 0) return false;
    this.kept.set(optimizer.state);
    const steps = optimizer.steps;
    c.completeShard(state, now(), shard, this.mean, optimizer, this.part);
    if ((await rounds.allGather(this.part, shard.start, this.whole)) === 0) {
      optimizer.loadState(this.kept, steps);
      return false;
    }
    c.gathered(state, now(), shard, this.whole, this.mean);
    return true;
  }
}
