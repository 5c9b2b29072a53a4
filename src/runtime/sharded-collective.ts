/**
 * A sharded optimizer's rounds (ZeRO-1, --shard-optimizer) in shared memory between the worker threads of one
 * process. The reduce-scatter publishes the whole contribution, as the all-reduce does (collective.ts), but each
 * worker sums only its own shard of the contributions (in worker order, the all-reduce's arithmetic: the same bits);
 * then each worker writes its part of the round's vector into the gathered vector of the round's parity and reads
 * the whole once every worker has written its own. A round needs every worker: one gone, or one that gave the round up
 * after contributing (stopped while waiting), fails it for all — before anyone has applied any of it but its own
 * shard's step. The slots and the gathered vectors alternate between rounds: a worker that writes a round's part has
 * seen every worker begin that round, so everyone has read the gathered vector of two rounds before.
 *
 * Bytes as a ring reduce-scatter and a ring all-gather send them: (n − 1)/n of the contribution, then (n − 1)/n of
 * the vector; each half lasts half a ring all-reduce on emulated links.
 */
import type { Collective, ShardedRounds } from './transport.js';
import { SharedAllReduce, type GatherBuffers } from './collective.js';
import { waitChange } from './shared-memory.js';

export class SharedShardedCollective extends SharedAllReduce implements Collective, ShardedRounds {
  readonly sharded: ShardedRounds = this;

  private get gather(): GatherBuffers {
    if (!this.b.gather) throw new Error('a sharded collective needs the buffers of its all-gather');
    return this.b.gather;
  }

  async reduceScatter(out: Float32Array, parts: ReadonlyArray<{ start: number; end: number }>, length: number, cancelled: () => boolean = () => false): Promise<number> {
    const r = ++this.round;
    const { done, alive, epoch, n } = this.b;
    this.signal(done, r);
    for (;;) {
      const seen = Atomics.load(epoch, 0);
      let ready = true;
      for (let j = 0; j < n && ready; j++) if (Atomics.load(done, j) < r && Atomics.load(alive, j) === 1) ready = false;
      if (ready) break;
      if (cancelled()) {
        this.signal(this.gather.abandoned, r);
        return 0;
      }
      await waitChange(epoch, 0, seen, 100);
    }
    for (let j = 0; j < n; j++) {
      if (Atomics.load(done, j) < r) {
        this.signal(this.gather.abandoned, r);
        return 0;
      }
    }
    const slots = this.b.slots[r % 2];
    out.fill(0);
    for (let j = 0; j < n; j++) {
      let at = 0;
      for (const { start, end } of parts) {
        this.backend.axpy(1, slots[j].subarray(start, end), out.subarray(at, at + end - start));
        at += end - start;
      }
    }
    this.backend.scale(out, 1 / n);
    await this.half(4 * length, n);
    return n;
  }

  async allGather(part: Float32Array, at: number, out: Float32Array): Promise<number> {
    const r = this.round;
    const { alive, epoch, n } = this.b;
    const { vectors, gathered, abandoned } = this.gather;
    const whole = vectors[r % 2];
    whole.set(part, at);
    this.signal(gathered, r);
    for (;;) {
      const seen = Atomics.load(epoch, 0);
      let ready = true;
      for (let j = 0; j < n; j++) {
        if (Atomics.load(gathered, j) >= r) continue;
        if (Atomics.load(alive, j) === 0 || Atomics.load(abandoned, j) >= r) return 0;
        ready = false;
      }
      if (ready) break;
      await waitChange(epoch, 0, seen, 100);
    }
    out.set(whole.subarray(0, out.length));
    await this.half(4 * out.length, n);
    return n;
  }

  /** Marks this worker's round in a word of the buffers and wakes the waiters. */
  private signal(words: Int32Array, r: number): void {
    const { epoch } = this.b;
    Atomics.store(words, this.self, r);
    Atomics.add(epoch, 0, 1);
    Atomics.notify(epoch, 0);
  }

  /** One half of a ring all-reduce of `bytes`: (n − 1)/n of them sent, half the round's emulated time. */
  private async half(bytes: number, n: number): Promise<void> {
    this.bytesSent += ((n - 1) * bytes) / n;
    const ms = (typeof this.emulatedMs === 'number' ? this.emulatedMs : this.emulatedMs(bytes)) / 2;
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  }
}
