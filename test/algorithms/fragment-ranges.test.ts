import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fragmentRanges } from '../../src/algorithms/fragments.js';
import type { LayoutEntry } from '../../src/engine/layout.js';

/** A layout of consecutive tensors, by name and size. */
function layout(tensors: Array<[string, number]>): LayoutEntry[] {
  let offset = 0;
  return tensors.map(([name, size]) => {
    const e: LayoutEntry = { name, shape: [size], offset, size, kind: name.endsWith('bias') ? 'bias' : 'weight' };
    offset += size;
    return e;
  });
}

test('fragments are strided over the layers of a layout, a layer\'s tensors together', () => {
  const mlp = layout([['fc1.weight', 12], ['fc1.bias', 3], ['fc2.weight', 6], ['fc2.bias', 2], ['fc3.weight', 4], ['fc3.bias', 2]]);
  assert.deepEqual(fragmentRanges(29, 2, mlp), [[{ start: 0, end: 15 }, { start: 23, end: 29 }], [{ start: 15, end: 23 }]]);
  assert.deepEqual(fragmentRanges(29, 3, mlp), [[{ start: 0, end: 15 }], [{ start: 15, end: 23 }], [{ start: 23, end: 29 }]]);
  assert.deepEqual(fragmentRanges(29, 1, mlp), [[{ start: 0, end: 29 }]]);
  assert.throws(() => fragmentRanges(29, 4, mlp), /4 fragments of a model of 3 layers/);
  // Layers named deeper (blocks.0.attn.qkv.weight) group by their module; entries are taken in offset order.
  const deep = layout([['blocks.0.attn.weight', 4], ['blocks.0.attn.bias', 1], ['blocks.0.mlp.weight', 4], ['head', 2]]);
  assert.deepEqual(fragmentRanges(11, 3, [...deep].reverse()), [[{ start: 0, end: 5 }], [{ start: 5, end: 9 }], [{ start: 9, end: 11 }]]);
});

test('without a layout, P contiguous chunks of equal size (±1)', () => {
  assert.deepEqual(fragmentRanges(10, 3), [[{ start: 0, end: 3 }], [{ start: 3, end: 6 }], [{ start: 6, end: 10 }]]);
  assert.deepEqual(fragmentRanges(12, 4).map((f) => f[0].end - f[0].start), [3, 3, 3, 3]);
  assert.throws(() => fragmentRanges(3, 4), /at most one fragment per value/);
  assert.throws(() => fragmentRanges(3, 0), /positive integer/);
});
