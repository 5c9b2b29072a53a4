import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/core/errors.js';
import { runCluster } from '../../src/runtime/cluster.js';
import type { ClusterConfig, ClusterSummary } from '../../src/runtime/cluster-config.js';
import { clusterData } from '../helpers/cluster-data.js';

/** Asynchronous Local-SGD among worker threads: a tiny MLP on Gaussian clusters, a few seconds per run. */
const data = clusterData;
const base: ClusterConfig = {
  workers: 4, topology: 'ring', algorithm: 'async-diloco', rate: 1, model: 'mlp', modelConfig: { hidden: [16] }, dataset: data,
  batchSize: 16, steps: 800, optimizer: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 1e-4, schedule: 'multistep', warmup: 5,
  clip: 1, seed: 3, backend: 'js', metricsEvery: 100, innerSteps: 10, outerMomentum: 0.5,
};
// (How stale the pushes are depends on the machine's load: the accuracy asked for is only "it learned", 4 classes.)

/** Every (worker, round) applied once, each worker's rounds in increasing order. */
function appliedOnce(s: ClusterSummary): void {
  const server = s.server!;
  const seen = new Set<string>();
  const last = new Map<number, number>();
  for (const [w, r] of server.applied) {
    assert.ok(!seen.has(`${w}:${r}`), `worker ${w}'s round ${r} applied twice`);
    seen.add(`${w}:${r}`);
    assert.ok(r > (last.get(w) ?? 0), `worker ${w}'s round ${r} after its round ${last.get(w)}`);
    last.set(w, r);
  }
  assert.equal(server.pushes, server.applied.length);
}

test('a worker killed in the middle of a round: the others train to the end, and no push is applied twice', async () => {
  const s = await runCluster({ ...base, steps: 1600, kill: [{ worker: 2, atStep: 800 }] });
  assert.deepEqual(s.killed, [2]);
  assert.ok(s.steps >= s.budget, `${s.steps} steps of ${s.budget}`);
  assert.deepEqual(s.perWorker.map((w) => w.alive), [true, true, false, true]);
  appliedOnce(s);
  assert.deepEqual(s.server!.holders, [0]);
  // The killed worker's rounds were applied up to its death, none after: a step is counted once its push is
  // answered, so a worker killed while waiting has one push more than its counted steps make rounds, or as many.
  const pushed = s.server!.applied.filter(([w]) => w === 2).length;
  const rounds = Math.floor(s.perWorker[2].steps / 10);
  assert.ok(pushed === rounds || pushed === rounds + 1, `worker 2: ${pushed} pushes for ${s.perWorker[2].steps} steps`);
  assert.ok(s.testAccuracy > 0.5, `accuracy ${s.testAccuracy}`);
});

test('the server\'s worker killed mid-run: the next one takes over from its replica, the run finishes, no push twice', async () => {
  const lines: string[] = [];
  // Killed early in a run long enough that the supervisor, which acts on the step count it samples every 50 ms (and
  // later on a loaded machine: an 800-step run once ended before it did), kills it while the others still push.
  const s = await runCluster({ ...base, steps: 2400, slowdown: { 3: 3 }, kill: [{ worker: 0, atStep: 100 }], log: (l) => lines.push(l) });
  assert.deepEqual(s.killed, [0]);
  // A step the holder had claimed when it was killed (its push waiting for itself) goes back to the others.
  assert.ok(s.steps >= s.budget, `${s.steps} steps of ${s.budget}`);
  assert.deepEqual(s.server!.holders, [0, 1]);
  assert.ok(lines.some((l) => /worker 1 holds the server now, from worker 1's replica of \d+ pushes/.test(l)), lines.join('; '));
  appliedOnce(s);
  assert.ok(s.server!.pushes > 40, `${s.server!.pushes} pushes`);
  assert.ok(s.server!.maxStaleness > 0);
  assert.ok(s.testAccuracy > 0.5, `accuracy ${s.testAccuracy}`);
  await assert.rejects(runCluster({ ...base, kill: [{ worker: 1, atStep: 5 }], rejoin: [{ worker: 1, atStep: 10 }] }), (e: Error) => e instanceof UsageError && /^rejoin applies to the pairwise algorithms/.test(e.message));
  await assert.rejects(runCluster({ ...base, algorithm: 'diloco', dynamicH: true }), (e: Error) => e instanceof UsageError && /dynamicH applies to async-diloco/.test(e.message));
});

test('an interrupted run saves its server\'s state; the resumed one goes on from it, no push applied twice', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { readClusterCheckpoint } = await import('../../src/runtime/cluster-config.js');
  const { readCheckpoint } = await import('../../src/engine/checkpoint.js');
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-async-resume-'));
  try {
    // A budget the run cannot finish before the abort lands (its threads run on while the rows are sampled).
    const config = { ...base, steps: 3000 };
    const controller = new AbortController();
    const first = await runCluster({
      ...config, out: dir, signal: controller.signal, onRow: (r) => {
        if (r.gradients >= 200) controller.abort();
      },
    });
    assert.equal(first.interrupted, true);
    assert.ok(first.steps < config.steps, `stopped at ${first.steps}`);
    const ck = readCheckpoint(join(dir, 'checkpoint.safetensors'));
    const saved = JSON.parse(ck.metadata.server_saved) as { vectors: string[]; small: Record<string, number[]>; scalars: Record<string, number> };
    assert.equal(saved.scalars.pushes, first.server!.pushes, 'every applied push is in the saved state');
    assert.deepEqual(saved.vectors.sort(), ['buffer', 'model', 'momentum']);
    assert.ok(ck.extra.get('worker.server.momentum')!.some((v) => v !== 0), 'the outer momentum is saved');
    // Each worker's last applied round, as the server recorded it.
    const last = [0, 1, 2, 3].map((w) => Math.max(0, ...first.server!.applied.filter(([x]) => x === w).map(([, r]) => r)));
    assert.deepEqual(saved.small.rounds, last);

    const lines: string[] = [];
    const { resume } = readClusterCheckpoint(join(dir, 'checkpoint.safetensors'));
    const resumed = await runCluster({ ...config, out: dir, resume, log: (l) => lines.push(l) });
    assert.equal(resumed.steps, config.steps);
    assert.ok(lines.some((l) => new RegExp(`holds the server now, from worker \\d+'s replica of ${first.server!.pushes} pushes`).test(l)), lines.join('; '));
    // The resumed server refuses nothing new and repeats nothing old: every worker's rounds go on past its last.
    appliedOnce(resumed);
    for (const [w, r] of resumed.server!.applied) assert.ok(r > last[w], `worker ${w}'s round ${r} after its round ${last[w]} before the interruption`);
    assert.ok(resumed.testAccuracy > 0.5, `accuracy ${resumed.testAccuracy}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('over emulated links a push and its answer take their time on the link to the holder', async () => {
  // 100 ms one way: every push of a worker other than the holder (worker 0) waits at least 200 ms for its answer,
  // while the holder's own pushes are local.
  const s = await runCluster({ ...base, steps: 400, links: { default: { latencyMs: 100 } } });
  appliedOnce(s);
  const pushes = [0, 1, 2, 3].map((w) => s.server!.applied.filter(([x]) => x === w).length);
  const remote = Math.max(...pushes.slice(1));
  assert.ok(remote >= 1, `pushes by worker: ${pushes.join(', ')}`);
  assert.ok(s.seconds >= remote * 0.2, `${s.seconds} s for ${remote} pushes of 200 ms on the link at least`);
  assert.ok(pushes[0] > remote, `the holder, whose pushes are local, pushes most: ${pushes.join(', ')}`);
});
