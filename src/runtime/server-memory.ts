/**
 * The shared memory of a cluster's server (asynchronous Local-SGD) between the worker threads of one process:
 * - per worker, its push — the pseudo-gradient, then its round, steps and speed, then a ticket drawn from one counter
 *   (its place in the arrival order; 0 before its first push), stored last so that a published push is whole — and
 *   the server's answer to it: the model, the next round's inner steps, then the ticket answered;
 * - per worker, a replica of the server's state (the role's saved vectors and scalars, after a header holding its
 *   push count) in two slots that alternate with a commit count: the server writes the slot not committed and then
 *   commits it, so that a holder killed while writing leaves the last committed state whole. The server commits
 *   into its backup's replica and into its own (which the supervisor reads the cluster's model from);
 * - alive flags, and an epoch that every push, answer and death bumps (waiters sleep on it).
 * All of it is structured-cloneable: every thread gets the same views.
 */
import type { SavedState, ServerRole } from '../algorithms/types.js';
import { sharedDoubles, sharedFloats, sharedInts } from './shared-memory.js';

/** Where each saved vector and scalar of the server's state lives in a replica slot. */
export interface StateLayout {
  vectors: Array<{ name: string; f64: boolean; offset: number; length: number }>;
  scalars: Array<{ name: string; offset: number }>;
  /** Float32 and float64 values per slot (the float64 ones after a one-value header: the push count). */
  floats: number;
  doubles: number;
}

export interface ServerBuffers {
  n: number;
  dim: number;
  /** The model the server starts from when no replica is committed yet. */
  initial: Float32Array;
  pushes: Float32Array[];
  answers: Float32Array[];
  /** [round, steps, speed] of each worker's latest push. */
  meta: Float64Array;
  /** The inner steps of each worker's next round, as answered. */
  innerSteps: Int32Array;
  /** Ticket of each worker's latest published push, and of the latest answered (0: none). */
  pushed: Int32Array;
  answered: Int32Array;
  tickets: Int32Array;
  layout: StateLayout;
  /** Per worker: its replica's two slots, and its commit count (the slot of commit c is c % 2; 0: none). */
  replicaFloats: Float32Array[];
  replicaDoubles: Float64Array[];
  committed: Int32Array;
  alive: Int32Array;
  epoch: Int32Array;
}

/** The layout of a server state like `saved`. */
export function stateLayout(saved: SavedState): StateLayout {
  const vectors: StateLayout['vectors'] = [];
  let floats = 0;
  let doubles = 1;
  for (const [name, v] of Object.entries(saved.vectors)) {
    const f64 = v instanceof Float64Array;
    vectors.push({ name, f64, offset: f64 ? doubles : floats, length: v.length });
    if (f64) doubles += v.length;
    else floats += v.length;
  }
  const scalars = Object.keys(saved.scalars).map((name) => ({ name, offset: doubles++ }));
  return { vectors, scalars, floats, doubles };
}

/** Buffers for n workers and a server whose state is like `template`'s, starting from its model. */
export function serverBuffers(n: number, template: ServerRole): ServerBuffers {
  const layout = stateLayout(template.saved());
  const dim = template.model.length;
  const initial = sharedFloats(dim);
  initial.set(template.model);
  return {
    n, dim, initial, layout,
    pushes: Array.from({ length: n }, () => sharedFloats(dim)),
    answers: Array.from({ length: n }, () => sharedFloats(dim)),
    meta: sharedDoubles(3 * n),
    innerSteps: sharedInts(n),
    pushed: sharedInts(n),
    answered: sharedInts(n),
    tickets: sharedInts(1),
    replicaFloats: Array.from({ length: n }, () => sharedFloats(2 * layout.floats)),
    replicaDoubles: Array.from({ length: n }, () => sharedDoubles(2 * layout.doubles)),
    committed: sharedInts(n),
    alive: sharedInts(n).fill(1),
    epoch: sharedInts(1),
  };
}

/** Wakes everyone waiting on the buffers' epoch. */
export function bump(b: { epoch: Int32Array }): void {
  Atomics.add(b.epoch, 0, 1);
  Atomics.notify(b.epoch, 0);
}

function slots(b: ServerBuffers, holder: number, commit: number): { floats: Float32Array; doubles: Float64Array } {
  const { floats, doubles } = b.layout;
  const s = commit % 2;
  return { floats: b.replicaFloats[holder].subarray(s * floats, (s + 1) * floats), doubles: b.replicaDoubles[holder].subarray(s * doubles, (s + 1) * doubles) };
}

/** Writes the server's state into holder's replica and commits it. */
export function commitReplica(b: ServerBuffers, holder: number, role: ServerRole): void {
  const next = Atomics.load(b.committed, holder) + 1;
  const { floats, doubles } = slots(b, holder, next);
  const saved = role.saved();
  doubles[0] = role.pushes;
  for (const v of b.layout.vectors) (v.f64 ? doubles : floats).set(saved.vectors[v.name], v.offset);
  for (const s of b.layout.scalars) doubles[s.offset] = saved.scalars[s.name];
  Atomics.store(b.committed, holder, next);
}

/** The push count of holder's committed replica (-1: none). */
export function replicaPushes(b: ServerBuffers, holder: number): number {
  const c = Atomics.load(b.committed, holder);
  return c === 0 ? -1 : slots(b, holder, c).doubles[0];
}

/** holder's committed replica as a saved state (views into the slot: restore copies them). */
export function replicaState(b: ServerBuffers, holder: number): SavedState | null {
  const c = Atomics.load(b.committed, holder);
  if (c === 0) return null;
  const { floats, doubles } = slots(b, holder, c);
  const vectors: SavedState['vectors'] = {};
  for (const v of b.layout.vectors) vectors[v.name] = (v.f64 ? doubles : floats).subarray(v.offset, v.offset + v.length);
  const scalars: SavedState['scalars'] = {};
  for (const s of b.layout.scalars) scalars[s.name] = doubles[s.offset];
  return { vectors, scalars };
}

/** A copy of the freshest committed replica's state (null: none committed yet). */
export function freshestServerState(b: ServerBuffers): SavedState | null {
  const holder = freshestReplica(b, () => true);
  const state = holder < 0 ? null : replicaState(b, holder);
  if (!state) return null;
  const vectors: SavedState['vectors'] = {};
  for (const [k, v] of Object.entries(state.vectors)) vectors[k] = v.slice();
  return { vectors, scalars: { ...state.scalars } };
}

/** Starts a server from a saved state: committed into every worker's replica, so that whoever holds it takes it up. */
export function seedReplicas(b: ServerBuffers, role: ServerRole, saved: SavedState): void {
  role.restore(saved);
  for (let i = 0; i < b.n; i++) commitReplica(b, i, role);
}

/** The holder, among those `eligible`, of the committed replica with the most pushes (-1: none has one). */
export function freshestReplica(b: ServerBuffers, eligible: (i: number) => boolean): number {
  let best = -1;
  let most = -1;
  for (let i = 0; i < b.n; i++) {
    const p = eligible(i) ? replicaPushes(b, i) : -1;
    if (p > most) {
      best = i;
      most = p;
    }
  }
  return best;
}

/**
 * Copies the model of the freshest committed replica into out (the vector named `model` of the server's state);
 * false when none is committed yet. Retries while a commit lands during the copy, so that the copy is whole.
 */
export function readServerModel(b: ServerBuffers, out: Float32Array): boolean {
  const entry = b.layout.vectors.find((v) => v.name === 'model' && !v.f64);
  if (!entry) throw new Error('the server\'s state has no float32 vector named model');
  for (let attempt = 0; attempt < 100; attempt++) {
    const holder = freshestReplica(b, () => true);
    if (holder < 0) return false;
    const before = Atomics.load(b.committed, holder);
    out.set(slots(b, holder, before).floats.subarray(entry.offset, entry.offset + entry.length));
    if (Atomics.load(b.committed, holder) === before) return true;
  }
  return false;
}
