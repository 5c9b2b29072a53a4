/**
 * The server's state (asynchronous Local-SGD) as one float32 vector, as a replica travels between peers
 * (net/server.ts): its float32 vectors, then the push count, its float64 vectors and its scalars, where the layout
 * (../server-memory.ts stateLayout) puts them. Counts are exact up to 2^24.
 */
import type { SavedState, ServerRole } from '../../algorithms/types.js';
import type { StateLayout } from '../server-memory.js';

/** Values of a packed state. */
export function packedLength(layout: StateLayout): number {
  return layout.floats + layout.doubles;
}

export function packState(layout: StateLayout, role: ServerRole): Float32Array {
  const { floats } = layout;
  const out = new Float32Array(packedLength(layout));
  const saved = role.saved();
  out[floats] = role.pushes;
  for (const v of layout.vectors) out.set(saved.vectors[v.name], v.f64 ? floats + v.offset : v.offset);
  for (const s of layout.scalars) out[floats + s.offset] = saved.scalars[s.name];
  return out;
}

/** The push count a packed state holds. */
export function packedPushes(layout: StateLayout, packed: Float32Array): number {
  return packed[layout.floats];
}

/** A packed state unpacked into fresh vectors. */
export function unpackState(layout: StateLayout, packed: Float32Array): SavedState {
  const { floats } = layout;
  const vectors: SavedState['vectors'] = {};
  for (const v of layout.vectors) {
    const at = v.f64 ? floats + v.offset : v.offset;
    vectors[v.name] = v.f64 ? Float64Array.from(packed.subarray(at, at + v.length)) : packed.slice(at, at + v.length);
  }
  const scalars: Record<string, number> = {};
  for (const s of layout.scalars) scalars[s.name] = packed[floats + s.offset];
  return { vectors, scalars };
}
