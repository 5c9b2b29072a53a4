/**
 * A checkpoint whose tensor bytes were damaged on disk (one flipped bit) must not be resumed: every command that
 * resumes refuses it with one line naming the tensor and exit code 2, and leaves the file as it was.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createModel } from '../../src/engine/models/index.js';
import { savePeerCheckpoint } from '../../src/runtime/net/peer-checkpoint.js';
import { writeSwarmKey } from '../../src/runtime/net/swarm-key.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-damage-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const TINY = ['--dataset', 'synthetic', '--model-config', '{"hidden":[16]}', '--limit', '512', '--eval-limit', '128', '--batch-size', '16', '--backend', 'js'];

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Flips an exponent bit of the float in the middle of a checkpoint's data section; returns the tensor it hit. */
function flipPayloadBit(file: string): string {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
  const middle = Math.floor((bytes.length - 8 - n) / 8) * 4;
  const [name] = Object.entries(header).find(([k, t]) => k !== '__metadata__' && t.data_offsets[0] <= middle && middle < t.data_offsets[1])!;
  bytes[8 + n + middle + 3] ^= 0x40;
  writeFileSync(file, bytes);
  return name;
}

/** Lines of stderr that are not the warning of a machine without the native addon. */
const errorLines = (stderr: string) => stderr.trim().split('\n').filter((l) => l !== '' && !l.includes('native engine backend unavailable'));

function assertRefused(r: { code: number | null; stderr: string }, file: string, tensor: string, before: Buffer): void {
  assert.equal(r.code, 2, r.stderr);
  const lines = errorLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0].includes(file) && lines[0].includes(`tensor ${JSON.stringify(tensor)} is damaged`), lines[0]);
  assert.ok(readFileSync(file).equals(before), 'the damaged checkpoint was changed');
}

test('train (one worker and a cluster) and peer refuse to resume a checkpoint with a flipped bit, and leave it alone', async () => {
  const one = join(dir, 'one');
  const two = join(dir, 'two');
  const [a, b] = await Promise.all([
    run(['train', '--workers', '1', ...TINY, '--steps', '20', '--out', one, '--json']),
    run(['train', '--workers', '2', '--algo', 'gossip', ...TINY, '--steps', '40', '--out', two, '--json']),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);

  const model = createModel('mlp', { inputSize: 256, hidden: [16], classes: 10, seed: 1 });
  const peer = join(dir, 'peer', 'checkpoint.safetensors');
  const run0 = { command: 'peer' as const, index: 0, workers: 2, algo: 'gossip', topology: 'ring', rate: 1, steps: 50, model: 'mlp' as const, dataset: 'synthetic' as const, batchSize: 16 };
  savePeerCheckpoint(peer, { model, step: 10, seed: 1, run: run0, algorithm: 'gossip' });
  const key = join(dir, 'swarm.key');
  writeSwarmKey(key, false);

  const files = [join(one, 'checkpoint.safetensors'), join(two, 'checkpoint.safetensors'), peer];
  const hit = files.map(flipPayloadBit);
  const before = files.map((f) => readFileSync(f));
  // Budgets beyond the saved step: without the checksums each of these would train on from the damaged values.
  const results = await Promise.all([
    run(['train', '--resume', files[0], '--steps', '40', '--json']),
    run(['train', '--resume', files[1], '--steps', '80', '--json']),
    run(['peer', '--resume', files[2], '--swarm-key', key, '--listen', '/ip4/127.0.0.1/tcp/0', '--json']),
  ]);
  for (const [k, r] of results.entries()) assertRefused(r, files[k], hit[k], before[k]);
});
