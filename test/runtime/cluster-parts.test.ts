/** The supervisor's parts in isolation: the fault schedule and the measurements of the cluster. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/core/errors.js';
import type { Model } from '../../src/engine/models/model.js';
import type { TrainingData } from '../../src/engine/training/data.js';
import { ClusterFaults, type FaultTarget } from '../../src/runtime/cluster-faults.js';
import { averageOf, ClusterMeasure } from '../../src/runtime/cluster-measure.js';
import { S } from '../../src/runtime/shared-memory.js';

/** A target that records what is done to it. */
function recorder(): FaultTarget & { done: string[] } {
  const done: string[] = [];
  return {
    done,
    kill: async (w) => void done.push(`kill ${w}`),
    rejoin: async (w) => void done.push(`rejoin ${w}`),
  };
}

test('faults happen once each, in the order of their step counts, a kill before a rejoin at the same count', async () => {
  const lines: string[] = [];
  const faults = new ClusterFaults({
    budget: 1000, kill: [{ worker: 2, atStep: 300 }, { worker: 1, atStep: 100 }], rejoin: [{ worker: 2, atStep: 300 }, { worker: 1, atStep: 500 }],
    log: (l) => lines.push(l),
  });
  const target = recorder();
  await faults.inject(99, target);
  assert.deepEqual(target.done, []);
  await faults.inject(350, target);
  assert.deepEqual(target.done, ['kill 1', 'kill 2', 'rejoin 2']);
  await faults.inject(400, target);
  assert.equal(target.done.length, 3, 'nothing twice');
  await faults.inject(999, target);
  assert.deepEqual(target.done, ['kill 1', 'kill 2', 'rejoin 2', 'rejoin 1']);
  assert.deepEqual(lines, ['killing worker 1 at step 350', 'killing worker 2 at step 350', 'restarting worker 2 at step 350', 'restarting worker 1 at step 999']);
});

test('a fault at or after the budget is refused; adversaries and slow-downs are per worker', () => {
  assert.throws(() => new ClusterFaults({ budget: 800, kill: [{ worker: 1, atStep: 800 }] }), (e: Error) => e instanceof UsageError && /^kill 1@800 would never happen: the run takes 800 steps/.test(e.message));
  assert.throws(() => new ClusterFaults({ budget: 800, rejoin: [{ worker: 0, atStep: 900 }] }), UsageError);
  const faults = new ClusterFaults({ budget: 800, adversary: { 2: 'huge' }, slowdown: { 1: 3 } });
  assert.deepEqual([0, 1, 2].map((i) => [faults.honest(i), faults.adversary(i), faults.slowdown(i)]), [[true, null, 1], [true, null, 3], [false, 'huge', 1]]);
});

test('the average and consensus distance of chosen workers; identical workers are at exactly 0', () => {
  const xs = [Float32Array.of(1, 2), Float32Array.of(3, 6), Float32Array.of(100, 100)];
  const mean = new Float32Array(2);
  assert.equal(averageOf(xs, [0, 1], mean), ((1 + 4) + (1 + 4)) / 2);
  assert.deepEqual([...mean], [2, 4]);
  const same = Float32Array.of(0.1, 0.7, 1e-3);
  assert.equal(averageOf([same, Float32Array.from(same), Float32Array.from(same)], [0, 1, 2], new Float32Array(3)), 0);
});

test('totals: exchanges counted once per pair, collectives as n − 1 messages, time over the live workers, resumed counts added', () => {
  const stats = [0, 1, 2].map(() => new Float64Array(S.SIZE));
  const set = (i: number, steps: number, exchanges: number, time: number, idle: number, wall: number) => {
    stats[i][S.STEPS] = steps;
    stats[i][S.EXCHANGES] = exchanges;
    stats[i][S.TIME] = time;
    stats[i][S.IDLE_MS] = idle;
    stats[i][S.WALL_MS] = wall;
  };
  set(0, 10, 4, 12, 1, 10);
  set(1, 20, 6, 18, 3, 10);
  set(2, 30, 2, 50, 0, 20);
  const components = {
    model: { size: 1 } as Model, data: {} as TrainingData, xs: [0, 1, 2].map(() => new Float32Array(1)), states: [], stats,
    alive: (i: number) => i !== 2, honest: (i: number) => i !== 0,
  };
  const pairwise = new ClusterMeasure(components, { pairwise: true, startSteps: 100, resume: { t: 5, communications: 7 } });
  stats.forEach((s, i) => (s[S.BYTES_SENT] = 1000 * (i + 1)));
  assert.deepEqual(pairwise.totals(), { steps: 160, stepsNow: 60, communications: 6 + 7, idleFraction: 4 / 40, t: 5 + 15, bytesSent: 6000, outerSteps: 0 });
  const collective = new ClusterMeasure(components, { pairwise: false }).totals();
  assert.equal(collective.communications, (12 / 3) * 2);
  // The rounds: every worker counts each; the most any worker took part in (a dead one stopped earlier).
  assert.equal(collective.outerSteps, 6);
  assert.equal(new ClusterMeasure(components, { pairwise: false, pushes: true }).totals().outerSteps, 12, 'every push');
  assert.deepEqual(pairwise.liveIds(), [1], 'the honest live workers');
});
