import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import type { Backend } from '../../src/engine/backend.js';
import { Dropout, GELU, ReLU } from '../../src/engine/layers/activation.js';
import { CausalSelfAttention } from '../../src/engine/layers/attention.js';
import { Conv2d } from '../../src/engine/layers/conv.js';
import { Embedding } from '../../src/engine/layers/embedding.js';
import type { Layer } from '../../src/engine/layers/layer.js';
import { Linear } from '../../src/engine/layers/linear.js';
import { BatchNorm2d, GroupNorm, LayerNorm } from '../../src/engine/layers/norm.js';
import { GlobalAvgPool, MaxPool2d } from '../../src/engine/layers/pool.js';
import { Sequential } from '../../src/engine/layers/sequential.js';
import { Registry, type Scope } from '../../src/engine/layout.js';
import { BasicBlock, groupNormFactory } from '../../src/engine/models/resnet.js';
import { TransformerBlock } from '../../src/engine/models/transformer.js';
import { BACKENDS, bindRegistry, directionalCheck, dot64, noteNativeSkip, randn } from './helpers.js';

noteNativeSkip();

const fixedSeed = { nextUint32: () => 0x2545f491 } as unknown as Rng;

interface Case {
  name: string;
  build: (b: Backend, scope: Scope) => Layer;
  inputSize: number;
  batch: number;
  eps?: number;
  tol?: number;
  inputScale?: number;
}

const CASES: Case[] = [
  { name: 'Linear', build: (b, s) => new Linear(b, s, 5, 7), inputSize: 5, batch: 6 },
  { name: 'Linear without bias', build: (b, s) => new Linear(b, s, 4, 3, false), inputSize: 4, batch: 3 },
  {
    name: 'Conv2d 3x3 stride 1 pad 1',
    build: (b, s) => new Conv2d(b, s, { inChannels: 2, outChannels: 3, kernel: 3, padding: 1, height: 6, width: 5 }),
    inputSize: 2 * 6 * 5, batch: 2,
  },
  {
    name: 'Conv2d 3x3 stride 2 pad 0 no bias',
    build: (b, s) => new Conv2d(b, s, { inChannels: 3, outChannels: 4, kernel: 3, stride: 2, bias: false, height: 7, width: 7 }),
    inputSize: 3 * 7 * 7, batch: 2,
  },
  {
    name: 'Conv2d 1x1 stride 2',
    build: (b, s) => new Conv2d(b, s, { inChannels: 3, outChannels: 2, kernel: 1, stride: 2, height: 6, width: 6 }),
    inputSize: 3 * 6 * 6, batch: 3,
  },
  { name: 'MaxPool2d 2/2', build: (b) => new MaxPool2d(b, 3, 6, 6, 2), inputSize: 3 * 6 * 6, batch: 2 },
  { name: 'MaxPool2d 3/2 overlapping', build: (b) => new MaxPool2d(b, 2, 7, 7, 3, 2), inputSize: 2 * 7 * 7, batch: 2 },
  { name: 'GlobalAvgPool', build: (b) => new GlobalAvgPool(b, 3, 4, 5), inputSize: 3 * 4 * 5, batch: 2 },
  { name: 'BatchNorm2d (train)', build: (b, s) => new BatchNorm2d(b, s, 3, 4 * 4), inputSize: 3 * 16, batch: 3 },
  { name: 'LayerNorm', build: (b, s) => new LayerNorm(b, s, 8), inputSize: 3 * 8, batch: 2 },
  { name: 'GroupNorm 6 channels in 3 groups', build: (b, s) => new GroupNorm(b, s, 6, 5, 3), inputSize: 6 * 5, batch: 3 },
  { name: 'GroupNorm groups = channels (instance norm)', build: (b, s) => new GroupNorm(b, s, 4, 9, 4), inputSize: 4 * 9, batch: 2 },
  { name: 'GroupNorm groups = 1', build: (b, s) => new GroupNorm(b, s, 5, 4, 1), inputSize: 5 * 4, batch: 2 },
  { name: 'GroupNorm hw = 1', build: (b, s) => new GroupNorm(b, s, 8, 1, 2), inputSize: 8, batch: 3 },
  { name: 'ReLU', build: (b) => new ReLU(b), inputSize: 20, batch: 3 },
  { name: 'GELU', build: (b) => new GELU(b), inputSize: 20, batch: 3 },
  { name: 'Dropout p=0.3', build: (b) => new Dropout(b, 0.3, fixedSeed), inputSize: 40, batch: 2 },
  {
    name: 'CausalSelfAttention',
    build: (b, s) => new CausalSelfAttention(b, s, 8, 2, 5), inputSize: 5 * 8, batch: 2,
  },
  {
    name: 'Sequential (Linear, ReLU, Linear)',
    build: (b, s) => new Sequential(b, [new Linear(b, s.child('a'), 6, 9), new ReLU(b), new Linear(b, s.child('b'), 9, 4)]),
    inputSize: 6, batch: 4, eps: 1e-3,
  },
  { name: 'BasicBlock identity', build: (b, s) => new BasicBlock(b, s, 3, 3, 5, 5, 1), inputSize: 3 * 25, batch: 2, eps: 1e-3 },
  { name: 'BasicBlock projection stride 2', build: (b, s) => new BasicBlock(b, s, 2, 4, 6, 6, 2), inputSize: 2 * 36, batch: 2, eps: 1e-3 },
  {
    name: 'BasicBlock projection stride 2, GroupNorm',
    build: (b, s) => new BasicBlock(b, s, 2, 4, 6, 6, 2, groupNormFactory(2)), inputSize: 2 * 36, batch: 2, eps: 1e-3,
  },
  {
    name: 'TransformerBlock',
    build: (b, s) => new TransformerBlock(b, s, 8, 2, 4, 4, 0), inputSize: 4 * 8, batch: 2,
  },
];

/** Checks every parameter tensor and the input gradient of a layer against central differences of sum r*y. */
function checkLayer(backend: Backend, c: Case): void {
  const rng = new Rng(`grad:${c.name}`);
  const registry = new Registry(0);
  const layer = c.build(backend, registry.scope('layer'));
  const { params, grads } = bindRegistry(registry, 7);
  const x = randn(rng, c.batch * c.inputSize, c.inputScale ?? 1);
  const y0 = layer.forward(x, c.batch, true);
  const r = randn(rng, y0.length);
  grads.fill(0);
  layer.forward(x, c.batch, true);
  const dxView = layer.backward(r);
  assert.ok(dxView, 'layer returned no input gradient');
  const dx = dxView.slice();
  const g = grads.slice();
  const f = () => dot64(r, layer.forward(x, c.batch, true));
  const eps = c.eps ?? 1e-2;
  const tol = c.tol ?? 1e-2;
  for (const p of registry.params) {
    const res = directionalCheck(f, params, g.subarray(p.offset, p.offset + p.size), p.offset, p.offset + p.size, eps, rng);
    if (process.env.GRADCHECK_VERBOSE) console.log(c.name, p.name, res.error.toExponential(2));
    assert.ok(res.error < tol, `${c.name} ${p.name}: numeric ${res.numeric} vs analytic ${res.analytic} (error ${res.error.toExponential(2)})`);
  }
  const res = directionalCheck(f, x, dx, 0, x.length, eps, rng);
  if (process.env.GRADCHECK_VERBOSE) console.log(c.name, 'input', res.error.toExponential(2));
  assert.ok(res.error < tol, `${c.name} input: numeric ${res.numeric} vs analytic ${res.analytic} (error ${res.error.toExponential(2)})`);
}

for (const backend of BACKENDS) {
  describe(`layer gradients match finite differences [${backend.name}]`, () => {
    for (const c of CASES) it(c.name, () => checkLayer(backend, c));

    it('Embedding (table gradient, repeated ids)', () => {
      const rng = new Rng('embedding');
      const registry = new Registry(0);
      const emb = new Embedding(backend, registry.scope('emb'), 7, 4, 0.5);
      const { params, grads } = bindRegistry(registry);
      const ids = Int32Array.from([1, 3, 1, 6, 0, 3]);
      const r = randn(rng, ids.length * 4);
      emb.forward(ids);
      emb.backward(r);
      const f = () => dot64(r, emb.forward(ids));
      const res = directionalCheck(f, params, grads.slice(), 0, params.length, 1e-2, rng);
      assert.ok(res.error < 1e-2, `embedding: ${res.numeric} vs ${res.analytic}`);
    });

    it('parameter gradients accumulate across backward passes', () => {
      const rng = new Rng('accumulate');
      const registry = new Registry(0);
      const layer = new Linear(backend, registry.scope('l'), 3, 2);
      const { grads } = bindRegistry(registry);
      const x = randn(rng, 12);
      const r = randn(rng, 8);
      layer.forward(x);
      layer.backward(r);
      const once = grads.slice();
      layer.backward(r);
      for (let i = 0; i < grads.length; i++) assert.ok(Math.abs(grads[i] - 2 * once[i]) < 1e-5 * (1 + Math.abs(once[i])));
    });
  });
}
