/**
 * Checkpoints of one networked worker (`gossamer peer`): the engine's checkpoint format (../../engine/checkpoint.ts:
 * parameters, optimizer state, step, layout hash, run) plus the algorithm's own per-worker vectors — A2CiD2's x̃ —
 * so that a resumed worker continues exactly where it stopped:
 *
 *   algorithm.<field>   every vector of the algorithm's worker state other than x (e.g. algorithm.xt), [size]
 *   metadata algorithm = the algorithm's name, algorithm_state = JSON list of the saved fields,
 *            algorithm_scalars = JSON {name: value} of its scalars (e.g. A2CiD2's time), local_time = the worker's
 *            local clock (both absent from older checkpoints: the worker then starts them afresh)
 *   algorithm.server.<field>, metadata server_saved
 *                       an interrupted worker's state of asynchronous Local-SGD's server — the role it held, or the
 *                       last replica it received (../server-checkpoint.ts) — which it takes back on --resume: the
 *                       resumed cluster's holder goes on with the momentum and the record of the pushes applied
 *
 * The run metadata says which worker wrote it (command "peer", index, workers, algo, steps budget, the training
 * settings). Resuming
 * checks the worker, the cluster size, the algorithm and the model's layout; a mismatch is a one-line UsageError.
 */
import { z } from 'zod';
import { parseRunRecord, TrainingRecord } from '../../config/run.js';
import { UsageError } from '../../core/errors.js';
import { checkCompatible, readCheckpoint, saveCheckpoint, type Checkpoint, type OptimizerDescription } from '../../engine/checkpoint.js';
import type { Model } from '../../engine/models/model.js';
import type { Optimizer } from '../../engine/optim/optimizer.js';
import type { SavedState } from '../../algorithms/types.js';
import { savedServerState, serverContents } from '../server-checkpoint.js';

const PREFIX = 'algorithm.';
const SERVER_PREFIX = `${PREFIX}server.`;

/**
 * What a peer checkpoint records about its run: the worker's place in its cluster and its budget, with the shared
 * training record (config/run.ts; older checkpoints hold only part of it).
 */
export const PeerRunRecord = TrainingRecord.partial().extend({
  command: z.literal('peer'),
  index: z.number().int().nonnegative(),
  workers: z.number().int().positive(),
  algo: z.string(),
  topology: z.string().optional(),
  rate: z.number().nonnegative().optional(),
  /** The worker's budget of local steps. */
  steps: z.number().int().positive(),
  /** Written on SIGINT, before the end of the run. */
  interrupted: z.boolean().optional(),
}).passthrough();
export type PeerRun = z.infer<typeof PeerRunRecord>;

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
  /** The server's state this worker had (asynchronous Local-SGD; null or absent: none). */
  server?: SavedState | null;
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
  const tensors = new Map(fields.map((f) => [PREFIX + f, vectors[f]]));
  if (o.server) serverContents(o.server, SERVER_PREFIX, { tensors, metadata });
  saveCheckpoint(file, {
    model: o.model, optimizer: o.optimizer, optimizerConfig: o.optimizerConfig, step: o.step, seed: o.seed, run: o.run,
    extra: { prefix: PREFIX, tensors, metadata },
  });
}

/** Reads a peer checkpoint (any gossamer checkpoint reads; the algorithm's vectors are then empty). */
export function readPeerCheckpoint(file: string): PeerCheckpoint {
  const checkpoint = readCheckpoint(file, [PREFIX]); // (files written before extra_prefix existed)
  const vectors: Record<string, Float32Array> = {};
  for (const [name, data] of checkpoint.extra) if (!name.startsWith(SERVER_PREFIX)) vectors[name.slice(PREFIX.length)] = data;
  for (const [field, v] of Object.entries(vectors)) {
    if (v.length !== checkpoint.params.length) throw new UsageError(`checkpoint ${file}: ${PREFIX}${field} has ${v.length} values for ${checkpoint.params.length} parameters`);
  }
  const run = parseRunRecord(PeerRunRecord, checkpoint.run, file, 'not a run of gossamer peer');
  const scalars = parseScalars(file, checkpoint.metadata.algorithm_scalars);
  const time = Number(checkpoint.metadata.local_time ?? 0);
  if (!(Number.isFinite(time) && time >= 0)) throw new UsageError(`checkpoint ${file}: local_time ${JSON.stringify(checkpoint.metadata.local_time)} is not a time`);
  return { checkpoint, run, algorithm: checkpoint.metadata.algorithm ?? run.algo, state: { vectors, scalars, time } };
}

/** The server's state a peer checkpoint recorded, checked against a fresh server's (`template`); null: none. */
export function peerServerState(ck: PeerCheckpoint, template: SavedState): SavedState | null {
  return savedServerState(ck.checkpoint, template, SERVER_PREFIX);
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
