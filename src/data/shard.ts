/**
 * Splitting a dataset across workers. A shard is an Int32Array of example indices, sorted ascending; the shards of
 * one call partition [0, n) exactly (every index in exactly one shard).
 */
import { UsageError } from '../core/errors.js';
import { Rng } from '../core/rng.js';

/**
 * How a training set is split across workers: 'full' — every worker sees the whole set in its own order (the
 * authors' default); 'iid' — disjoint random shards of equal size; 'dirichlet' — disjoint shards whose label
 * proportions follow Dirichlet(α) (non-iid).
 */
export const SHARD_MODES = ['full', 'iid', 'dirichlet'] as const;
export type ShardMode = (typeof SHARD_MODES)[number];
/** Dirichlet concentration when none is given. */
export const DEFAULT_ALPHA = 0.5;

export interface DataSplit {
  shard: ShardMode;
  /** Concentration of the Dirichlet split (smaller: more heterogeneous); default DEFAULT_ALPHA. */
  alpha?: number;
}

/** The labelled examples a split works on. */
export interface Labelled {
  n: number;
  labels: Int32Array;
  classes: number;
}

/** The stream a run's shards are drawn from: a function of its seed, the same in the simulator and the runtime. */
export function shardRng(seed: number): Rng {
  return new Rng(seed).fork('neural-data');
}

/** Each worker's examples under a split, drawn from rng; null for 'full' (every worker has them all). */
export function splitExamples(data: Labelled, workers: number, split: DataSplit, rng: Rng): Int32Array[] | null {
  switch (split.shard) {
    case 'full':
      return null;
    case 'iid':
      return shardIid(data.n, workers, rng);
    case 'dirichlet':
      return shardDirichlet(data.labels, workers, split.alpha ?? DEFAULT_ALPHA, rng, data.classes);
  }
}

/**
 * The examples of every worker of a run with this split and seed: what `gossamer sim`, the threads of
 * `gossamer train --workers N` and the processes of `gossamer peer` give worker i (null: the whole set each).
 */
export function workerShards(data: Labelled, workers: number, split: DataSplit, seed: number): Int32Array[] | null {
  return splitExamples(data, workers, split, shardRng(seed));
}

/** A short fingerprint of a set of example indices (FNV-1a over them, 8 hex digits), to compare runs' splits. */
export function examplesDigest(indices: ArrayLike<number>): string {
  let h = 0x811c9dc5;
  for (let k = 0; k < indices.length; k++) {
    let v = indices[k] >>> 0;
    for (let b = 0; b < 4; b++) {
      h = Math.imul(h ^ (v & 0xff), 0x01000193);
      v >>>= 8;
    }
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** The examples of a worker: its shard, or all n in order. */
export function examplesOf(shards: Int32Array[] | null, worker: number, n: number): Int32Array {
  return shards ? shards[worker] : Int32Array.from({ length: n }, (_, i) => i);
}

/** iid shards: a seeded random permutation of [0, n) cut into `workers` parts of ⌊n/workers⌋ or ⌈n/workers⌉ examples. */
export function shardIid(n: number, workers: number, rng: Rng): Int32Array[] {
  checkWorkers(n, workers);
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  rng.shuffle(perm);
  const base = Math.floor(n / workers);
  const extra = n % workers;
  const shards: Int32Array[] = [];
  let at = 0;
  for (let w = 0; w < workers; w++) {
    const size = base + (w < extra ? 1 : 0);
    shards.push(perm.slice(at, at + size).sort());
    at += size;
  }
  return shards;
}

/**
 * Non-iid shards by label (the Dirichlet partition of Hsu et al., 2019). For each class c, in turn, proportions
 * p ~ Dirichlet(α, …, α) over the workers are drawn and the class's examples (in a seeded random order) are
 * dealt out in counts p_w · n_c rounded by largest remainder, so the counts add up exactly. Small α gives each
 * worker few classes; large α approaches an iid split (in label proportions, not in shard sizes).
 *
 * Every worker must get at least one example: afterwards, each empty worker in turn takes one randomly chosen
 * example from the currently largest shard. This needs n ≥ workers.
 *
 * When α is so small that the gamma draws underflow to zero, the whole class goes to one worker chosen uniformly
 * (the α → 0 limit of the Dirichlet).
 */
export function shardDirichlet(labels: Int32Array, workers: number, alpha: number, rng: Rng, classes?: number): Int32Array[] {
  const n = labels.length;
  checkWorkers(n, workers);
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new UsageError(`Dirichlet α must be a positive number, got ${alpha}`);
  let k = classes ?? 0;
  if (classes === undefined) for (let i = 0; i < n; i++) k = Math.max(k, labels[i] + 1);
  // Examples of each class, in index order.
  const byClass: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= k) throw new UsageError(`label ${y} of example ${i} is outside [0, ${k})`);
    byClass[y].push(i);
  }
  const owned: number[][] = Array.from({ length: workers }, () => []);
  const counts = new Int32Array(workers);
  const remainders = new Float64Array(workers);
  const order = new Int32Array(workers);
  for (let c = 0; c < k; c++) {
    const members = rng.shuffle(byClass[c]);
    const m = members.length;
    const p = rng.dirichlet(workers, alpha);
    let valid = true;
    for (let w = 0; w < workers; w++) if (!Number.isFinite(p[w])) valid = false;
    if (!valid) {
      p.fill(0);
      p[rng.int(workers)] = 1;
    }
    // Largest-remainder rounding of p · m.
    let assigned = 0;
    for (let w = 0; w < workers; w++) {
      const exact = p[w] * m;
      counts[w] = Math.floor(exact);
      remainders[w] = exact - counts[w];
      assigned += counts[w];
      order[w] = w;
    }
    order.sort((a, b) => remainders[b] - remainders[a] || a - b);
    for (let r = 0; assigned < m; r++, assigned++) counts[order[r % workers]]++;
    let at = 0;
    for (let w = 0; w < workers; w++) {
      for (let j = 0; j < counts[w]; j++) owned[w].push(members[at + j]);
      at += counts[w];
    }
  }
  for (let w = 0; w < workers; w++) {
    if (owned[w].length > 0) continue;
    let largest = 0;
    for (let v = 1; v < workers; v++) if (owned[v].length > owned[largest].length) largest = v;
    const from = owned[largest];
    const j = rng.int(from.length);
    owned[w].push(from[j]);
    from[j] = from[from.length - 1];
    from.pop();
  }
  return owned.map((ix) => Int32Array.from(ix).sort());
}

/** Label histogram of each shard: counts[w][c] = number of examples of class c in shard w. */
export function shardLabelCounts(labels: Int32Array, shards: Int32Array[], classes: number): Int32Array[] {
  return shards.map((s) => {
    const h = new Int32Array(classes);
    for (let k = 0; k < s.length; k++) h[labels[s[k]]]++;
    return h;
  });
}

function checkWorkers(n: number, workers: number): void {
  if (!Number.isInteger(workers) || workers < 1) throw new UsageError(`number of workers must be a positive integer, got ${workers}`);
  if (n < workers) throw new UsageError(`cannot shard ${n} examples across ${workers} workers (each needs at least one)`);
}
