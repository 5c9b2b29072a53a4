/**
 * Seeded fuzzing of what a live peer on 127.0.0.1 reads from the network: at least 10,000 random and mutated wire
 * frames on exchange and pull streams (random bytes; valid frames with flipped bytes, truncated, with fields changed
 * and the header checksum recomputed so that the deeper checks are reached, with wrong payload checksums, NaN,
 * infinite and huge finite values under a correct checksum), and raw TCP connections that garble the swarm-key
 * handshake. The peer must not crash, must apply only finite messages, and must still complete a normal exchange
 * afterwards.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { Rng } from '../../../src/core/rng.js';
import { createNetTransport, EXCHANGE_PROTOCOL, PULL_PROTOCOL, type NetTransport } from '../../../src/runtime/net/libp2p-transport.js';
import { generateSwarmKey, swarmSecret } from '../../../src/runtime/net/swarm-key.js';
import { crc32, encodeControl, encodeMessage, FIXED_HEADER_BYTES, WIRE_VERSION } from '../../../src/runtime/net/wire.js';
import type { MessageHeader } from '../../../src/runtime/transport.js';

const LAYOUT = 'c'.repeat(64);
const N = 64;
const FRAMES = 10_000;
const header = (codec: MessageHeader['codec'] = 'f32', step = 3): MessageHeader => ({ version: WIRE_VERSION, algorithm: 'acid', step, layoutHash: LAYOUT, codec });

/** Recomputes the header checksum of a frame whose header fields were changed (the header ends with it). */
function reseal(frame: Uint8Array): Uint8Array {
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const length = v.getUint16(6, true);
  if (length >= FIXED_HEADER_BYTES + 4 && length <= frame.length) v.setUint32(length - 4, crc32(frame.subarray(0, length - 4)), true);
  return frame;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One fuzzed frame: a valid one of some kind, then one mutation. */
function fuzzFrame(rng: Rng): Uint8Array {
  const codec = (['f32', 'f16', 'i8'] as const)[rng.int(3)];
  const x = Float32Array.from({ length: N }, () => rng.normal());
  const special = [NaN, Infinity, -Infinity, 3e38, -3e38, 1e-45];
  const message = encodeMessage(header(codec), x);
  const valid = rng.int(2) === 0
    ? concat([message.header, message.payload])
    : encodeControl((['propose', 'accept', 'busy', 'abort', 'done'] as const)[rng.int(5)], header(codec), { count: N, aux: rng.int(2) === 0 ? 5 : 1000 });
  const bytes = Uint8Array.from(valid);
  const v = new DataView(bytes.buffer);
  switch (rng.int(9)) {
    case 0: // random bytes
      return Uint8Array.from({ length: rng.int(120) }, () => rng.int(256));
    case 1: // flipped bytes
      for (let k = 1 + rng.int(4); k > 0; k--) bytes[rng.int(bytes.length)] ^= 1 << rng.int(8);
      return bytes;
    case 2: // truncated
      return bytes.subarray(0, rng.int(bytes.length));
    case 3: { // a header field changed, header checksum recomputed
      const offsets = [4, 5, 6, 8, 9, 10, 11, 12, 16, 20, 24, 28, 32, 36];
      const at = offsets[rng.int(offsets.length)];
      const width = at >= 12 ? 4 : at === 6 ? 2 : 1;
      const value = [0, 1, 0xff, 0xffff, 0xffffffff, rng.int(2 ** 31)][rng.int(6)];
      if (width === 4) v.setUint32(at, value >>> 0, true);
      else if (width === 2) v.setUint16(at, value & 0xffff, true);
      else v.setUint8(at, value & 0xff);
      return reseal(bytes);
    }
    case 4: // wrong payload checksum
      v.setUint32(32, v.getUint32(32, true) ^ 1, true);
      return reseal(bytes);
    case 5: { // NaN, infinities or huge finite values (as floats, or as an i8 block's min and scale), checksums right
      const f = encodeMessage(header(codec), x);
      const p = new DataView(f.payload.buffer, f.payload.byteOffset, f.payload.byteLength);
      const slots = codec === 'f32' ? N : codec === 'i8' ? 2 * Math.ceil(N / 256) : 0;
      for (let k = 1 + rng.int(3); k > 0 && slots > 0; k--) p.setFloat32(4 * rng.int(slots), special[rng.int(special.length)], true);
      if (codec === 'f16') for (let k = 1 + rng.int(3); k > 0; k--) p.setUint16(2 * rng.int(N), [0x7c00, 0xfc00, 0x7e00, 0x7bff][rng.int(4)], true);
      new DataView(f.header.buffer, f.header.byteOffset).setUint32(32, crc32(f.payload), true);
      return concat([reseal(f.header), f.payload]);
    }
    case 6: // extra bytes after the frame
      return concat([bytes, Uint8Array.from({ length: 1 + rng.int(40) }, () => rng.int(256))]);
    case 7: // the header announces more payload than follows
      return bytes.subarray(0, Math.max(FIXED_HEADER_BYTES, bytes.length - 1 - rng.int(8)));
    default: // untouched
      return bytes;
  }
}

/** Sends bytes in random pieces, then closes; never throws (the peer may hang up first). */
async function send(stream: Stream, bytes: Uint8Array, rng: Rng): Promise<void> {
  try {
    for (let at = 0; at < bytes.length; ) {
      const n = 1 + rng.int(Math.max(1, bytes.length - at));
      if (!stream.send(bytes.subarray(at, at + n))) await stream.onDrain({ signal: AbortSignal.timeout(5000) });
      at += n;
    }
    await stream.close({ signal: AbortSignal.timeout(5000) });
  } catch {
    stream.abort(new Error('fuzz'));
  }
}

/** A TCP connection that says `bytes` to the peer's swarm-key handshake and hangs up. */
function raw(addr: string, bytes: Uint8Array): Promise<void> {
  const [ip, tcp] = multiaddr(addr).getComponents();
  const host = ip.value!;
  const port = Number(tcp.value);
  return new Promise((resolve) => {
    const socket = connect(port, host, () => socket.end(bytes));
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.setTimeout(5000, () => socket.destroy());
    socket.resume();
  });
}

describe('fuzzing a live peer: wire frames and the swarm-key handshake', { timeout: 120_000 }, () => {
  const key = generateSwarmKey();
  let target: NetTransport;
  let fuzzer: NetTransport;
  const applied: Float32Array[] = [];
  before(async () => {
    const base = { workers: 2, swarmKey: key, algorithm: 'acid', layoutHash: LAYOUT, messageLength: N, log: () => {} };
    target = await createNetTransport({ self: 0, ...base });
    fuzzer = await createNetTransport({ self: 1, bootstrap: target.addresses(), ...base });
    assert.deepEqual(await Promise.all([target, fuzzer].map((t) => t.waitForPeers(20_000))), [true, true]);
    target.onProposal({ accept: () => ({ header: header(), message: new Float32Array(N).fill(1) }), commit: (_p, _h, m) => void applied.push(Float32Array.from(m)), abort: () => {} });
    target.onPull(() => ({ header: header(), message: new Float32Array(N).fill(2) }));
  });
  after(async () => {
    await Promise.all([target?.close(), fuzzer?.close()]);
  });

  it(`survives ${FRAMES} fuzzed frames and still exchanges`, async () => {
    const rng = new Rng('wire-fuzz');
    const node = (fuzzer as unknown as { node: Libp2p }).node;
    const peer = peerIdFromString(target.peerId);
    let frames = 0;
    let streams = 0;
    // Each stream: often a valid propose first (so that the frame after it reaches the acceptor's payload checks),
    // then one to three fuzzed frames; a quarter of the streams are pulls.
    const one = async (r: Rng): Promise<void> => {
      const pull = r.int(4) === 0;
      const parts = r.int(2) === 0 ? [encodeControl('propose', header(), { count: N, aux: 2000 })] : [];
      for (let k = 1 + r.int(3); k > 0; k--) parts.push(fuzzFrame(r));
      frames += parts.length;
      streams++;
      let stream: Stream;
      try {
        stream = await node.dialProtocol(peer, pull ? PULL_PROTOCOL : EXCHANGE_PROTOCOL, { signal: AbortSignal.timeout(10_000) });
      } catch {
        return;
      }
      await send(stream, concat(parts), r);
    };
    const lanes = Array.from({ length: 24 }, (_, lane) => (async () => {
      const r = rng.fork(lane);
      while (frames < FRAMES) await one(r);
    })());
    await Promise.all(lanes);
    assert.ok(frames >= FRAMES);

    // The swarm-key handshake, garbled (libp2p admits a few new connections per second and host: a few cases).
    const addr = target.addresses()[0];
    const nonce = randomBytes(24);
    const wrongProof = createHmac('sha256', swarmSecret(generateSwarmKey())).update('gossamer-swarm/1 proof').update(nonce).digest();
    await Promise.all([
      raw(addr, Uint8Array.from({ length: 7 }, () => rng.int(256))),
      raw(addr, concat([nonce, wrongProof, randomBytes(100)])),
      raw(addr, concat([nonce, randomBytes(5)])),
    ]);

    // Only finite messages were ever applied, and the peer still works: a normal exchange and a pull.
    for (const m of applied) assert.ok(m.every(Number.isFinite), 'a non-finite message was applied');
    const before = applied.length;
    const exchange = await fuzzer.propose(0, header(), new Float32Array(N).fill(3), 10_000);
    assert.ok(exchange.ok, JSON.stringify(exchange));
    assert.deepEqual(applied.at(-1), new Float32Array(N).fill(3));
    assert.equal(applied.length, before + 1);
    // (A pull right after the fuzzing may find the peer's pull streams, at most 16, still taken by fuzzed ones.)
    const rejected = Object.values(target.stats.rejected).reduce((a, b) => a + b, 0);
    assert.ok(rejected > streams / 4, `rejections counted: ${JSON.stringify(target.stats.rejected)} over ${streams} streams`);
  });
});
