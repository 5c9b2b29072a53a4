import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CommanderError } from 'commander';
import { UsageError } from '../../src/core/errors.js';
import { trainCommand } from '../../src/cli/train.js';
import { readCheckpoint } from '../../src/engine/checkpoint.js';
import { gossamer } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-train-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A small, fast run: an MLP with one hidden layer of 32 on synthetic 16 × 16 images. */
const SMALL = ['train', '--workers', '1', '--model', 'mlp', '--dataset', 'synthetic', '--model-config', '{"hidden":[32]}', '--batch-size', '16', '--limit', '512', '--eval-limit', '256'];

function rows(out: string): Record<string, number>[] {
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

test('gossamer train --json trains one worker, evaluates, and writes metrics and a checkpoint', () => {
  const out = join(dir, 'small');
  const r = gossamer([...SMALL, '--workers', '1', '--steps', '30', '--log-every', '10', '--eval-every', '20', '--seed', '3', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'one JSON object');
  const s = JSON.parse(lines[0]);
  for (const key of ['testAccuracy', 'testLoss', 'trainLoss', 'seconds', 'msPerStep']) assert.equal(typeof s[key], 'number', key);
  for (const key of ['model', 'backend', 'isa', 'layoutHash', 'checkpoint', 'metrics']) assert.equal(typeof s[key], 'string', key);
  assert.equal(s.model, 'mlp');
  assert.equal(s.workers, 1);
  assert.equal(s.steps, 30);
  assert.equal(s.seed, 3);
  assert.ok(s.testAccuracy > 0.5, `synthetic classes are easy (accuracy ${s.testAccuracy})`);
  assert.equal(s.checkpoint, join(out, 'checkpoint.safetensors'));

  const ck = readCheckpoint(s.checkpoint);
  assert.equal(ck.step, 30);
  assert.equal(ck.model, 'mlp');
  assert.equal(ck.layoutHash, s.layoutHash);
  assert.equal(ck.seed, 3);
  assert.equal(ck.optimizer?.config.kind, 'sgd');
  assert.equal(ck.run.totalSteps, 30);
  assert.deepEqual(ck.input, { kind: 'images', dataset: 'synthetic', layout: 'NCHW', channels: 1, height: 16, width: 16, dtype: 'float32', classes: 10, raw: 'float32', scale: 1, mean: 0, std: 1 });

  const m = rows(out);
  assert.deepEqual(m.map((row) => row.t), [0, 10, 20, 30]);
  for (const row of m) for (const key of ['trainLoss', 'consensus', 'gradients', 'communications', 'seconds', 'lr']) assert.equal(typeof row[key], 'number', key);
  assert.deepEqual(m.filter((row) => row.testAccuracy !== undefined).map((row) => row.t), [0, 20, 30]);
  assert.equal(m[3].testAccuracy, s.testAccuracy);

  // --resume of a finished run keeps its budget: nothing left to do, same evaluation.
  const again = gossamer(['train', '--resume', s.checkpoint, '--out', join(dir, 'finished'), '--json']);
  assert.equal(again.code, 0, again.stderr);
  const t = JSON.parse(again.stdout);
  assert.equal(t.steps, 30);
  assert.equal(t.totalSteps, 30);
  assert.equal(t.resumedAtStep, 30);
  assert.equal(t.testAccuracy, s.testAccuracy);
});

test('--nesterov and --decay-all reach the optimizer, its checkpoint and a resumed run', () => {
  const out = join(dir, 'nesterov');
  const r = gossamer([...SMALL, '--steps', '4', '--nesterov', '--decay-all', '--weight-decay', '0.01', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const ck = readCheckpoint(join(out, 'checkpoint.safetensors'));
  assert.equal(ck.optimizer?.config.nesterov, true);
  assert.deepEqual(ck.optimizer?.config.noDecay, []);
  assert.equal(ck.run.nesterov, true);
  assert.equal(ck.run.decayAll, true);
  const plain = join(dir, 'plain');
  assert.equal(gossamer([...SMALL, '--steps', '4', '--weight-decay', '0.01', '--out', plain, '--json']).code, 0);
  const ckPlain = readCheckpoint(join(plain, 'checkpoint.safetensors'));
  assert.deepEqual(ckPlain.optimizer?.config.noDecay, ['bias', 'norm']);
  assert.ok(!sameBits(ck.params, ckPlain.params), 'Nesterov and decayed biases change the trained parameters');
  // A resumed run keeps the checkpoint's settings.
  const again = gossamer(['train', '--resume', join(out, 'checkpoint.safetensors'), '--steps', '6', '--json']);
  assert.equal(again.code, 0, again.stderr);
  const resumed = readCheckpoint(join(out, 'checkpoint.safetensors'));
  assert.equal(resumed.step, 6);
  assert.equal(resumed.optimizer?.config.nesterov, true);
  assert.deepEqual(resumed.optimizer?.config.noDecay, []);
});

/** Runs the CLI asynchronously; `onStart` may signal the child once it is running. */
function spawnGossamer(args: string[], onRunning?: (child: ReturnType<typeof spawn>) => void) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env: { ...process.env, FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolvePromise({ code, stdout, stderr });
    });
    onRunning?.(child);
  });
}

test('SIGINT stops after the current step with a checkpoint and exit code 130; --resume then matches an uninterrupted run', async () => {
  const out = join(dir, 'interrupted');
  const metrics = join(out, 'metrics.jsonl');
  // A budget far beyond what runs before the signal; a constant schedule so that a shorter budget later trains alike.
  const common = [...SMALL, '--schedule', 'constant', '--seed', '5'];
  const r = await spawnGossamer([...common, '--steps', '1000000', '--log-every', '5', '--out', out, '--json'], (child) => {
    const poll = setInterval(() => {
      if (existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 2) {
        clearInterval(poll);
        child.kill('SIGINT');
      }
    }, 25);
    child.on('close', () => clearInterval(poll));
  });
  assert.equal(r.code, 130, r.stderr);
  assert.equal(r.stdout, '');
  // Besides the interruption line, only the warning that the native backend is not built may appear.
  const lines = r.stderr.trim().split('\n').filter((l) => !l.includes('native engine backend unavailable'));
  assert.equal(lines.length, 1, r.stderr);
  const match = /interrupted at step (\d+)\/1000000; checkpoint written to (\S+checkpoint\.safetensors)/.exec(lines[0]);
  assert.ok(match, lines[0]);
  const stoppedAt = Number(match[1]);
  assert.equal(match[2], join(out, 'checkpoint.safetensors'));
  const ck = readCheckpoint(match[2]);
  assert.equal(ck.step, stoppedAt);
  assert.equal(ck.run.totalSteps, 1000000, 'the budget is saved with the run');

  const total = stoppedAt + 12;
  const [resumed, straight] = await Promise.all([
    spawnGossamer(['train', '--resume', match[2], '--steps', String(total), '--json']), // continues in its directory
    spawnGossamer([...common, '--steps', String(total), '--out', join(dir, 'straight'), '--json']),
  ]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(straight.code, 0, straight.stderr);
  const a = JSON.parse(resumed.stdout);
  const b = JSON.parse(straight.stdout);
  assert.equal(a.resumedAtStep, stoppedAt);
  assert.equal(a.steps, total);
  assert.equal(b.steps, total);
  assert.ok(sameBits(readCheckpoint(a.checkpoint).params, readCheckpoint(b.checkpoint).params), 'same final parameters');
  assert.ok(sameBits(readCheckpoint(a.checkpoint).optimizer!.state, readCheckpoint(b.checkpoint).optimizer!.state), 'same optimizer state');
  assert.equal(a.testLoss, b.testLoss);
  // The metrics file of the directory holds the interrupted rows up to the checkpoint, then the resumed ones.
  assert.equal(a.checkpoint, join(out, 'checkpoint.safetensors'));
  const t = rows(out).map((row) => row.t);
  assert.equal(t[0], 0);
  assert.ok(t.includes(stoppedAt), `a row at the interruption (${stoppedAt})`);
  assert.equal(t[t.length - 1], total);
  assert.ok(t.every((x, i) => i === 0 || x > t[i - 1]), `increasing steps: ${t.join(',')}`);
});

test('bad input exits with code 2 and one line on stderr', async () => {
  const results = await Promise.all([['--model', 'perceptron'], ['--model', 'transformer', '--dataset', 'mnist']].map((args) => spawnGossamer(['train', ...args, '--json'])));
  for (const r of results) {
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

/** Runs the train command in-process; resolves to the error it fails with. */
async function failure(args: string[]): Promise<Error> {
  const command = trainCommand().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  try {
    await command.parseAsync(args, { from: 'user' });
  } catch (err) {
    return err as Error;
  }
  assert.fail(`expected train ${args.join(' ')} to fail`);
}

const mlpCheckpoint = join(dir, 'mlp-ckpt');
const corrupt = join(dir, 'corrupt.safetensors');

const badInputs: Array<[string, string[], RegExp]> = [
  ['an unknown model', ['--model', 'perceptron'], /expected one of mlp, cnn, resnet20, transformer/],
  ['an unknown data set', ['--dataset', 'cifar10'], /expected one of mnist, moby-dick, synthetic/],
  ['a transformer on images', ['--model', 'transformer', '--dataset', 'mnist'], /transformer is a language model and needs a text data set/],
  ['an image model on text', ['--model', 'cnn', '--dataset', 'moby-dick'], /cnn classifies images/],
  ['zero epochs', ['--epochs', '0'], /must be positive/],
  ['negative epochs', ['--epochs', '-2'], /must be positive/],
  ['zero steps', ['--steps', '0'], /at least 1/],
  ['both budgets', ['--epochs', '1', '--steps', '5'], /either --epochs or --steps/],
  ['a missing checkpoint', ['--resume', join(dir, 'nowhere.safetensors')], /checkpoint .*nowhere\.safetensors: not found/],
  ['a corrupt checkpoint', ['--resume', corrupt], /checkpoint .*corrupt\.safetensors: /],
  ['a checkpoint of another model', ['--model', 'cnn', '--dataset', 'synthetic', '--resume', join(mlpCheckpoint, 'checkpoint.safetensors')], /holds a mlp model with layout [0-9a-f]+, which does not match this cnn model/],
  ['a model config that does not fit the data', [...SMALL.slice(1), '--model-config', '{"inputSize":10}', '--steps', '1'], /does not fit synthetic/],
  ['a bad model config', ['--model-config', '[1,2]'], /must be a JSON object/],
  ['Nesterov without momentum', ['--nesterov', '--momentum', '0'], /--nesterov needs a momentum above 0/],
  ['Nesterov with AdamW', ['--optimizer', 'adamw', '--nesterov'], /--nesterov applies to SGD only/],
  ['a negative braking', ['--braking', '-1'], /--braking.*at least 0/],
  ['braking without a momentum', ['--momentum', '0', '--braking', '1'], /--braking \(Adaptive Braking\) needs a momentum/],
];

test('bad input is rejected with a one-line message', async () => {
  const r = gossamer([...SMALL, '--steps', '2', '--out', mlpCheckpoint, '--json']);
  assert.equal(r.code, 0, r.stderr);
  writeFileSync(corrupt, readFileSync(join(mlpCheckpoint, 'checkpoint.safetensors')).subarray(0, 200));
  for (const [what, args, pattern] of badInputs) {
    const err = await failure(['--workers', '1', ...args, '--out', join(dir, 'never'), '--json']);
    assert.ok(err instanceof UsageError || (err instanceof CommanderError && err.exitCode !== 0), `${what}: ${String(err)}`);
    assert.match(err.message, pattern, what);
    assert.ok(!err.message.trim().includes('\n'), `${what}: one line`);
  }
  assert.ok(!existsSync(join(dir, 'never', 'checkpoint.safetensors')));
});
