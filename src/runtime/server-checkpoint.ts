/**
 * The state of asynchronous Local-SGD's server in a checkpoint, the same way in a cluster's (cluster-checkpoint.ts)
 * and a networked worker's (net/peer-checkpoint.ts), under a tensor prefix of the caller's:
 *
 *   <prefix><field>   [size]   its float32 vectors (the global model, the outer momentum, the buffer)
 *   metadata server_saved = JSON { vectors: [field, ...], small: {field: [values]}, scalars: {name: value} }
 *   (small: its per-worker float64 vectors — rounds applied, speeds, pulls — as lists)
 */
import type { SavedState } from '../algorithms/types.js';
import { UsageError } from '../core/errors.js';
import type { Checkpoint } from '../engine/checkpoint.js';

/** Adds the tensors and metadata that record a server's state. */
export function serverContents(server: SavedState, prefix: string, into: { tensors: Map<string, Float32Array>; metadata: Record<string, string> }): void {
  const vectors: string[] = [];
  const small: Record<string, number[]> = {};
  for (const [field, v] of Object.entries(server.vectors)) {
    if (v instanceof Float32Array) {
      into.tensors.set(`${prefix}${field}`, v);
      vectors.push(field);
    } else small[field] = Array.from(v);
  }
  into.metadata.server_saved = JSON.stringify({ vectors, small, scalars: server.scalars });
}

/**
 * The server's state recorded in a checkpoint, checked against the layout of a fresh server's (`template`); null
 * when none is recorded. A malformed record is a UsageError naming the file.
 */
export function savedServerState(ck: Checkpoint, template: SavedState, prefix: string): SavedState | null {
  const text = ck.metadata.server_saved;
  if (text === undefined) return null;
  const bad = (why: string): never => {
    throw new UsageError(`checkpoint ${ck.file}: invalid server state (${why})`);
  };
  let record: { vectors?: unknown; small?: unknown; scalars?: unknown };
  try {
    record = JSON.parse(text) as typeof record;
  } catch {
    return bad('"server_saved" is not JSON');
  }
  const small = (record.small ?? {}) as Record<string, unknown>;
  const scalars = (record.scalars ?? {}) as Record<string, unknown>;
  const vectors: SavedState['vectors'] = {};
  for (const [field, like] of Object.entries(template.vectors)) {
    if (like instanceof Float32Array) {
      const t = ck.extra.get(`${prefix}${field}`);
      if (!t || t.length !== like.length) bad(`${prefix}${field} ${t ? `has ${t.length} values, expected ${like.length}` : 'is missing'}`);
      vectors[field] = t!;
    } else {
      const values = small[field];
      if (!Array.isArray(values) || values.length !== like.length || !values.every((v) => typeof v === 'number' && Number.isFinite(v))) bad(`${field}: expected ${like.length} numbers`);
      vectors[field] = Float64Array.from(values as number[]);
    }
  }
  const out: SavedState = { vectors, scalars: {} };
  for (const name of Object.keys(template.scalars)) {
    const v = scalars[name];
    if (typeof v !== 'number' || !Number.isFinite(v)) bad(`scalar ${name}: ${JSON.stringify(v)}`);
    out.scalars[name] = v as number;
  }
  return out;
}
