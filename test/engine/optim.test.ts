import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import type { Backend } from '../../src/engine/backend.js';
import type { LayoutEntry } from '../../src/engine/layout.js';
import { createModel } from '../../src/engine/models/index.js';
import {
  AdamW, clipGradNorm, createOptimizer, decayRanges, gradNorm, makeSchedule, NO_DECAY_BIAS_NORM, optimizerConfigOf, Sgd,
} from '../../src/engine/optim/index.js';
import { BACKENDS, noteNativeSkip, randn } from './helpers.js';

noteNativeSkip();

function target(backend: Backend, params: number[], grads: number[], layout?: LayoutEntry[]) {
  return {
    params: Float32Array.from(params),
    grads: Float32Array.from(grads),
    layout: layout ?? [{ name: 'w', shape: [params.length], offset: 0, size: params.length, kind: 'weight' as const }],
    backend,
  };
}

function close(actual: number, expected: number, what: string, tol = 1e-6): void {
  assert.ok(Math.abs(actual - expected) <= tol * (1 + Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}

for (const backend of BACKENDS) {
  describe(`optimizers [${backend.name}]`, () => {
    it('SGD with momentum: hand-computed steps', () => {
      const t = target(backend, [1], [0.5]);
      const opt = new Sgd(t, { lr: 0.1, momentum: 0.9 });
      const expected = [0.95, 0.855, 0.7195];
      for (const e of expected) {
        opt.step();
        close(t.params[0], e, 'sgd momentum');
      }
      close(opt.state[0], 1.355, 'momentum buffer');
      assert.equal(opt.steps, 3);
      assert.deepEqual(opt.stateLayout, [{ name: 'momentum', offset: 0, size: 1 }]);
    });

    it('SGD with Nesterov momentum: hand-computed steps', () => {
      const t = target(backend, [1], [0.5]);
      const opt = new Sgd(t, { lr: 0.1, momentum: 0.9, nesterov: true });
      opt.step();
      close(t.params[0], 0.905, 'nesterov step 1');
      opt.step();
      close(t.params[0], 0.7695, 'nesterov step 2');
    });

    it('SGD with weight decay, and no momentum state', () => {
      const t = target(backend, [1, -2], [0.5, 0]);
      const opt = new Sgd(t, { lr: 0.1, weightDecay: 0.1 });
      opt.step();
      close(t.params[0], 0.94, 'wd step 1');
      close(t.params[1], -1.98, 'wd pure decay');
      opt.step();
      close(t.params[0], 0.8806, 'wd step 2');
      assert.equal(opt.state.length, 0);
    });

    it('weight decay mask from the layout: biases and norms excluded', () => {
      const layout: LayoutEntry[] = [
        { name: 'fc.weight', shape: [2], offset: 0, size: 2, kind: 'weight' },
        { name: 'fc.bias', shape: [1], offset: 2, size: 1, kind: 'bias' },
        { name: 'ln.weight', shape: [1], offset: 3, size: 1, kind: 'norm' },
        { name: 'out.weight', shape: [1], offset: 4, size: 1, kind: 'weight' },
      ];
      assert.deepEqual(decayRanges(layout, 5, NO_DECAY_BIAS_NORM), [
        { start: 0, end: 2, decay: true }, { start: 2, end: 4, decay: false }, { start: 4, end: 5, decay: true },
      ]);
      assert.deepEqual(decayRanges(layout, 5), [{ start: 0, end: 5, decay: true }]);
      for (const kind of ['sgd', 'adamw'] as const) {
        const t = target(backend, [1, 1, 1, 1, 1], [0, 0, 0, 0, 0], layout);
        const opt = createOptimizer(t, { kind, lr: 0.5, weightDecay: 0.1, noDecay: NO_DECAY_BIAS_NORM });
        opt.step();
        // With a zero gradient both shrink decayed weights by the factor 1 - lr * wd.
        for (const i of [0, 1, 4]) close(t.params[i], 0.95, `${kind} decayed [${i}]`);
        for (const i of [2, 3]) assert.equal(t.params[i], 1, `${kind} not decayed [${i}]`);
      }
    });

    it('AdamW: hand-computed steps (first step moves by lr * sign(g))', () => {
      const t = target(backend, [1, 1], [0.5, -2]);
      const opt = new AdamW(t, { lr: 0.1, weightDecay: 0.01 });
      opt.step();
      close(t.params[0], 0.899, 'adamw step 1', 1e-5);
      close(t.params[1], 1.099, 'adamw step 1 negative gradient', 1e-5);
      close(opt.state[0], 0.05, 'exp_avg');
      close(opt.state[2], 0.00025, 'exp_avg_sq');
      opt.step();
      close(t.params[0], 0.798101, 'adamw step 2', 1e-5);
      assert.deepEqual(opt.stateLayout.map((e) => e.name), ['exp_avg', 'exp_avg_sq']);
    });

    it('AdamW matches a float64 reference over many steps with varying gradients', () => {
      const rng = new Rng('adamw');
      const n = 64;
      const t = target(backend, Array.from(randn(rng, n)), new Array(n).fill(0));
      const opt = new AdamW(t, { lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.05 });
      const p = Float64Array.from(t.params);
      const m = new Float64Array(n);
      const v = new Float64Array(n);
      for (let step = 1; step <= 20; step++) {
        const g = randn(rng, n);
        t.grads.set(g);
        opt.step();
        for (let i = 0; i < n; i++) {
          p[i] *= 1 - 0.01 * 0.05;
          m[i] = 0.8 * m[i] + 0.2 * g[i];
          v[i] = 0.99 * v[i] + 0.01 * g[i] * g[i];
          p[i] -= (0.01 / (1 - 0.8 ** step)) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - 0.99 ** step) + 1e-6);
        }
      }
      for (let i = 0; i < n; i++) close(t.params[i], p[i], `adamw[${i}]`, 1e-4);
    });

    it('state can be saved and restored; a restored optimizer continues identically', () => {
      const rng = new Rng('restore');
      const grads = Array.from({ length: 6 }, () => randn(rng, 8));
      const run = (steps: number[]) => {
        const t = target(backend, new Array(8).fill(1), new Array(8).fill(0));
        const opt = new AdamW(t, { lr: 0.05 });
        for (const s of steps) {
          t.grads.set(grads[s]);
          opt.step();
        }
        return { t, opt };
      };
      const full = run([0, 1, 2, 3, 4, 5]);
      const first = run([0, 1, 2]);
      const t2 = target(backend, Array.from(first.t.params), new Array(8).fill(0));
      const resumed = new AdamW(t2, { lr: 0.05 });
      resumed.loadState(first.opt.state.slice(), first.opt.steps);
      for (const s of [3, 4, 5]) {
        t2.grads.set(grads[s]);
        resumed.step();
      }
      assert.deepEqual(t2.params, full.t.params);
      assert.throws(() => resumed.loadState(new Float32Array(3), 1));
    });

    it('optimizers follow a model whose buffers are rebound', () => {
      const model = createModel('mlp', { inputSize: 4, hidden: [3], classes: 2, backend, seed: 1 });
      const opt = new Sgd(model, { lr: 0.1 });
      const original = model.params;
      const before = original.slice();
      const other = model.params.slice();
      model.setParams(other);
      model.grads.fill(1);
      opt.step();
      assert.deepEqual(original, before, 'the old buffer must not change');
      for (let i = 0; i < other.length; i++) close(other[i], before[i] - 0.1, `rebound [${i}]`);
    });

    it('gradient-norm clipping', () => {
      const g = Float32Array.of(3, 4);
      assert.equal(gradNorm(backend, g), 5);
      const norm = clipGradNorm(backend, g, 1);
      assert.equal(norm, 5);
      close(g[0], 0.6, 'clipped x', 1e-5);
      close(g[1], 0.8, 'clipped y', 1e-5);
      const h = Float32Array.of(0.3, 0.4);
      clipGradNorm(backend, h, 1);
      assert.deepEqual(Array.from(h), [Math.fround(0.3), Math.fround(0.4)]);
    });
  });
}

describe('optimizer configuration errors', () => {
  it('rejects Nesterov without momentum and bad betas', () => {
    const t = target(BACKENDS[0], [1], [1]);
    assert.throws(() => new Sgd(t, { lr: 0.1, nesterov: true }), /Nesterov/);
    assert.throws(() => new AdamW(t, { lr: 0.1, beta1: 1 }), /betas/);
    assert.throws(() => new Sgd(t, { lr: -1 }), /learning rate/);
  });
});

describe('learning-rate schedules', () => {
  it('cosine with linear warm-up', () => {
    const s = makeSchedule({ kind: 'cosine', lr: 1, warmupSteps: 10, totalSteps: 110 });
    close(s(0), 0.1, 'warm-up start');
    close(s(9), 1, 'warm-up end');
    close(s(10), 1, 'cosine start');
    close(s(60), 0.5, 'cosine middle');
    close(s(110), 0, 'cosine end');
    close(s(500), 0, 'after the end');
    const floor = makeSchedule({ kind: 'cosine', lr: 1, totalSteps: 100, minLr: 0.1 });
    close(floor(50), 0.55, 'cosine with floor');
  });

  it('step decay, linear decay, constant', () => {
    const s = makeSchedule({ kind: 'step', lr: 1, stepSize: 10, gamma: 0.5 });
    assert.deepEqual([0, 9, 10, 25].map(s), [1, 1, 0.5, 0.25]);
    const l = makeSchedule({ kind: 'linear', lr: 1, minLr: 0.1, totalSteps: 100 });
    close(l(50), 0.55, 'linear middle');
    close(l(100), 0.1, 'linear end');
    const c = makeSchedule({ kind: 'constant', lr: 0.3, warmupSteps: 3 });
    assert.deepEqual([0, 1, 2, 3, 100].map(c).map((v) => Math.round(v * 1e6) / 1e6), [0.1, 0.2, 0.3, 0.3, 0.3]);
  });
});

test('command-line optimizer settings: biases and norms excluded from weight decay unless decayAll; Nesterov checked', () => {
  const sgd = optimizerConfigOf({ optimizer: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
  assert.deepEqual(sgd, { kind: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4, noDecay: ['bias', 'norm'] });
  assert.deepEqual(optimizerConfigOf({ optimizer: 'adamw', lr: 1e-3, momentum: 0, weightDecay: 0.01, decayAll: true }), { kind: 'adamw', lr: 1e-3, weightDecay: 0.01, noDecay: [] });
  assert.throws(() => optimizerConfigOf({ optimizer: 'sgd', lr: 0.1, momentum: 0, nesterov: true, weightDecay: 0 }), (e: unknown) => e instanceof UsageError && /needs a momentum above 0/.test(e.message));
  assert.throws(() => optimizerConfigOf({ optimizer: 'adamw', lr: 0.1, momentum: 0, nesterov: true, weightDecay: 0 }), (e: unknown) => e instanceof UsageError && /SGD only/.test(e.message));
});
