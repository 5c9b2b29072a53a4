import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { UsageError } from '../../src/core/errors.js';
import { readCheckpoint } from '../../src/engine/checkpoint.js';
import { readMetrics } from '../../src/report/metrics.js';
import { runCluster } from '../../src/runtime/cluster.js';
import { type ClusterConfig } from '../../src/runtime/cluster-config.js';
import { clusterData } from '../helpers/cluster-data.js';

/** Worker threads training a tiny MLP on Gaussian clusters: a few seconds per run. */
const data = clusterData;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const base: ClusterConfig = {
  workers: 4, topology: 'ring', algorithm: 'acid', rate: 1, model: 'mlp', modelConfig: { hidden: [16] }, dataset: data,
  batchSize: 16, steps: 800, optimizer: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 1e-4, schedule: 'multistep', warmup: 5,
  clip: 1, seed: 3, backend: 'js', metricsEvery: 100,
};

// One asynchronous run for several tests (threads are slow to start): worker 2 is killed at a quarter of the budget.
const out = mkdtempSync(join(tmpdir(), 'gossamer-cluster-'));
dirs.push(out);
const asyncRun = runCluster({ ...base, out, kill: [{ worker: 2, atStep: 200 }], logFormats: ['csv'] });

test('worker threads train a tiny model together: accuracy rises and the workers reach consensus', async () => {
  const s = await asyncRun;
  const rows = readMetrics(join(out, 'metrics.jsonl'));
  const first = rows[0];
  const last = rows[rows.length - 1];
  assert.ok((first.testAccuracy as number) < 0.5, `accuracy before training ${first.testAccuracy}`);
  assert.ok(s.testAccuracy > 0.8, `final accuracy ${s.testAccuracy}`);
  assert.ok(last.testLoss! < first.testLoss! / 2);
  assert.equal(readFileSync(join(out, 'metrics.csv'), 'utf8').trim().split('\n').length, rows.length + 1, 'the rows again as CSV');
  assert.equal(first.trainLoss, undefined, 'no training loss before the first step');
  assert.ok(Number.isFinite(last.trainLoss), 'the last row holds the workers\' training loss');
  const peak = Math.max(...rows.map((r) => r.consensus));
  assert.ok(peak > 0, 'the workers drifted apart while training');
  assert.ok(s.consensus < peak / 5 && s.consensus < 1e-2, `consensus ${s.consensus} (peak ${peak})`);
  // The simulator's format, plus wall-clock seconds.
  for (const r of rows) for (const key of ['t', 'consensus', 'testLoss', 'gradients', 'communications', 'seconds', 'testAccuracy']) assert.equal(typeof r[key], 'number', key);
  assert.ok(rows.every((r, i) => i === 0 || (r.t >= rows[i - 1].t && r.gradients >= rows[i - 1].gradients)));
  assert.ok(s.exchanges > 100 && s.idleFraction >= 0 && s.idleFraction < 1);
  assert.equal(s.algorithm, 'acid');
  assert.ok(existsSync(join(out, 'metrics.svg')) && readFileSync(join(out, 'metrics.svg'), 'utf8').includes('<svg'));
  const ckpt = readCheckpoint(join(out, 'checkpoint.safetensors'));
  assert.equal(ckpt.params.length, s.params);
  assert.equal(ckpt.step, s.steps);
});

test('a killed worker brought back takes a neighbour\'s parameters, links up again and trains to the end with the others', async () => {
  const lines: string[] = [];
  const s = await runCluster({
    ...base, steps: 2000, kill: [{ worker: 2, atStep: 300 }], rejoin: [{ worker: 2, atStep: 600 }], log: (l) => lines.push(l),
  });
  assert.deepEqual(s.killed, [2]);
  assert.deepEqual(s.rejoined, [2]);
  assert.ok(lines.some((l) => /worker 2 rejoined from worker [13]'s parameters/.test(l)), lines.join('; '));
  assert.ok(s.perWorker.every((w) => w.alive));
  assert.ok(s.steps >= s.budget);
  // Its counts go on from its first life: about a quarter of 300 steps, then of the 1400 after its return.
  const back = s.perWorker[2];
  // (a third of its share at least: a restarted thread starts slower on a loaded machine)
  assert.ok(back.steps > (300 / 4 + 1400 / 4) / 3, `worker 2 took ${back.steps} steps`);
  assert.ok(back.exchanges > back.steps / 4, `worker 2 took part in ${back.exchanges} exchanges`);
  assert.ok(s.testAccuracy > 0.8, `accuracy ${s.testAccuracy}`);
  assert.ok(s.consensus < 1e-2, `consensus ${s.consensus}`);
  await assert.rejects(runCluster({ ...base, rejoin: [{ worker: 1, atStep: 10 }] }), (e: Error) => e instanceof UsageError && /worker 1 is not killed before step 10/.test(e.message));
  await assert.rejects(runCluster({ ...base, kill: [{ worker: 1, atStep: 5000 }] }), (e: Error) => e instanceof UsageError && /^kill 1@5000 would never happen: the run takes 800 steps/.test(e.message));
  await assert.rejects(
    runCluster({ ...base, algorithm: 'allreduce', kill: [{ worker: 1, atStep: 5 }], rejoin: [{ worker: 1, atStep: 10 }] }),
    (e: Error) => e instanceof UsageError && /^rejoin applies to the pairwise algorithms/.test(e.message),
  );
});

test('killing a worker mid-run leaves the others training to the end', async () => {
  const s = await asyncRun;
  assert.deepEqual(s.killed, [2]);
  assert.ok(s.steps >= s.budget, `${s.steps} steps of ${s.budget}`);
  const dead = s.perWorker[2];
  assert.equal(dead.alive, false);
  // The survivors took the three quarters of the budget left after the kill (the total above) and kept exchanging;
  // how the steps split among them depends on the machine's load (a busy machine can starve one thread for a while).
  const survivors = s.perWorker.filter((p) => p.alive);
  assert.ok(survivors.reduce((a, w) => a + w.steps, 0) >= s.budget - dead.steps, 'the survivors trained to the end');
  for (const w of survivors) {
    assert.ok(w.steps > 20, `worker ${w.id}: ${w.steps} steps`);
    assert.ok(w.exchanges > 0.5 * w.steps, `worker ${w.id}: ${w.exchanges} exchanges in ${w.steps} steps`);
  }
  assert.ok(s.testAccuracy > 0.8);
});

test('the synchronous baseline keeps all workers identical and trains', async () => {
  const s = await runCluster({ ...base, workers: 3, algorithm: 'allreduce', steps: 450, slowdown: { 1: 4 } });
  assert.equal(s.algorithm, 'allreduce');
  assert.equal(s.consensus, 0);
  assert.ok(s.testAccuracy > 0.8, `accuracy ${s.testAccuracy}`);
  const steps = s.perWorker.map((w) => w.steps);
  assert.ok(steps.every((k) => k === steps[0]), `rounds per worker ${steps}`);
  // The two fast workers wait for the slow one (4x slower) at every round.
  const idle = s.perWorker.map((w) => w.idleFraction);
  assert.ok(Math.min(idle[0], idle[2]) > idle[1], `idle fractions ${idle}`);
});

test('DiLoCo in threads: H local steps per round, then one all-reduce of the pseudo-gradients and the outer step', async () => {
  const s = await runCluster({ ...base, workers: 3, algorithm: 'diloco', steps: 300, innerSteps: 10, outerLr: 0.7, outerMomentum: 0.9 });
  assert.equal(s.algorithm, 'diloco');
  assert.ok(s.perWorker.every((w) => w.steps === 100), `steps per worker ${s.perWorker.map((w) => w.steps)}`);
  // 10 rounds of one collective each, counted as n − 1 messages.
  assert.equal(s.exchanges, 10 * 2);
  assert.ok(s.testAccuracy > 0.8, `accuracy ${s.testAccuracy}`);
  await assert.rejects(runCluster({ ...base, algorithm: 'acid', innerSteps: 10 }), (e: Error) => e instanceof UsageError && /^innerSteps applies to diloco, streaming-diloco, gossip-diloco and async-diloco, not to acid/.test(e.message));
});

test('Streaming DiLoCo in threads: a fragment every H/P steps, merged τ steps later; the closing average leaves the workers in consensus', async () => {
  const s = await runCluster({ ...base, workers: 3, algorithm: 'streaming-diloco', steps: 600, innerSteps: 12, fragments: 2, overlap: 2, mix: 0.5 });
  assert.equal(s.algorithm, 'streaming-diloco');
  assert.ok(s.perWorker.every((w) => w.steps === 200), `steps per worker ${s.perWorker.map((w) => w.steps)}`);
  // A fragment every 6 steps (33 rounds in 200 steps), then the closing average: n − 1 messages each.
  assert.equal(s.exchanges, (33 + 1) * 2);
  assert.equal(s.consensus, 0, 'the very same model on every worker');
  assert.ok(s.testAccuracy > 0.8, `accuracy ${s.testAccuracy}`);
});

test('eager DiLoCo in threads: rounds overlap the next round\'s steps; the closing average leaves the workers in consensus', async () => {
  const s = await runCluster({ ...base, workers: 3, algorithm: 'diloco', eager: true, steps: 300, innerSteps: 10 });
  assert.equal(s.algorithm, 'eager-diloco');
  assert.ok(s.perWorker.every((w) => w.steps === 100), `steps per worker ${s.perWorker.map((w) => w.steps)}`);
  assert.equal(s.exchanges, (10 + 1) * 2);
  assert.equal(s.consensus, 0);
  assert.ok(s.testAccuracy > 0.8, `accuracy ${s.testAccuracy}`);
});

test('a run stopped mid-way and resumed from its checkpoint takes exactly its budget and trains as well', async () => {
  const { readClusterCheckpoint } = await import('../../src/runtime/cluster-config.js');
  const config: ClusterConfig = { ...base, workers: 3, topology: 'path', steps: 900, metricsEvery: 60 };
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-cluster-resume-'));
  dirs.push(dir);
  const controller = new AbortController();
  const first = await runCluster({
    ...config, out: dir, signal: controller.signal, onRow: (r) => {
      if (r.gradients >= 240) controller.abort();
    },
  });
  assert.equal(first.interrupted, true);
  assert.ok(first.steps >= 240 && first.steps < 900, `stopped at ${first.steps}`);
  const before = readMetrics(join(dir, 'metrics.jsonl'));
  const { run, resume } = readClusterCheckpoint(join(dir, 'checkpoint.safetensors'));
  assert.deepEqual([run.workers, run.topology, run.algorithm, run.budget, run.progress.steps], [3, 'path', 'acid', 900, first.steps]);
  assert.deepEqual(resume.workerSteps, first.perWorker.map((w) => w.steps));

  const [resumed, straight] = await Promise.all([runCluster({ ...config, out: dir, resume }), runCluster(config)]);
  assert.equal(resumed.steps, 900);
  assert.equal(straight.steps, 900);
  assert.equal(resumed.resumedAtStep, first.steps);
  assert.ok(resumed.testAccuracy > 0.8 && resumed.testAccuracy > straight.testAccuracy - 0.1, `resumed ${resumed.testAccuracy}, uninterrupted ${straight.testAccuracy}`);
  // The metrics go on from the interruption: the earlier rows (but their final row), then the resumed ones.
  const rows = readMetrics(join(dir, 'metrics.jsonl'));
  const kept = before.filter((r) => r.final === undefined);
  assert.deepEqual(rows.slice(0, kept.length), kept);
  // Rows after the resumption too (how many depends on how fast the supervisor's samples come round).
  assert.ok(rows.length >= kept.length + 3, `${rows.length - kept.length} rows after the resumption from ${first.steps}`);
  const back = rows.findIndex((r, i) => i > 0 && !(r.gradients >= rows[i - 1].gradients && r.t >= rows[i - 1].t && (r.seconds as number) >= (rows[i - 1].seconds as number)));
  assert.equal(back, -1, `rows ${back - 1} and ${back}: ${JSON.stringify(rows[back - 1])} then ${JSON.stringify(rows[back])} (${kept.length} kept)`);
  assert.equal(rows[rows.length - 1].gradients, 900);
  assert.equal(readCheckpoint(join(dir, 'checkpoint.safetensors')).step, 900);
  // A finished run has nothing left to do.
  const done = readClusterCheckpoint(join(dir, 'checkpoint.safetensors'));
  await assert.rejects(runCluster({ ...config, resume: done.resume }), /whole budget of 900/);
  await assert.rejects(runCluster({ ...config, steps: 2000, modelConfig: { hidden: [8] }, resume: done.resume }), /does not match/);
});
