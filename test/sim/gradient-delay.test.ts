/**
 * Delayed gradients in the simulator (src/sim/delay.ts): with a delay D, the gradient of step k is the gradient at
 * the parameters of step k − D. Checked on a quadratic by replaying the run: one worker, plain SGD (the update is
 * x ← x − lr·g exactly), every point the objective is asked for recorded; the replayed trajectory x_0, x_1, … must
 * have asked for x_{k−D} at step k, bit for bit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildAlgorithm, type AlgorithmName } from '../../src/algorithms/index.js';
import { UsageError } from '../../src/core/errors.js';
import type { Objective } from '../../src/objectives/objective.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { parseGradientDelay, simulate, type GradientDelay, type SimOptions } from '../../src/sim/simulator.js';

/** A quadratic that records every point its gradient is asked at, and that gradient. */
function recording(workers: number) {
  const q = new Quadratic({ workers, dim: 3, seed: 4 });
  const asked: Array<{ x: Float64Array; g: Float64Array }> = [];
  const objective: Objective = {
    name: q.name, dim: q.dim, workers: q.workers, dtype: q.dtype, optimum: q.optimum,
    initial: (rng) => q.initial(rng),
    loss: (x) => q.loss(x),
    gradient(i, x, g, rng) {
      const loss = q.gradient(i, x, g, rng);
      asked.push({ x: Float64Array.from(x), g: Float64Array.from(g) });
      return loss;
    },
  };
  return { objective, asked };
}

function run(algo: AlgorithmName, delay: GradientDelay | undefined, extra: Partial<SimOptions> = {}) {
  const n = 1;
  const { objective, asked } = recording(n);
  const graph = { n: 1, name: 'single', neighbors: [[]], edges: [] };
  const built = buildAlgorithm({ name: algo, graph, rate: 1, dim: objective.dim, dtype: 'f64' });
  const result = simulate({ objective, graph, built, optimizer: { lr: 0.3 }, rate: 1, time: 60, seed: 9, every: 60, gradientDelay: delay, ...extra });
  return { asked, result };
}

/** The trajectory x_0, x_1, … of plain SGD with lr 0.3 driven by the recorded gradients. */
function replay(x0: Float64Array, asked: Array<{ g: Float64Array }>): Float64Array[] {
  const xs = [Float64Array.from(x0)];
  for (const { g } of asked) {
    const x = Float64Array.from(xs[xs.length - 1]);
    for (let i = 0; i < x.length; i++) x[i] += -0.3 * g[i];
    xs.push(x);
  }
  return xs;
}

describe('gossamer sim --gradient-delay', () => {
  for (const algo of ['allreduce', 'acid'] as const) {
    for (const D of [1, 4, 7]) {
      it(`${algo}: the gradient of step k is taken at the parameters of step k − ${D}`, () => {
        const { asked } = run(algo, { min: D, max: D });
        assert.ok(asked.length > 30, `${asked.length} steps`);
        const xs = replay(asked[0].x, asked);
        for (let k = 0; k < asked.length; k++) {
          assert.deepEqual(Array.from(asked[k].x), Array.from(xs[Math.max(0, k - D)]), `step ${k}`);
        }
        // Not the current parameters (the trajectory moves).
        assert.notDeepEqual(Array.from(asked[D + 2].x), Array.from(xs[D + 2]));
      });
    }
  }

  it('uniform:a:b draws a delay in a…b per step, the same ones for the same seed', () => {
    const delay = parseGradientDelay('uniform:2:5');
    const { asked } = run('allreduce', delay);
    const xs = replay(asked[0].x, asked);
    const drawn = asked.map((a, k) => {
      const d = xs.findIndex((x) => x.every((v, i) => v === a.x[i]));
      return k - d;
    });
    for (let k = 5; k < drawn.length; k++) assert.ok(drawn[k] >= 2 && drawn[k] <= 5, `step ${k}: delay ${drawn[k]}`);
    assert.ok(new Set(drawn.slice(5)).size > 2, 'several delays');
    const again = run('allreduce', delay);
    assert.deepEqual(again.asked.map((a) => Array.from(a.x)), asked.map((a) => Array.from(a.x)));
  });

  it('D = 0 changes nothing, bit for bit', () => {
    const plain = run('acid', undefined);
    const zero = run('acid', { min: 0, max: 0 });
    assert.deepEqual(zero.result.rows, plain.result.rows);
    assert.deepEqual(zero.asked, plain.asked);
  });

  it('parses D and uniform:a:b, and refuses the rest', () => {
    assert.deepEqual(parseGradientDelay('16'), { min: 16, max: 16 });
    assert.deepEqual(parseGradientDelay('uniform:0:32'), { min: 0, max: 32 });
    for (const bad of ['uniform:5:2', '-1', '2.5', 'uniform:1', 'normal:1:2', '']) assert.throws(() => parseGradientDelay(bad), UsageError, bad);
  });
});
