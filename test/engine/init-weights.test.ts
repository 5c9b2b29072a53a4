/**
 * --init: starting weights written by another program (a PyTorch state_dict saved with safetensors: the engine's
 * tensor names and shapes, F32 or F64, perhaps a DataParallel `module.` prefix and BatchNorm counters), taken whole
 * or refused with one line that names the tensor.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeSafetensors, type TensorInput } from '../../src/core/safetensors.js';
import { UsageError } from '../../src/core/errors.js';
import { readCheckpoint } from '../../src/engine/checkpoint.js';
import { initFromSafetensors } from '../../src/engine/init-weights.js';
import { createModel } from '../../src/engine/models/index.js';
import { gossamer } from '../cli/run.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-init-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** An MLP's weights as another program writes them: its own values under the engine's names (+ extras). */
function stateDict(config: { inputSize: number; hidden: number[]; classes: number }, seed: number, prefix = '', f64 = ''): { file: string; params: Float32Array } {
  const source = createModel('mlp', { ...config, seed });
  const tensors: Record<string, TensorInput> = {};
  for (const e of source.layout) {
    const values = source.params.slice(e.offset, e.offset + e.size);
    tensors[prefix + e.name] = { shape: [...e.shape], data: e.name === f64 ? Float64Array.from(values) : values };
  }
  const file = join(dir, `state-${seed}-${prefix}${f64}.safetensors`);
  writeSafetensors(file, tensors, {}, { checksums: false });
  return { file, params: source.params };
}

const config = { inputSize: 256, hidden: [16], classes: 10 };

test('the model takes every tensor by name, a module. prefix and float64 tensors included', () => {
  const { file, params } = stateDict(config, 7, 'module.', 'fc1.weight');
  const model = createModel('mlp', { ...config, seed: 1 });
  assert.notDeepEqual(model.params, params);
  assert.equal(initFromSafetensors(model, file), model.layout.length);
  assert.deepEqual(model.params, params);
});

test('missing, mis-shaped and left-over tensors are refused before anything is copied', () => {
  const model = createModel('mlp', { ...config, seed: 1 });
  const before = Float32Array.from(model.params);
  const wider = stateDict({ ...config, hidden: [32] }, 3).file;
  assert.throws(() => initFromSafetensors(model, wider), (e: Error) => e instanceof UsageError && /fc1\.weight is \[32, 256\] in the file, \[16, 256\] in this mlp/.test(e.message));
  const deeper = stateDict({ ...config, hidden: [16, 16] }, 3).file;
  assert.throws(() => initFromSafetensors(model, deeper), (e: Error) => e instanceof UsageError && /fc2\.weight is \[16, 16\] in the file, \[10, 16\]/.test(e.message));
  const partial = join(dir, 'partial.safetensors');
  writeSafetensors(partial, { 'fc1.weight': { shape: [16, 256], data: new Float32Array(16 * 256) } }, {}, { checksums: false });
  assert.throws(() => initFromSafetensors(model, partial), (e: Error) => e instanceof UsageError && /no tensor fc1\.bias/.test(e.message));
  assert.throws(() => initFromSafetensors(model, join(dir, 'nowhere.safetensors')), (e: Error) => e instanceof UsageError && /--init .*nowhere/.test(e.message));
  assert.deepEqual(model.params, before, 'the model is left as it was');
});

test('gossamer train --init: one worker and a cluster start from the file; with --resume it is refused', () => {
  const { file, params } = stateDict(config, 11);
  const tiny = ['--dataset', 'synthetic', '--model-config', JSON.stringify({ hidden: [16] }), '--limit', '256', '--eval-limit', '64', '--backend', 'js', '--lr', '1e-12', '--momentum', '0'];
  for (const workers of ['1', '4']) {
    const out = join(dir, `run-${workers}`);
    const r = gossamer(['train', '--workers', workers, ...tiny, '--steps', '3', '--init', file, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const trained = readCheckpoint(join(out, 'checkpoint.safetensors')).params;
    let worst = 0;
    for (let k = 0; k < params.length; k++) worst = Math.max(worst, Math.abs(trained[k] - params[k]));
    assert.ok(worst < 1e-6, `${workers} worker(s): ${worst} from the given weights after steps of lr 1e-12`);
    const again = gossamer(['train', '--resume', join(out, 'checkpoint.safetensors'), '--init', file, '--steps', '6']);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /^gossamer: --init starts a run from given weights; --resume continues one/);
  }
});
