/**
 * Starting weights written by another program, PyTorch's above all (`safetensors.torch.save_file(model.state_dict(),
 * file)` of the modules of scripts/torch_load.py): the engine's tensors have PyTorch's names, layouts and shapes
 * (docs/checkpoints.md), so every parameter and normalisation state of the model is taken from the tensor of the same
 * name, F32 or F64, of the same shape. Two spellings of other writers are accepted: the `module.` prefix that
 * DataParallel puts before every name, and BatchNorm's `num_batches_tracked` counters, which the engine has no use
 * for. Anything missing, mis-shaped or left over is refused, naming the tensor: weights that load only in part would
 * train a model nobody asked for.
 */
import { UsageError } from '../core/errors.js';
import { readSafetensors, type Safetensors, type Tensor } from '../core/safetensors.js';
import type { LayoutEntry } from './layout.js';
import type { Model } from './models/model.js';

const IGNORED = /(^|\.)num_batches_tracked$/;
const PREFIX = 'module.';

/** Copies the model's weights (parameters and state) from a safetensors file; returns how many tensors it took. */
export function initFromSafetensors(model: Model, file: string): number {
  let st: Safetensors;
  try {
    st = readSafetensors(file);
  } catch (err) {
    throw new UsageError(`--init ${file}: ${(err as Error).message}`);
  }
  const fail = (why: string): never => {
    throw new UsageError(`--init ${file}: ${why}`);
  };
  const tensors = new Map<string, Tensor>();
  for (const [name, t] of st.tensors) {
    if (IGNORED.test(name)) continue;
    tensors.set(name.startsWith(PREFIX) ? name.slice(PREFIX.length) : name, t);
  }
  const entries: Array<[LayoutEntry<string>, Float32Array]> = [
    ...model.layout.map((e): [LayoutEntry<string>, Float32Array] => [e, model.params]),
    ...model.stateLayout.map((e): [LayoutEntry<string>, Float32Array] => [e, model.state]),
  ];
  // Checked whole before anything is copied: a refused file leaves the model as it was.
  const taken: Array<[LayoutEntry<string>, Float32Array, Tensor]> = [];
  for (const [entry, into] of entries) {
    const t = tensors.get(entry.name);
    if (!t) fail(`no tensor ${entry.name} (${model.name} has ${entries.length}: ${entries.slice(0, 4).map(([e]) => e.name).join(', ')}…)`);
    const shape = `[${t!.shape.join(', ')}]`;
    if (shape !== `[${entry.shape.join(', ')}]`) fail(`${entry.name} is ${shape} in the file, [${entry.shape.join(', ')}] in this ${model.name}`);
    if (t!.dtype !== 'F32' && t!.dtype !== 'F64') fail(`${entry.name} is ${t!.dtype}: floating-point weights (F32 or F64) only`);
    taken.push([entry, into, t!]);
    tensors.delete(entry.name);
  }
  if (tensors.size > 0) fail(`tensors this ${model.name} has no place for: ${[...tensors.keys()].slice(0, 5).join(', ')}${tensors.size > 5 ? '…' : ''}`);
  for (const [entry, , t] of taken) {
    const values = t.data as Float32Array | Float64Array;
    for (let k = 0; k < entry.size; k++) {
      const v = values[k];
      if (!Number.isFinite(v)) fail(`${entry.name} holds a non-finite value at element ${k}`);
    }
  }
  for (const [entry, into, t] of taken) into.set(t.data as Float32Array | Float64Array, entry.offset);
  return taken.length;
}
