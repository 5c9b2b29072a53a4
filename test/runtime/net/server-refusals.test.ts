/**
 * The server of asynchronous Local-SGD on a live peer (127.0.0.1): hostile requests on /gossamer/server/1.1.0 are
 * refused with a logged line and change nothing; an i8 push from a member is then applied exactly as its pusher
 * rounded it, and the server's snapshot (what a checkpoint records) counts it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OuterServer } from '../../../src/algorithms/outer-server.js';
import type { ServerCapability, WorkerState } from '../../../src/algorithms/types.js';
import { quantize } from '../../../src/core/codecs.js';
import { Rng } from '../../../src/core/rng.js';
import { createNetTransport, readAll, type NetTransport } from '../../../src/runtime/net/libp2p-transport.js';
import { NetServer, SERVER_PROTOCOL } from '../../../src/runtime/net/server.js';
import { encodePushRequest } from '../../../src/runtime/net/server-frames.js';
import { generateSwarmKey } from '../../../src/runtime/net/swarm-key.js';
import { ABORT_REASONS, crc32, decodeFrame, encodeMessage, isWireError, MAX_HEADER_BYTES, WIRE_VERSION, type EncodedFrame } from '../../../src/runtime/net/wire.js';
import type { MessageHeader } from '../../../src/runtime/transport.js';

const LAYOUT = 'd'.repeat(64);
const DIM = 3000;
const header = (step: number): MessageHeader => ({ version: WIRE_VERSION, algorithm: 'async-diloco', step, layoutHash: LAYOUT, codec: 'f32' });
const outer = { H: 5, lr: 1, mu: 0, optimizer: 'sgd' as const };
const capability = { createServer: (x0: Float32Array) => new OuterServer({ dim: DIM, dtype: 'f32', workers: 2, outer }, x0) } as unknown as ServerCapability<WorkerState>;

describe('the server of asynchronous Local-SGD, live', { timeout: 60_000 }, () => {
  let nodes: NetTransport[] = [];
  let holder: NetServer;
  let member: NetServer;
  const warnings: string[] = [];
  const applied: Array<{ worker: number; round: number }> = [];
  const initial = new Float32Array(DIM).fill(1);
  before(async () => {
    const base = { workers: 2, swarmKey: generateSwarmKey(), algorithm: 'async-diloco', layoutHash: LAYOUT, log: () => {} };
    const first = await createNetTransport({ self: 0, ...base });
    nodes = [first, await createNetTransport({ self: 1, bootstrap: first.addresses(), ...base })];
    assert.deepEqual(await Promise.all(nodes.map((t) => t.waitForPeers(20_000))), [true, true]);
    const init = { algorithm: 'async-diloco', layoutHash: LAYOUT, capability, initial, codec: 'i8' as const, timeoutMs: 5000 };
    holder = new NetServer(nodes[0], { ...init, log: (level, line) => void (level === 'warn' && warnings.push(line)), onApplied: (p) => void applied.push(p) });
    member = new NetServer(nodes[1], init);
    await Promise.all([holder.start(), member.start()]);
  });
  after(async () => {
    holder?.stop();
    member?.stop();
    await Promise.all(nodes.map((t) => t.close()));
  });

  /** Sends raw frames to the holder; what it answered ('dropped': it abandoned the stream). */
  async function send(frames: EncodedFrame[]): Promise<string> {
    const stream = await nodes[1].dial(0, SERVER_PROTOCOL, AbortSignal.timeout(5000));
    const answer = readAll(stream, 4 * (DIM + 1) + MAX_HEADER_BYTES, 10_000);
    answer.catch(() => {});
    try {
      for (const f of frames) {
        stream.send(f.header);
        if (f.payload.length > 0) stream.send(f.payload);
      }
      await stream.close({ signal: AbortSignal.timeout(5000) });
      const bytes = await answer;
      if (bytes.length === 0) return 'dropped';
      const frame = decodeFrame(bytes, { algorithm: 'async-diloco', layoutHash: LAYOUT });
      if (isWireError(frame)) return `wire: ${frame.detail}`;
      return frame.kind === 'abort' ? ABORT_REASONS[frame.aux] : frame.kind;
    } catch {
      return 'dropped';
    }
  }

  it('refuses hostile requests, logged, and applies none of them', async () => {
    const delta = new Float32Array(DIM).fill(0.5);
    const meta = (round: number, steps = 5, speed = 1) => encodeMessage(header(round), Float32Array.of(steps, speed));
    const body = (round: number, codec: MessageHeader['codec'], x = delta) => encodeMessage({ ...header(round), codec }, x);
    // An i8 body whose first block's minimum is NaN, under correct checksums (a hostile sender's).
    const nan = body(1, 'i8');
    nan.payload = nan.payload.slice();
    new DataView(nan.payload.buffer).setFloat32(0, NaN, true);
    nan.header = nan.header.slice();
    const h = new DataView(nan.header.buffer);
    h.setUint32(32, crc32(nan.payload), true);
    h.setUint32(nan.header.length - 4, crc32(nan.header.subarray(0, nan.header.length - 4)), true);
    const cases: Array<[string, EncodedFrame[], RegExp]> = [
      ['f32 body for an i8 run', [meta(1), body(1, 'f32')], /dropped|invalid/],
      ['rounds that differ', [meta(1), body(2, 'i8')], /invalid/],
      ['fractional inner steps', [meta(1, 2.5), body(1, 'i8')], /invalid/],
      ['a negative speed', [meta(1, 5, -3), body(1, 'i8')], /invalid/],
      ['a short pseudo-gradient', [meta(1), body(1, 'i8', delta.subarray(1))], /invalid/],
      ['a pull with a body', [meta(0), body(0, 'i8')], /dropped/],
      ['three frames', [meta(1), body(1, 'i8'), body(1, 'i8')], /dropped/],
      ['a NaN block minimum', [meta(1), nan], /invalid/],
    ];
    for (const [what, frames, expected] of cases) assert.match(await send(frames), expected, what);
    assert.equal(applied.length, 0, 'nothing applied');
    assert.ok(warnings.length >= cases.length, `every refusal logged: ${warnings.join('\n')}`);
    assert.ok(warnings.some((w) => /refused a push from worker 1: .*round 2 after the metadata of round 1/.test(w)), warnings.join('\n'));
    // A pull still works, and the model is the initial one.
    const pulled = await member.pull();
    assert.deepEqual(pulled?.model, initial);
  });

  it('applies an i8 push exactly as its pusher rounded it, once', async () => {
    const rng = new Rng('push');
    const slot = member.pushSlot();
    for (let k = 0; k < DIM; k++) slot[k] = 0.01 * rng.normal();
    quantize('i8', slot);
    const sent = Float32Array.from(slot);
    const answer = await member.push({ round: 1, steps: 5, speed: 2 });
    // Outer SGD of rate 1 without momentum: θ ← θ − g/N, N = 2.
    const expected = Float32Array.from(initial, (v, k) => v - sent[k] / 2);
    assert.deepEqual(answer?.model, expected);
    assert.equal(answer?.innerSteps, 5);
    assert.deepEqual(applied.map((p) => [p.worker, p.round]), [[1, 1]]);
    assert.equal(member.stats.pushes, 1);
    const bytes = encodePushRequest(header, 'i8', { round: 1, steps: 5, speed: 2 }, sent).reduce((n, f) => n + f.header.length + f.payload.length, 0);
    assert.equal(member.stats.pushBytes, bytes);
    // The same round again is a duplicate: answered, not applied.
    await member.push({ round: 1, steps: 5, speed: 2 });
    assert.equal(applied.length, 1);
    holder.stop();
    const state = await holder.snapshot();
    assert.equal(state?.scalars.pushes, 1);
    assert.deepEqual(Array.from(state!.vectors.rounds), [0, 1]);
    assert.deepEqual(state?.vectors.model, expected);
  });
});
