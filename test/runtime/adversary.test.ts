/** An adversary among worker threads: the bounds keep it out; without them its neighbours stop, ruined. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/core/errors.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { syntheticClassification } from '../../src/data/synthetic.js';
import { runCluster } from '../../src/runtime/cluster.js';
import { type ClusterConfig } from '../../src/runtime/cluster-config.js';

const all = syntheticClassification({ n: 2400, features: 16, classes: 4, seed: 11, noise: 1.5, separation: 1 });
const split = (from: number, to: number, name: string): ImageDataset => ({
  ...all, name, images: all.images.subarray(from * 16, to * 16), labels: all.labels.subarray(from, to), n: to - from,
});
const base: ClusterConfig = {
  workers: 4, topology: 'ring', algorithm: 'acid', rate: 1, model: 'mlp', modelConfig: { hidden: [16] },
  dataset: { train: split(0, 2000, 'adversary-train'), test: split(2000, 2400, 'adversary-test') },
  batchSize: 16, steps: 600, optimizer: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 1e-4, schedule: 'multistep', warmup: 5,
  clip: 1, seed: 3, backend: 'js', metricsEvery: 600,
};

test('a worker sending sign-flipped models is refused and banned by its neighbours; the others train', async () => {
  const lines: string[] = [];
  const s = await runCluster({ ...base, adversary: { 1: 'sign-flip' }, log: (l) => lines.push(l) });
  const refusals = lines.filter((l) => / refused the message of /.test(l));
  for (const i of [0, 2]) {
    assert.ok(s.perWorker[i].rejected >= 3, `worker ${i} refused ${s.perWorker[i].rejected}`);
    assert.equal(s.perWorker[i].banned[0]?.worker, 1, lines.join('\n'));
    const r = Number(/relative distance (\S+) /.exec(s.perWorker[i].banned[0].reason)?.[1]);
    assert.ok(Math.abs(r - 2) < 0.2, s.perWorker[i].banned[0].reason); // −x against a model near x
  }
  // An honest neighbour is refused only for being far — as one can be, by A2CiD2's clock, after a thread of a
  // loaded machine stood still — never as a replay or a forgery.
  for (const l of refusals.filter((l) => !/ of worker 1: /.test(l))) assert.match(l, /: relative distance \d+\.\d+ to this worker's model, over the bound /, l);
  assert.ok(!s.diverged && s.testAccuracy > 0.8, `accuracy ${s.testAccuracy}`);
});

test('without bounds, a worker sending huge values ruins its neighbours, which stop the run saying so', async () => {
  const lines: string[] = [];
  const s = await runCluster({ ...base, adversary: { 1: 'huge' }, bounds: false, log: (l) => lines.push(l) });
  assert.ok(s.diverged);
  assert.ok(lines.some((l) => /^worker [02]: its parameters are ruined after an exchange with worker 1: .*: the run stops$/.test(l)), lines.join('\n'));
  assert.ok(Number.isFinite(s.testLoss), 'the saved average is of the last good states');
  await assert.rejects(runCluster({ ...base, adversary: { 4: 'huge' } }), (e: Error) => e instanceof UsageError && /^adversary names worker 4, outside 0…3/.test(e.message));
});
