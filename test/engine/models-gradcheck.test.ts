import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { createModel, type ModelName } from '../../src/engine/models/index.js';
import type { Model } from '../../src/engine/models/model.js';
import { BACKENDS, bestDirectionalCheck, noteNativeSkip, randInts, randn } from './helpers.js';

noteNativeSkip();

// tol: the ResNet (ReLU kinks after BatchNorm or GroupNorm over few values) is rough at float32 precision at every
// step size, so its whole-model check is looser; its layers are checked tightly one by one in layers-gradcheck.
const SMALL: { name: ModelName; label?: string; config: Record<string, unknown>; batch: number; tol?: number }[] = [
  { name: 'mlp', config: { inputSize: 12, hidden: [10, 8], classes: 5 }, batch: 4 },
  { name: 'cnn', config: { channels: 1, height: 12, width: 12, conv1: 3, conv2: 4, hidden: 6, classes: 4 }, batch: 3 },
  { name: 'resnet20', config: { channels: 3, height: 8, width: 8, baseWidth: 4, blocksPerStage: 1, classes: 3 }, batch: 4, tol: 5e-2 },
  {
    name: 'resnet20', label: 'resnet20 GroupNorm',
    config: { channels: 3, height: 8, width: 8, baseWidth: 4, blocksPerStage: 1, classes: 3, norm: 'group', groups: 2 }, batch: 4, tol: 5e-2,
  },
  { name: 'transformer', config: { vocab: 11, seq: 6, dim: 8, heads: 2, layers: 2 }, batch: 2 },
];

const STEPS = [1e-3, 3e-4, 1e-4, 3e-5, 1e-5];

function sampleBatch(model: Model, batch: number, rng: Rng): { inputs: Float32Array | Int32Array; targets: Int32Array } {
  const inputs = model.inputKind === 'i32'
    ? randInts(rng, batch * model.inputSize, model.classes)
    : randn(rng, batch * model.inputSize);
  return { inputs, targets: randInts(rng, batch * model.targetsPerSample, model.classes) };
}

for (const backend of BACKENDS) {
  describe(`whole-model gradients match finite differences [${backend.name}]`, () => {
    for (const spec of SMALL) {
      const label = spec.label ?? spec.name;
      it(`${label}: every tensor (directional) and the largest coordinates`, () => {
        const rng = new Rng(`model:${label}`);
        const model = createModel(spec.name, { ...spec.config, backend, seed: 3 });
        const { inputs, targets } = sampleBatch(model, spec.batch, rng);
        const loss = model.lossAndGradient(inputs, targets);
        assert.ok(Number.isFinite(loss));
        assert.ok(Math.abs(loss - Math.log(model.classes)) < 1.5, `initial loss ${loss} far from log(classes)`);
        const g = model.grads.slice();
        const f = () => model.loss(inputs, targets, true);
        for (const entry of model.layout) {
          const grad = g.subarray(entry.offset, entry.offset + entry.size);
          const res = bestDirectionalCheck(f, model.params, grad, entry.offset, entry.offset + entry.size, rng, STEPS);
          assert.ok(res.error < (spec.tol ?? 1e-2), `${label} ${entry.name}: numeric ${res.numeric} vs analytic ${res.analytic} (error ${res.error.toExponential(2)})`);
        }
        // Single coordinates: the five largest gradient entries.
        const order = Array.from(g.keys()).sort((a, b) => Math.abs(g[b]) - Math.abs(g[a])).slice(0, 5);
        for (const i of order) {
          const orig = model.params[i];
          let best = Infinity;
          let seen = 0;
          for (const step of [1e-2, 1e-3, 1e-4]) {
            const eps = step * Math.max(1, Math.abs(orig));
            model.params[i] = orig + eps;
            const hi = model.params[i];
            const plus = f();
            model.params[i] = orig - eps;
            const lo = model.params[i];
            const minus = f();
            model.params[i] = orig;
            const numeric = (plus - minus) / (hi - lo);
            const err = Math.abs(numeric - g[i]) / (Math.abs(g[i]) + 1e-4);
            if (err < best) {
              best = err;
              seen = numeric;
            }
          }
          assert.ok(best < (spec.tol ?? 2e-2), `${label} coordinate ${i}: numeric ${seen} vs analytic ${g[i]}`);
        }
      });
    }

    it('lossAndGradient zeroes the gradient first (same result twice)', () => {
      const rng = new Rng('twice');
      const model = createModel('mlp', { ...SMALL[0].config, backend, seed: 1 });
      const { inputs, targets } = sampleBatch(model, 4, rng);
      const l1 = model.lossAndGradient(inputs, targets);
      const g1 = model.grads.slice();
      const l2 = model.lossAndGradient(inputs, targets);
      assert.equal(l1, l2);
      assert.deepEqual(model.grads, g1);
    });
  });
}
