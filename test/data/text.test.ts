import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { evalTextBatches, loadText, splitText, textCorpus, TextSampler, unigramCrossEntropy } from '../../src/data/text.js';

test('Moby-Dick loads as ~1.19M characters of UTF-8 with byte tokens', () => {
  const c = loadText('moby-dick');
  assert.equal(c.name, 'moby-dick');
  assert.equal(c.vocab, 256);
  assert.equal(c.text.length, 1190317);
  assert.equal(c.bytes.length, 1204997);
  assert.ok(c.text.startsWith('CHAPTER 1. Loomings.\n\nCall me Ishmael.'));
  assert.ok(c.text.trimEnd().endsWith('rolled on as it rolled five thousand years ago.'));
  assert.equal(new TextDecoder().decode(c.bytes), c.text);
  const short = loadText('moby-dick', { limit: 100 });
  assert.equal(short.text, c.text.slice(0, 100));
  assert.equal(new TextDecoder().decode(short.bytes), short.text);
});

test('loadText: unknown names and missing or invalid files are UsageErrors', () => {
  assert.throws(() => loadText('war-and-peace' as 'moby-dick'), /unknown text corpus/);
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-text-'));
  try {
    assert.throws(() => loadText('moby-dick', { dir }), (e: unknown) => e instanceof UsageError && e.message.includes(join(dir, 'data.txt')) && /not found/.test(e.message));
    writeFileSync(join(dir, 'data.txt'), Uint8Array.from([0x61, 0xff, 0x62]));
    assert.throws(() => loadText('moby-dick', { dir }), /not valid UTF-8/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('splitText is a contiguous split', () => {
  const tokens = Uint8Array.from({ length: 1000 }, (_, k) => k % 256);
  const { train, test: held } = splitText(tokens, 0.1);
  assert.equal(train.length, 900);
  assert.equal(held.length, 100);
  assert.deepEqual(Array.from(held), Array.from(tokens.subarray(900)));
  assert.throws(() => splitText(tokens, 0), UsageError);
  assert.throws(() => splitText(tokens, 1), UsageError);
  assert.throws(() => splitText(tokens.subarray(0, 3), 0.5), UsageError);
});

test('TextSampler gives windows with targets shifted by one, seeded, in reused buffers', () => {
  const tokens = Uint8Array.from({ length: 500 }, (_, k) => k % 251);
  const seq = 16;
  const s = new TextSampler(tokens, { seq, batch: 4, rng: new Rng(3) });
  const first = s.next();
  assert.equal(first.inputs.length, 64);
  assert.equal(first.size, 4);
  const snapshot = Array.from(first.inputs);
  for (let b = 0; b < 4; b++) {
    const start = first.inputs[b * seq];
    for (let t = 0; t < seq; t++) {
      assert.equal(first.inputs[b * seq + t], (start + t) % 251);
      assert.equal(first.targets[b * seq + t], (start + t + 1) % 251);
    }
  }
  const again = new TextSampler(tokens, { seq, batch: 4, rng: new Rng(3) }).next();
  assert.deepEqual(Array.from(again.inputs), snapshot);
  assert.equal(s.next(), first, 'the batch object is reused');
  // Every start position, including the last one, is reachable.
  const small = new TextSampler(Uint8Array.from([1, 2, 3, 4]), { seq: 2, batch: 50, rng: new Rng(1) }).next();
  assert.deepEqual(new Set(small.inputs.filter((_, k) => k % 2 === 0)), new Set([1, 2]));
  assert.throws(() => new TextSampler(tokens.subarray(0, 16), { seq, batch: 1, rng: new Rng(1) }), UsageError);
});

test('evalTextBatches covers the text with consecutive windows', () => {
  const tokens = Uint8Array.from({ length: 103 }, (_, k) => k);
  const seen: number[] = [];
  const sizes: number[] = [];
  for (const b of evalTextBatches(tokens, { seq: 10, batch: 4 })) {
    sizes.push(b.size);
    seen.push(...b.inputs.subarray(0, b.size * 10));
    assert.equal(b.targets[b.size * 10 - 1], b.inputs[b.size * 10 - 1] + 1);
  }
  assert.deepEqual(sizes, [4, 4, 2]);
  assert.deepEqual(seen, Array.from({ length: 100 }, (_, k) => k));
});

test('unigram cross-entropy baseline', () => {
  // Held-out text identical in distribution to a large training text: close to the entropy of that distribution.
  const train = new Uint8Array(100000).map((_, k) => (k % 4 === 0 ? 1 : 2));
  const held = Uint8Array.from([1, 2, 2, 2]);
  const h = unigramCrossEntropy(train, held);
  const expected = -(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75));
  assert.ok(Math.abs(h - expected) < 1e-2);
  // Add-one smoothing: an unseen character costs log(|train| + 256), finite.
  assert.ok(Math.abs(unigramCrossEntropy(train, Uint8Array.from([9])) - Math.log(100000 + 256)) < 1e-9);
  // Real text: well below log 256 (uniform) and above 2 nats.
  const c = loadText('moby-dick');
  const { train: tr, test: te } = splitText(c.bytes, 0.1);
  const u = unigramCrossEntropy(tr, te);
  assert.ok(u > 2.5 && u < 3.5, `unigram baseline ${u}`);
  assert.ok(textCorpus('x', 'héllo').bytes.length === 6);
});
