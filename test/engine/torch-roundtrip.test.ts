/**
 * A checkpoint of `gossamer train` loads into PyTorch (scripts/torch_load.py) and evaluates there as it does here:
 * same accuracy, loss within 1e-4, on the same MNIST test images. Skipped without a Python that imports torch
 * (GOSSAMER_TORCH_PYTHON, else /tmp/torchenv/bin/python, else python3; GOSSAMER_TORCH_PYTHON=none skips).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { mnistDataDir, MNIST_FILES } from '../../src/data/mnist.js';
import { readCheckpoint } from '../../src/engine/checkpoint.js';
import { gossamer } from '../cli/run.js';

function findTorch(): { python: string } | { reason: string } {
  const chosen = process.env.GOSSAMER_TORCH_PYTHON;
  if (chosen === 'none') return { reason: 'GOSSAMER_TORCH_PYTHON=none' };
  const candidates = (chosen ? [chosen] : ['/tmp/torchenv/bin/python', 'python3']).filter((p) => !p.startsWith('/') || existsSync(p));
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import torch, numpy'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status === 0) return { python };
  }
  return { reason: chosen ? `${chosen} cannot import torch and numpy` : 'no Python with torch and numpy (set GOSSAMER_TORCH_PYTHON)' };
}

const torch = findTorch();
const skip = 'reason' in torch ? torch.reason : false;
const dir = mkdtempSync(join(tmpdir(), 'gossamer-torch-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const EVAL = 300;

function roundTrip(model: string, config: Record<string, unknown>): void {
  const out = join(dir, model);
  const r = gossamer([
    'train', '--workers', '1', '--model', model, '--dataset', 'mnist', '--model-config', JSON.stringify(config),
    '--batch-size', '32', '--limit', '1024', '--eval-limit', String(EVAL), '--steps', '60', '--lr', '0.05', '--seed', '5', '--out', out, '--json',
  ], { timeout: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.testExamples, EVAL);
  assert.ok(s.testAccuracy > 0.3, `the model learnt something (accuracy ${s.testAccuracy})`);
  const ck = readCheckpoint(s.checkpoint);
  assert.deepEqual(ck.input, {
    kind: 'images', dataset: 'mnist', layout: 'NCHW', channels: 1, height: 28, width: 28, dtype: 'float32', classes: 10,
    raw: 'uint8', scale: 1 / 255, mean: 0.1307, std: 0.3081,
  });

  const data = mnistDataDir();
  const py = spawnSync((torch as { python: string }).python, [
    'scripts/torch_load.py', s.checkpoint, '--idx-images', join(data, MNIST_FILES.test.images), '--idx-labels', join(data, MNIST_FILES.test.labels),
    '--limit', String(EVAL),
  ], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(py.status, 0, py.stderr);
  const t = JSON.parse(py.stdout);
  assert.equal(t.count, EVAL);
  assert.equal(t.accuracy, s.testAccuracy, `accuracy: torch ${t.accuracy}, gossamer ${s.testAccuracy}`);
  assert.ok(Math.abs(t.loss - s.testLoss) <= 1e-4, `loss: torch ${t.loss}, gossamer ${s.testLoss}`);
}

test('an MLP checkpoint evaluates in PyTorch as in the engine', { skip }, () => {
  roundTrip('mlp', { hidden: [32, 16] });
});

test('a CNN checkpoint evaluates in PyTorch as in the engine', { skip }, () => {
  roundTrip('cnn', { conv1: 4, conv2: 8, hidden: 16 });
});
