/**
 * Contributions under a lossy codec (core/contribution.ts) and the 4-bit codec: what receivers decode, error
 * feedback's bookkeeping, and blockwise rounding that a second pass leaves alone (coordinator and members of a
 * network collective apply the very same mean).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodePayload, encodePayload, messageCodec, payloadBytes, quantize } from '../../src/core/codecs.js';
import { codecProblem, ContributionEncoder, errorFeedbackProblem } from '../../src/core/contribution.js';
import { Rng } from '../../src/core/rng.js';

function vector(n: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => scale * rng.normal());
}

test('i4: 16 levels per block, two codes per byte, decoded within half a step of the value', () => {
  const x = vector(1001, 1);
  const payload = encodePayload('i4', x, 256);
  assert.equal(payload.length, payloadBytes('i4', 1001, 256));
  assert.equal(payload.length, 8 * 4 + 501);
  const back = decodePayload('i4', payload, x.length, 256) as Float32Array;
  for (let b = 0; b < 4; b++) {
    const block = x.subarray(256 * b, 256 * (b + 1));
    const step = (Math.max(...block) - Math.min(...block)) / 15;
    for (let k = 256 * b; k < Math.min(x.length, 256 * (b + 1)); k++) assert.ok(Math.abs(back[k] - x[k]) <= step / 2 + 1e-6, `element ${k}`);
  }
  // Both extremes of a block are exact, and a constant block decodes to its value.
  assert.equal(back[x.indexOf(Math.min(...x.subarray(0, 256)))], Math.min(...x.subarray(0, 256)));
  const flat = decodePayload('i4', encodePayload('i4', new Float32Array(7).fill(0.25), 256), 7, 256) as Float32Array;
  assert.deepEqual(Array.from(flat), new Array(7).fill(0.25));
});

test('blockwise rounding is idempotent: a rounded vector encodes to itself', () => {
  const rng = new Rng(7);
  for (const codec of ['f16', 'i8', 'i4'] as const) {
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(rng.uniform() * 600);
      const x = vector(n, trial, 10 ** (rng.uniform() * 8 - 4));
      quantize(codec, x);
      const again = Float32Array.from(x);
      quantize(codec, again);
      assert.deepEqual(again, x, `${codec}, trial ${trial}`);
    }
  }
});

test('without error feedback a contribution is rounded as its receivers decode it; f32 leaves it alone', () => {
  const x = vector(700, 2);
  const exact = new ContributionEncoder(null, 700, true);
  assert.equal(exact.residual, null, 'nothing to feed back');
  const same = Float32Array.from(x);
  exact.encode(same, [{ start: 0, end: 700 }]);
  assert.deepEqual(same, x);
  const i8 = new ContributionEncoder(messageCodec('i8'), 700, false);
  const rounded = Float32Array.from(x);
  i8.encode(rounded, [{ start: 0, end: 700 }]);
  assert.deepEqual(rounded, decodePayload('i8', encodePayload('i8', x), 700, 256));
});

test('error feedback: what was sent over the rounds adds up to what was wanted, less the residual left', () => {
  const dim = 600;
  const encoder = new ContributionEncoder(messageCodec('i4'), dim, true);
  const wanted = new Float64Array(dim);
  const sent = new Float64Array(dim);
  // Contributions over two interleaved fragments of the model, as Streaming DiLoCo sends them.
  const spans = [[{ start: 0, end: 100 }, { start: 300, end: 400 }], [{ start: 100, end: 300 }, { start: 400, end: 600 }]];
  for (let round = 0; round < 40; round++) {
    const parts = spans[round % 2];
    const c = vector(parts.reduce((a, s) => a + s.end - s.start, 0), 100 + round, 0.01);
    let k = 0;
    for (const { start, end } of parts) for (let p = start; p < end; p++) wanted[p] += c[k++];
    encoder.encode(c, parts);
    k = 0;
    for (const { start, end } of parts) for (let p = start; p < end; p++) sent[p] += c[k++];
  }
  const r = encoder.residual!;
  let worst = 0;
  for (let p = 0; p < dim; p++) worst = Math.max(worst, Math.abs(wanted[p] - sent[p] - r[p]));
  assert.ok(worst < 1e-5, `Σ wanted − Σ sent − residual = ${worst}`);
  // The residual stays of the order of one rounding step: it does not pile up.
  assert.ok(Math.max(...r.map(Math.abs)) < 0.01, `residual ${Math.max(...r.map(Math.abs))}`);
});

test('error feedback needs a lossy codec and contributions or pushes to carry it', () => {
  assert.match(errorFeedbackProblem('f32', { name: 'diloco', collective: {} })!, /lossy codec/);
  assert.match(errorFeedbackProblem('i8', { name: 'acid', pairwise: {} } as { name: string })!, /acid sends neither/);
  assert.equal(errorFeedbackProblem('i8', { name: 'diloco', collective: {} }), null);
  assert.equal(errorFeedbackProblem('f16', { name: 'async-diloco', server: {} }), null);
});

test('a lossy codec is refused for contributions that carry exact counts (acco, dpu)', () => {
  assert.match(codecProblem('i8', { name: 'acco', collective: { extra: 1 } })!, /acco's contributions carry their micro-batch counts/);
  assert.equal(codecProblem('f32', { name: 'acco', collective: { extra: 1 } }), null);
  assert.equal(codecProblem('i4', { name: 'diloco', collective: {} }), null);
});
