/**
 * What a late joiner and an emulated cluster need from the network transport, in one process: pulling a worker's
 * current parameters (checked like an exchange's message), the link emulator around the network transport (latency
 * is a lower bound on an exchange; a lost direction is a failed exchange, never a crash), and pairing taking back a
 * neighbour that was found gone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Rng } from '../../../src/core/rng.js';
import { EmulatedTransport } from '../../../src/runtime/emulator.js';
import { createNetTransport, type NetTransport } from '../../../src/runtime/net/libp2p-transport.js';
import { generateSwarmKey } from '../../../src/runtime/net/swarm-key.js';
import { WIRE_VERSION } from '../../../src/runtime/net/wire.js';
import { Pairing, type ExchangeParty } from '../../../src/runtime/pairing.js';
import type { ExchangeResult, MessageHeader, ProposalHandler, Transport, WorkerId } from '../../../src/runtime/transport.js';

const LAYOUT = 'a'.repeat(64);
const N = 1000;
const header = (step = 0, layoutHash = LAYOUT): MessageHeader => ({ version: WIRE_VERSION, algorithm: 'acid', step, layoutHash, codec: 'f32' });

function vector(seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: N }, () => rng.normal());
}

/** Accepts every proposal with `reply` and counts commits. */
function acceptor(reply: Float32Array): ProposalHandler & { commits: number } {
  const h = {
    commits: 0,
    accept: () => ({ header: header(5), message: reply }),
    commit: () => void h.commits++,
    abort: () => {},
  };
  return h;
}

describe('network transport: pulls and emulated links', { timeout: 60_000 }, () => {
  let nodes: NetTransport[] = [];
  before(async () => {
    const key = generateSwarmKey();
    const base = { workers: 2, swarmKey: key, algorithm: 'acid', layoutHash: LAYOUT, messageLength: N, log: () => {} };
    const first = await createNetTransport({ self: 0, ...base });
    nodes = [first, await createNetTransport({ self: 1, bootstrap: first.addresses(), ...base })];
    assert.deepEqual(await Promise.all(nodes.map((t) => t.waitForPeers(20_000))), [true, true]);
  });
  after(async () => {
    await Promise.all(nodes.map((t) => t.close()));
  });

  it('a pull returns the other worker\'s current parameters, exactly, and changes nothing there', async () => {
    const x = vector(1);
    const kept = Float32Array.from(x);
    nodes[1].onPull(() => ({ header: header(42), message: Float32Array.from(x) }));
    const r = await nodes[0].pull(1, header(0), N, 10_000);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.equal(r.peer, 1);
    assert.equal(r.header.step, 42);
    assert.deepEqual(r.message, x);
    assert.deepEqual(x, kept);
  });

  it('a pull is answered busy without a handler and refused for another model or size', async () => {
    nodes[1].onPull(null);
    assert.deepEqual(await nodes[0].pull(1, header(), N, 10_000), { ok: false, peer: 1, reason: 'busy' });
    nodes[1].onPull(() => ({ header: header(), message: vector(2) }));
    assert.deepEqual(await nodes[0].pull(1, header(0, 'b'.repeat(64)), N, 10_000), { ok: false, peer: 1, reason: 'refused' });
    assert.deepEqual(await nodes[0].pull(1, header(), N / 2, 10_000), { ok: false, peer: 1, reason: 'refused' });
    assert.deepEqual(await nodes[0].pull(7, header(), N, 1000), { ok: false, peer: 7, reason: 'closed' });
  });

  it('an emulated latency delays an exchange over the network by at least both one-way latencies', async () => {
    const h = acceptor(vector(3));
    nodes[1].onProposal(h);
    const slow = new EmulatedTransport(nodes[0], { default: { latencyMs: 50 } });
    const t0 = performance.now();
    const r = await slow.propose(1, header(), vector(4), 10_000);
    const ms = performance.now() - t0;
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.equal(h.commits, 1);
    assert.ok(ms >= 100, `the exchange took ${ms} ms over a 50 ms link`);
  });

  it('a pull through the link emulator takes both one-way latencies; a lost pull times out', async () => {
    const x = vector(6);
    nodes[1].onPull(() => ({ header: header(7), message: Float32Array.from(x) }));
    const slow = new EmulatedTransport(nodes[0], { default: { latencyMs: 50 } });
    const t0 = performance.now();
    const r = await slow.emulatePull(1, N, 10_000, (ms) => nodes[0].pull(1, header(), N, ms));
    const ms = performance.now() - t0;
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.deepEqual(r.message, x);
    assert.ok(ms >= 100, `the pull took ${ms} ms over a 50 ms link`);
    const lost = new EmulatedTransport(nodes[0], { default: { loss: 1 } });
    let pulled = 0;
    const none = await lost.emulatePull(1, N, 200, (left) => {
      pulled++;
      return nodes[0].pull(1, header(), N, left);
    });
    assert.deepEqual(none, { ok: false, peer: 1, reason: 'timeout' });
    assert.equal(pulled, 0, 'a lost request never reaches the peer');
  });

  it('an emulated loss makes some exchanges fail (timeout) and none throw; each side stays whole', async () => {
    const h = acceptor(vector(5));
    nodes[1].onProposal(h);
    const lossy = new EmulatedTransport(nodes[0], { default: { loss: 0.5 } }, new Rng(11));
    const results: ExchangeResult[] = [];
    for (let k = 0; k < 12; k++) results.push(await lossy.propose(1, header(), vector(6), 150));
    const ok = results.filter((r) => r.ok).length;
    const lost = results.filter((r) => !r.ok && r.reason === 'timeout').length;
    assert.equal(ok + lost, 12, JSON.stringify(results.filter((r) => !r.ok)));
    assert.ok(ok > 0 && lost > 0, `${ok} exchanges completed, ${lost} lost`);
    // A lost answer leaves the acceptor committed; a lost proposal never reaches it.
    assert.ok(h.commits >= ok && h.commits <= 12);
  });
});

describe('pairing: a neighbour found gone can come back', () => {
  /** A transport that only passes proposals to the handler; its own proposals fail as 'closed'. */
  class Vanished implements Transport {
    handler: ProposalHandler | null = null;
    constructor(readonly self: WorkerId) {}
    async propose(peer: WorkerId): Promise<ExchangeResult> {
      return { ok: false, peer, reason: 'closed' };
    }
    onProposal(handler: ProposalHandler): void {
      this.handler = handler;
    }
    async close(): Promise<void> {}
  }
  // Never proposes (no race with the test), accepts whatever it is offered.
  const party: ExchangeParty = {
    wants: () => false,
    accepts: () => true,
    header: () => header(),
    message: (out) => out.fill(1),
    receive: () => {},
  };

  it('markLive readmits a gone neighbour: it is live and its proposals are accepted again', async () => {
    const t = new Vanished(0);
    const pairing = new Pairing(t, party, { neighbours: [1, 2], messageLength: 4, rng: new Rng(1), timeoutMs: 1000 });
    pairing.start();
    try {
      pairing.markGone(1);
      assert.deepEqual(pairing.liveNeighbours(), [2]);
      assert.equal(t.handler!.accept(1, header()), null, 'a gone peer is not accepted');
      pairing.markLive(1);
      pairing.markLive(5);
      assert.deepEqual(pairing.liveNeighbours(), [1, 2], 'a non-neighbour is not added');
      const answer = t.handler!.accept(1, header());
      assert.ok(answer, 'the readmitted neighbour is accepted');
      t.handler!.abort(1, 'cancelled');
    } finally {
      await pairing.stop();
    }
  });
});
