/**
 * Every command checks its output directory before doing any work: one that cannot be created or written to is
 * one line on stderr and exit code 2, at once. A checkpoint whose directory has become unwritable by the time it is
 * written goes to a temporary directory that the message names.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { readCheckpoint } from '../../src/engine/checkpoint.js';
import { writeSwarmKey } from '../../src/runtime/net/swarm-key.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-out-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const TINY = ['--dataset', 'synthetic', '--model-config', '{"hidden":[16]}', '--limit', '512', '--eval-limit', '128', '--batch-size', '16', '--backend', 'js'];

/** Runs the CLI; a process still running after a minute is killed (and then fails the test: its code is null). */
function run(args: string[], onRunning?: (child: ReturnType<typeof spawn>) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
    onRunning?.(child);
  });
}

const errorLines = (stderr: string) => stderr.trim().split('\n').filter((l) => l !== '' && !l.includes('native engine backend unavailable'));

test('train (one worker and a cluster), peer and sim refuse an unusable --out with one line and exit code 2', { skip: !existsSync('/proc/self') }, async () => {
  const file = join(dir, 'a-file');
  writeFileSync(file, 'keep me');
  const key = join(dir, 'swarm.key');
  writeSwarmKey(key, false);
  const commands: Array<[string, string[]]> = [
    ['train, one worker', ['train', '--workers', '1', ...TINY, '--steps', '5']],
    ['train, a cluster', ['train', '--workers', '2', '--algo', 'gossip', ...TINY, '--steps', '10']],
    // Without the early check, this worker would wait for the other one to join.
    ['peer', ['peer', '--index', '0', '--workers', '2', '--swarm-key', key, '--listen', '/ip4/127.0.0.1/tcp/0', ...TINY.slice(0, 8), '--steps', '5']],
    ['sim', ['sim', '--workers', '4', '--time', '5']],
  ];
  const outs: Array<[string, RegExp]> = [
    ['/proc/gossamer-test', /^gossamer: --out \/proc\/gossamer-test: cannot create directory \/proc\/gossamer-test \(/],
    [file, /^gossamer: --out .*a-file: exists and is not a directory$/],
    [join(file, 'run'), /^gossamer: --out .*a-file\/run: .*a-file is not a directory$/],
  ];
  const cases = commands.flatMap(([name, args]) => outs.map(([out, message]) => ({ name: `${name} --out ${out}`, args: [...args, '--out', out], message })));
  const results = await Promise.all(cases.map((c) => run(c.args)));
  for (const [k, c] of cases.entries()) {
    const r = results[k];
    assert.equal(r.code, 2, `${c.name}: ${r.stderr}`);
    const lines = errorLines(r.stderr);
    assert.equal(lines.length, 1, `${c.name}: ${r.stderr}`);
    assert.match(lines[0], c.message, c.name);
  }
  assert.equal(readFileSync(file, 'utf8'), 'keep me');
});

test('a checkpoint that cannot be written at Ctrl-C goes to a temporary directory named on stderr', async () => {
  const out = join(dir, 'vanishing');
  const metrics = join(out, 'metrics.jsonl');
  const r = await run(['train', '--workers', '1', ...TINY, '--steps', '1000000', '--log-every', '5', '--out', out, '--json'], (child) => {
    const poll = setInterval(() => {
      if (existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 2) {
        clearInterval(poll);
        // The output directory becomes a file: nothing can be written under it any more.
        rmSync(out, { recursive: true });
        writeFileSync(out, '');
        child.kill('SIGINT');
      }
    }, 25);
    child.on('exit', () => clearInterval(poll));
  });
  assert.equal(r.code, 130, r.stderr);
  const lines = errorLines(r.stderr);
  assert.equal(lines.length, 2, r.stderr);
  const fallback = /^gossamer: cannot write the checkpoint to .*vanishing\/checkpoint\.safetensors \(.*\); it is in (\S+) instead$/.exec(lines[0]);
  assert.ok(fallback, lines[0]);
  const file = fallback[1];
  assert.equal(dirname(dirname(file)), tmpdir());
  assert.match(lines[1], new RegExp(`interrupted at step \\d+/1000000; checkpoint written to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.ok(readCheckpoint(file).step > 0);
  rmSync(dirname(file), { recursive: true });
});
