import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { Rng } from '../../src/core/rng.js';
import { syntheticClassification } from '../../src/data/synthetic.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { UsageError } from '../../src/core/errors.js';
import { runCluster } from '../../src/runtime/cluster.js';
import { type ClusterConfig } from '../../src/runtime/cluster-config.js';
import { EmulatedTransport } from '../../src/runtime/emulator.js';
import { InProcessTransport, sharedMailbox } from '../../src/runtime/inprocess.js';
import { DEFAULT_BLOCK_SIZE, decodePayload, encodePayload, messageCodec, payloadBytes, quantize } from '../../src/core/codecs.js';
import type { MessageHeader } from '../../src/runtime/transport.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function vector(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

test('quantize rounds in place to what a peer decodes; f32 is left exact', () => {
  const x = vector(1000, 1);
  const f32 = Float32Array.from(x);
  quantize('f32', f32);
  assert.deepEqual(f32, x);
  for (const codec of ['f16', 'i8'] as const) {
    const q = Float32Array.from(x);
    quantize(codec, q);
    assert.deepEqual(q, decodePayload(codec, encodePayload(codec, x), x.length, 256));
    assert.notDeepEqual(q, x, `${codec} is lossy`);
  }
});

test('as the simulator\'s message codec: float64 messages are rounded through float32, sizes in floats, diverged runs left alone', () => {
  const x = Float64Array.from(vector(600, 4));
  const expected = Float32Array.from(x);
  quantize('i8', expected);
  const i8 = messageCodec('i8');
  i8.round(x);
  assert.deepEqual(Array.from(x), Array.from(expected));
  assert.deepEqual([messageCodec('f32').floats(600), messageCodec('f16').floats(600), i8.floats(600)], [600, 300, (600 + 8 * 3) / 4]);
  const diverged = Float64Array.from([1, NaN, 2]);
  i8.round(diverged);
  assert.ok(Number.isNaN(diverged[1]) && diverged[0] === 1 && diverged[2] === 2);
});

test('in-process exchanges under a lossy codec deliver the rounded messages both ways and leave the senders\' own', async () => {
  const n = 600;
  const header: MessageHeader = { version: 1, algorithm: 'fake', step: 0, layoutHash: 'h', codec: 'f32' };
  const { port1, port2 } = new MessageChannel();
  const boxes = [sharedMailbox(n), sharedMailbox(n)];
  const a = new InProcessTransport({ self: 0, messageLength: n, mailbox: boxes[0], peers: [{ id: 1, port: port1, mailbox: boxes[1] }] }, { codec: 'i8' });
  const b = new InProcessTransport({ self: 1, messageLength: n, mailbox: boxes[1], peers: [{ id: 0, port: port2, mailbox: boxes[0] }] }, { codec: 'i8' });
  const xa = vector(n, 2);
  const xb = vector(n, 3);
  const keepA = Float32Array.from(xa);
  const keepB = Float32Array.from(xb);
  const got: { committed: { header: MessageHeader; message: Float32Array } | null } = { committed: null };
  const done = new Promise<void>((resolve) => b.onProposal({
    accept: () => ({ header, message: xb }),
    commit: (_peer, h, message) => {
      got.committed = { header: h, message: Float32Array.from(message) };
      resolve();
    },
    abort: () => resolve(),
  }));
  const r = await a.propose(1, header, xa, 5000);
  await done;
  try {
    assert.ok(r.ok);
    const rounded = (x: Float32Array) => {
      const q = Float32Array.from(x);
      quantize('i8', q);
      return q;
    };
    assert.deepEqual(r.message, rounded(keepB));
    assert.equal(r.header.codec, 'i8');
    assert.ok(got.committed);
    assert.deepEqual(got.committed.message, rounded(keepA));
    assert.equal(got.committed.header.codec, 'i8');
    assert.deepEqual(xa, keepA, 'the proposer\'s own message is not rounded');
    assert.deepEqual(xb, keepB, 'the acceptor\'s own message is not rounded');
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('the link emulator charges the encoded size of a message', async () => {
  const endpoint = (codec?: MessageHeader['codec']) => {
    const { port1 } = new MessageChannel();
    const t = new InProcessTransport({ self: 0, messageLength: 1000, mailbox: sharedMailbox(1000), peers: [{ id: 1, port: port1, mailbox: sharedMailbox(1000) }] }, { codec });
    port1.close();
    return new EmulatedTransport(t, { default: { bandwidth: 1e6 } }); // bytes per second
  };
  const [f32, f16, i8] = [endpoint(), endpoint('f16'), endpoint('i8')];
  assert.deepEqual([f32.bytes(1000), f16.bytes(1000), i8.bytes(1000)], [4000, 2000, 1000 + 8 * 4]);
  assert.equal(i8.codec, 'i8');
  // 1 MB/s: a thousand floats take 4 ms in float32, 1.032 ms in blockwise int8.
  assert.ok(Math.abs(f32.delay(1, f32.bytes(1000))! - 4) < 1e-9);
  assert.ok(Math.abs(i8.delay(1, i8.bytes(1000))! - 1.032) < 1e-9);
  await Promise.all([f32.close(), f16.close(), i8.close()]);
});

test('clusters under 8-bit codecs: exchanges, and DiLoCo\'s pseudo-gradients with error feedback, charged their encoded size', async () => {
  const all = syntheticClassification({ n: 2400, features: 16, classes: 4, seed: 11, noise: 1.5, separation: 1 });
  const split = (from: number, to: number, name: string): ImageDataset => ({
    ...all, name, images: all.images.subarray(from * 16, to * 16), labels: all.labels.subarray(from, to), n: to - from,
  });
  const base: ClusterConfig = {
    workers: 4, topology: 'ring', algorithm: 'acid', rate: 1, model: 'mlp', modelConfig: { hidden: [16] },
    dataset: { train: split(0, 2000, 'train'), test: split(2000, 2400, 'test') },
    batchSize: 16, steps: 600, optimizer: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 1e-4, schedule: 'multistep', warmup: 5,
    clip: 1, seed: 3, backend: 'js', codec: 'i8',
  };
  await assert.rejects(runCluster({ ...base, errorFeedback: true }), (e: Error) => e instanceof UsageError && /acid sends neither/.test(e.message));
  const out = mkdtempSync(join(tmpdir(), 'gossamer-codec-'));
  dirs.push(out);
  const s = await runCluster({ ...base, out });
  assert.equal(s.codec, 'i8');
  assert.ok(s.exchanges > 50, `${s.exchanges} exchanges`);
  assert.ok(s.testAccuracy > 0.8, `accuracy ${s.testAccuracy}`);
  assert.ok(s.consensus > 0 && s.consensus < 1e-1, `consensus ${s.consensus}`);
  // Each side of an exchange sends its model once (an exchange may be under way at the end).
  const message = payloadBytes('i8', s.params, DEFAULT_BLOCK_SIZE);
  assert.ok(Math.abs(s.bytesSent / (2 * message) - s.exchanges) <= 4, `${s.bytesSent} bytes for ${s.exchanges} exchanges`);
  assert.equal(s.outerSteps, 0);

  const diloco = await runCluster({ ...base, algorithm: 'diloco', innerSteps: 10, errorFeedback: true });
  assert.equal(diloco.errorFeedback, true);
  assert.equal(diloco.outerSteps, 600 / 4 / 10);
  // A ring all-reduce: 2(n − 1)/n of the encoded contribution from each of the n workers per round.
  assert.equal(diloco.bytesSent, diloco.outerSteps * 2 * 3 * message);
  assert.ok(diloco.testAccuracy > 0.5, `learned (accuracy ${diloco.testAccuracy}; 4 classes)`);
});
