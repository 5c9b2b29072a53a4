/** Training sanity: small models learn simple seeded synthetic tasks on every backend. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { createModel } from '../../src/engine/models/index.js';
import { AdamW, clipGradNorm, makeSchedule, NO_DECAY_BIAS_NORM, Sgd } from '../../src/engine/optim/index.js';
import { BACKENDS, noteNativeSkip } from './helpers.js';

noteNativeSkip();

/** Gaussian blobs: `classes` random centres in `dim` dimensions, unit noise. */
function blobs(rng: Rng, count: number, dim: number, centres: Float32Array[]) {
  const inputs = new Float32Array(count * dim);
  const targets = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = rng.int(centres.length);
    targets[i] = c;
    for (let d = 0; d < dim; d++) inputs[i * dim + d] = centres[c][d] + rng.normal();
  }
  return { inputs, targets, count };
}

const SIDE = 12;

/** SIDE x SIDE one-channel images: class 0 has a bright row, class 1 a bright column, anywhere, plus noise. */
function stripes(rng: Rng, count: number) {
  const area = SIDE * SIDE;
  const inputs = new Float32Array(count * area);
  const targets = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = rng.int(2);
    const k = rng.int(SIDE);
    targets[i] = c;
    for (let p = 0; p < area; p++) {
      const on = c === 0 ? Math.floor(p / SIDE) === k : p % SIDE === k;
      inputs[i * area + p] = (on ? 1 : 0) + 0.3 * rng.normal();
    }
  }
  return { inputs, targets, count };
}

for (const backend of BACKENDS) {
  describe(`training sanity [${backend.name}]`, () => {
    it('an MLP reaches high accuracy on Gaussian blobs in 300 SGD steps', () => {
      const rng = new Rng('blobs');
      const dim = 20;
      const centres = Array.from({ length: 4 }, () => Float32Array.from({ length: dim }, () => 1.2 * rng.normal()));
      const train = blobs(rng, 2048, dim, centres);
      const test = blobs(rng, 512, dim, centres);
      const model = createModel('mlp', { inputSize: dim, hidden: [32, 32], classes: 4, backend, seed: 1 });
      const opt = new Sgd(model, { lr: 0.05, momentum: 0.9, weightDecay: 1e-4, noDecay: NO_DECAY_BIAS_NORM });
      const before = model.evaluate(test);
      const batch = 32;
      let first = 0;
      let last = 0;
      for (let step = 0; step < 300; step++) {
        const start = (step * batch) % train.count;
        const loss = model.lossAndGradient(train.inputs.subarray(start * dim, (start + batch) * dim), train.targets.subarray(start, start + batch));
        if (step === 0) first = loss;
        last = loss;
        opt.step();
      }
      const after = model.evaluate(test);
      assert.ok(after.accuracy > 0.9, `accuracy ${after.accuracy} (before ${before.accuracy})`);
      assert.ok(after.loss < before.loss / 3, `loss ${after.loss} vs ${before.loss}`);
      assert.ok(last < first, `training loss ${last} vs ${first}`);
    });

    it('a tiny transformer learns to continue counting sequences', () => {
      const rng = new Rng('count');
      const vocab = 16, seq = 8, batch = 16;
      const model = createModel('transformer', { vocab, seq, dim: 16, heads: 2, layers: 1, backend, seed: 2 });
      const opt = new AdamW(model, { lr: 0.01, weightDecay: 0.01, noDecay: ['bias', 'norm', 'embedding'] });
      const schedule = makeSchedule({ kind: 'cosine', lr: 0.01, warmupSteps: 10, totalSteps: 150 });
      const inputs = new Int32Array(batch * seq);
      const targets = new Int32Array(batch * seq);
      let first = 0;
      let last = 0;
      for (let step = 0; step < 150; step++) {
        for (let b = 0; b < batch; b++) {
          const start = rng.int(vocab);
          for (let t = 0; t < seq; t++) {
            inputs[b * seq + t] = (start + t) % vocab;
            targets[b * seq + t] = (start + t + 1) % vocab;
          }
        }
        const loss = model.lossAndGradient(inputs, targets);
        clipGradNorm(backend, model.grads, 1);
        opt.step(schedule(opt.steps));
        if (step === 0) first = loss;
        last = loss;
      }
      assert.ok(first > 2, `initial loss ${first}`);
      assert.ok(last < 0.3, `final loss ${last} (initial ${first})`);
      const evaluation = model.evaluate({ inputs, targets, count: batch });
      assert.ok(evaluation.accuracy > 0.95, `accuracy ${evaluation.accuracy}`);
    });

    for (const name of ['cnn', 'resnet20'] as const) {
      it(`a small ${name} separates rows from columns`, () => {
        const rng = new Rng(`stripes:${name}`);
        const data = stripes(rng, 512);
        const test = stripes(rng, 128);
        const model = name === 'cnn'
          ? createModel('cnn', { channels: 1, height: SIDE, width: SIDE, conv1: 4, conv2: 8, hidden: 16, classes: 2, backend, seed: 4 })
          : createModel('resnet20', { channels: 1, height: SIDE, width: SIDE, baseWidth: 4, blocksPerStage: 1, classes: 2, backend, seed: 4 });
        const opt = new Sgd(model, { lr: 0.05, momentum: 0.9 });
        const batch = 16;
        const steps = name === 'cnn' ? 160 : 64;
        for (let step = 0; step < steps; step++) {
          const start = (step * batch) % data.count;
          const area = SIDE * SIDE;
          model.lossAndGradient(data.inputs.subarray(start * area, (start + batch) * area), data.targets.subarray(start, start + batch));
          opt.step();
        }
        const evaluation = model.evaluate(test);
        assert.ok(evaluation.accuracy > 0.9, `${name} accuracy ${evaluation.accuracy}, loss ${evaluation.loss}`);
      });
    }
  });
}
