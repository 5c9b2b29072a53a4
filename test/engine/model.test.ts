import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import { UsageError } from '../../src/core/errors.js';
import { canonicalLayoutJson } from '../../src/engine/layout.js';
import { createModel, MODEL_NAMES } from '../../src/engine/models/index.js';
import { BACKENDS, noteNativeSkip, randInts, randn, worstRatio } from './helpers.js';

noteNativeSkip();

const js = BACKENDS[0];

describe('model layout', () => {
  it('default models have the reference sizes and stable layout hashes', () => {
    // These hashes identify the flat layout peers exchange: changing them breaks compatibility with older peers
    // and checkpoints, so a change here must be deliberate.
    const expected: Record<string, [number, number, string]> = {
      mlp: [669706, 0, 'd1a8f642bb1b356dd8757665fcbed4b0786cd84d3414c5db666bc012797ebbfe'],
      cnn: [225034, 0, '797aa89e1eb0cbf6e26e0027a3060dacaaffdd39d60053e127d21c554f4fb520'],
      resnet20: [272474, 1568, '6ade999f046fb49fdc0443de6953d6f92380ae9778c50460c77fd55e1dc03bc1'],
      transformer: [470528, 0, 'bb14125f1ffd5a5be2f5d361a80488f622f10b1ab4392344314855d6a329aaad'],
    };
    for (const name of MODEL_NAMES) {
      const model = createModel(name, { backend: js, initialize: false });
      assert.deepEqual([model.size, model.stateSize, model.layoutHash], expected[name], name);
    }
  });

  it('layout entries tile the flat buffer in order, views sit at their offsets', () => {
    for (const name of MODEL_NAMES) {
      const model = createModel(name, { backend: js, initialize: false });
      let at = 0;
      for (const e of model.layout) {
        assert.equal(e.offset, at, `${name} ${e.name} offset`);
        assert.equal(e.size, e.shape.reduce((a, b) => a * b, 1));
        const view = model.tensor(e.name);
        assert.equal(view.buffer, model.params.buffer);
        assert.equal(view.byteOffset, model.params.byteOffset + 4 * e.offset);
        assert.equal(view.length, e.size);
        assert.equal(model.gradient(e.name).byteOffset, model.grads.byteOffset + 4 * e.offset);
        at += e.size;
      }
      assert.equal(at, model.size);
      assert.equal(new Set(model.layout.map((e) => e.name)).size, model.layout.length, 'unique names');
    }
    const mlp = createModel('mlp', { backend: js });
    assert.deepEqual(mlp.layout.map((e) => [e.name, e.shape, e.kind]), [
      ['fc1.weight', [512, 784], 'weight'], ['fc1.bias', [512], 'bias'],
      ['fc2.weight', [512, 512], 'weight'], ['fc2.bias', [512], 'bias'],
      ['fc3.weight', [10, 512], 'weight'], ['fc3.bias', [10], 'bias'],
    ]);
    const resnet = createModel('resnet20', { backend: js, initialize: false });
    assert.ok(resnet.layout.some((e) => e.name === 'stage2.0.shortcut.bn.weight' && e.kind === 'norm'));
    assert.ok(resnet.stateLayout.some((e) => e.name === 'stem.bn.running_var' && e.kind === 'running_var'));
    const tr = createModel('transformer', { backend: js, initialize: false });
    assert.deepEqual(tr.layout.slice(0, 2).map((e) => [e.name, e.kind]), [['tok_emb.weight', 'embedding'], ['pos_emb', 'embedding']]);
  });

  it('the hash follows the layout: same config same hash, different config different hash', () => {
    const a = createModel('mlp', { hidden: [64, 32], backend: js, seed: 1 });
    const b = createModel('mlp', { hidden: [64, 32], backend: js, seed: 2 });
    const c = createModel('mlp', { hidden: [32, 64], backend: js });
    assert.equal(a.layoutHash, b.layoutHash);
    assert.notEqual(a.layoutHash, c.layoutHash);
    // Same tensors, different model: the configuration is part of the hash.
    const h2 = createModel('transformer', { heads: 2, backend: js, initialize: false });
    const h4 = createModel('transformer', { heads: 4, backend: js, initialize: false });
    assert.deepEqual(h2.layout, h4.layout);
    assert.notEqual(h2.layoutHash, h4.layoutHash);
    const json = JSON.parse(canonicalLayoutJson(a.layout, a.stateLayout));
    assert.equal(json.format, 'gossamer-layout-1');
    assert.deepEqual(json.model, null);
    assert.deepEqual(Object.keys(json.params[0]), ['name', 'kind', 'shape', 'offset', 'size']);
    // createModel(name, config) rebuilds the same layout.
    assert.equal(createModel(a.name as 'mlp', { ...a.config, backend: js }).layoutHash, a.layoutHash);
  });
});

describe('resnet20 norm option', () => {
  const small = { channels: 3, height: 8, width: 8, baseWidth: 4, blocksPerStage: 1, classes: 3 };

  it("BatchNorm models keep the config, layout and hash they had before the option; 'group' records its groups", () => {
    // Hashes computed before the norm option existed: a BatchNorm ResNet, with norm left out or given as 'batch',
    // must keep them (checkpoints and peers identify layouts by them).
    const before = { default: '6ade999f046fb49fdc0443de6953d6f92380ae9778c50460c77fd55e1dc03bc1', small: 'c31fd34dcc7254e06063e38cc908e4e66f18ce9132d7fe09b52407934a204bd4' };
    for (const norm of [undefined, 'batch'] as const) {
      assert.equal(createModel('resnet20', { norm, backend: js, initialize: false }).layoutHash, before.default);
      const m = createModel('resnet20', { ...small, norm, backend: js, initialize: false });
      assert.equal(m.layoutHash, before.small);
      assert.deepEqual(m.config, small);
    }
    const batch = createModel('resnet20', { ...small, backend: js, initialize: false });
    const group = createModel('resnet20', { ...small, norm: 'group', backend: js, initialize: false });
    assert.deepEqual(group.config, { ...small, norm: 'group', groups: 8 });
    // Same tensors under the same names (bn1, bn2, shortcut.bn, stem.bn) with kind 'norm', no running statistics.
    assert.deepEqual(group.layout, batch.layout);
    assert.equal(group.stateSize, 0);
    assert.deepEqual(group.stateLayout, []);
    assert.ok(group.layout.some((e) => e.name === 'stage2.0.shortcut.bn.weight' && e.kind === 'norm'));
    // The config tells the models apart, and the group count is part of it.
    const hashes = new Set([
      batch.layoutHash, group.layoutHash,
      createModel('resnet20', { ...small, norm: 'group', groups: 2, backend: js, initialize: false }).layoutHash,
    ]);
    assert.equal(hashes.size, 3);
    assert.equal(createModel('resnet20', { ...small, norm: 'group', groups: 8, backend: js, initialize: false }).layoutHash, group.layoutHash);
    // createModel(name, config) rebuilds the same layout.
    assert.equal(createModel('resnet20', { ...group.config, backend: js, initialize: false } as never).layoutHash, group.layoutHash);
  });

  it('a GroupNorm ResNet treats each sample on its own and evaluates as it trains', () => {
    const rng = new Rng('resnet-gn');
    const per = 3 * 8 * 8;
    const x = randn(rng, 4 * per);
    const close = (a: Float32Array, b: Float32Array) => worstRatio(a, b, 1e-5, 1e-5) <= 1;
    const group = createModel('resnet20', { ...small, norm: 'group', groups: 2, backend: js, seed: 2 });
    const together = group.forward(x, true).slice();
    assert.ok(close(group.forward(x.slice(0, per), true), together.subarray(0, 3)), 'sample 0 alone');
    assert.ok(close(group.forward(x, false), together), 'evaluation mode');
    // The BatchNorm ResNet in training mode does not (the contrast).
    const batch = createModel('resnet20', { ...small, backend: js, seed: 2 });
    const bTogether = batch.forward(x, true).slice();
    assert.ok(!close(batch.forward(x.slice(0, per), true), bTogether.subarray(0, 3)));
  });

  it('invalid norm options are usage errors', () => {
    assert.throws(() => createModel('resnet20', { ...small, norm: 'layer' as never, backend: js }), /option norm has an invalid value "layer"/);
    assert.throws(() => createModel('resnet20', { ...small, norm: 'group', groups: 0, backend: js }), UsageError);
    assert.throws(() => createModel('resnet20', { ...small, norm: 'group', groups: 2.5, backend: js }), UsageError);
    assert.throws(() => createModel('resnet20', { ...small, groups: 4, backend: js }), /groups needs norm "group"/);
    assert.throws(() => createModel('resnet20', { ...small, norm: 'batch', groups: 4, backend: js }), UsageError);
    assert.throws(() => createModel('cnn', { norm: 'group', backend: js } as never), /model cnn has no option "norm"/);
    // Any positive group count works: each layer uses gcd(channels, groups) groups.
    assert.equal(createModel('resnet20', { ...small, norm: 'group', groups: 3, backend: js }).config.groups, 3);
  });
});

describe('model buffers', () => {
  it('initialisation is seeded and follows PyTorch defaults', () => {
    const a = createModel('mlp', { inputSize: 50, hidden: [40], classes: 3, backend: js, seed: 5 });
    const b = createModel('mlp', { inputSize: 50, hidden: [40], classes: 3, backend: js, seed: 5 });
    const c = createModel('mlp', { inputSize: 50, hidden: [40], classes: 3, backend: js, seed: 6 });
    assert.deepEqual(a.params, b.params);
    assert.notDeepEqual(a.params, c.params);
    const w = a.tensor('fc1.weight');
    const bound = 1 / Math.sqrt(50);
    let max = 0;
    let sq = 0;
    for (const v of w) {
      max = Math.max(max, Math.abs(v));
      sq += v * v;
    }
    assert.ok(max <= bound, 'weights within the Kaiming-uniform bound');
    assert.ok(Math.abs(Math.sqrt(sq / w.length) - bound / Math.sqrt(3)) < 0.1 * bound, 'uniform spread');
    const resnet = createModel('resnet20', { baseWidth: 4, blocksPerStage: 1, backend: js });
    assert.ok(resnet.tensor('stem.bn.weight').every((v) => v === 1));
    assert.ok(resnet.tensor('stem.bn.bias').every((v) => v === 0));
  });

  it('builds over an existing (shared) buffer without touching it, or initialises it on request', () => {
    const size = createModel('mlp', { hidden: [8], inputSize: 6, classes: 2, backend: js }).size;
    const shared = new Float32Array(new SharedArrayBuffer(size * 4));
    shared.fill(0.25);
    const m = createModel('mlp', { hidden: [8], inputSize: 6, classes: 2, backend: js, params: shared });
    assert.equal(m.params, shared);
    assert.ok(m.params.every((v) => v === 0.25));
    const n = createModel('mlp', { hidden: [8], inputSize: 6, classes: 2, backend: js, params: shared, initialize: true, seed: 1 });
    assert.equal(n.params, shared);
    assert.ok(!shared.every((v) => v === 0.25));
    const s = createModel('mlp', { hidden: [8], inputSize: 6, classes: 2, backend: js, shared: true });
    assert.ok(s.params.buffer instanceof SharedArrayBuffer);
    assert.throws(() => createModel('mlp', { hidden: [8], inputSize: 6, classes: 2, backend: js, params: new Float32Array(3) }), /length/);
  });

  it('setParams swaps the parameter vector the model computes with', () => {
    const rng = new Rng('swap');
    const cfg = { hidden: [8], inputSize: 6, classes: 3, backend: js };
    const a = createModel('mlp', { ...cfg, seed: 1 });
    const b = createModel('mlp', { ...cfg, seed: 2 });
    const x = randn(rng, 4 * 6);
    const la = a.forward(x).slice();
    const lb = b.forward(x).slice();
    a.setParams(b.params.slice());
    assert.deepEqual(a.forward(x), lb);
    assert.notDeepEqual(la, lb);
    const g = new Float32Array(a.size);
    a.setGrads(g);
    a.lossAndGradient(x, randInts(rng, 4, 3));
    assert.ok(g.some((v) => v !== 0), 'gradient lands in the new buffer');
    assert.throws(() => a.setParams(new Float32Array(a.size + 1)), /length/);
  });

  it('BatchNorm running statistics live in the state buffer: training updates them, evaluation uses them', () => {
    const rng = new Rng('bn-state');
    const model = createModel('resnet20', { channels: 1, height: 8, width: 8, baseWidth: 4, blocksPerStage: 1, classes: 3, backend: js });
    assert.equal(model.stateSize, 2 * (4 + 4 + 4 + 8 + 8 + 8 + 16 + 16 + 16));
    const x = randn(rng, 6 * 64, 2);
    const before = model.state.slice();
    const evalBefore = model.forward(x, false).slice();
    assert.deepEqual(model.state, before, 'evaluation leaves the state alone');
    model.lossAndGradient(x, randInts(rng, 6, 3));
    assert.notDeepEqual(model.state, before, 'training updates running statistics');
    assert.notDeepEqual(model.forward(x, false), evalBefore, 'evaluation uses the updated statistics');
    const saved = model.state.slice();
    model.resetState();
    assert.deepEqual(model.state, before);
    model.setState(saved);
    assert.deepEqual(model.state, saved);
  });
});

describe('model API', () => {
  it('predict, loss and evaluate agree', () => {
    const rng = new Rng('api');
    const model = createModel('mlp', { hidden: [16], inputSize: 10, classes: 4, backend: js, seed: 3 });
    const count = 37;
    const inputs = randn(rng, count * 10);
    const targets = randInts(rng, count, 4);
    const evaluation = model.evaluate({ inputs, targets, count }, { batchSize: 8 });
    assert.equal(evaluation.count, count);
    assert.ok(Math.abs(evaluation.loss - model.loss(inputs, targets)) < 1e-5);
    const pred = model.predict(inputs);
    let correct = 0;
    for (let i = 0; i < count; i++) if (pred[i] === targets[i]) correct++;
    assert.equal(evaluation.accuracy, correct / count);
    const limited = model.evaluate({ inputs, targets, count }, { limit: 5 });
    assert.equal(limited.count, 5);
  });

  it('the transformer takes Int32 token ids and predicts every position', () => {
    const rng = new Rng('tokens');
    const model = createModel('transformer', { vocab: 13, seq: 5, dim: 8, heads: 2, layers: 1, backend: js });
    const ids = randInts(rng, 3 * 5, 13);
    assert.equal(model.forward(ids).length, 3 * 5 * 13);
    assert.equal(model.predict(ids).length, 15);
    assert.throws(() => model.forward(randn(rng, 15)), /Int32Array/);
    assert.throws(() => model.forward(Int32Array.of(1, 2, 3)), /multiple/);
    assert.throws(() => model.lossAndGradient(Int32Array.of(1, 2, 3, 4, 13), randInts(rng, 5, 13)), RangeError);
  });

  it('causality: a token never influences the logits of earlier positions', () => {
    const rng = new Rng('causal');
    const model = createModel('transformer', { vocab: 10, seq: 6, dim: 8, heads: 2, layers: 2, backend: js, seed: 2 });
    const ids = randInts(rng, 6, 10);
    const a = model.forward(ids).slice();
    ids[4] = (ids[4] + 1) % 10;
    const b = model.forward(ids);
    assert.deepEqual(a.subarray(0, 4 * 10), b.subarray(0, 4 * 10));
    assert.notDeepEqual(a.subarray(4 * 10), b.subarray(4 * 10));
  });

  it('dropout is reproducible from the seed and off in evaluation', () => {
    const rng = new Rng('drop');
    const x = randn(rng, 8 * 10);
    const y = randInts(rng, 8, 3);
    const run = () => {
      const m = createModel('mlp', { hidden: [32], inputSize: 10, classes: 3, dropout: 0.5, backend: js, seed: 9 });
      return [m.lossAndGradient(x, y), m.lossAndGradient(x, y), m.loss(x, y), m.loss(x, y)];
    };
    const [a1, a2, e1, e2] = run();
    const [b1, b2] = run();
    assert.equal(a1, b1);
    assert.equal(a2, b2);
    assert.notEqual(a1, a2, 'a new mask each step');
    assert.equal(e1, e2, 'no dropout in evaluation');
  });

  it('configuration errors are reported as usage errors', () => {
    assert.throws(() => createModel('mlp', { hiden: [3] } as never), UsageError);
    assert.throws(() => createModel('cnn', { conv1: 0, backend: js }), UsageError);
    assert.throws(() => createModel('transformer', { dropout: 1, backend: js }), UsageError);
    assert.throws(() => createModel('nope' as never), UsageError);
  });
});
