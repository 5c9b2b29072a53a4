import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as tcpConnect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { peerIdFromString } from '@libp2p/peer-id';
import { Rng } from '../../../src/core/rng.js';
import { LaneServer, connectLane } from '../../../src/runtime/net/lane-server.js';
import { createNetTransport, EXCHANGE_PROTOCOL, type NetLogger, type NetTransport, type NetTransportOptions } from '../../../src/runtime/net/libp2p-transport.js';
import { laneTag } from '../../../src/runtime/net/lane.js';
import { generateSwarmKey } from '../../../src/runtime/net/swarm-key.js';
import { encodeControl, encodeMessage, FrameReader, isWireError, type Frame } from '../../../src/runtime/net/wire.js';
import type { ExchangeResult, MessageHeader } from '../../../src/runtime/transport.js';
import { LAYOUT, header, recorder, vector, type Recorder } from './exchange-fixtures.js';

const bytes = (x: Float32Array): Buffer => Buffer.from(x.buffer, x.byteOffset, x.byteLength);

function collector(): { log: NetLogger; warnings: string[]; lines: string[] } {
  const warnings: string[] = [];
  const lines: string[] = [];
  return {
    log: (level, message) => {
      lines.push(message);
      if (level === 'warn') warnings.push(message);
    },
    warnings,
    lines,
  };
}

/** Two transports that know each other (and, when both have lanes, with a lane open between them). */
async function pair(base: Partial<NetTransportOptions>, second: Partial<NetTransportOptions> = base, lane = true): Promise<[NetTransport, NetTransport]> {
  const a = await createNetTransport({ self: 0, workers: 2, algorithm: 'acid', layoutHash: LAYOUT, ...base });
  const b = await createNetTransport({ self: 1, workers: 2, algorithm: 'acid', layoutHash: LAYOUT, bootstrap: a.addresses(), ...second });
  assert.deepEqual(await Promise.all([a.waitForPeers(20_000), b.waitForPeers(20_000)]), [true, true]);
  if (lane && a.lanes && b.lanes) assert.ok(await a.lanes.opened(b.peerId, 20_000), 'a lane opens between two nodes that both offer one');
  return [a, b];
}

/** One exchange: worker 1 proposes `mine`, worker 0 answers `theirs`; the result and what worker 0 committed. */
async function exchange(nodes: [NetTransport, NetTransport], mine: Float32Array, theirs: Float32Array, codec: MessageHeader['codec'] = 'f32'): Promise<{ result: ExchangeResult; r: Recorder }> {
  const r = recorder(() => ({ header: header(7, codec), message: theirs }));
  nodes[0].onProposal(r);
  const settled = r.settled();
  const result = await nodes[1].propose(0, header(3, codec), mine, 30_000);
  if (result.ok) await settled;
  return { result, r };
}

describe('bulk lane', { timeout: 180_000 }, () => {
  const key = generateSwarmKey();
  const logs = collector();
  let laned: [NetTransport, NetTransport];
  let streamed: [NetTransport, NetTransport];

  before(async () => {
    laned = await pair({ swarmKey: key, lane: { minBytes: 1 << 12 }, log: logs.log });
    streamed = await pair({ swarmKey: key, log: logs.log });
  });
  after(async () => {
    await Promise.all([...laned, ...streamed].map((t) => t.close()));
  });

  it('exchanges over the lane are bit-identical to those over streams, in every codec', async () => {
    for (const codec of ['f32', 'f16', 'i8'] as const) {
      const mine = vector(20_000, 1);
      const theirs = vector(20_000, 2);
      const overLane = await exchange(laned, mine, theirs, codec);
      const overStream = await exchange(streamed, mine, theirs, codec);
      assert.ok(overLane.result.ok && overStream.result.ok, codec);
      assert.ok(bytes(overLane.result.message).equals(bytes(overStream.result.message)), `${codec}: the proposer's result`);
      assert.ok(bytes(overLane.r.commits[0].message).equals(bytes(overStream.r.commits[0].message)), `${codec}: the acceptor's commit`);
      assert.deepEqual(overLane.result.header, overStream.result.header);
      if (codec === 'f32') assert.ok(bytes(overLane.result.message).equals(bytes(theirs)));
    }
    assert.equal(laned[1].stats.lanePayloadsSent, 3);
    assert.equal(laned[1].stats.lanePayloadsReceived, 3);
    assert.equal(laned[0].stats.lanePayloadsReceived, 3);
    assert.equal(streamed[1].stats.lanePayloadsSent + streamed[1].stats.lanePayloadsReceived, 0);
  });

  it('a received message handed back (release) carries a later payload; one kept is never overwritten', async () => {
    const kept = await exchange(laned, vector(20_000, 30), vector(20_000, 31));
    assert.ok(kept.result.ok);
    const first = await exchange(laned, vector(20_000, 32), vector(20_000, 33));
    assert.ok(first.result.ok);
    laned[1].release(first.result.message);
    const second = await exchange(laned, vector(20_000, 34), vector(20_000, 35));
    assert.ok(second.result.ok);
    assert.equal(second.result.message.buffer, first.result.message.buffer, 'the released buffer took the next payload');
    assert.ok(bytes(second.result.message).equals(bytes(vector(20_000, 35))));
    assert.ok(bytes(kept.result.message).equals(bytes(vector(20_000, 31))), 'the message not released is intact');
    assert.notEqual(second.result.message.buffer, kept.result.message.buffer);
  });

  it('a payload longer than its header announces, or with a non-finite value, is refused: the exchange fails cleanly, nothing is applied', async () => {
    for (const corrupt of ['longer', 'non-finite'] as const) {
      const r = recorder(() => ({ header: header(), message: vector(5000, 3) }));
      laned[0].onProposal(r);
      const settled = r.settled();
      const lane = laned[1].lanes?.lane(laned[0].peerId);
      assert.ok(lane, 'worker 1 has a lane to worker 0');
      const node = laned[1].node;
      const stream = await node.dialProtocol(peerIdFromString(laned[0].peerId), EXCHANGE_PROTOCOL);
      const answers: Frame[] = [];
      const reader = new FrameReader();
      stream.addEventListener('message', (event) => {
        const frames = reader.push(event.data instanceof Uint8Array ? event.data : (event.data as { subarray(): Uint8Array }).subarray());
        if (!isWireError(frames)) answers.push(...frames);
      });
      const id = 4242 + (corrupt === 'longer' ? 0 : 1);
      stream.send(encodeControl('propose', header(), { count: 5000, aux: 20_000, lane: id }));
      const frame = encodeMessage(header(), vector(5000, 4));
      const payload = new Uint8Array(frame.payload.length + (corrupt === 'longer' ? 16 : 0));
      payload.set(frame.payload);
      if (corrupt === 'non-finite') new DataView(payload.buffer).setFloat32(100, Number.NaN, true);
      await lane.send(laneTag(id, 'proposer'), { header: frame.header, payload }, AbortSignal.timeout(20_000));
      await settled;
      assert.equal(r.commits.length, 0, corrupt);
      assert.equal(r.aborts.length, 1, corrupt);
      assert.match(r.aborts[0].reason, corrupt === 'longer' ? /^invalid: length/ : /^invalid: non-finite/);
      assert.ok(logs.warnings.some((w) => (corrupt === 'longer' ? /length: lane frame of/ : /non-finite/).test(w)), 'the refusal is logged');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(answers.some((f) => f.kind === 'abort'), 'the proposer is told');
      stream.abort(new Error('test done'));
    }
    // The lane stays in step: the next exchange goes through it.
    const before = laned[1].stats.lanePayloadsSent;
    const { result } = await exchange(laned, vector(5000, 5), vector(5000, 6));
    assert.ok(result.ok);
    assert.equal(laned[1].stats.lanePayloadsSent, before + 1);
  });

  it('a payload with a non-finite value from the acceptor fails the proposer\'s exchange with a reason', async () => {
    const [a, b] = laned;
    // Worker 0 answers with an infinity in its message, as a faulty node would (the lane's records authenticate
    // every byte: nothing but the values can tell it).
    const bad = vector(5000, 7);
    bad[7] = Number.POSITIVE_INFINITY;
    a.onProposal(recorder(() => ({ header: header(), message: bad })));
    const result = await b.propose(0, header(), vector(5000, 8), 20_000);
    assert.deepEqual(result, { ok: false, peer: 0, reason: 'invalid' });
    assert.ok((b.stats.rejected['non-finite'] ?? 0) >= 1);
    const { result: next } = await exchange(laned, vector(5000, 9), vector(5000, 10));
    assert.ok(next.ok, 'the next exchange goes through');
  });

  it('a lane that closes mid-payload fails the exchange, nothing is applied; the next exchange takes a new lane', async () => {
    const r = recorder(() => ({ header: header(), message: vector(5000, 15) }));
    laned[0].onProposal(r);
    const settled = r.settled();
    const lane = laned[1].lanes?.lane(laned[0].peerId);
    assert.ok(lane);
    const stream = await laned[1].node.dialProtocol(peerIdFromString(laned[0].peerId), EXCHANGE_PROTOCOL);
    const accepted = new Promise<void>((resolve) => stream.addEventListener('message', () => resolve(), { once: true }));
    stream.send(encodeControl('propose', header(), { count: 5000, aux: 20_000, lane: 777 }));
    await accepted;
    // The lane header, the frame's header and half its payload, then the lane goes.
    const frame = encodeMessage(header(), vector(5000, 16));
    const head = Buffer.alloc(8);
    head.writeUInt32LE(laneTag(777, 'proposer'), 0);
    head.writeUInt32LE(frame.header.length + frame.payload.length, 4);
    void lane.channel.send(Buffer.concat([head, frame.header, frame.payload.subarray(0, 10_000)])).then(() => lane.close());
    await settled;
    assert.equal(r.commits.length, 0);
    assert.deepEqual(r.aborts.map((a) => a.reason), ['closed: lane']);
    stream.abort(new Error('test done'));
    // Without a lane the next exchange takes the stream; a new lane is opened for later ones.
    const sent = laned[1].stats.lanePayloadsSent;
    for (;;) {
      const { result } = await exchange(laned, vector(5000, 17), vector(5000, 18));
      assert.ok(result.ok);
      if (laned[1].stats.lanePayloadsSent > sent) break;
      assert.ok(await laned[1].lanes?.opened(laned[0].peerId, 20_000), 'a new lane opens');
    }
  });

  it('control frames on the lane that belong to no exchange are skipped, malformed ones refused, an oversized one closes the lane', async () => {
    const [a, b] = laned;
    const r = recorder(() => ({ header: header(), message: vector(5000, 21) }));
    a.onProposal(r);
    assert.ok(await b.lanes?.opened(a.peerId, 20_000));
    const lane = b.lanes!.lane(a.peerId)!;
    // An accept for an exchange worker 0 never proposed, a done under a new id: skipped.
    await lane.sendControl(laneTag(31_000, 'acceptor', 'control'), encodeControl('accept', header(), { count: 5000, lane: 31_000 }));
    await lane.sendControl(laneTag(31_001, 'proposer', 'control'), encodeControl('done', header()));
    // A proposal whose bytes fail their checksum: refused, the proposer told so.
    const corrupt = encodeControl('propose', header(), { count: 5000, aux: 20_000, lane: 31_002 });
    corrupt[14] ^= 1;
    const warnings = logs.warnings.length;
    await lane.sendControl(laneTag(31_002, 'proposer', 'control'), corrupt);
    for (let k = 0; k < 100 && logs.warnings.length === warnings; k++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(logs.warnings.slice(warnings).some((w) => /header checksum/.test(w)), logs.warnings.slice(warnings).join('\n'));
    assert.equal(r.accepts, 0);
    const { result } = await exchange(laned, vector(5000, 22), vector(5000, 23));
    assert.ok(result.ok, 'the lane is still in step');
    // A control frame longer than any frame without payload: the lane is closed; exchanges go on.
    const head = Buffer.alloc(8);
    head.writeUInt32LE(laneTag(31_003, 'proposer', 'control'), 0);
    head.writeUInt32LE(4096, 4);
    await lane.channel.send(Buffer.concat([head, Buffer.alloc(4096)]));
    for (let k = 0; k < 100 && !lane.closed; k++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(lane.closed, 'the lane is closed');
    assert.ok(logs.warnings.some((w) => /a control frame of 4096 bytes/.test(w)));
    const { result: after } = await exchange(laned, vector(5000, 24), vector(5000, 25));
    assert.ok(after.ok);
  });

  it('garbage on the lane port is refused and logged; the node keeps exchanging over its lane', async () => {
    const port = laned[0].lanes?.port ?? 0;
    const rng = new Rng(12);
    for (let trial = 0; trial < 3; trial++) {
      const socket = tcpConnect(port, '127.0.0.1');
      socket.on('error', () => {});
      await once(socket, 'connect');
      const junk = Buffer.alloc(100 + 300 * trial);
      for (let k = 0; k < junk.length; k++) junk[k] = Math.floor(rng.uniform() * 256);
      socket.write(junk);
      await once(socket, 'close');
    }
    assert.ok(logs.warnings.some((w) => /lane: refused a client at/.test(w)), 'the refusal is logged');
    const sent = laned[1].stats.lanePayloadsSent;
    const { result } = await exchange(laned, vector(5000, 13), vector(5000, 14));
    assert.ok(result.ok);
    assert.equal(laned[1].stats.lanePayloadsSent, sent + 1);
  });
});

describe('bulk lane: the server admits only the PSKs it issued, once', { timeout: 60_000 }, () => {
  it('a wrong PSK, an unknown identity and a replayed grant are refused', async () => {
    const logs = collector();
    const lanes: string[] = [];
    const server = await LaneServer.listen('127.0.0.1', 0, logs.log, (channel, peerId) => {
      lanes.push(peerId);
      channel.close();
    });
    try {
      const grant = server.issue('peer-a');
      const signal = (): AbortSignal => AbortSignal.timeout(10_000);
      await assert.rejects(connectLane('127.0.0.1', { ...grant, psk: Buffer.alloc(32, 1) }, signal()), 'a wrong PSK');
      await assert.rejects(connectLane('127.0.0.1', { ...grant, identity: '00'.repeat(16) }, signal()), 'an unknown identity');
      const channel = await connectLane('127.0.0.1', grant, signal());
      while (lanes.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      channel.close();
      await assert.rejects(connectLane('127.0.0.1', grant, signal()), 'the same grant again');
      server.forget('peer-a');
      const later = server.issue('peer-b');
      server.forget('peer-b');
      await assert.rejects(connectLane('127.0.0.1', later, signal()), 'a grant forgotten with its peer\'s connection');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(lanes, ['peer-a'], 'only the first connection under the grant becomes a lane, of the peer it was issued to');
      assert.ok(logs.lines.filter((w) => /lane: refused a client/.test(w)).length >= 3, logs.lines.join('\n'));
    } finally {
      await server.close();
    }
  });
});

describe('bulk lane: fallback and closing', { timeout: 120_000 }, () => {
  const key = generateSwarmKey();

  it('without a lane (the peer offers none, or its port cannot be reached) exchanges use streams and succeed', async () => {
    const unreachable = { swarmKey: key, lane: { host: '127.0.0.2' }, log: collector().log };
    for (const [first, second] of [[{ swarmKey: key, lane: {} }, { swarmKey: key }], [unreachable, unreachable]] as const) {
      const nodes = await pair(first, second, false);
      try {
        const n = 1 << 19; // 2 MiB: over the lane's threshold
        const mine = vector(n, 15);
        const theirs = vector(n, 16);
        const { result, r } = await exchange(nodes, mine, theirs);
        assert.ok(result.ok);
        assert.ok(bytes(result.message).equals(bytes(theirs)));
        assert.ok(bytes(r.commits[0].message).equals(bytes(mine)));
        for (const t of nodes) assert.equal(t.stats.lanePayloadsSent + t.stats.lanePayloadsReceived, 0);
      } finally {
        await Promise.all(nodes.map((t) => t.close()));
      }
    }
  });

  it('lanes open on demand: none between peers that do not exchange; asked for, one each way', async () => {
    const nodes = await pair({ swarmKey: key, lane: {} }, { swarmKey: key, lane: {} }, false);
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(nodes.map((t, k) => t.lanes?.openTo(nodes[1 - k].peerId)), [0, 0], 'connected peers hold no lane until one is wanted');
      assert.ok(await nodes[1].lanes?.opened(nodes[0].peerId, 20_000));
      for (let k = 0; k < 200 && nodes.some((t, j) => t.lanes?.openTo(nodes[1 - j].peerId) !== 2); k++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(nodes.map((t, k) => t.lanes?.openTo(nodes[1 - k].peerId)), [2, 2], 'the peer dialled back: a lane dialled by each');
    } finally {
      await Promise.all(nodes.map((t) => t.close()));
    }
  });

  it('a large exchange between two transports on 127.0.0.1 uses the lane; closing them closes lanes and servers', async () => {
    const tcp = (): number => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length;
    const nodes = await pair({ swarmKey: key, lane: {} });
    const ports = nodes.map((t) => t.lanes?.port ?? 0);
    const n = 1 << 19;
    // (the first exchange finds no lane yet and asks for one: it takes a stream)
    assert.ok(await nodes[1].lanes?.opened(nodes[0].peerId, 20_000));
    for (let k = 0; k < 200 && nodes.some((t, j) => t.lanes?.openTo(nodes[1 - j].peerId) !== 2); k++) await new Promise((resolve) => setTimeout(resolve, 20));
    const dials: string[] = [];
    const dial = nodes[1].node.dialProtocol.bind(nodes[1].node);
    nodes[1].node.dialProtocol = ((peer: never, protocols: string | string[], options?: never) => {
      dials.push(String(protocols));
      return dial(peer, protocols, options);
    }) as typeof dial;
    const { result, r } = await exchange(nodes, vector(n, 17), vector(n, 18));
    assert.ok(result.ok && r.commits.length === 1);
    assert.deepEqual(dials, [], 'the exchange opened no stream: its control frames went on the lane');
    assert.deepEqual(nodes.map((t) => [t.stats.lanePayloadsSent, t.stats.lanePayloadsReceived]), [[1, 1], [1, 1]]);
    const carried = nodes.map((t, k) => t.lanes!.lanesTo(nodes[1 - k].peerId).sort((a, b) => Number(b.dialled) - Number(a.dialled)));
    await Promise.all(nodes.map((t) => t.close()));
    for (const port of ports) {
      const socket = tcpConnect(port, '127.0.0.1');
      const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
      assert.equal(error.code, 'ECONNREFUSED', 'the lane server is closed');
    }
    // (every transport of this file is closed by now: no TCP handle may stay open)
    for (let k = 0; k < 100 && tcp() > 0; k++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(tcp(), 0, `handles left: ${process.getActiveResourcesInfo().join(', ')}`);
    // Each payload came on the lane its receiver dialled, which reads records straight into the payload's buffer.
    for (const k of [0, 1]) assert.deepEqual(carried[k], [{ dialled: true, payloadsReceived: 1 }, { dialled: false, payloadsReceived: 0 }], `node ${k}`);
  });
});
