/**
 * The per-worker part of a cluster checkpoint: besides the averaged model (what evaluation and a one-worker
 * `gossamer train --resume` read), each worker's own parameters, normalisation state, algorithm vectors (A2CiD2's
 * x̃) and local optimizer state, so that a resumed cluster goes on from where every worker was:
 *
 *   worker.<i>.x                  [size]   its parameters
 *   worker.<i>.state              [stateSize] its BatchNorm statistics (when the model has any)
 *   worker.<i>.algorithm.<field>  [size]   its algorithm's vectors besides x
 *   worker.<i>.optimizer          [n]      its optimizer's flat state (momentum; AdamW's moments; a sharded
 *                                          optimizer's: of the worker's shard only)
 *   metadata workers_saved = JSON [{ index, vectors: [field, ...], scalars: {name: value}, time, optimizerSteps }]
 *   (scalars and time: the algorithm's scalars, e.g. A2CiD2's time, and the worker's local clock; absent from older
 *   checkpoints, whose workers then start them afresh)
 *
 * and, for an algorithm with a server (asynchronous Local-SGD), the server's state that one of the workers held
 * (server-checkpoint.ts, under worker.server.: its float32 vectors as tensors, the rest in metadata server_saved).
 *
 * Written when a run is interrupted (the checkpoint is then meant for --resume). A worker that was dead when the run
 * stopped has no entry, nor has any worker of a finished run: a resumed run starts those from the average, with
 * fresh optimizer state.
 *
 * The checkpoint's run record is the configuration without its callbacks, data arrays and machinery, with the
 * budget and the progress (cluster-config.ts reads it back).
 */
import type { z } from 'zod';
import type { SavedState } from '../algorithms/types.js';
import { UsageError } from '../core/errors.js';
import { writeOrFallback } from '../core/output-dir.js';
import { saveCheckpoint, type Checkpoint } from '../engine/checkpoint.js';
import type { Model } from '../engine/models/model.js';
import type { WorkerSnapshot } from './agent-thread.js';
import { savedServerState, serverContents } from './server-checkpoint.js';
import type { ClusterConfig, Progress } from './cluster-config.js';

export const WORKER_PREFIX = 'worker.';
const SERVER_PREFIX = `${WORKER_PREFIX}server.`;

/** The server's state recorded in a cluster checkpoint (server-checkpoint.ts; null: none). */
export function savedServer(ck: Checkpoint, template: SavedState): SavedState | null {
  return savedServerState(ck, template, SERVER_PREFIX);
}

/** What one worker held when its run stopped. */
export interface SavedWorker extends WorkerSnapshot {
  x: Float32Array;
  state: Float32Array;
}

interface SavedEntry {
  index: number;
  vectors: string[];
  scalars?: Record<string, number>;
  time?: number;
  optimizerSteps: number;
}

/** The tensors and metadata that record the workers (null: a worker without a snapshot). */
export function workerContents(workers: ReadonlyArray<SavedWorker | null>): { tensors: Map<string, Float32Array>; metadata: Record<string, string> } {
  const tensors = new Map<string, Float32Array>();
  const entries: SavedEntry[] = [];
  workers.forEach((w, index) => {
    if (!w) return;
    const at = `${WORKER_PREFIX}${index}.`;
    tensors.set(`${at}x`, w.x);
    if (w.state.length > 0) tensors.set(`${at}state`, w.state);
    for (const [field, v] of Object.entries(w.vectors)) tensors.set(`${at}algorithm.${field}`, v);
    if (w.optimizer.state.length > 0) tensors.set(`${at}optimizer`, w.optimizer.state);
    entries.push({ index, vectors: Object.keys(w.vectors), scalars: w.scalars, time: w.time, optimizerSteps: w.optimizer.steps });
  });
  return { tensors, metadata: { workers_saved: JSON.stringify(entries) } };
}

/**
 * The workers recorded in a checkpoint read with the WORKER_PREFIX (an array of n, null where none is saved), checked
 * against the run's sizes (the optimizer's state: the same for every worker, or worker by worker when sharded); a malformed record is a UsageError naming the file.
 */
export function savedWorkers(ck: Checkpoint, n: number, optimizerSizes: number | ((worker: number) => number)): Array<SavedWorker | null> {
  const optimizerSize = typeof optimizerSizes === 'number' ? () => optimizerSizes : optimizerSizes;
  const out: Array<SavedWorker | null> = new Array(n).fill(null);
  const text = ck.metadata.workers_saved;
  if (text === undefined) {
    if (ck.extra.size > 0) throw new UsageError(`checkpoint ${ck.file}: per-worker tensors without their "workers_saved" record`);
    return out;
  }
  const bad = (why: string): never => {
    throw new UsageError(`checkpoint ${ck.file}: invalid per-worker state (${why})`);
  };
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch {
    bad('"workers_saved" is not JSON');
  }
  if (!Array.isArray(entries)) bad('"workers_saved" is not a list');
  const used = new Set<string>();
  /** A tensor of the record, of the given length (null: any, the algorithm's restore checks it). */
  const take = (name: string, length: number | null): Float32Array => {
    const t = ck.extra.get(name);
    if (!t) bad(`missing tensor ${name}`);
    if (length !== null && t!.length !== length) bad(`${name} has ${t!.length} values, expected ${length}`);
    used.add(name);
    return t!;
  };
  for (const e of entries as unknown[]) {
    const entry = e as Partial<SavedEntry>;
    const { index, vectors, optimizerSteps } = entry;
    const scalars = entry.scalars ?? {};
    const time = entry.time ?? 0;
    const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
    if (!Number.isInteger(index) || index! < 0 || index! >= n) bad(`worker index ${JSON.stringify(index)} for ${n} workers`);
    if (out[index!]) bad(`worker ${index} recorded twice`);
    if (!Array.isArray(vectors) || !vectors.every((v) => typeof v === 'string')) bad(`worker ${index}: no list of vectors`);
    if (!Number.isInteger(optimizerSteps) || optimizerSteps! < 0) bad(`worker ${index}: optimizer steps ${JSON.stringify(optimizerSteps)}`);
    if (typeof scalars !== 'object' || scalars === null || !Object.values(scalars).every(finite)) bad(`worker ${index}: scalars ${JSON.stringify(scalars)}`);
    if (!finite(time) || time < 0) bad(`worker ${index}: time ${JSON.stringify(time)}`);
    const at = `${WORKER_PREFIX}${index}.`;
    const size = ck.params.length;
    out[index!] = {
      x: take(`${at}x`, size),
      state: ck.state.length > 0 ? take(`${at}state`, ck.state.length) : new Float32Array(0),
      // An algorithm's vectors are not all the model's length (ACCO's estimate carries its micro-batch count).
      vectors: Object.fromEntries(vectors!.map((f) => [f, take(`${at}algorithm.${f}`, null)])),
      scalars,
      time,
      optimizer: { state: optimizerSize(index!) > 0 ? take(`${at}optimizer`, optimizerSize(index!)) : new Float32Array(0), steps: optimizerSteps! },
    };
  }
  for (const name of ck.extra.keys()) if (!used.has(name) && !name.startsWith(SERVER_PREFIX)) bad(`unexpected tensor ${name}`);
  return out;
}

export interface ClusterCheckpointInit {
  config: ClusterConfig;
  /** The supervisor's model, into which the average and the normalisation state are loaded to be saved. */
  model: Model;
  /** The global average of the parameters, and the normalisation state of one worker that was averaged. */
  average: Float32Array;
  state: Float32Array;
  /** How many workers the average is over. */
  workersAveraged: number;
  /** The run's budget (gradient steps of all workers), and where it stands. */
  budget: number;
  progress: z.infer<typeof Progress>;
  /** Training examples in one epoch (for the checkpoint's epoch count). */
  trainCount: number;
  /** Each worker's own state (null: not saved). */
  workers: ReadonlyArray<SavedWorker | null>;
  /** The state of the server one of the workers held (null: none, or not saved). */
  server: SavedState | null;
}

/** Writes a cluster's checkpoint; returns where it went (elsewhere when its directory became unwritable). */
export function saveClusterCheckpoint(file: string, init: ClusterCheckpointInit): string {
  const { config, model, progress } = init;
  model.params.set(init.average);
  model.state.set(init.state);
  return writeOrFallback(file, 'checkpoint', (to) => saveCheckpoint(to, {
    model, step: progress.steps, epoch: (progress.steps * config.batchSize) / init.trainCount, seed: config.seed,
    run: { ...serializable(config), kind: 'cluster', budget: init.budget, progress, averaged: true, workersAveraged: init.workersAveraged },
    extra: { prefix: WORKER_PREFIX, ...contents(init) },
  }));
}

function contents(init: ClusterCheckpointInit): { tensors: Map<string, Float32Array>; metadata: Record<string, string> } {
  const out = workerContents(init.workers);
  if (init.server) serverContents(init.server, SERVER_PREFIX, out);
  return out;
}

/** The configuration without its callbacks, signal, data arrays and machinery. */
function serializable(c: ClusterConfig): Record<string, unknown> {
  const { signal: _s, onRow: _r, log: _l, resume: _u, out: _o, progress: _p, kill: _k, rejoin: _j, adversary: _a, bounds: _n, backend: _b, dataset, ...rest } = c;
  return { ...rest, dataset: typeof dataset === 'object' ? dataset.train.name : dataset };
}
