import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCluster } from '../../src/runtime/cluster.js';
import { type ClusterConfig } from '../../src/runtime/cluster-config.js';
import { UsageError } from '../../src/core/errors.js';
import { clusterData } from '../helpers/cluster-data.js';

/** Worker threads training a tiny MLP on Gaussian clusters, one worker 3× slower than the others. */
const data = clusterData;
const base: ClusterConfig = {
  workers: 3, topology: 'complete', algorithm: 'acco', rate: 1, model: 'mlp', modelConfig: { hidden: [16] }, dataset: data,
  batchSize: 16, steps: 1500, optimizer: 'sgd', lr: 0.2, momentum: 0.9, weightDecay: 1e-4, schedule: 'constant', warmup: 0,
  clip: 1, seed: 3, backend: 'js', metricsEvery: 100, slowdown: { 1: 3 },
};

for (const algorithm of ['acco', 'dpu'] as const) {
  test(`${algorithm} in threads: the compute loops never wait for the all-reduce; faster workers compute more micro-batches; one model at the end`, async () => {
    const s = await runCluster({ ...base, algorithm, ...(algorithm === 'dpu' ? { delayWarmup: 5 } : {}) });
    assert.equal(s.algorithm, algorithm);
    assert.equal(s.consensus, 0, 'the closing collective leaves every worker at θ');
    // How many optimizer steps the budget makes depends on the machine's load (a step sums what the workers computed
    // during its all-reduces; 81 rounds for ACCO and 160 for DPU on an idle machine, 92% and 88%): with enough of
    // them the model learns, but how far is not pinned; a loaded machine can spend the budget in a few huge rounds.
    assert.ok(s.outerSteps >= 2, `an estimate and a real round at least: ${s.outerSteps}`);
    if (s.outerSteps >= 40) assert.ok(s.testAccuracy > 0.5, `accuracy ${s.testAccuracy} in ${s.outerSteps} rounds`);
    // Every micro-batch of the budget is in (the collectives' counts stop every worker after the same one).
    const steps = s.perWorker.map((w) => w.steps);
    assert.ok(steps.reduce((a, b) => a + b) >= 1500, `micro-batches per worker ${steps}`);
    // A fast worker is not held to the slow one's pace: it computes more micro-batches per unit of time (counts also
    // depend on when each thread got going: on two cores one may start late). One of the two: the slow worker sleeps
    // two thirds of its time, and under a loaded machine's contention a thread that never sleeps can be starved below
    // it (1.77 against 1.17 ms per micro-batch, the other fast one at 0.44, in a full suite's run).
    const msPerStep = s.perWorker.map((w) => w.msPerStep);
    assert.ok(Math.min(msPerStep[0], msPerStep[2]) < msPerStep[1], `ms per micro-batch ${msPerStep} (micro-batches ${steps})`);
    // ACCO's fast workers never wait but at the very end (DPU's wait in its warm-up).
    const idle = s.perWorker.map((w) => w.idleFraction);
    if (algorithm === 'acco') assert.ok(Math.min(idle[0], idle[2]) < 0.2, `idle fractions ${idle}`);
  });
}

test('the delayed update\'s warm-up applies to dpu only', async () => {
  await assert.rejects(runCluster({ ...base, delayWarmup: 3 }), (e: Error) => e instanceof UsageError && /^delayWarmup applies to dpu, not to acco/.test(e.message));
});
