/**
 * Peer scoring on the network transport: frames the wire drops are reported against their sender, and a banned
 * worker is hung up on and kept out (the connection gater refuses it whichever side dials).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createNetTransport, type NetTransport } from '../../../src/runtime/net/libp2p-transport.js';
import { generateSwarmKey } from '../../../src/runtime/net/swarm-key.js';
import { WIRE_VERSION } from '../../../src/runtime/net/wire.js';
import type { MessageHeader } from '../../../src/runtime/transport.js';

const LAYOUT = 'c'.repeat(64);
const N = 100;
const header: MessageHeader = { version: WIRE_VERSION, algorithm: 'acid', step: 0, layoutHash: LAYOUT, codec: 'f32' };

describe('network transport: banning a worker', { timeout: 60_000 }, () => {
  let nodes: NetTransport[] = [];
  before(async () => {
    const base = { workers: 2, swarmKey: generateSwarmKey(), algorithm: 'acid', layoutHash: LAYOUT, messageLength: N, log: () => {} };
    const first = await createNetTransport({ self: 0, ...base });
    nodes = [first, await createNetTransport({ self: 1, bootstrap: first.addresses(), ...base })];
    assert.deepEqual(await Promise.all(nodes.map((t) => t.waitForPeers(20_000))), [true, true]);
  });
  after(async () => {
    await Promise.all(nodes.map((t) => t.close()));
  });

  it('reports a dropped non-finite message against its sender', async () => {
    nodes[0].onProposal({ accept: () => ({ header, message: new Float32Array(N) }), commit: () => {}, abort: () => {} });
    const reported = new Promise<[number, string]>((resolve) => nodes[0].once('rejected', (peer, reason) => resolve([peer, reason])));
    const r = await nodes[1].propose(0, header, new Float32Array(N).fill(NaN), 10_000);
    assert.ok(!r.ok);
    const [peer, reason] = await reported;
    assert.equal(peer, 1);
    assert.match(reason, /^non-finite/);
  });

  it('hangs up on a banned worker and keeps it out', async () => {
    const left = new Promise<number>((resolve) => nodes[0].once('leave', resolve));
    nodes[0].ban(1, 'three messages in a row refused');
    assert.equal(await left, 1);
    nodes[0].onPull(() => ({ header, message: new Float32Array(N) }));
    const r = await nodes[1].pull(0, header, N, 3000);
    assert.ok(!r.ok, 'the banned worker cannot reach the one that banned it');
    assert.deepEqual(nodes[0].connected(), []);
  });
});
