/**
 * Adaptive Braking (engine/optim/braking.ts) in every optimizer that has a momentum: the local optimizer's own
 * heavy ball (float64 loops, float32 kernels), the engine's SGD (Nesterov) and AdamW, and DiLoCo's outer step.
 *
 * The hand-computed example: two tensors A = values 0–1 and B = values 2–3, ρ = 0.5, μ = 0.5, lr = 0.1,
 *   momentum v = (1, 1 | 0, −3), gradient g = (2, 0 | 0, 2), parameters x = (1, 2 | 3, 4):
 *   cos_A = 2/(2·√2) = 1/√2 → factor 1 − 0.5/√2;   cos_B = −6/(2·3) = −1 → factor 1.5;
 *   g̃ = (2 − 1/√2, 0 | 0, 3);   b = μ v + g̃ = (2.5 − 1/√2, 0.5 | 0, 1.5);
 *   heavy ball: x − lr·b = (1 − 0.1·(2.5 − 1/√2), 1.95 | 3, 3.85);
 *   Nesterov: x − lr·(g̃ + μ b) = (1 − 0.1·(3.25 − 1.5/√2), 1.975 | 3, 3.625).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Diloco } from '../../src/algorithms/diloco.js';
import { LocalOptimizer, type LocalStepSettings } from '../../src/algorithms/local-optimizer.js';
import { UsageError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import type { Backend } from '../../src/engine/backend.js';
import { availableBackends } from '../../src/engine/backends/index.js';
import type { LayoutEntry } from '../../src/engine/layout.js';
import { brakingFactor as factorOf } from '../../src/engine/optim/braking.js';
import { AdamW, Sgd, tensorRanges } from '../../src/engine/optim/index.js';

const LAYOUT: LayoutEntry[] = [
  { name: 'a', kind: 'weight', shape: [2], offset: 0, size: 2 },
  { name: 'b', kind: 'weight', shape: [2], offset: 2, size: 2 },
];
const X = [1, 2, 3, 4];
const V = [1, 1, 0, -3];
const G = [2, 0, 0, 2];
const R = Math.SQRT1_2;
const HEAVY_BALL_B = [2.5 - R, 0.5, 0, 1.5];
const HEAVY_BALL_X = [1 - 0.1 * (2.5 - R), 1.95, 3, 3.85];
const NESTEROV_X = [1 - 0.1 * (3.25 - 1.5 * R), 1.975, 3, 3.625];

function close(actual: ArrayLike<number>, expected: number[], what: string, tol: number): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

/** One step of a local optimizer from the example's x, v and g; returns x and the optimizer. */
function oneStep(settings: Omit<LocalStepSettings, 'lr'>, dtype: 'f64' | 'f32', backend: Backend | null) {
  const make = dtype === 'f64' ? Float64Array : Float32Array;
  const opt = new LocalOptimizer({ lr: 0.1, ...settings }, { dim: 4, dtype, backend, layout: LAYOUT });
  opt.loadState(make.from(settings.optimizer === 'adamw' ? [...V, 0, 0, 0, 0] : V), 1);
  const x = make.from(X);
  opt.update(x, make.from(G));
  return { x, opt };
}

describe('Adaptive Braking: one braked step, by hand (two tensors, cosines 1/√2 and −1)', () => {
  it('the factor of each tensor', () => {
    assert.equal(factorOf(0.5, 2, 4, 2), 1 - 0.5 * R);
    assert.equal(factorOf(0.5, -6, 4, 9), 1.5);
    assert.equal(factorOf(1, 0, 4, 0), 1, 'no momentum yet: no braking');
  });

  it('heavy ball, float64', () => {
    const { x, opt } = oneStep({ momentum: 0.5, braking: 0.5 }, 'f64', null);
    close(opt.state, HEAVY_BALL_B, 'momentum', 1e-15);
    close(x, HEAVY_BALL_X, 'x', 1e-15);
  });

  for (const backend of availableBackends()) {
    it(`heavy ball, float32 [${backend.name}]`, () => {
      const { x, opt } = oneStep({ momentum: 0.5, braking: 0.5 }, 'f32', backend);
      close(opt.state, HEAVY_BALL_B, 'momentum', 1e-6);
      close(x, HEAVY_BALL_X, 'x', 1e-6);
    });

    it(`Nesterov through the engine's SGD [${backend.name}]`, () => {
      const { x } = oneStep({ momentum: 0.5, nesterov: true, braking: 0.5 }, 'f32', backend);
      close(x, NESTEROV_X, 'x', 1e-6);
    });

    it(`AdamW brakes against its first moment [${backend.name}]`, () => {
      // The same step as AdamW without braking given the braked gradient by hand.
      const braked = oneStep({ optimizer: 'adamw', braking: 0.5 }, 'f32', backend);
      const opt = new LocalOptimizer({ lr: 0.1, optimizer: 'adamw' }, { dim: 4, dtype: 'f32', backend, layout: LAYOUT });
      opt.loadState(Float32Array.from([...V, 0, 0, 0, 0]), 1);
      const x = Float32Array.from(X);
      opt.update(x, Float32Array.from([2 * (1 - 0.5 * R), 0, 0, 3]));
      close(braked.x, Array.from(x), 'x', 1e-6);
      assert.notDeepEqual(Array.from(braked.x), Array.from(oneStep({ optimizer: 'adamw' }, 'f32', backend).x));
    });
  }
});

describe('Adaptive Braking with ρ = 0 is plain momentum, bit for bit', () => {
  const run = (settings: Omit<LocalStepSettings, 'lr'>, dtype: 'f64' | 'f32', backend: Backend | null) => {
    const dim = 50;
    const rng = new Rng(3);
    const make = dtype === 'f64' ? Float64Array : Float32Array;
    const layout: LayoutEntry[] = [
      { name: 'w', kind: 'weight', shape: [40], offset: 0, size: 40 },
      { name: 'b', kind: 'bias', shape: [10], offset: 40, size: 10 },
    ];
    const opt = new LocalOptimizer({ lr: 0.05, weightDecay: 1e-3, ...settings }, { dim, dtype, backend, layout });
    const random = () => make.from(Array.from({ length: dim }, () => rng.normal()));
    const x = random();
    for (let k = 0; k < 20; k++) opt.update(x, random());
    return [...x, ...opt.state];
  };
  const cases: Array<[string, Omit<LocalStepSettings, 'lr'>]> = [
    ['heavy ball', { momentum: 0.9, decayAll: true }],
    ['heavy ball, no decay on biases (the engine\'s SGD)', { momentum: 0.9 }],
    ['Nesterov', { momentum: 0.9, nesterov: true }],
    ['AdamW', { optimizer: 'adamw' }],
  ];
  it('float64 heavy ball', () => {
    assert.deepEqual(run({ momentum: 0.9, decayAll: true, braking: 0 }, 'f64', null), run({ momentum: 0.9, decayAll: true }, 'f64', null));
    assert.notDeepEqual(run({ momentum: 0.9, decayAll: true, braking: 1 }, 'f64', null), run({ momentum: 0.9, decayAll: true }, 'f64', null));
  });
  for (const backend of availableBackends()) {
    for (const [name, settings] of cases) {
      it(`${name} [${backend.name}]`, () => {
        assert.deepEqual(run({ ...settings, braking: 0 }, 'f32', backend), run(settings, 'f32', backend));
        // And braking does change the trajectory once the momentum is there.
        assert.notDeepEqual(run({ ...settings, braking: 1 }, 'f32', backend), run(settings, 'f32', backend));
      });
    }
  }
});

describe('the engine optimizers with braking', () => {
  const backend = availableBackends()[0];
  const target = () => ({ params: Float32Array.from(X), grads: Float32Array.from(G), layout: LAYOUT, backend });
  it('SGD: the same braked step as the local optimizer', () => {
    const t = target();
    const sgd = new Sgd(t, { lr: 0.1, momentum: 0.5, braking: 0.5 });
    sgd.loadState(Float32Array.from(V), 1);
    sgd.step();
    close(t.params, HEAVY_BALL_X, 'x', 1e-6);
    close(t.grads, [2 - R, 0, 0, 3], 'braked gradient (in place)', 1e-6);
  });
  it('refuses braking without a momentum, and negative ρ', () => {
    assert.throws(() => new Sgd(target(), { lr: 0.1, braking: 1 }), UsageError);
    assert.throws(() => new Sgd(target(), { lr: 0.1, momentum: 0.9, braking: -1 }), UsageError);
    assert.throws(() => new AdamW(target(), { lr: 0.1, beta1: 0, braking: 1 }), UsageError);
    assert.throws(() => new LocalOptimizer({ lr: 0.1, braking: 1 }, { dim: 4, dtype: 'f64' }), UsageError);
  });
  it('tensors: the layout\'s entries and the gaps between them; the whole vector without a layout', () => {
    assert.deepEqual(tensorRanges(undefined, 5), [{ start: 0, end: 5 }]);
    assert.deepEqual(tensorRanges([{ offset: 4, size: 2 }, { offset: 1, size: 2 }], 8), [
      { start: 0, end: 1 }, { start: 1, end: 3 }, { start: 3, end: 4 }, { start: 4, end: 6 }, { start: 6, end: 8 },
    ]);
  });
});

describe("DiLoCo's outer braking", () => {
  it('brakes the mean pseudo-gradient against the outer momentum, and leaves the shared mean as it is', () => {
    const algo = new Diloco({ dim: 4, dtype: 'f64', innerSteps: 1, outerLr: 0.1, outerMomentum: 0.5, outerOptimizer: 'sgd', outerBraking: 0.5, layout: LAYOUT });
    const s = algo.createState(Float64Array.from(X));
    s.momentum.set(V);
    const mean = Float64Array.from(G);
    algo.collective.complete(s, 0, mean, null as never);
    close(s.momentum, HEAVY_BALL_B, 'outer momentum', 1e-15);
    close(s.outer, HEAVY_BALL_X, 'θ', 1e-15);
    assert.deepEqual(Array.from(mean), G);
  });
  it('ρ = 0 is the unbraked outer step, bit for bit', () => {
    const step = (outerBraking?: number) => {
      const algo = new Diloco({ dim: 4, dtype: 'f64', innerSteps: 1, outerBraking, layout: LAYOUT });
      const s = algo.createState(Float64Array.from(X));
      s.momentum.set(V);
      algo.collective.complete(s, 0, Float64Array.from(G), null as never);
      return [...s.outer, ...s.momentum];
    };
    assert.deepEqual(step(0), step(undefined));
    assert.notDeepEqual(step(0.5), step(undefined));
  });
  it('needs an outer momentum', () => {
    assert.throws(() => new Diloco({ dim: 4, dtype: 'f64', outerMomentum: 0, outerBraking: 1 }), UsageError);
  });
});
