/**
 * Shared-memory plumbing of the threads of a cluster: control words, per-worker statistics, and moving an
 * algorithm's state onto SharedArrayBuffers.
 */
import type { Algorithm, WorkerState } from '../algorithms/types.js';

type WaitAsync = (a: Int32Array, index: number, value: number, timeoutMs?: number) => { async: boolean; value: Promise<string> | string };

/** Resolves when a[index] is no longer `value` (or after timeoutMs), without blocking the event loop. */
export async function waitChange(a: Int32Array, index: number, value: number, timeoutMs: number): Promise<void> {
  const w = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync(a, index, value, timeoutMs);
  if (w.async) await w.value;
}

export const sharedInts = (n: number): Int32Array => new Int32Array(new SharedArrayBuffer(4 * n));
export const sharedFloats = (n: number): Float32Array => new Float32Array(new SharedArrayBuffer(4 * n));
export const sharedDoubles = (n: number): Float64Array => new Float64Array(new SharedArrayBuffer(8 * n));

/** Copies a typed array onto shared memory. */
export function toShared<T extends Float32Array | Float64Array | Int32Array | Uint8Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const Ctor = a.constructor as new (b: SharedArrayBuffer) => T;
  const out = new Ctor(new SharedArrayBuffer(a.byteLength));
  out.set(a as never);
  return out;
}

/**
 * Moves the flat vectors of an algorithm's worker state onto shared memory: `x` becomes the given buffer (after
 * taking the state's values), every other Float32Array / Float64Array field (x̃, momentum) a shared copy. The
 * handlers reach their vectors through the state object, so they keep working unchanged; other threads (the
 * compute loop, the supervisor) read the same memory.
 */
export function shareState<S extends object>(state: S, x: Float32Array): S {
  const fields = state as unknown as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    const v = fields[key];
    if (!(v instanceof Float32Array || v instanceof Float64Array)) continue;
    if (key === 'x') {
      if (v.length !== x.length) throw new Error(`state.x has ${v.length} values, the shared buffer ${x.length}`);
      if (v !== x) x.set(v);
      fields.x = x;
    } else {
      fields[key] = toShared(v);
    }
  }
  return state;
}

/** A copy of an algorithm's worker state besides x (A2CiD2's x̃ and time), as the algorithm lists it. */
export function savedCopy<S extends WorkerState>(algorithm: Algorithm<S>, state: S): { vectors: Record<string, Float32Array>; scalars: Record<string, number> } {
  const saved = algorithm.saved(state);
  const vectors: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(saved.vectors)) vectors[k] = Float32Array.from(v);
  return { vectors, scalars: { ...saved.scalars } };
}

/**
 * Puts a saved state (from savedCopy) back into an algorithm's worker state; a vector or scalar the algorithm does
 * not keep, or a vector of another length, is left out and reported through `log` (a checkpoint of another version).
 */
export function restoreSaved<S extends WorkerState>(
  algorithm: Algorithm<S>, state: S, saved: { vectors: Record<string, Float32Array>; scalars?: Record<string, number> }, log: (line: string) => void,
): void {
  const own = algorithm.saved(state);
  const vectors: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(saved.vectors)) {
    if (own.vectors[k]?.length === v.length) vectors[k] = v;
    else log(`the checkpoint's ${k} does not fit this algorithm's state: ignored`);
  }
  const scalars: Record<string, number> = {};
  for (const [k, v] of Object.entries(saved.scalars ?? {})) {
    if (k in own.scalars && Number.isFinite(v)) scalars[k] = v;
    else log(`the checkpoint's ${k} does not fit this algorithm's state: ignored`);
  }
  algorithm.restore(state, { vectors, scalars });
}

/** Global control words of a cluster (Int32Array slots). */
export const G = {
  /** Gradient steps taken by all workers together. */
  STEPS: 0,
  /** 1 once the run must stop (budget reached, interrupted). */
  STOP: 1,
  /** 1 once every thread may start (all are ready). */
  START: 2,
  SIZE: 4,
} as const;

/** Control words between a worker's agent and its compute thread. */
export const C = {
  /** Steps the compute thread may have started (the agent raises it; the compute thread waits on it). */
  GO: 0,
  /** 1: the compute thread must exit. */
  STOP: 1,
  /** 1 while a step claimed against the budget has not been counted yet (a killed worker gives it back). */
  CLAIM: 2,
  SIZE: 3,
} as const;

/** Lets the compute thread of this control block start one more step. */
export function permitStep(control: Int32Array): void {
  Atomics.add(control, C.GO, 1);
  Atomics.notify(control, C.GO);
}

/** Tells the compute thread of this control block to exit (after the gradient it may be computing). */
export function stopCompute(control: Int32Array): void {
  Atomics.store(control, C.STOP, 1);
  Atomics.notify(control, C.GO);
}

/** Per-worker statistics (Float64Array slots), written by the worker's threads, read by the supervisor. */
export const S = {
  STEPS: 0,
  EXCHANGES: 1,
  /** Loss of the last local step. */
  LOSS: 2,
  /** Local time (expected local steps). */
  TIME: 3,
  /** Time the compute loop waited for communication (ms). */
  IDLE_MS: 4,
  /** Time spent computing gradients, slow-down included (ms). */
  COMPUTE_MS: 5,
  /** Time spent applying local steps in the handlers (ms). */
  APPLY_MS: 6,
  /** Wall time since the worker started (ms). */
  WALL_MS: 7,
  LR: 8,
  PROPOSED: 9,
  BUSY: 10,
  TIMEOUTS: 11,
  ABORTED: 12,
  /** Exchanges owed to the rate control but given up after a long wait. */
  FORGIVEN: 13,
  /** Moving average of one local step (ms). */
  STEP_MS: 14,
  /** 1 once the worker has stopped. */
  DONE: 15,
  /** Time the exchanges spent in the handlers (ms). */
  EXCHANGE_MS: 16,
  /** Neighbours' messages refused by the bounds (exchange-guard.ts). */
  REJECTED: 17,
  /** Payload bytes this worker sent: its messages, its share of the collectives, its pushes (see agent.ts). */
  BYTES_SENT: 18,
  /** 1 + the partner of the last pairwise exchange (0: none yet). */
  LAST_PEER: 19,
  SIZE: 20,
} as const;
