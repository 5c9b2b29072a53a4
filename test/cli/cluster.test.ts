import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Command } from 'commander';
import { UsageError } from '../../src/core/errors.js';
import { readCheckpoint, saveCheckpoint } from '../../src/engine/checkpoint.js';
import { createModel } from '../../src/engine/models/index.js';
import { runCluster } from '../../src/runtime/cluster.js';
import { addClusterOptions, clusterConfig, explicitOptions, isClusterRun } from '../../src/cli/cluster.js';
import { linkBetween } from '../../src/runtime/emulator.js';
import { gossamer } from './run.js';

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
    .option('--json').option('--out <dir>').option('--seed <s>', '', Number).option('--lr <lr>', '', Number).option('--resume <file>'));
  cmd.parse(args, { from: 'user' });
  return { flags: cmd.opts(), explicit: explicitOptions(cmd) };
}

test('--kill, --rejoin and --codec reach the cluster configuration', () => {
  const { flags, explicit } = parse(['--workers', '4', '--steps', '100', '--kill', '2@30,3@60', '--rejoin', '2@80', '--codec', 'f16']);
  const config = clusterConfig(flags as never, explicit);
  assert.deepEqual(config.kill, [{ worker: 2, atStep: 30 }, { worker: 3, atStep: 60 }]);
  assert.deepEqual(config.rejoin, [{ worker: 2, atStep: 80 }]);
  assert.equal(config.codec, 'f16');
  assert.ok(isClusterRun(parse(['--kill', '1@5']).flags as never, ['kill']));
});

test('flags that a mode cannot honour are refused with one line; the cluster honours the schedule flags', () => {
  const refused = (args: string[], pattern: RegExp) => {
    const { flags, explicit } = parse(args);
    assert.throws(() => (isClusterRun(flags, explicit) ? clusterConfig(flags as never, explicit) : null), (e: unknown) => e instanceof UsageError && pattern.test(e.message), args.join(' '));
  };
  refused(['--workers', '1', '--rate', '2'], /--rate applies to a cluster, not to one worker/);
  refused(['--workers', '1', '--kill', '1@3'], /--kill applies to a cluster/);
  const cmd = (args: string[]) => {
    const c = addClusterOptions(new Command('train').exitOverride()
      .option('--workers <n>', '', Number, 1).option('--schedule <k>').option('--min-lr <lr>', '', Number).option('--lr-step-size <n>', '', Number)
      .option('--lr-gamma <g>', '', Number).option('--eval-every <n>', '', Number).option('--prompt <text>'));
    c.parse(args, { from: 'user' });
    return { flags: c.opts(), explicit: explicitOptions(c) };
  };
  const fails = (args: string[], pattern: RegExp) => {
    const { flags, explicit } = cmd(args);
    assert.throws(() => clusterConfig(flags as never, explicit), (e: unknown) => e instanceof UsageError && pattern.test(e.message), args.join(' '));
  };
  fails(['--workers', '8', '--eval-every', '10'], /--eval-every applies to one worker/);
  fails(['--workers', '8', '--prompt', 'Call me'], /--prompt applies to one worker/);
  fails(['--workers', '8', '--min-lr', '0.01'], /--min-lr applies to --schedule cosine/);
  fails(['--workers', '8', '--lr-step-size', '10'], /--lr-step-size applies to --schedule step/);
  fails(['--workers', '8', '--schedule', 'cosine', '--lr-gamma', '0.5'], /--lr-gamma applies to the step schedules/);
  const { flags, explicit } = cmd(['--workers', '8', '--lr-gamma', '0.5']);
  assert.equal(clusterConfig(flags as never, explicit).gamma, 0.5, 'the multistep schedule decays by --lr-gamma');
  const step = cmd(['--workers', '8', '--schedule', 'step', '--lr-step-size', '40', '--lr-gamma', '0.3']);
  const c = clusterConfig(step.flags as never, step.explicit);
  assert.deepEqual([c.schedule, c.stepSize, c.gamma], ['step', 40, 0.3]);
});

test('train runs a cluster whatever the flags, but with --workers 1', () => {
  const cases: Array<[string[], boolean]> = [
    [[], true], [['--json'], true], [['--out', 'x', '--seed', '3'], true], [['--workers', '4'], true], [['--algo', 'gossip'], true],
    [['--steps', '30'], true], [['--lr', '0.1'], true],
    [['--workers', '1'], false], [['--workers', '1', '--steps', '30'], false],
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
  // (a row comes when the cluster's monitor sees the step count pass a mark: a short, fast run passes several at once)
  assert.ok(rows.length >= 2, `${rows.length} metrics rows`);
  assert.equal(readCheckpoint(join(out, 'checkpoint.safetensors')).step, s.steps);
});

test('gossamer train with bad cluster input fails with one line and exit code 2', async () => {
  const cases = [
    [['--workers', '4', '--algo', 'sgd'], /--algo/],
    [['--workers', '4', '--topology', 'moebius'], /--topology/],
    [['--workers', '4', '--slow', '9:3', ...TINY, '--steps', '10'], /slow-down given for worker 9/],
    [['--workers', '4', '--latency', '-5'], /--latency/],
    [['--workers', '3', '--algo', 'acid', '--topology', 'ring', ...TINY, '--steps', '10'], /A2CiD2 is refused on the complete graph/],
    [['--workers', '4', '--nesterov', '--momentum', '0', ...TINY, '--steps', '10'], /--nesterov needs a momentum above 0/],
    [['--workers', '4', '--kill', '9@10', ...TINY, '--steps', '10'], /--kill names worker 9, outside 0/],
    [['--workers', '4', '--kill', '3:10'], /expected worker@step pairs/],
    [['--workers', '4', '--inner-steps', '5', ...TINY, '--steps', '10'], /^gossamer: --inner-steps applies to diloco, streaming-diloco, gossip-diloco and async-diloco, not to acid$/m],
    [['--workers', '4', '--algo', 'streaming-diloco', '--inner-steps', '10', '--fragments', '3'], /inner steps per round \(10\) must be a multiple of the number of fragments \(3\)/],
    // The recipe's H (10 over SGD) with the default two fragments.
    [['--workers', '4', '--algo', 'streaming-diloco', '--overlap', '250'], /overlap \(250 steps\) must be shorter than .* \(H\/P = 5\)/],
    [['--workers', '4', '--algo', 'streaming-diloco', '--mix', '2'], /mixing factor must be in \[0, 1\]/],
    [['--workers', '4', '--algo', 'acid', '--overlap', '1'], /--overlap applies to streaming-diloco, not to acid/],
    [['--workers', '4', '--algo', 'streaming-diloco', '--fragments', '5', ...TINY, '--steps', '10'], /5 fragments of a model of 2 layers/],
  ] as const;
  // The processes run side by side (each spends most of its time starting up).
  const results = await Promise.all(cases.map(([args]) => background(['train', ...args]).done));
  for (const [k, [args, message]] of cases.entries()) {
    const r = results[k];
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    // (the one warning line of a machine without the native addon is not part of the error)
    assert.equal(r.stderr.trim().split('\n').filter((l) => !l.includes('native engine backend unavailable')).length, 1, r.stderr);
  }
});

/** Runs the CLI from source in the background; resolves with its exit code and output. */
function background(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((r) => child.on('exit', (code) => r({ code, stdout, stderr })));
  return { child, done };
}

test('SIGINT stops a cluster run cleanly with its averaged model; --resume finishes the budget; bad resume inputs exit with 2 and leave the checkpoint alone', async () => {
  const dir = tmp();
  const out = join(dir, 'run');
  const args = ['train', '--workers', '3', '--topology', 'path', '--algo', 'acid', '--steps', '3000', '--log-every', '100', ...TINY, '--json'];
  const first = background([...args, '--out', out]);
  const straight = background([...args, '--out', join(dir, 'straight')]);
  const metrics = join(out, 'metrics.jsonl');
  const progressed = () => existsSync(metrics) && readFileSync(metrics, 'utf8').trim().split('\n').length >= 3;
  const deadline = Date.now() + 90_000;
  while (!progressed() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  first.child.kill('SIGINT');
  const a = await first.done;
  assert.equal(a.code, 130, a.stderr);
  const stopped = JSON.parse(a.stdout);
  assert.ok(stopped.interrupted && stopped.steps < 3000);
  const checkpoint = join(out, 'checkpoint.safetensors');
  assert.match(a.stderr, /interrupted after \d+ of 3000 steps; .* \(continue with --resume .*checkpoint\.safetensors\)/);
  assert.equal(readCheckpoint(checkpoint).step, stopped.steps);
  // Every worker's own state is saved with the average: its parameters, A2CiD2's x~ and its SGD momentum.
  const interrupted = readCheckpoint(checkpoint);
  const dim = interrupted.params.length;
  const own = [0, 1, 2].map((i) => {
    for (const t of ['x', 'algorithm.xt', 'optimizer']) assert.equal(interrupted.extra.get(`worker.${i}.${t}`)?.length, dim, `worker ${i}: ${t}`);
    return interrupted.extra.get(`worker.${i}.x`)!;
  });
  assert.deepEqual(JSON.parse(interrupted.metadata.workers_saved).map((e: { index: number; vectors: string[] }) => [e.index, e.vectors]), [[0, ['xt']], [1, ['xt']], [2, ['xt']]]);
  let worst = 0;
  let spread = 0;
  for (let k = 0; k < dim; k++) {
    const m = (own[0][k] + own[1][k] + own[2][k]) / 3;
    worst = Math.max(worst, Math.abs(m - interrupted.params[k]));
    for (const x of own) spread += (x[k] - m) ** 2 / 3;
  }
  assert.ok(worst < 1e-5, `the saved average is the mean of the saved workers (off by ${worst})`);
  assert.ok(spread > 0, 'the workers had not reached exact consensus');

  // Bad inputs: one line on stderr, exit code 2, the checkpoint untouched.
  const saved = readFileSync(checkpoint);
  const corrupt = join(dir, 'corrupt.safetensors');
  writeFileSync(corrupt, saved.subarray(0, 100));
  for (const [extra, message] of [
    [['--resume', corrupt], /checkpoint .*corrupt\.safetensors: /],
    [['--resume', checkpoint, '--workers', '4'], /written by a run with --workers 3; it cannot continue with --workers 4/],
    [['--resume', checkpoint, '--nesterov'], /written by a run with --nesterov false; it cannot continue with --nesterov true/],
  ] as const) {
    const r = gossamer(['train', ...extra]);
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  // The same checks in process (UsageErrors are what the CLI prints as one line with exit code 2).
  const finished = JSON.parse((await straight.done).stdout);
  assert.equal(finished.steps, 3000);
  const single = join(dir, 'single.safetensors');
  saveCheckpoint(single, { model: createModel('mlp', { inputSize: 256, hidden: [16], classes: 10 }), run: { workers: 1 } });
  for (const [extra, message] of [
    [['--resume', checkpoint, '--algo', 'gossip'], /--algo acid; it cannot continue with --algo gossip/],
    [['--resume', checkpoint, '--lr', '0.5'], /--lr /],
    [['--resume', single, '--workers', '3'], /written by a one-worker run/],
  ] as const) {
    assert.throws(() => clusterConfig(...Object.values(parse([...extra])) as [never, never]), (e: Error) => e instanceof UsageError && message.test(e.message));
  }
  const done = clusterConfig(...Object.values(parse(['--resume', join(dir, 'straight', 'checkpoint.safetensors')])) as [never, never]);
  await assert.rejects(runCluster(done), (e: Error) => e instanceof UsageError && /has done 3000 steps, the whole budget of 3000/.test(e.message));
  assert.ok(readFileSync(checkpoint).equals(saved), 'the checkpoint changed');

  // The resumed run goes on in the checkpoint's directory to the original budget.
  const r = gossamer(['train', '--resume', checkpoint, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.steps, 3000);
  assert.equal(s.resumedAtStep, stopped.steps);
  // Every worker took its own x~ and optimizer state back (a mismatch would be logged, a bad size kill the worker).
  assert.doesNotMatch(r.stderr, /does not fit|thread failed/);
  assert.deepEqual(s.killed, []);
  assert.ok(s.testAccuracy > finished.testAccuracy - 0.1, `resumed ${s.testAccuracy}, uninterrupted ${finished.testAccuracy}`);
  assert.equal(readCheckpoint(checkpoint).step, 3000);
  const rows = readFileSync(metrics, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(rows.every((row, i) => i === 0 || row.gradients >= rows[i - 1].gradients));
  assert.equal(rows.filter((row) => row.final === 1).length, 1);
  assert.equal(rows[rows.length - 1].gradients, 3000);
  // The resumed run starts from the saved workers, not from their average: its first row has their consensus.
  const start = rows.filter((row) => row.gradients === stopped.steps && row.final === undefined).at(-1);
  assert.ok(start, 'the first row of the resumed run');
  assert.ok(Math.abs(start.consensus - spread) <= 1e-6 * spread + 1e-12, `consensus ${start.consensus}, saved workers ${spread}`);
  assert.ok(readCheckpoint(checkpoint).extra.size === 0, 'a finished run saves the average only');
});

test('a model ruined by a neighbour\'s message stops the run with the reason and the right advice', () => {
  const r = gossamer(['train', '--workers', '3', '--topology', 'path', '--adversary', '1:huge', '--no-bounds', '--steps', '120', ...TINY, '--out', tmp(), '--json']);
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split('\n').filter((l) => !l.includes('TypeScript backend'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /ruined after an exchange with worker 1.*drop --no-bounds/);
});
