/**
 * Training checkpoints in the safetensors format.
 *
 * Tensors (all F32):
 *   <parameter name>          every learnable tensor under its layout name and shape (e.g. fc1.weight [512, 784]),
 *                             so the file reads like a PyTorch state dict
 *   <state name>              non-learnable state (BatchNorm running statistics), same convention
 *   optimizer.<entry>         the optimizer's flat state, one tensor per entry of its stateLayout
 *                             (optimizer.momentum; optimizer.exp_avg and optimizer.exp_avg_sq), each [size]
 * Metadata (strings; JSON where noted):
 *   format = gossamer-checkpoint, version = 1
 *   model, model_config (JSON), layout (canonical layout JSON, with the model's name and configuration),
 *   layout_hash (its sha256: Model.layoutHash)
 *   step (updates taken), epoch (epochs of data consumed, fractional), seed
 *   optimizer (kind or "none"), optimizer_config (JSON hyper-parameters), optimizer_steps,
 *   optimizer_state (JSON: [{name, offset, size}])
 *   random (JSON: {stream name: four uint32 words}: where the model's dropout streams are, so that a resumed run
 *           draws the masks an uninterrupted one would; absent in older files)
 *   run (JSON: free description of the run — data set, batch size, budget, schedule — used to resume it)
 *   input (JSON: what the model's inputs are and how they were scaled — training/data.ts inputDescription; written by
 *          `gossamer train`, absent in older files and in checkpoints saved without it)
 *   created (ISO date)
 * Callers may add tensors and metadata of their own (`extra`: a networked worker's x̃, a cluster's per-worker
 * state) under a prefix of their own, recorded as metadata extra_prefix so that every reader knows them (they come
 * back in Checkpoint.extra); any other unknown tensor is an error.
 *
 * Files are written atomically (temporary file, fsync, rename), with a CRC-32 of every tensor (../core/safetensors.ts).
 * Reading validates the format, every tensor's checksum, the layout against its hash and every tensor's dtype and
 * shape; problems are UsageErrors naming the file. A file without checksums (from an older version) loads with one
 * warning line on stderr.
 */
import { dirname } from 'node:path';
import { UsageError } from '../core/errors.js';
import { prepareOutputDir } from '../core/output-dir.js';
import { getTensor, readSafetensors, writeSafetensors, type Safetensors, type TensorInput } from '../core/safetensors.js';
import type { Backend } from './backend.js';
import { canonicalLayoutJson, layoutHash, type LayoutEntry, type StateKind } from './layout.js';
import { createModel, isModelName, MODEL_NAMES } from './models/index.js';
import type { Model } from './models/model.js';
import type { Optimizer, StateEntry } from './optim/optimizer.js';

export const CHECKPOINT_FORMAT = 'gossamer-checkpoint';
export const CHECKPOINT_VERSION = '1';
const OPTIMIZER_PREFIX = 'optimizer.';

/** Hyper-parameters of an optimizer as stored in a checkpoint (kind plus its options). */
export type OptimizerDescription = { kind: string } & Record<string, unknown>;

export interface SaveCheckpointOptions {
  model: Model;
  /** The optimizer whose state and step count are saved (none: parameters only). */
  optimizer?: Optimizer | null;
  /** Its full configuration (e.g. including noDecay); default: what the optimizer object exposes. */
  optimizerConfig?: OptimizerDescription;
  /** Updates taken (default: optimizer.steps, or 0). */
  step?: number;
  /** Epochs of training data consumed so far (fractional; default 0). */
  epoch?: number;
  seed?: number;
  /** Free description of the run, stored as JSON (enough to resume it). */
  run?: Record<string, unknown>;
  /** What the model's inputs are and how they were scaled (stored as JSON under "input"). */
  input?: Record<string, unknown>;
  /** The caller's own F32 tensors, all named `prefix…`, and metadata (keys must not clash with the checkpoint's). */
  extra?: { prefix: string; tensors?: ReadonlyMap<string, Float32Array>; metadata?: Record<string, string> };
}

export interface Checkpoint {
  file: string;
  model: string;
  modelConfig: Record<string, unknown>;
  layoutHash: string;
  layout: readonly LayoutEntry[];
  stateLayout: readonly LayoutEntry<StateKind>[];
  step: number;
  epoch: number;
  seed: number;
  /** The flat parameter vector (model.size values). */
  params: Float32Array;
  /** The flat state vector (model.stateSize values). */
  state: Float32Array;
  /** Positions of the model's random streams (Model.randomState); empty when the file has none. */
  random: Record<string, number[]>;
  optimizer: null | {
    config: OptimizerDescription;
    steps: number;
    stateLayout: readonly StateEntry[];
    /** The flat optimizer state. */
    state: Float32Array;
  };
  run: Record<string, unknown>;
  /** The description of the inputs (metadata "input"); null when the file has none. */
  input: Record<string, unknown> | null;
  metadata: Record<string, string>;
  /** The F32 tensors under the file's extra_prefix (and the prefixes the reader named). */
  extra: Map<string, Float32Array>;
}

/** What an optimizer object says about its hyper-parameters (public numeric/boolean fields). */
export function describeOptimizer(optimizer: Optimizer): OptimizerDescription {
  const out: OptimizerDescription = { kind: optimizer.kind, lr: optimizer.lr };
  const fields = optimizer as unknown as Record<string, unknown>;
  for (const key of ['momentum', 'nesterov', 'weightDecay', 'beta1', 'beta2', 'eps']) {
    if (typeof fields[key] === 'number' || typeof fields[key] === 'boolean') out[key] = fields[key];
  }
  // Adaptive Braking only when on: descriptions of optimizers without it stay as they were.
  if (optimizer.braking > 0) out.braking = optimizer.braking;
  return out;
}

/** The tensors and metadata of a checkpoint (no copies: tensors are views of the live buffers). */
export function checkpointContents(options: SaveCheckpointOptions): { tensors: Map<string, TensorInput>; metadata: Record<string, string> } {
  const { model, optimizer } = options;
  const tensors = new Map<string, TensorInput>();
  const add = (name: string, input: TensorInput) => {
    if (tensors.has(name)) throw new Error(`checkpoint: two tensors named ${name}`);
    tensors.set(name, input);
  };
  for (const e of model.layout) add(e.name, { shape: [...e.shape], data: model.params.subarray(e.offset, e.offset + e.size) });
  for (const e of model.stateLayout) add(e.name, { shape: [...e.shape], data: model.state.subarray(e.offset, e.offset + e.size) });
  let optimizerState: StateEntry[] = [];
  if (optimizer) {
    if (optimizer.size !== model.size) throw new Error(`checkpoint: optimizer over ${optimizer.size} values, model has ${model.size}`);
    optimizerState = optimizer.stateLayout.map((e) => ({ name: e.name, offset: e.offset, size: e.size }));
    for (const e of optimizerState) add(OPTIMIZER_PREFIX + e.name, { data: optimizer.state.subarray(e.offset, e.offset + e.size) });
  }
  const step = options.step ?? optimizer?.steps ?? 0;
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    model: model.name,
    model_config: JSON.stringify(model.config),
    layout: canonicalLayoutJson(model.layout, model.stateLayout, { name: model.name, config: model.config }),
    layout_hash: model.layoutHash,
    step: String(step),
    epoch: String(options.epoch ?? 0),
    seed: String(options.seed ?? 0),
    optimizer: optimizer ? optimizer.kind : 'none',
    optimizer_config: JSON.stringify(optimizer ? (options.optimizerConfig ?? describeOptimizer(optimizer)) : null),
    optimizer_steps: String(optimizer?.steps ?? 0),
    optimizer_state: JSON.stringify(optimizerState),
    random: JSON.stringify(model.randomState()),
    run: JSON.stringify(options.run ?? {}),
    created: new Date().toISOString(),
  };
  if (options.input !== undefined) metadata.input = JSON.stringify(options.input);
  if (options.extra) {
    const { prefix } = options.extra;
    if (prefix === '' || [...tensors.keys()].some((name) => name.startsWith(prefix))) throw new Error(`checkpoint: extra prefix ${JSON.stringify(prefix)} would capture the checkpoint's own tensors`);
    for (const [name, data] of options.extra.tensors ?? []) {
      if (!name.startsWith(prefix)) throw new Error(`checkpoint: extra tensor ${name} is not under ${prefix}`);
      add(name, { data });
    }
    for (const [key, value] of Object.entries(options.extra.metadata ?? {})) {
      if (key in metadata) throw new Error(`checkpoint: metadata ${key} is the checkpoint's own`);
      metadata[key] = value;
    }
    metadata.extra_prefix = prefix;
  }
  return { tensors, metadata };
}

/** Writes a checkpoint atomically (creating the directory if needed). */
export function saveCheckpoint(file: string, options: SaveCheckpointOptions): void {
  const { tensors, metadata } = checkpointContents(options);
  prepareOutputDir(dirname(file), 'checkpoint directory');
  writeSafetensors(file, tensors, metadata);
}

function corrupt(file: string, problem: string): never {
  throw new UsageError(`checkpoint ${file}: ${problem}`);
}

function jsonField<T>(file: string, metadata: Record<string, string>, key: string, check: (v: unknown) => v is T, what: string): T {
  const text = metadata[key];
  if (text === undefined) corrupt(file, `missing metadata "${key}"`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    corrupt(file, `metadata "${key}" is not valid JSON`);
  }
  if (!check(value)) corrupt(file, `metadata "${key}" is not ${what}`);
  return value;
}

function intField(file: string, metadata: Record<string, string>, key: string): number {
  const text = metadata[key];
  if (text === undefined) corrupt(file, `missing metadata "${key}"`);
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) corrupt(file, `metadata "${key}" is not a non-negative integer (${JSON.stringify(text.slice(0, 40))})`);
  return n;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isStreamWords(v: unknown): v is Record<string, number[]> {
  return isObject(v) && Object.values(v).every(
    (w) => Array.isArray(w) && w.length === 4 && w.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff) && w.some((x) => x !== 0),
  );
}

function isEntryList(v: unknown): v is LayoutEntry<string>[] {
  return Array.isArray(v) && v.every((e) => isObject(e) && typeof e.name === 'string' && typeof e.kind === 'string'
    && Array.isArray(e.shape) && e.shape.every((d) => Number.isSafeInteger(d) && d > 0)
    && Number.isSafeInteger(e.offset) && (e.offset as number) >= 0 && Number.isSafeInteger(e.size)
    && (e.size as number) === (e.shape as number[]).reduce((a, b) => a * b, 1));
}

function isStateEntryList(v: unknown): v is StateEntry[] {
  return Array.isArray(v) && v.every((e) => isObject(e) && typeof e.name === 'string'
    && Number.isSafeInteger(e.offset) && (e.offset as number) >= 0 && Number.isSafeInteger(e.size) && (e.size as number) >= 0);
}

/** Total length covered by entries, checking they tile [0, length) without overlap. */
function tiledLength(file: string, entries: readonly { name: string; offset: number; size: number }[], what: string): number {
  const sorted = [...entries].sort((a, b) => a.offset - b.offset);
  let at = 0;
  for (const e of sorted) {
    if (e.offset !== at) corrupt(file, `${what} entry ${e.name} at offset ${e.offset}, expected ${at}`);
    at += e.size;
  }
  return at;
}

/**
 * Reads and validates a checkpoint (any model; nothing is built); tensors under its extra_prefix, or under
 * `extraPrefixes` (for files written before extra_prefix existed), are returned in `extra` (F32 only).
 */
export function readCheckpoint(file: string, extraPrefixes: readonly string[] = []): Checkpoint {
  let st: Safetensors;
  try {
    st = readSafetensors(file);
  } catch (err) {
    if (err instanceof UsageError) {
      const prefix = `safetensors file ${file}: `;
      throw new UsageError(`checkpoint ${file}: ${err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message}`);
    }
    throw err;
  }
  if (!st.checksummed) warnUnverified(file);
  return decodeCheckpoint(st, extraPrefixes);
}

const warned = new Set<string>();

/** One line per file and process: an older checkpoint still loads, but nothing vouches for its data. */
function warnUnverified(file: string): void {
  if (warned.has(file)) return;
  warned.add(file);
  process.stderr.write(`gossamer: checkpoint ${file} has no tensor checksums (written by an older version); its data cannot be verified\n`);
}

/** Interprets validated safetensors contents as a checkpoint. */
export function decodeCheckpoint(st: Safetensors, extraPrefixes: readonly string[] = []): Checkpoint {
  const { file, metadata } = st;
  if (metadata.format !== CHECKPOINT_FORMAT) corrupt(file, 'not a gossamer checkpoint (no "format" metadata)');
  if (metadata.version !== CHECKPOINT_VERSION) corrupt(file, `unsupported checkpoint version ${JSON.stringify(metadata.version)} (expected ${CHECKPOINT_VERSION})`);
  const model = metadata.model;
  if (typeof model !== 'string' || model === '') corrupt(file, 'missing metadata "model"');
  const modelConfig = jsonField(file, metadata, 'model_config', isObject, 'an object');
  const layoutJson = jsonField(file, metadata, 'layout', isObject, 'an object');
  if (!isEntryList(layoutJson.params) || !isEntryList(layoutJson.state)) corrupt(file, 'metadata "layout" has invalid entries');
  const layout = layoutJson.params as LayoutEntry[];
  const stateLayout = layoutJson.state as LayoutEntry<StateKind>[];
  const hash = metadata.layout_hash;
  if (hash === undefined) corrupt(file, 'missing metadata "layout_hash"');
  const identity = layoutJson.model;
  if (identity !== null && !(isObject(identity) && typeof identity.name === 'string' && isObject(identity.config))) {
    corrupt(file, 'metadata "layout" has an invalid model identity');
  }
  const owner = identity === null ? undefined : { name: identity.name as string, config: identity.config as Record<string, unknown> };
  if (layoutHash(layout, stateLayout, owner) !== hash || canonicalLayoutJson(layout, stateLayout, owner) !== metadata.layout) {
    corrupt(file, 'the layout does not match its hash');
  }
  const size = tiledLength(file, layout, 'parameter');
  const stateSize = tiledLength(file, stateLayout, 'state');

  const params = new Float32Array(size);
  for (const e of layout) params.set(getTensor(st, e.name, 'F32', [...e.shape]), e.offset);
  const state = new Float32Array(stateSize);
  for (const e of stateLayout) state.set(getTensor(st, e.name, 'F32', [...e.shape]), e.offset);

  const kind = metadata.optimizer;
  let optimizer: Checkpoint['optimizer'] = null;
  const known = new Set([...layout.map((e) => e.name), ...stateLayout.map((e) => e.name)]);
  if (kind !== undefined && kind !== 'none') {
    const config = jsonField(file, metadata, 'optimizer_config', isObject, 'an object');
    if (config.kind !== kind) corrupt(file, `optimizer config of kind ${JSON.stringify(config.kind)} for a ${kind} optimizer`);
    const entries = jsonField(file, metadata, 'optimizer_state', isStateEntryList, 'a list of state entries');
    const total = tiledLength(file, entries, 'optimizer state');
    const flat = new Float32Array(total);
    for (const e of entries) {
      known.add(OPTIMIZER_PREFIX + e.name);
      flat.set(getTensor(st, OPTIMIZER_PREFIX + e.name, 'F32', [e.size]), e.offset);
    }
    optimizer = { config: config as OptimizerDescription, steps: intField(file, metadata, 'optimizer_steps'), stateLayout: entries, state: flat };
  }
  const extra = new Map<string, Float32Array>();
  const prefixes = metadata.extra_prefix ? [metadata.extra_prefix, ...extraPrefixes] : extraPrefixes;
  for (const [name, t] of st.tensors) {
    if (known.has(name)) continue;
    if (!prefixes.some((p) => name.startsWith(p))) corrupt(file, `unexpected tensor ${JSON.stringify(name)}`);
    if (t.dtype !== 'F32') corrupt(file, `tensor ${name} is ${t.dtype}, expected F32`);
    extra.set(name, t.data as Float32Array);
  }

  const epoch = Number(metadata.epoch ?? '0');
  if (!(epoch >= 0)) corrupt(file, `metadata "epoch" is not a non-negative number`);
  const random = metadata.random === undefined ? {} : jsonField(file, metadata, 'random', isStreamWords, 'an object of four-word random states');
  const seed = Number(metadata.seed ?? '0');
  if (!Number.isFinite(seed)) corrupt(file, `metadata "seed" is not a number`);
  return {
    file, model, modelConfig, layoutHash: hash, layout, stateLayout,
    step: intField(file, metadata, 'step'), epoch, seed,
    params, state, random, optimizer, extra,
    run: metadata.run === undefined ? {} : jsonField(file, metadata, 'run', isObject, 'an object'),
    input: metadata.input === undefined ? null : jsonField(file, metadata, 'input', isObject, 'an object'),
    metadata,
  };
}

const short = (hash: string) => hash.slice(0, 12);

/** Checks that a checkpoint was written for this model's layout; a UsageError otherwise. */
export function checkCompatible(checkpoint: Checkpoint, model: Model): void {
  if (checkpoint.layoutHash !== model.layoutHash) {
    throw new UsageError(
      `checkpoint ${checkpoint.file} holds a ${checkpoint.model} model with layout ${short(checkpoint.layoutHash)}, ` +
        `which does not match this ${model.name} model (layout ${short(model.layoutHash)})`,
    );
  }
}

/** Copies a checkpoint's parameters and state into a model with the same layout. */
export function restoreModel(checkpoint: Checkpoint, model: Model): void {
  checkCompatible(checkpoint, model);
  if (Object.keys(checkpoint.random).length > 0) {
    try {
      model.setRandomState(checkpoint.random); // checks every name before moving any stream
    } catch (err) {
      throw new UsageError(`checkpoint ${checkpoint.file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  model.params.set(checkpoint.params);
  model.state.set(checkpoint.state);
}

/** Restores an optimizer's state and step count from a checkpoint (same kind and size). */
export function restoreOptimizer(checkpoint: Checkpoint, optimizer: Optimizer): void {
  const saved = checkpoint.optimizer;
  if (saved === null) throw new UsageError(`checkpoint ${checkpoint.file} holds no optimizer state`);
  if (saved.config.kind !== optimizer.kind) {
    throw new UsageError(`checkpoint ${checkpoint.file} holds ${String(saved.config.kind)} optimizer state, not ${optimizer.kind}`);
  }
  if (saved.state.length !== optimizer.state.length) {
    throw new UsageError(
      `checkpoint ${checkpoint.file} holds ${saved.state.length} optimizer state values, this ${optimizer.kind} optimizer has ${optimizer.state.length} ` +
        '(a different model, or momentum on one side only)',
    );
  }
  optimizer.loadState(saved.state, saved.steps);
}

/** Rebuilds the checkpoint's model (same name and configuration) with its parameters and state. */
export function modelFromCheckpoint(checkpoint: Checkpoint, backend?: Backend): Model {
  const name = checkpoint.model;
  if (!isModelName(name)) corrupt(checkpoint.file, `unknown model ${JSON.stringify(name)} (known: ${MODEL_NAMES.join(', ')})`);
  let model: Model;
  try {
    model = createModel(name, { ...(checkpoint.modelConfig as object), backend, initialize: false });
  } catch (err) {
    corrupt(checkpoint.file, `cannot build its ${name} model (${err instanceof Error ? err.message : String(err)})`);
  }
  restoreModel(checkpoint, model);
  return model;
}
