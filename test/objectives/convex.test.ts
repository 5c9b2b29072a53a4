import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { LeastSquares } from '../../src/objectives/least-squares.js';
import { Logistic } from '../../src/objectives/logistic.js';
import type { Objective } from '../../src/objectives/objective.js';
import { Quadratic } from '../../src/objectives/quadratic.js';

const problems: Objective[] = [
  new Quadratic({ workers: 5, dim: 6, seed: 3 }),
  new LeastSquares({ workers: 5, dim: 6, seed: 3 }),
  new Logistic({ workers: 5, dim: 6, seed: 3 }),
];

for (const p of problems) {
  test(`${p.name}: gradients match central finite differences`, () => {
    const rng = new Rng(7);
    const x = p.initial(rng);
    const g = new Float64Array(p.dim);
    const xp = Float64Array.from(x);
    for (let i = 0; i < p.workers; i++) {
      p.gradient(i, x, g, rng);
      for (let k = 0; k < p.dim; k++) {
        const h = 1e-6;
        xp.set(x);
        xp[k] += h;
        const fp = p.gradient(i, xp, new Float64Array(p.dim), rng);
        xp[k] -= 2 * h;
        const fm = p.gradient(i, xp, new Float64Array(p.dim), rng);
        const fd = (fp - fm) / (2 * h);
        assert.ok(Math.abs(fd - g[k]) < 1e-6 * (1 + Math.abs(g[k])), `${p.name} worker ${i} coord ${k}: ${fd} vs ${g[k]}`);
      }
    }
  });

  test(`${p.name}: the optimum zeroes the mean gradient and minimises the loss`, () => {
    const rng = new Rng(1);
    const x = p.optimum!;
    const g = new Float64Array(p.dim);
    const mean = new Float64Array(p.dim);
    for (let i = 0; i < p.workers; i++) {
      p.gradient(i, x, g, rng);
      for (let k = 0; k < p.dim; k++) mean[k] += g[k] / p.workers;
    }
    for (let k = 0; k < p.dim; k++) assert.ok(Math.abs(mean[k]) < 1e-10, `mean gradient ${mean[k]}`);
    assert.ok(Math.abs(p.loss(x)) < 1e-12);
    const y = Float64Array.from(x);
    y[0] += 1e-3;
    assert.ok(p.loss(y) > 0);
    assert.ok(p.strongConvexity! > 0 && p.smoothness! >= p.strongConvexity!);
  });
}

test('gradient noise is seeded', () => {
  const p = new Quadratic({ workers: 2, dim: 3, seed: 1, noise: 0.5 });
  const x = new Float64Array(3);
  const a = new Float64Array(3);
  const b = new Float64Array(3);
  p.gradient(0, x, a, new Rng(9));
  p.gradient(0, x, b, new Rng(9));
  assert.deepEqual(a, b);
  p.gradient(0, x, b, new Rng(10));
  assert.notDeepEqual(a, b);
});
