/**
 * Open membership over real sockets on 127.0.0.1 (in-process nodes): members find each other from one bootstrap
 * address through gossipsub announcements, a late node learns the run's config, a closed member expires, and
 * hostile announcements are refused with a logged reason.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createNetTransport, type NetTransport } from '../../../src/runtime/net/libp2p-transport.js';
import { generateSwarmKey } from '../../../src/runtime/net/swarm-key.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function node(key: Uint8Array, config: unknown, bootstrap: string[], warnings: string[], announceMs = 200): Promise<NetTransport> {
  return createNetTransport({
    self: 0, workers: 0, swarmKey: key, bootstrap, open: { config, announceMs, ttlMs: 5 * announceMs },
    log: (level, message) => {
      if (level === 'warn') warnings.push(message);
    },
  });
}

test('open membership: discovery from one address, config learned, expiry, hostile announcements refused, the swarm key in force', { timeout: 30_000 }, async () => {
  const key = generateSwarmKey();
  const warnings: string[] = [];
  const config = { model: 'mlp', steps: 10 };
  const first = await node(key, config, [], warnings);
  const nodes = [first];
  try {
    const boot = first.addresses();
    for (let k = 0; k < 3; k++) nodes.push(await node(key, null, boot, warnings));
    await until(() => nodes.every((n) => n.connected().length === 3), 10_000, 'a full mesh');
    for (const n of nodes) assert.deepEqual(await n.membership!.config(), config);
    // Every node sees the same ids for the same peers.
    const ids = new Set(nodes.map((n) => n.self));
    assert.equal(ids.size, 4);
    for (const n of nodes) assert.deepEqual(new Set([n.self, ...n.connected()]), ids);

    // Statuses travel with the announcements.
    await nodes[1].setStatus({ phase: 'train', steps: 3 });
    await until(() => nodes[0].peer(nodes[1].self)?.status.steps === 3, 5000, 'a status');

    // Hostile announcements: garbage, a forged peer id, another config.
    const pubsub = (nodes[2].node as unknown as { services: { pubsub: { publish(t: string, d: Uint8Array): Promise<unknown> } } }).services.pubsub;
    const topic = nodes[2].membership!.topic;
    await pubsub.publish(topic, new TextEncoder().encode('{"v":1,"peerId":'));
    await pubsub.publish(topic, new TextEncoder().encode(JSON.stringify({ v: 1, peerId: nodes[3].peerId, addrs: [], seq: 1e9, status: {}, configHash: null })));
    await pubsub.publish(topic, new Uint8Array(40_000).fill(32));
    await until(() => warnings.some((w) => /not JSON/.test(w)) && warnings.some((w) => /names/.test(w)) && warnings.some((w) => /bytes, more than/.test(w)), 5000, 'refusals');
    // The swarm key stays in force: a node with another key never gets in.
    const outsider = await node(generateSwarmKey(), null, boot, []);
    await sleep(1500);
    assert.equal(outsider.connected().length, 0);
    assert.equal(outsider.membership!.live().length, 0);
    assert.ok(nodes.every((n) => !n.connected().includes(outsider.self)));
    await outsider.close();
    const stranger = await node(key, { model: 'cnn' }, boot, warnings);
    await until(() => warnings.some((w) => /runs another config/.test(w)), 5000, 'a config refusal');
    assert.ok(!nodes[0].connected().includes(stranger.self));
    await stranger.close();

    // A closed member leaves everyone's table (its connection closes; its announcements stop: it expires).
    const gone = nodes.pop()!;
    await gone.close();
    await until(() => nodes.every((n) => !n.connected().includes(gone.self) && n.membership!.live().every((m) => m.peerId !== gone.peerId)), 5000, 'expiry');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('open membership at sixteen nodes of one address: a full mesh that re-forms after a quarter leave and others join', { timeout: 120_000 }, async () => {
  const key = generateSwarmKey();
  const warnings: string[] = [];
  const nodes = [await node(key, { model: 'mlp' }, [], warnings, 500)];
  const boot = nodes[0].addresses();
  try {
    for (let k = 1; k < 16; k++) nodes.push(await node(key, null, boot, warnings, 500));
    const fullMesh = () => nodes.every((n) => {
      const seen = new Set([n.self, ...n.connected()]);
      return seen.size === nodes.length && nodes.every((m) => seen.has(m.self));
    });
    // (sixteen nodes in one process, on two cores shared with the rest of the suite: allow for a slow start)
    await until(fullMesh, 45_000, 'a full mesh of 16');
    // Four leave (closed, as a killed process's connections close), four others join through the first node.
    for (let k = 0; k < 4; k++) {
      const [gone] = nodes.splice(4 + 3 * k, 1);
      await gone.close();
      nodes.push(await node(key, null, boot, warnings, 500));
    }
    await until(fullMesh, 45_000, 'the full mesh of the 16 survivors');
    // It holds: nobody drops out of anyone's view for two announcement lifetimes.
    const end = Date.now() + 2000;
    while (Date.now() < end) {
      assert.ok(fullMesh(), `a member dropped out: ${nodes.map((n) => n.connected().length).join(' ')}`);
      await sleep(100);
    }
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});
