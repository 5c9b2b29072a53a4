/**
 * Checkpoints of one networked worker (`gossamer peer`): the engine's checkpoint format (../../engine/checkpoint.ts:
 * parameters, optimizer state, step, layout hash, run) plus the algorithm's own per-worker vectors — A2CiD2's x̃ —
 * so that a resumed worker continues exactly where it stopped:
 *
 *   algorithm.<field>   every vector of the algorithm's worker state other than x (e.g. algorithm.xt), [size]
 *   metadata algorithm = the algorithm's name, algorithm_state = JSON list of the saved fields,
 *            algorithm_scalars = JSON {name: value} of its scalars (e.g. A2CiD2's time), local_time = the worker's
 *            local clock (both absent from older checkpoints: the worker then starts them afresh)
 *
 * The run metadata says which worker wrote it (command "peer", index, workers, algo, steps budget, ...). Resuming
 * checks the worker, the cluster size, the algorithm and the model's layout; a mismatch is a one-line UsageError.
 */
import { UsageError } from '../../core/errors.js';
import { checkCompatible, readCheckpoint, saveCheckpoint, type Checkpoint, type OptimizerDescription } from '../../engine/checkpoint.js';
import type { Model } from '../../engine/models/model.js';
import type { ShardMode } from '../../data/shard.js';
import type { Optimizer } from '../../engine/optim/optimizer.js';

const PREFIX = 'algorithm.';

/** What a peer checkpoint records about its run. */
export interface PeerRun {
  command: 'peer';
  index: number;
  workers: number;
  algo: string;
  topology: string;
  rate: number;
  /** The worker's budget of local steps. */
  steps: number;
  /** How the training set is split across the workers (absent in older checkpoints: 'full'), and α of 'dirichlet'. */
  shard?: ShardMode;
  alpha?: number;
  /** Written on SIGINT, before the end of the run. */
  interrupted?: boolean;
  [key: string]: unknown;
}

export interface SavePeerCheckpoint {
  model: Model;
  optimizer?: Optimizer | null;
  optimizerConfig?: OptimizerDescription;
  /** Local steps this worker has taken. */
  step: number;
  seed: number;
  run: PeerRun;
  /** Name of the algorithm and its per-worker state besides x (e.g. vectors { xt }, scalars { t }). */
  algorithm: string;
  state?: AlgorithmSnapshot;
}

/** An algorithm's state besides x and the worker's local time. */
export interface AlgorithmSnapshot {
  vectors: Record<string, Float32Array>;
  scalars: Record<string, number>;
  time: number;
}

export interface PeerCheckpoint {
  checkpoint: Checkpoint;
  run: PeerRun;
  algorithm: string;
  state: AlgorithmSnapshot;
}

/** Writes a peer checkpoint atomically. */
export function savePeerCheckpoint(file: string, o: SavePeerCheckpoint): void {
  const vectors = o.state?.vectors ?? {};
  const fields = Object.keys(vectors);
  const metadata: Record<string, string> = { algorithm: o.algorithm, algorithm_state: JSON.stringify(fields) };
  if (o.state) {
    metadata.algorithm_scalars = JSON.stringify(o.state.scalars);
    metadata.local_time = String(o.state.time);
  }
  saveCheckpoint(file, {
    model: o.model, optimizer: o.optimizer, optimizerConfig: o.optimizerConfig, step: o.step, seed: o.seed, run: o.run,
    extra: { prefix: PREFIX, tensors: new Map(fields.map((f) => [PREFIX + f, vectors[f]])), metadata },
  });
}

/** Reads a peer checkpoint (any gossamer checkpoint reads; the algorithm's vectors are then empty). */
export function readPeerCheckpoint(file: string): PeerCheckpoint {
  const checkpoint = readCheckpoint(file, [PREFIX]); // (files written before extra_prefix existed)
  const vectors: Record<string, Float32Array> = {};
  for (const [name, data] of checkpoint.extra) vectors[name.slice(PREFIX.length)] = data;
  for (const [field, v] of Object.entries(vectors)) {
    if (v.length !== checkpoint.params.length) throw new UsageError(`checkpoint ${file}: ${PREFIX}${field} has ${v.length} values for ${checkpoint.params.length} parameters`);
  }
  const run = checkpoint.run as Partial<PeerRun>;
  if (run.command !== 'peer' || !Number.isInteger(run.index) || !Number.isInteger(run.workers) || !Number.isInteger(run.steps) || typeof run.algo !== 'string') {
    throw new UsageError(`checkpoint ${file} was not written by gossamer peer (no worker index, cluster size, algorithm or budget in its run)`);
  }
  const scalars = parseScalars(file, checkpoint.metadata.algorithm_scalars);
  const time = Number(checkpoint.metadata.local_time ?? 0);
  if (!(Number.isFinite(time) && time >= 0)) throw new UsageError(`checkpoint ${file}: local_time ${JSON.stringify(checkpoint.metadata.local_time)} is not a time`);
  return { checkpoint, run: run as PeerRun, algorithm: checkpoint.metadata.algorithm ?? run.algo, state: { vectors, scalars, time } };
}

/** The algorithm's scalars of a checkpoint's metadata ({} when absent). */
function parseScalars(file: string, text: string | undefined): Record<string, number> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = null;
  }
  const ok = typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'number' && Number.isFinite(v));
  if (!ok) throw new UsageError(`checkpoint ${file}: algorithm_scalars is not a record of numbers`);
  return value as Record<string, number>;
}

/** Checks that a checkpoint belongs to this worker of this cluster; a one-line UsageError otherwise. */
export function checkPeerResume(ck: PeerCheckpoint, me: { index: number; workers: number; algorithm: string; model: Model }): void {
  const file = ck.checkpoint.file;
  if (ck.run.index !== me.index) throw new UsageError(`checkpoint ${file} was written by worker ${ck.run.index}, not worker ${me.index}`);
  if (ck.run.workers !== me.workers) throw new UsageError(`checkpoint ${file} is from a cluster of ${ck.run.workers} workers, not ${me.workers}`);
  if (ck.algorithm !== me.algorithm) throw new UsageError(`checkpoint ${file} was trained with ${ck.algorithm}, not ${me.algorithm}`);
  checkCompatible(ck.checkpoint, me.model);
}
