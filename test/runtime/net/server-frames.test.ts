/**
 * The frames of a request to the server of asynchronous Local-SGD (net/server-frames.ts): a push's metadata and its
 * pseudo-gradient in the run's codec round-trip, and every malformed or hostile request is refused with a reason,
 * never thrown on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../../src/core/rng.js';
import { quantize, type Codec } from '../../../src/core/codecs.js';
import type { MessageHeader } from '../../../src/runtime/transport.js';
import { encodePushRequest, MAX_ROUND, parsePushRequest, requestBytes, requestFrames, type PushRequest } from '../../../src/runtime/net/server-frames.js';
import { FrameReader, WIRE_VERSION, crc32 as crc, encodeControl, encodeMessage, isWireError, type EncodedFrame, type Frame } from '../../../src/runtime/net/wire.js';

const DIM = 1000;
const header = (step: number): MessageHeader => ({ version: WIRE_VERSION, algorithm: 'async-diloco', step, layoutHash: 'abc', codec: 'f32' });

function vector(seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: DIM }, () => 0.01 * rng.normal());
}

/** What the holder's reader makes of frames sent on one stream (a wire error: the stream is dropped). */
function received(frames: readonly EncodedFrame[]): Frame[] {
  const reader = new FrameReader({ algorithm: 'async-diloco', layoutHash: 'abc', maxPayloadBytes: 4 * DIM });
  const out: Frame[] = [];
  for (const f of frames) {
    for (const chunk of [f.header, f.payload]) {
      const got = reader.push(chunk);
      if (isWireError(got)) throw new Error(got.detail);
      out.push(...got);
    }
  }
  return out;
}

function refused(frames: readonly EncodedFrame[], codec: Codec, why: RegExp): void {
  const parsed = parsePushRequest(received(frames), { dim: DIM, codec });
  assert.equal(typeof parsed, 'string', 'refused');
  assert.match(parsed as string, why);
}

const meta = (round: number, steps: number, speed: number): EncodedFrame => encodeMessage({ ...header(round), codec: 'f32' }, Float32Array.of(steps, speed));

describe('server request frames', () => {
  for (const codec of ['f32', 'f16', 'i8', 'i4'] as const) {
    it(`a ${codec} push round-trips: the holder decodes exactly what the pusher's encoder rounded it to`, () => {
      const delta = vector(1);
      quantize(codec, delta);
      const frames = encodePushRequest(header, codec, { round: 7, steps: 5, speed: 12.5 }, delta);
      assert.equal(frames.length, 2);
      const got = received(frames);
      assert.equal(requestFrames(got[0]), 2);
      const req = parsePushRequest(got, { dim: DIM, codec }) as PushRequest;
      assert.equal(typeof req, 'object', String(req));
      assert.deepEqual({ round: req.round, steps: req.steps, speed: req.speed }, { round: 7, steps: 5, speed: 12.5 });
      assert.deepEqual(req.delta, delta);
    });
  }

  it('an i8 push takes about a quarter of a float32 push\'s bytes', () => {
    const delta = vector(2);
    const bytes = (codec: Codec) => requestBytes(encodePushRequest(header, codec, { round: 1, steps: 5, speed: 1 }, delta));
    const ratio = bytes('f32') / bytes('i8');
    assert.ok(ratio > 3.5 && ratio < 4, `×${ratio}`);
  });

  it('a pull is its metadata alone, at round 0', () => {
    const frames = encodePushRequest(header, 'i8', { round: 0, steps: 0, speed: 0 }, null);
    const got = received(frames);
    assert.equal(requestFrames(got[0]), 1);
    assert.deepEqual(parsePushRequest(got, { dim: DIM, codec: 'i8' }), { round: 0, steps: 0, speed: 0, delta: null });
  });

  it('refuses malformed and hostile requests with a reason', () => {
    const delta = vector(3);
    const body = (round: number, codec: Codec, x = delta, blockSize?: number) => encodeMessage({ ...header(round), codec }, x, blockSize);
    refused([], 'f32', /no frame/);
    refused([{ header: encodeControl('done', header(3)), payload: new Uint8Array(0) }], 'f32', /done frame/);
    refused([encodeMessage({ ...header(3), codec: 'f16' }, Float32Array.of(5, 1)), body(3, 'f32')], 'f32', /metadata of 2 f16/);
    refused([encodeMessage(header(3), Float32Array.of(5, 1, 0)), body(3, 'f32')], 'f32', /metadata of 3/);
    refused([meta(MAX_ROUND + 1, 5, 1), body(MAX_ROUND + 1, 'f32')], 'f32', /round .* above/);
    refused([meta(3, 5, -1), body(3, 'f32')], 'f32', /speed -1/);
    refused([meta(3, 2.5, 1), body(3, 'f32')], 'f32', /2.5 inner steps/);
    refused([meta(3, 0, 1), body(3, 'f32')], 'f32', /0 inner steps/);
    refused([meta(3, 5, 1)], 'f32', /1 frames for a push/);
    refused([meta(0, 5, 1), body(0, 'f32')], 'f32', /2 frames for a pull/);
    refused([meta(3, 5, 1), { header: encodeControl('abort', header(3)), payload: new Uint8Array(0) }], 'f32', /abort frame/);
    refused([meta(3, 5, 1), body(4, 'f32')], 'f32', /round 4 after the metadata of round 3/);
    refused([meta(3, 5, 1), body(3, 'f32')], 'i8', /in f32, the run's codec is i8/);
    refused([meta(3, 5, 1), body(3, 'f32', delta.subarray(0, DIM - 1))], 'f32', /999 values/);
    refused([meta(3, 5, 1), body(3, 'i8', delta, 100)], 'i8', /blocks of 100/);
    // A payload corrupted after its header (checksum), and an i8 block whose scale is negative.
    const corrupt = body(3, 'f32');
    corrupt.payload = corrupt.payload.slice();
    corrupt.payload[10] ^= 1;
    refused([meta(3, 5, 1), corrupt], 'f32', /checksum/);
    const hostile = body(3, 'i8');
    hostile.payload = hostile.payload.slice();
    new DataView(hostile.payload.buffer).setFloat32(4, -1, true);
    const resealed = encodeMessage({ ...header(3), codec: 'i8' }, delta);
    refused([meta(3, 5, 1), { header: reseal(resealed.header, hostile.payload), payload: hostile.payload }], 'i8', /scale -1/);
  });

  it('non-finite values and oversized frames never get through the reader', () => {
    const bad = vector(4);
    bad[5] = NaN;
    const nan = encodeMessage({ ...header(3), codec: 'f32' }, bad);
    refused([meta(3, 5, 1), nan], 'f32', /NaN/);
    assert.throws(() => received([meta(3, 5, 1), encodeMessage(header(3), new Float32Array(DIM + 1))]), /exceeds the limit/);
  });
});

/** A header whose payload checksum is that of `payload` (a hostile sender's well-formed frame). */
function reseal(headerBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  const out = headerBytes.slice();
  const v = new DataView(out.buffer);
  v.setUint32(32, crc(payload), true);
  v.setUint32(out.length - 4, crc(out.subarray(0, out.length - 4)), true);
  return out;
}
