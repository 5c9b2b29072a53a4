import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Command } from 'commander';
import { readCheckpoint } from '../../src/engine/checkpoint.js';
import { addClusterOptions, clusterConfig, explicitOptions, isClusterRun } from '../../src/runtime/cli.js';
import { linkBetween } from '../../src/runtime/emulator.js';
import { gossamer } from '../cli/run.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'gossamer-cluster-cli-'));
  dirs.push(d);
  return d;
};

const TINY = ['--dataset', 'synthetic', '--model-config', '{"hidden":[16]}', '--limit', '2000', '--batch-size', '16', '--backend', 'js', '--seed', '2'];

/** Which options a command line sets explicitly, as the train command sees them. */
function parse(args: string[]) {
  const cmd = addClusterOptions(new Command('train').exitOverride()
    .option('--workers <n>', '', Number, 1).option('--epochs <e>', '', Number).option('--steps <n>', '', Number)
    .option('--json').option('--out <dir>').option('--seed <s>', '', Number).option('--lr <lr>', '', Number));
  cmd.parse(args, { from: 'user' });
  return { flags: cmd.opts(), explicit: explicitOptions(cmd) };
}

test('train dispatches to a cluster with several workers, a cluster option, or no training flag at all', () => {
  const cases: Array<[string[], boolean]> = [
    [[], true], [['--json'], true], [['--out', 'x', '--seed', '3'], true], [['--workers', '4'], true], [['--algo', 'gossip'], true],
    [['--workers', '1'], false], [['--steps', '30'], false], [['--workers', '1', '--rate', '2'], false],
  ];
  for (const [args, cluster] of cases) {
    const { flags, explicit } = parse(args);
    assert.equal(isClusterRun(flags, explicit), cluster, args.join(' '));
  }
  // The embedded default: 8 workers, ring, A2CiD2 at rate 1, MLP on MNIST, the authors' recipe.
  const { flags, explicit } = parse([]);
  const c = clusterConfig(flags, explicit);
  assert.deepEqual([c.workers, c.topology, c.algorithm, c.rate, c.model, c.dataset], [8, 'ring', 'acid', 1, 'mlp', 'mnist']);
  assert.deepEqual([c.optimizer, c.lr, c.momentum, c.weightDecay, c.schedule, c.clip], ['sgd', 0.4, 0.9, 5e-4, 'multistep', 1]);
  const emulated = clusterConfig(...Object.values(parse(['--workers', '4', '--latency', '20', '--bandwidth', '100Mbit', '--slow', '1:3'])) as [never, never]);
  assert.deepEqual(emulated.links, { default: { latencyMs: 20, bandwidth: 12.5e6 } });
  const file = join(tmp(), 'links.json');
  writeFileSync(file, JSON.stringify({ default: { latencyMs: 5, bandwidth: '1Gbit' }, workers: { 3: { loss: 0.1 } }, edges: { '2-1': { jitterMs: 4 } } }));
  const table = clusterConfig(...Object.values(parse(['--workers', '4', '--links', file, '--latency', '7'])) as [never, never]).links!;
  assert.deepEqual(table, { default: { latencyMs: 7, bandwidth: 1.25e8 }, workers: { 3: { loss: 0.1 } }, edges: { '1-2': { jitterMs: 4 } } });
  assert.deepEqual(linkBetween(table, 3, 2), { latencyMs: 7, jitterMs: 0, bandwidth: 1.25e8, loss: 0.1 });
  assert.deepEqual(linkBetween(table, 2, 1), { latencyMs: 7, jitterMs: 4, bandwidth: 1.25e8, loss: 0 });
  writeFileSync(file, JSON.stringify({ workers: { x: {} } }));
  assert.throws(() => clusterConfig(...Object.values(parse(['--links', file])) as [never, never]), /link table .*workers\.x: /);
  assert.deepEqual(emulated.slowdown, { 1: 3 });
});

test('gossamer train --workers 3 --json (central pairing): summary, metrics, plot and averaged checkpoint', () => {
  const out = tmp();
  const r = gossamer(['train', '--workers', '3', '--topology', 'path', '--algo', 'gossip', '--rate', '0.5', '--pairing', 'fifo', '--steps', '240', ...TINY, '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  for (const key of ['testAccuracy', 'consensus', 'steps', 'exchanges', 'seconds', 'idleFraction']) assert.equal(typeof s[key], 'number', key);
  assert.equal(s.algorithm, 'gossip');
  assert.equal(s.workers, 3);
  assert.ok(s.steps >= 240 && s.exchanges > 0);
  assert.ok(s.testAccuracy > 0.3, `accuracy ${s.testAccuracy}`);
  assert.ok(existsSync(join(out, 'metrics.jsonl')) && existsSync(join(out, 'metrics.svg')));
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(rows.length > 3);
  assert.equal(readCheckpoint(join(out, 'checkpoint.safetensors')).step, s.steps);
});

test('gossamer train with bad cluster input fails with one line and exit code 2', () => {
  for (const [args, message] of [
    [['--workers', '4', '--algo', 'sgd'], /--algo/],
    [['--workers', '4', '--topology', 'moebius'], /--topology/],
    [['--workers', '4', '--slow', '9:3', ...TINY, '--steps', '10'], /slow-down given for worker 9/],
    [['--workers', '4', '--latency', '-5'], /--latency/],
    [['--workers', '3', '--algo', 'acid', '--topology', 'ring', ...TINY, '--steps', '10'], /A2CiD2 is refused on the complete graph/],
  ] as const) {
    const r = gossamer(['train', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('SIGINT stops a cluster run cleanly and saves the averaged model', async () => {
  const out = tmp();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'train', '--workers', '3', '--topology', 'path', '--algo', 'gossip',
    '--steps', '100000', '--log-every', '20', ...TINY, '--out', out, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const metrics = join(out, 'metrics.jsonl');
  const deadline = Date.now() + 90_000;
  while (!(existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 3) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /interrupted after \d+ of 100000 steps/);
  const s = JSON.parse(stdout);
  assert.equal(s.interrupted, true);
  assert.ok(s.steps < 100000);
  assert.equal(readCheckpoint(join(out, 'checkpoint.safetensors')).step, s.steps);
});
