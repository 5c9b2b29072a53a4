import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Libp2p } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { Rng } from '../../../src/core/rng.js';
import { createNetTransport, EXCHANGE_PROTOCOL, MEMBER_PROTOCOL, type NetLogger, type NetTransport, type NetTransportOptions } from '../../../src/runtime/net/libp2p-transport.js';
import { generateSwarmKey, parseSwarmKey, swarmSecret } from '../../../src/runtime/net/swarm-key.js';
import { UsageError } from '../../../src/core/errors.js';
import { encodeControl, encodeMessage } from '../../../src/runtime/net/wire.js';
import { LAYOUT, header, recorder, vector } from './exchange-fixtures.js';

function collector(): { log: NetLogger; warnings: string[] } {
  const warnings: string[] = [];
  return { log: (level, message) => void (level === 'warn' && warnings.push(message)), warnings };
}

async function cluster(n: number, base: Partial<NetTransportOptions>, perNode: (i: number) => Partial<NetTransportOptions> = () => ({})): Promise<NetTransport[]> {
  const first = await createNetTransport({ self: 0, workers: n, ...base, ...perNode(0) });
  const rest = await Promise.all(Array.from({ length: n - 1 }, (_, k) => createNetTransport({ self: k + 1, workers: n, bootstrap: first.addresses(), ...base, ...perNode(k + 1) })));
  const all = [first, ...rest];
  const ok = await Promise.all(all.map((t) => t.waitForPeers(20_000)));
  assert.deepEqual(ok, all.map(() => true), 'every node should know every other');
  return all;
}

describe('network transport', { timeout: 120_000 }, () => {
  const key = generateSwarmKey();
  const logs = collector();
  let nodes: NetTransport[] = [];

  before(async () => {
    nodes = await cluster(3, { swarmKey: key, algorithm: 'acid', layoutHash: LAYOUT, log: logs.log });
  });
  after(async () => {
    await Promise.all(nodes.map((t) => t.close()));
  });

  it('nodes find each other from one bootstrap address and share the index <-> peer id table', () => {
    for (const t of nodes) {
      assert.deepEqual(t.connected().sort(), [0, 1, 2].filter((i) => i !== t.self));
      for (const p of t.peers()) assert.equal(p.peerId, nodes[p.index].peerId);
    }
  });

  it('an exchange delivers each message to the other side, exactly, in every codec', async () => {
    for (const codec of ['f32', 'f16', 'i8'] as const) {
      const mine = vector(10_000, 1);
      const theirs = vector(10_000, 2);
      const r = recorder(() => ({ header: header(7, codec), message: theirs }));
      nodes[0].onProposal(r);
      const committed = r.settled();
      const result = await nodes[1].propose(0, header(3, codec), mine, 20_000);
      await committed;
      assert.ok(result.ok, `codec ${codec}: ${result.ok ? '' : result.reason}`);
      assert.equal(result.peer, 0);
      assert.equal(result.header.step, 7);
      assert.equal(result.header.codec, codec);
      assert.equal(r.commits.length, 1);
      assert.equal(r.commits[0].peer, 1);
      assert.equal(r.commits[0].header.step, 3);
      const tol = codec === 'f32' ? 0 : codec === 'f16' ? 4e-3 : 0.05;
      for (let k = 0; k < mine.length; k++) {
        assert.ok(Math.abs(result.message[k] - theirs[k]) <= tol * Math.max(1, Math.abs(theirs[k])), `${codec} element ${k}`);
        assert.ok(Math.abs(r.commits[0].message[k] - mine[k]) <= tol * Math.max(1, Math.abs(mine[k])), `${codec} element ${k}`);
      }
    }
  });

  it('large messages stream in chunks and arrive intact', async () => {
    const n = 2 << 20; // 8 MB each way
    const mine = vector(n, 3);
    const theirs = vector(n, 4);
    const r = recorder(() => ({ header: header(), message: theirs }));
    nodes[2].onProposal(r);
    const result = await nodes[0].propose(2, header(), mine, 60_000);
    assert.ok(result.ok, result.ok ? '' : result.reason);
    assert.ok(Buffer.from(result.message.buffer, result.message.byteOffset, result.message.byteLength).equals(Buffer.from(theirs.buffer)));
    assert.equal(r.commits.length, 1);
    assert.ok(Buffer.from(r.commits[0].message.buffer, r.commits[0].message.byteOffset, r.commits[0].message.byteLength).equals(Buffer.from(mine.buffer)));
  });

  it('a busy peer answers busy; a proposal to an unknown worker fails without throwing', async () => {
    const r = recorder(() => null);
    nodes[0].onProposal(r);
    const result = await nodes[1].propose(0, header(), vector(10, 5), 10_000);
    assert.deepEqual(result, { ok: false, peer: 0, reason: 'busy' });
    assert.deepEqual(await nodes[1].propose(9, header(), vector(10, 5), 1000), { ok: false, peer: 9, reason: 'closed' });
  });

  it('a proposal of another algorithm or message size is refused, and the acceptor is not touched', async () => {
    const r = recorder(() => ({ header: header(), message: vector(10, 6) }));
    nodes[0].onProposal(r);
    const before = logs.warnings.length;
    const other = await nodes[1].propose(0, header(0, 'f32', 'gossip'), vector(10, 7), 10_000);
    assert.deepEqual(other, { ok: false, peer: 0, reason: 'refused' });
    assert.equal(r.accepts, 0, 'a mismatched proposal never reaches the handler');
    const longer = await nodes[1].propose(0, header(), vector(11, 7), 10_000);
    assert.deepEqual(longer, { ok: false, peer: 0, reason: 'refused' });
    assert.equal(r.commits.length, 0);
    assert.deepEqual(r.aborts.map((a) => a.reason), ['refused: mismatch']);
    assert.ok(logs.warnings.length > before, 'rejections are logged');
  });

  it('a corrupted payload is rejected with a logged reason: the acceptor aborts, nothing is applied', async () => {
    const r = recorder(() => ({ header: header(), message: vector(1000, 8) }));
    nodes[0].onProposal(r);
    const settled = r.settled();
    const node = (nodes[1] as unknown as { node: Libp2p }).node;
    const stream = await node.dialProtocol(peerIdFromString(nodes[0].peerId), EXCHANGE_PROTOCOL);
    stream.send(encodeControl('propose', header(), { count: 1000, aux: 10_000 }));
    const frame = encodeMessage(header(), vector(1000, 9));
    const payload = frame.payload.slice();
    payload[100] ^= 0xff;
    stream.send(frame.header);
    stream.send(payload);
    await settled;
    assert.equal(r.commits.length, 0);
    assert.equal(r.aborts.length, 1);
    assert.match(r.aborts[0].reason, /checksum/);
    assert.ok(logs.warnings.some((w) => /checksum/.test(w)));
    stream.abort(new Error('test done'));
  });

  it('garbage on an exchange stream is dropped and the node keeps working', async () => {
    const r = recorder(() => ({ header: header(), message: vector(100, 10) }));
    nodes[0].onProposal(r);
    const node = (nodes[2] as unknown as { node: Libp2p }).node;
    const rng = new Rng(11);
    for (let trial = 0; trial < 5; trial++) {
      const stream = await node.dialProtocol(peerIdFromString(nodes[0].peerId), EXCHANGE_PROTOCOL);
      const junk = new Uint8Array(50 + trial * 40);
      for (let k = 0; k < junk.length; k++) junk[k] = Math.floor(rng.uniform() * 256);
      if (trial % 2 === 1) junk.set(encodeControl('propose', header(), { count: 100, aux: 1000 }).subarray(0, 12)); // a plausible start
      stream.send(junk);
      await new Promise((resolve) => setTimeout(resolve, 50));
      stream.abort(new Error('done'));
    }
    const result = await nodes[2].propose(0, header(), vector(100, 12), 10_000);
    assert.ok(result.ok, 'still exchanging after the garbage');
    assert.equal(r.commits.length, 1);
    const rejected = Object.values(nodes[0].stats.rejected).reduce((a, b) => a + b, 0);
    assert.ok(rejected >= 5, `rejections counted: ${JSON.stringify(nodes[0].stats.rejected)}`);
  });

  it('a proposer that runs out of time resolves timeout; the acceptor leaves its parameters alone', async () => {
    const r = recorder(() => ({ header: header(), message: vector(1 << 18, 13) }));
    nodes[0].onProposal(r);
    const settled = r.settled();
    const result = await nodes[1].propose(0, header(), vector(1 << 18, 14), 1);
    assert.equal(result.ok, false);
    assert.ok(!result.ok && (result.reason === 'timeout' || result.reason === 'closed'), JSON.stringify(result));
    if (r.accepts > 0) {
      await settled;
      assert.equal(r.commits.length, 0);
      assert.equal(r.aborts.length, 1);
    }
  });
});

describe('network transport: peers that vanish mid-exchange', { timeout: 120_000 }, () => {
  it('an acceptor that vanishes after accepting: the proposer gets closed, nothing committed', async () => {
    const key = generateSwarmKey();
    const [a, b] = await cluster(2, { swarmKey: key, log: () => {} });
    try {
      const r = recorder(() => ({ header: header(), message: vector(1 << 20, 15) }));
      r.afterAccept = () => void b.close();
      b.onProposal(r);
      const result = await a.propose(1, header(), vector(1 << 20, 16), 60_000);
      assert.equal(result.ok, false);
      assert.ok(!result.ok && ['closed', 'timeout'].includes(result.reason), JSON.stringify(result));
      assert.equal(r.commits.length, 0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a proposer that vanishes mid-transfer: the acceptor aborts instead of committing', async () => {
    const key = generateSwarmKey();
    const [a, b] = await cluster(2, { swarmKey: key, log: () => {} });
    try {
      const r = recorder(() => ({ header: header(), message: vector(1 << 20, 17) }));
      r.afterAccept = () => void a.close();
      b.onProposal(r);
      const settled = r.settled();
      const result = await a.propose(1, header(), vector(1 << 20, 18), 60_000);
      assert.equal(result.ok, false);
      await settled;
      assert.equal(r.commits.length, 0);
      assert.equal(r.aborts.length, 1);
      assert.match(r.aborts[0].reason, /closed|timeout/);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('network transport: a restarted worker under a new identity', { timeout: 60_000 }, () => {
  it('takes its index from an old connection that no longer answers, and not from one that does', async () => {
    const key = generateSwarmKey();
    const logs = collector();
    const [a, b] = await cluster(2, { swarmKey: key, log: () => {} }, (i) => (i === 0 ? { log: logs.log } : {}));
    // b hangs: its connection to a stays open, but it answers nothing (a host that froze or crashed).
    await (b as unknown as { node: Libp2p }).node.unhandle(MEMBER_PROTOCOL);
    const joins: Array<[number, string]> = [];
    a.on('join', (i: number) => joins.push([i, a.peers().find((p) => p.index === i)!.peerId]));
    const restarted = await createNetTransport({ self: 1, workers: 2, swarmKey: key, bootstrap: a.addresses(), log: () => {} });
    const twin = { t: null as NetTransport | null };
    try {
      assert.equal(await restarted.waitForPeers(20_000), true, 'the restarted worker is admitted');
      const deadline = Date.now() + 20_000;
      while (!joins.some(([i, id]) => i === 1 && id === restarted.peerId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(a.peers().find((p) => p.index === 1)?.peerId, restarted.peerId);
      assert.ok(joins.some(([i, id]) => i === 1 && id === restarted.peerId), 'a announces the join');
      // The restarted worker answers: a second process claiming index 1 is refused.
      twin.t = await createNetTransport({ self: 1, workers: 2, swarmKey: key, bootstrap: a.addresses(), log: () => {} });
      const until = Date.now() + 20_000;
      while (!logs.warnings.some((m) => /index 1 is held by connected peer/.test(m)) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      assert.ok(logs.warnings.some((m) => m.includes(`index 1 is held by connected peer ${restarted.peerId}`)), logs.warnings.join('; '));
      assert.equal(a.peers().find((p) => p.index === 1)?.peerId, restarted.peerId);
    } finally {
      await Promise.all([a.close(), b.close(), restarted.close(), twin.t?.close()]);
    }
  });
});

describe('network transport: swarm key', { timeout: 60_000 }, () => {
  it('a node with another swarm key (or none) cannot connect', async () => {
    const key = generateSwarmKey();
    const a = await createNetTransport({ self: 0, workers: 3, swarmKey: key, log: () => {} });
    const intruderLog: string[] = [];
    const intruder = await createNetTransport({ self: 1, workers: 3, swarmKey: generateSwarmKey(), bootstrap: a.addresses(), log: (_level, m) => void intruderLog.push(m) });
    const open = await createNetTransport({ self: 2, workers: 3, swarmKey: null, bootstrap: a.addresses(), log: () => {} });
    try {
      assert.equal(await a.waitForPeers(3000), false);
      assert.deepEqual(a.connected(), []);
      assert.deepEqual(intruder.connected(), []);
      assert.deepEqual(open.connected(), []);
      const r = recorder(() => ({ header: header(), message: vector(10, 19) }));
      a.onProposal(r);
      assert.equal((await intruder.propose(0, header(), vector(10, 20), 2000)).ok, false);
      assert.equal(r.accepts, 0);
      assert.ok(intruderLog.some((m) => /SwarmKeyMismatchError/.test(m)), 'the intruder is told why');
    } finally {
      await Promise.all([a.close(), intruder.close(), open.close()]);
    }
  });
});

describe('swarm key files', () => {
  it('generated keys parse back; malformed files are refused with a usage error', () => {
    const key = generateSwarmKey();
    assert.deepEqual(parseSwarmKey(key), key);
    assert.equal(swarmSecret(key).length, 32);
    assert.notDeepEqual(swarmSecret(generateSwarmKey()), swarmSecret(key));
    const crlf = new TextEncoder().encode(new TextDecoder().decode(key).replace(/\n/g, '\r\n').toUpperCase().replace('/KEY/SWARM/PSK/1.0.0/', '/key/swarm/psk/1.0.0/').replace('/BASE16/', '/base16/'));
    assert.deepEqual(parseSwarmKey(crlf), key);
    for (const bad of ['', 'hello', '/key/swarm/psk/1.0.0/\n/base16/\nabc', '/key/swarm/psk/1.0.0/\n/base64/\n' + 'a'.repeat(64)]) {
      assert.throws(() => parseSwarmKey(new TextEncoder().encode(bad)), UsageError);
    }
  });
});
