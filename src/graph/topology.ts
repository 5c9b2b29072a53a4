/**
 * Communication topologies.
 *
 * A Graph carries the neighbour lists that the workers draw their partners from (built as the official A2CiD2
 * code builds them, so that a neighbour may appear twice) and the unique undirected edges. The communication
 * rate of every edge follows from the lists (see rates.ts).
 *
 * Built-in topologies (n = number of workers):
 * - complete: every pair.
 * - ring: the cycle 0–1–…–(n−1)–0 (n = 2 gives one edge).
 * - path: the ring without the edge (n−1, 0).
 * - star: worker 0 in the centre.
 * - torus: a rows × cols grid with wrap-around, worker a·cols + b at (a, b). Without `rows`, rows is the largest
 *   divisor of n not above √n (a square when n is a perfect square); rows and cols must both be at least 3, so
 *   that every worker has four distinct neighbours.
 * - hypercube: n = 2^k, i linked to i xor 2^b.
 * - exponential: n = 2^k, i linked to i ± 2^j mod n for j = 0..k−1, each neighbour listed once.
 * - exponential-official: the same graph with the lists of the official code, where i + n/2 = i − n/2 is listed
 *   twice; the edge (i, i + n/2) then carries twice the rate of the others.
 * - erdos-renyi: each pair linked with probability p (default min(1, 2 ln n / n)). A disconnected draw is
 *   redrawn with seed + 1, seed + 2, … (at most 100 draws, so the result is G(n, p) conditioned on being
 *   connected); `meta.draws` says how many were needed.
 * - geometric: n points uniform in the unit square (seeded), linked when at most `radius` apart (default
 *   √(2 ln n / (π n))). Components are then joined by the edges of the Euclidean minimum spanning tree that are
 *   longer than the radius: the fewest and shortest links that make it connected (`meta.joined` counts them).
 *
 * Any other name is read as an edge-list file (see readEdgeFile).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { UsageError } from '../core/errors.js';
import { Rng } from '../core/rng.js';

/**
 * What a closed-form spectral computation may rely on. 'cayley': node i is the element of
 * Z_dims[0] × Z_dims[1] × … whose mixed-radix digits (most significant first) spell i, and the graph (with its
 * rates) is invariant under every translation of that group.
 */
export type GraphStructure = { kind: 'complete' } | { kind: 'star'; center: number } | { kind: 'cayley'; dims: number[] };

export interface Graph {
  n: number;
  name: string;
  /** neighbour lists exactly as the official A2CiD2 code builds them; may repeat a neighbour (exponential-official lists n/2 twice) */
  neighbors: number[][];
  /** unique undirected edges, i < j, sorted */
  edges: Array<[number, number]>;
  /** symmetry that allows closed-form spectral quantities (absent for random and custom graphs) */
  structure?: GraphStructure;
  /** how the graph was built: seed, p, radius, rows × cols, redraws, joined edges, source file */
  meta?: Record<string, number | string>;
}

export const TOPOLOGIES: readonly string[] = [
  'complete',
  'ring',
  'path',
  'star',
  'torus',
  'hypercube',
  'exponential',
  'exponential-official',
  'erdos-renyi',
  'geometric',
];

export interface TopologyOptions {
  /** seed of erdos-renyi and geometric (default 0) */
  seed?: number;
  /** edge probability of erdos-renyi, in (0, 1] */
  p?: number;
  /** connection radius of geometric, > 0 */
  radius?: number;
  /** rows of the torus (must divide n) */
  rows?: number;
}

/** Largest number of workers accepted by the built-in topologies (the complete graph is limited further). */
export const MAX_NODES = 1 << 20;
/** Largest complete graph (its edge list grows as n²/2: 4096 workers answer in a few seconds and 1 GB). */
export const MAX_COMPLETE_NODES = 4096;
const MAX_DRAWS = 100;

/**
 * A built-in topology by name, or the graph of an edge-list file when `name` is not a built-in name.
 * For a file, n must equal the file's number of nodes, or be 0 to take it from the file.
 */
export function makeTopology(name: string, n: number, opts: TopologyOptions = {}): Graph {
  if (!TOPOLOGIES.includes(name)) {
    if (looksLikeFile(name)) {
      const g = readEdgeFile(name);
      if (n !== 0 && n !== g.n) throw new UsageError(`edge file "${name}" has ${g.n} nodes but ${n} workers were asked for`);
      return g;
    }
    throw new UsageError(`unknown topology "${name}": expected one of ${TOPOLOGIES.join(', ')}, or an edge-list file`);
  }
  checkWorkers(n);
  switch (name) {
    case 'complete':
      return complete(n);
    case 'ring':
      return ring(n);
    case 'path':
      return path(n);
    case 'star':
      return star(n);
    case 'torus':
      return torus(n, opts.rows);
    case 'hypercube':
      return hypercube(n);
    case 'exponential':
      return exponential(n, false);
    case 'exponential-official':
      return exponential(n, true);
    case 'erdos-renyi':
      return erdosRenyi(n, opts.p, opts.seed ?? 0);
    case 'geometric':
      return geometric(n, opts.radius, opts.seed ?? 0);
  }
  throw new Error(`topology ${name} has no builder`);
}

function looksLikeFile(name: string): boolean {
  try {
    return existsSync(name) && statSync(name).isFile();
  } catch {
    return false;
  }
}

function checkWorkers(n: number): void {
  if (!Number.isInteger(n)) throw new UsageError(`the number of workers must be an integer, got ${n}`);
  if (n < 2) throw new UsageError(`a graph needs at least 2 workers, got ${n}`);
  if (n > MAX_NODES) throw new UsageError(`at most ${MAX_NODES} workers are supported, got ${n}`);
}

function checkPowerOfTwo(name: string, n: number): number {
  const k = Math.round(Math.log2(n));
  if (2 ** k !== n) throw new UsageError(`the ${name} topology needs a power of two workers, got ${n}`);
  return k;
}

export function complete(n: number): Graph {
  checkWorkers(n);
  if (n > MAX_COMPLETE_NODES) throw new UsageError(`the complete graph is limited to ${MAX_COMPLETE_NODES} workers, got ${n}`);
  const neighbors: number[][] = [];
  for (let i = 0; i < n; i++) {
    const list: number[] = [];
    for (let j = 0; j < n; j++) if (j !== i) list.push(j);
    neighbors.push(list);
  }
  return finish('complete', neighbors, { kind: 'complete' });
}

export function ring(n: number): Graph {
  checkWorkers(n);
  const neighbors: number[][] = [];
  for (let i = 0; i < n; i++) neighbors.push(n === 2 ? [1 - i] : [(i - 1 + n) % n, (i + 1) % n]);
  return finish('ring', neighbors, { kind: 'cayley', dims: [n] });
}

export function path(n: number): Graph {
  checkWorkers(n);
  const neighbors: number[][] = [];
  for (let i = 0; i < n; i++) {
    const list: number[] = [];
    if (i > 0) list.push(i - 1);
    if (i < n - 1) list.push(i + 1);
    neighbors.push(list);
  }
  return finish('path', neighbors);
}

export function star(n: number): Graph {
  checkWorkers(n);
  const neighbors: number[][] = [[]];
  for (let i = 1; i < n; i++) {
    neighbors[0].push(i);
    neighbors.push([0]);
  }
  return finish('star', neighbors, { kind: 'star', center: 0 });
}

/** rows × cols used by the torus for n workers (see the file comment). */
export function torusShape(n: number, rows?: number): { rows: number; cols: number } {
  if (rows !== undefined) {
    if (!Number.isInteger(rows) || rows < 3) throw new UsageError(`the torus needs at least 3 rows, got ${rows}`);
    if (n % rows !== 0) throw new UsageError(`torus rows (${rows}) must divide the number of workers (${n})`);
    if (n / rows < 3) throw new UsageError(`the torus needs at least 3 columns, got ${n / rows} (${n} workers in ${rows} rows)`);
    return { rows, cols: n / rows };
  }
  let best = 1;
  for (let d = 1; d * d <= n; d++) if (n % d === 0) best = d;
  if (best < 3) {
    throw new UsageError(`the torus needs n = rows x cols with rows, cols >= 3 (e.g. 9, 12, 16, 25), got ${n} workers`);
  }
  return { rows: best, cols: n / best };
}

export function torus(n: number, rowsOpt?: number): Graph {
  checkWorkers(n);
  const { rows, cols } = torusShape(n, rowsOpt);
  const neighbors: number[][] = [];
  for (let a = 0; a < rows; a++) {
    for (let b = 0; b < cols; b++) {
      neighbors.push([
        ((a - 1 + rows) % rows) * cols + b,
        ((a + 1) % rows) * cols + b,
        a * cols + ((b - 1 + cols) % cols),
        a * cols + ((b + 1) % cols),
      ]);
    }
  }
  return finish('torus', neighbors, { kind: 'cayley', dims: [rows, cols] }, { rows, cols });
}

export function hypercube(n: number): Graph {
  checkWorkers(n);
  const k = checkPowerOfTwo('hypercube', n);
  const neighbors: number[][] = [];
  for (let i = 0; i < n; i++) {
    const list: number[] = [];
    for (let b = 0; b < k; b++) list.push(i ^ (1 << b));
    neighbors.push(list);
  }
  return finish('hypercube', neighbors, { kind: 'cayley', dims: new Array<number>(k).fill(2) });
}

/** Exponential graph; `official` keeps the duplicated entry i + n/2 = i − n/2 of the official code. */
export function exponential(n: number, official: boolean): Graph {
  checkWorkers(n);
  const name = official ? 'exponential-official' : 'exponential';
  const k = checkPowerOfTwo(name, n);
  const neighbors: number[][] = [];
  for (let i = 0; i < n; i++) {
    const list: number[] = [];
    for (let j = 0; j < k; j++) {
      const s = 2 ** j;
      for (const v of [(i + s) % n, (i - s + n) % n]) if (official || !list.includes(v)) list.push(v);
    }
    neighbors.push(list);
  }
  return finish(name, neighbors, { kind: 'cayley', dims: [n] });
}

export function defaultEdgeProbability(n: number): number {
  return Math.min(1, (2 * Math.log(n)) / n);
}

export function erdosRenyi(n: number, pOpt: number | undefined, seed: number): Graph {
  checkWorkers(n);
  checkSeed(seed);
  const p = pOpt ?? defaultEdgeProbability(n);
  if (!(p > 0 && p <= 1)) throw new UsageError(`the edge probability p must be in (0, 1], got ${p}`);
  for (let draw = 0; draw < MAX_DRAWS; draw++) {
    const rng = new Rng(seed + draw);
    const edges: Array<[number, number]> = [];
    if (p === 1) {
      for (let j = 1; j < n; j++) for (let i = 0; i < j; i++) edges.push([i, j]);
    } else {
      // Batagelj–Brandes: jump over the absent pairs (j, i), i < j, with geometric gaps.
      const logq = Math.log(1 - p);
      let j = 1;
      let i = -1;
      while (j < n) {
        i += 1 + Math.floor(Math.log(1 - rng.uniform()) / logq);
        while (i >= j && j < n) {
          i -= j;
          j++;
        }
        if (j < n) edges.push([i, j]);
      }
    }
    if (countComponents(n, edges) === 1) {
      return fromEdges('erdos-renyi', n, edges, { seed, p, draws: draw + 1 });
    }
  }
  throw new UsageError(
    `erdos-renyi with p = ${p} gave no connected graph on ${n} workers in ${MAX_DRAWS} draws: raise p (ln(n)/n = ${(Math.log(n) / n).toPrecision(3)})`,
  );
}

export function defaultRadius(n: number): number {
  return Math.sqrt((2 * Math.log(n)) / (Math.PI * n));
}

export function geometric(n: number, radiusOpt: number | undefined, seed: number): Graph {
  checkWorkers(n);
  checkSeed(seed);
  const radius = radiusOpt ?? defaultRadius(n);
  if (!(radius > 0) || !Number.isFinite(radius)) throw new UsageError(`the radius must be a positive number, got ${radius}`);
  const rng = new Rng(seed);
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = rng.uniform();
    y[i] = rng.uniform();
  }
  const r2 = radius * radius;
  const edges: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const dx = x[i] - x[j];
      const dy = y[i] - y[j];
      if (dx * dx + dy * dy <= r2) edges.push([i, j]);
    }
  }
  let joined = 0;
  if (countComponents(n, edges) > 1) {
    // Prim's algorithm on the complete Euclidean graph; its edges longer than the radius join the components.
    const inTree = new Uint8Array(n);
    const dist = new Float64Array(n).fill(Infinity);
    const parent = new Int32Array(n).fill(-1);
    dist[0] = 0;
    for (let step = 0; step < n; step++) {
      let u = -1;
      for (let v = 0; v < n; v++) if (!inTree[v] && (u < 0 || dist[v] < dist[u])) u = v;
      inTree[u] = 1;
      if (parent[u] >= 0 && dist[u] > r2) {
        edges.push([Math.min(u, parent[u]), Math.max(u, parent[u])]);
        joined++;
      }
      for (let v = 0; v < n; v++) {
        if (inTree[v]) continue;
        const dx = x[u] - x[v];
        const dy = y[u] - y[v];
        const d = dx * dx + dy * dy;
        if (d < dist[v]) {
          dist[v] = d;
          parent[v] = u;
        }
      }
    }
  }
  return fromEdges('geometric', n, edges, { seed, radius, joined });
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) throw new UsageError(`the seed must be an integer, got ${seed}`);
}

/**
 * A graph from undirected edges: duplicates (in either orientation) are merged, each neighbour is listed once
 * in increasing order. Self loops, out-of-range or non-integer nodes and disconnected graphs are refused.
 */
export function fromEdges(
  name: string,
  n: number,
  edgeList: ReadonlyArray<readonly [number, number]>,
  meta?: Record<string, number | string>,
  label = name,
): Graph {
  if (!Number.isInteger(n) || n < 2) throw new UsageError(`${label}: a graph needs at least 2 nodes, got ${n}`);
  const sets: Array<Set<number>> = Array.from({ length: n }, () => new Set<number>());
  edgeList.forEach(([i, j], k) => {
    if (!Number.isInteger(i) || !Number.isInteger(j)) throw new UsageError(`${label}: edge ${k} (${i}, ${j}) has a node that is not an integer`);
    if (i < 0 || j < 0 || i >= n || j >= n) throw new UsageError(`${label}: edge ${k} (${i}, ${j}) has a node outside 0..${n - 1}`);
    if (i === j) throw new UsageError(`${label}: edge ${k} is a self loop at node ${i}`);
    sets[i].add(j);
    sets[j].add(i);
  });
  const neighbors = sets.map((s) => [...s].sort((a, b) => a - b));
  return finish(name, neighbors, undefined, meta, label);
}

/** Completes a graph from its neighbour lists: the sorted unique edges, and a connectivity check. */
function finish(
  name: string,
  neighbors: number[][],
  structure?: GraphStructure,
  meta?: Record<string, number | string>,
  label = name,
): Graph {
  const n = neighbors.length;
  const edges: Array<[number, number]> = [];
  const stamp = new Int32Array(n).fill(-1);
  const bigger: number[] = [];
  for (let i = 0; i < n; i++) {
    bigger.length = 0;
    let sorted = true;
    for (const j of neighbors[i]) {
      if (j > i && stamp[j] !== i) {
        stamp[j] = i;
        if (bigger.length > 0 && j < bigger[bigger.length - 1]) sorted = false;
        bigger.push(j);
      }
    }
    if (!sorted) bigger.sort((a, b) => a - b);
    for (const j of bigger) edges.push([i, j]);
  }
  const parts = countComponents(n, edges);
  if (parts > 1) throw new UsageError(`${label}: the graph is disconnected (${parts} components)`);
  const g: Graph = { n, name, neighbors, edges };
  if (structure) g.structure = structure;
  if (meta) g.meta = meta;
  return g;
}

/** Number of connected components (union–find). */
export function countComponents(n: number, edges: ReadonlyArray<readonly [number, number]>): number {
  const parent = new Int32Array(n);
  for (let i = 0; i < n; i++) parent[i] = i;
  const find = (a: number): number => {
    while (parent[a] !== a) {
      parent[a] = parent[parent[a]];
      a = parent[a];
    }
    return a;
  };
  let parts = n;
  for (const [i, j] of edges) {
    const a = find(i);
    const b = find(j);
    if (a !== b) {
      parent[a] = b;
      parts--;
    }
  }
  return parts;
}

/** Smallest and largest number of distinct neighbours. */
export function degreeRange(g: Graph): { min: number; max: number } {
  const deg = new Int32Array(g.n);
  for (const [i, j] of g.edges) {
    deg[i]++;
    deg[j]++;
  }
  let min = Infinity;
  let max = 0;
  for (const d of deg) {
    min = Math.min(min, d);
    max = Math.max(max, d);
  }
  return { min, max };
}

/**
 * Reads an undirected graph from a file:
 * - JSON: {"n": 10, "edges": [[0, 1], [1, 2], ...]} ("n" optional) or just [[0, 1], [1, 2], ...];
 * - text: one edge "i j" per line (space, tab or comma separated), '#' starts a comment, blank lines ignored.
 * Nodes are numbered from 0; without "n" the graph has max index + 1 nodes. An edge listed twice (in either
 * orientation) counts once. Self loops, out-of-range nodes, malformed lines and disconnected graphs are refused.
 */
export function readEdgeFile(file: string): Graph {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read edge file "${file}": ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  const label = `edge file "${file}"`;
  let n: number | undefined;
  let edges: Array<[number, number]>;
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let data: unknown;
    try {
      data = JSON.parse(trimmed);
    } catch (error) {
      throw new UsageError(`${label}: invalid JSON (${(error as Error).message})`);
    }
    let list: unknown = data;
    if (!Array.isArray(data)) {
      const obj = data as Record<string, unknown>;
      if (obj.n !== undefined) {
        if (typeof obj.n !== 'number' || !Number.isInteger(obj.n)) throw new UsageError(`${label}: "n" must be an integer, got ${JSON.stringify(obj.n)}`);
        n = obj.n;
      }
      if (!Array.isArray(obj.edges)) throw new UsageError(`${label}: expected {"n": .., "edges": [[i, j], ...]} or [[i, j], ...]`);
      list = obj.edges;
    }
    edges = (list as unknown[]).map((e, k) => {
      if (!Array.isArray(e) || e.length !== 2 || !e.every((v) => typeof v === 'number' && Number.isInteger(v))) {
        throw new UsageError(`${label}: edge ${k} must be a pair of node numbers [i, j], got ${JSON.stringify(e)}`);
      }
      return [e[0] as number, e[1] as number];
    });
  } else {
    edges = [];
    const lines = text.split(/\r?\n/);
    lines.forEach((raw, k) => {
      const line = raw.replace(/#.*/, '').trim();
      if (line === '') return;
      const parts = line.split(/[\s,]+/);
      if (parts.length !== 2 || !parts.every((s) => /^[-+]?\d+$/.test(s))) {
        throw new UsageError(`${label}, line ${k + 1}: expected two node numbers "i j", got "${raw.trim()}"`);
      }
      edges.push([Number(parts[0]), Number(parts[1])]);
    });
  }
  if (edges.length === 0) throw new UsageError(`${label}: no edges`);
  const maxNode = edges.reduce((m, [i, j]) => Math.max(m, i, j), 0);
  if (n === undefined) n = maxNode + 1;
  if (n < 2) throw new UsageError(`${label}: a graph needs at least 2 nodes, got ${n}`);
  if (n > MAX_NODES) throw new UsageError(`${label}: at most ${MAX_NODES} nodes are supported, got ${n}`);
  return fromEdges(basename(file), n, edges, { file }, label);
}
