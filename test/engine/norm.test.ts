/**
 * GroupNorm as a layer, on every available backend: each sample is normalised on its own (unlike BatchNorm2d),
 * training and evaluation compute the same output, groups = channels is InstanceNorm and groups = 1 is LayerNorm
 * over each sample, and bad group counts are refused. Kernel-level golden tests are in kernels.test.ts, gradients
 * in layers-gradcheck.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';
import type { Backend } from '../../src/engine/backend.js';
import type { Layer } from '../../src/engine/layers/layer.js';
import { BatchNorm2d, GroupNorm, LayerNorm } from '../../src/engine/layers/norm.js';
import { Registry } from '../../src/engine/layout.js';
import { groupNormFactory } from '../../src/engine/models/resnet.js';
import { BACKENDS, bindRegistry, noteNativeSkip, randn, worstRatio } from './helpers.js';

noteNativeSkip();

/** A GroupNorm with random gamma and beta (so that the affine part is exercised too). */
function groupNorm(backend: Backend, channels: number, spatial: number, groups: number, rng: Rng): GroupNorm {
  const registry = new Registry(0);
  const layer = new GroupNorm(backend, registry.scope('gn'), channels, spatial, groups);
  bindRegistry(registry);
  layer.gamma.value.set(randn(rng, channels));
  layer.beta.value.set(randn(rng, channels));
  return layer;
}

for (const backend of BACKENDS) {
  describe(`GroupNorm layer [${backend.name}]`, () => {
    it('normalises each sample on its own, unlike BatchNorm2d', () => {
      const rng = new Rng('gn-independent');
      const channels = 6, spatial = 5, batch = 4, per = channels * spatial;
      const x = randn(rng, batch * per, 2);
      const gn = groupNorm(backend, channels, spatial, 3, rng);
      const together = gn.forward(x, batch).slice();
      // (Within rounding only: a native reduction may sum in another order at another alignment.)
      const same = (a: Float32Array, b: Float32Array) => worstRatio(a, b, 1e-6, 1e-6) <= 1;
      for (let s = 0; s < batch; s++) {
        const alone = gn.forward(x.slice(s * per, (s + 1) * per), 1);
        assert.ok(same(alone, together.subarray(s * per, (s + 1) * per)), `sample ${s}`);
      }
      // Changing the other samples leaves sample 0 alone.
      const other = x.slice();
      other.set(randn(rng, (batch - 1) * per, 5), per);
      assert.ok(same(gn.forward(other, batch).subarray(0, per), together.subarray(0, per)), 'other samples changed');
      // BatchNorm2d in training mode does depend on the rest of the batch (the contrast that makes the test mean
      // something).
      const registry = new Registry(0);
      const bn = new BatchNorm2d(backend, registry.scope('bn'), channels, spatial);
      bindRegistry(registry);
      const bnTogether = bn.forward(x, batch, true).slice(0, per);
      const bnAlone = bn.forward(x.slice(0, per), 1, true);
      assert.ok(worstRatio(bnAlone, bnTogether, 1e-3, 1e-3) > 1, 'BatchNorm2d output should depend on the batch');
    });

    it('computes the same in training and evaluation, and keeps no state', () => {
      const rng = new Rng('gn-eval');
      const registry = new Registry(0);
      const gn = new GroupNorm(backend, registry.scope('gn'), 8, 9, 4);
      assert.equal(registry.stateSize, 0);
      assert.deepEqual(registry.params.map((p) => [p.name, p.shape, p.kind]), [['gn.weight', [8], 'norm'], ['gn.bias', [8], 'norm']]);
      bindRegistry(registry);
      assert.ok(gn.gamma.value.every((v) => v === 1) && gn.beta.value.every((v) => v === 0));
      const x = randn(rng, 3 * 72, 3);
      const layer: Layer = gn;
      const train = layer.forward(x, 3, true).slice();
      assert.deepEqual(layer.forward(x, 3, false), train);
    });

    it('groups = channels is instance norm; groups = 1 is LayerNorm over each sample with a per-channel affine', () => {
      const rng = new Rng('gn-special-layer');
      const channels = 4, spatial = 7, batch = 3;
      const x = randn(rng, batch * channels * spatial, 2);
      const inst = groupNorm(backend, channels, spatial, channels, rng);
      const y = inst.forward(x, batch);
      const want = new Float64Array(x.length);
      for (let p = 0; p < batch * channels; p++) {
        const plane = Array.from(x.subarray(p * spatial, (p + 1) * spatial));
        const mu = plane.reduce((s, v) => s + v, 0) / spatial;
        const sd = Math.sqrt(plane.reduce((s, v) => s + (v - mu) ** 2, 0) / spatial + 1e-5);
        const ch = p % channels;
        for (let i = 0; i < spatial; i++) want[p * spatial + i] = (plane[i] - mu) / sd * inst.gamma.value[ch] + inst.beta.value[ch];
      }
      assert.ok(worstRatio(y, want, 1e-4, 1e-5) <= 1, 'instance norm');

      const one = groupNorm(backend, channels, spatial, 1, rng);
      const registry = new Registry(0);
      const ln = new LayerNorm(backend, registry.scope('ln'), channels * spatial);
      bindRegistry(registry);
      for (let i = 0; i < channels * spatial; i++) {
        ln.gamma.value[i] = one.gamma.value[Math.floor(i / spatial)];
        ln.beta.value[i] = one.beta.value[Math.floor(i / spatial)];
      }
      assert.ok(worstRatio(one.forward(x, batch), ln.forward(x), 1e-4, 1e-5) <= 1, 'layer norm');
    });

    it('refuses group counts that do not divide the channels', () => {
      const scope = new Registry(0).scope('gn');
      assert.throws(() => new GroupNorm(backend, scope, 6, 4, 4), /groups \(4\) must be a positive integer that divides channels \(6\)/);
      assert.throws(() => new GroupNorm(backend, scope, 6, 4, 0), /GroupNorm: groups/);
      assert.throws(() => new GroupNorm(backend, scope, 6, 4, 1.5), /GroupNorm: groups/);
      const gn = new GroupNorm(backend, new Registry(0).scope('gn'), 6, 4, 2);
      assert.throws(() => gn.backward(new Float32Array(24)), /forward/);
      assert.throws(() => gn.forward(new Float32Array(25), 1), /GroupNorm: input has 25 values/);
    });

    it("the ResNet's GroupNorm factory uses gcd(channels, groups) groups", () => {
      const make = (channels: number, groups: number) =>
        groupNormFactory(groups)(backend, new Registry(0).scope('gn'), channels, 4) as GroupNorm;
      assert.deepEqual([make(16, 8).groups, make(64, 8).groups, make(4, 8).groups, make(12, 8).groups, make(6, 4).groups], [8, 8, 4, 4, 2]);
      assert.equal(make(5, 3).groups, 1);
    });
  });
}
