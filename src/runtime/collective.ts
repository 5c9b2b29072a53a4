/**
 * The synchronous baseline's collective: an all-reduce (mean) of one vector per worker per round, in shared memory,
 * between the worker threads of one process. Each worker writes its contribution into its own slot, marks the
 * round as contributed and waits until every live worker has contributed to the round; then each worker sums the
 * contributions itself (native axpy, in worker order, so that every worker gets bit-identical means). Two slot sets
 * alternate between rounds: a worker can only be one round ahead of the slowest, so a slot is never rewritten while
 * someone still reads it. A worker that dies is marked dead by its supervisor: rounds it did not contribute to go
 * on without it, and every survivor agrees on which contributions a round has (exactly those marked contributed).
 *
 * Like a ring all-reduce, a round lasts as long as the slowest worker: the point of the baseline.
 */
import { DEFAULT_BLOCK_SIZE, payloadBytes, type Codec } from '../core/codecs.js';
import type { Backend } from '../engine/backend.js';
import { aggregate, type Aggregate } from './aggregate.js';
import { waitChange } from './shared-memory.js';
import type { Collective } from './transport.js';

/** Shared buffers of a collective among n workers (structured-cloneable). */
export interface CollectiveBuffers {
  n: number;
  /** slots[parity][worker]: contributions. */
  slots: Float32Array[][];
  /** Last round each worker contributed to (0: none). */
  done: Int32Array;
  /** 1 while the worker lives. */
  alive: Int32Array;
  /** Bumped at every contribution or death; waiters sleep on it. */
  epoch: Int32Array;
  /** A sharded optimizer's all-gather (sharded-collective.ts; null: none). */
  gather: GatherBuffers | null;
}

/** The all-gather's buffers: the gathered vector (one per parity of the round), each worker's last round published or given up. */
export interface GatherBuffers {
  vectors: Float32Array[];
  gathered: Int32Array;
  abandoned: Int32Array;
}

/** Buffers of contributions of `length` values; gathered vectors of `gather` values for a sharded optimizer (0: none). */
export function collectiveBuffers(n: number, length: number, gather = 0): CollectiveBuffers {
  const vec = (k: number) => () => new Float32Array(new SharedArrayBuffer(4 * k));
  const ints = (k: number) => new Int32Array(new SharedArrayBuffer(4 * k));
  const alive = ints(n).fill(1);
  return {
    n, slots: [Array.from({ length: n }, vec(length)), Array.from({ length: n }, vec(length))], done: ints(n), alive, epoch: ints(1),
    gather: gather > 0 ? { vectors: [vec(gather)(), vec(gather)()], gathered: ints(n), abandoned: ints(n) } : null,
  };
}

/**
 * Marks a worker dead and wakes the waiters (called by the supervisor when a worker's threads are gone), in the
 * collective's buffers or the server's.
 */
export function markDead(b: { alive: Int32Array; epoch: Int32Array }, worker: number): void {
  Atomics.store(b.alive, worker, 0);
  Atomics.add(b.epoch, 0, 1);
  Atomics.notify(b.epoch, 0);
}

export class SharedAllReduce implements Collective {
  protected round = 0;
  /** As a ring all-reduce would send them: 2(n − 1)/n of every contribution, for a round of n. */
  bytesSent = 0;

  /**
   * emulatedMs: how long a round's communication takes on emulated links (see ringAllReduceMs), for every round or
   * by the bytes of its contribution; the round ends that much later than the shared-memory reduction.
   */
  constructor(
    readonly self: number,
    protected readonly b: CollectiveBuffers,
    protected readonly backend: Backend,
    protected readonly emulatedMs: number | ((bytes: number) => number) = 0,
    /** How the contributions are combined (aggregate.ts). */
    private readonly rule: Aggregate = 'mean',
  ) {}

  /** The slot to write this worker's contribution of the next round into. */
  nextSlot(length: number): Float32Array {
    return this.b.slots[(this.round + 1) % 2][this.self].subarray(0, length);
  }

  /**
   * Publishes the contribution written into nextSlot() and writes the mean of the round's contributions into out.
   * Resolves with the number of contributions, or 0 when `cancelled()` became true while waiting.
   */
  async reduce(out: Float32Array, cancelled: () => boolean = () => false, codec: Codec = 'f32'): Promise<number> {
    const r = ++this.round;
    const { done, alive, epoch, n } = this.b;
    Atomics.store(done, this.self, r);
    Atomics.add(epoch, 0, 1);
    Atomics.notify(epoch, 0);
    for (;;) {
      const seen = Atomics.load(epoch, 0);
      let ready = true;
      for (let j = 0; j < n && ready; j++) if (Atomics.load(done, j) < r && Atomics.load(alive, j) === 1) ready = false;
      if (ready) break;
      if (cancelled()) return 0;
      await waitChange(epoch, 0, seen, 100);
    }
    const slots = this.b.slots[r % 2];
    // A contribution may cover a part of the model (its first out.length values of the slot).
    const contributions: Float32Array[] = [];
    for (let j = 0; j < n; j++) if (Atomics.load(done, j) >= r) contributions.push(slots[j].subarray(0, out.length));
    const count = contributions.length;
    if (this.rule === 'mean') {
      out.fill(0);
      for (const c of contributions) this.backend.axpy(1, c, out);
      this.backend.scale(out, 1 / count);
    } else aggregate(this.rule, contributions, out);
    const bytes = payloadBytes(codec, out.length, DEFAULT_BLOCK_SIZE);
    this.bytesSent += (2 * (count - 1) * bytes) / count;
    const ms = typeof this.emulatedMs === 'number' ? this.emulatedMs : this.emulatedMs(bytes);
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    return count;
  }
}

/**
 * Duration of a ring all-reduce of `bytes` among n workers whose consecutive links have the given one-way latencies
 * (ms) and bandwidths (bytes/s): 2(n − 1) steps, each moving 1/n of the vector over every link at once, so paced
 * by the slowest link.
 */
export function ringAllReduceMs(n: number, bytes: number, links: Array<{ latencyMs: number; bandwidth: number }>): number {
  if (n < 2 || links.length === 0) return 0;
  const latency = Math.max(...links.map((l) => l.latencyMs));
  const bandwidth = Math.min(...links.map((l) => l.bandwidth));
  const transfer = Number.isFinite(bandwidth) ? (1000 * bytes) / (n * bandwidth) : 0;
  return 2 * (n - 1) * (latency + transfer);
}
