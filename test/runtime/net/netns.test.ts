/**
 * `gossamer peer` over real kernel networking: three peers in three network namespaces on a bridge, each one's
 * outgoing link shaped by the kernel (netem: latency and bandwidth; a kernel without sch_netem: bandwidth by tbf, the
 * latency then by the peers' link emulator). They train to the end over it, their exchanges last at least a round
 * trip, their bytes went through the shaped links, and nothing the harness made is left afterwards.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { listNamespaces, NetnsCluster, netnsSupport, shapingFor } from '../../../src/runtime/netns/netns.js';
import { addressOf, finish, startPeer, testSwarm } from './peer-harness.js';

const support = netnsSupport();
const skip = support.ok ? false : `needs network namespaces: ${support.reason}`;
if (skip && process.env.CI === 'true' && process.getuid?.() === 0) throw new Error(`CI runs as root but ${skip}`);

const LATENCY_MS = 20;
const BANDWIDTH = 2e6; // bytes per second, 16 Mbit/s

describe('gossamer peer in network namespaces', { timeout: 60_000, skip }, () => {
  it('three peers over shaped veth links train to the end; exchanges take a round trip; cleanup leaves nothing', async () => {
    const { key } = testSwarm('gossamer-netns-');
    const cluster = NetnsCluster.create(3, { link: { latencyMs: LATENCY_MS, bandwidth: BANDWIDTH } });
    try {
      assert.equal(cluster.namespaces.length, 3);
      for (const ns of [...cluster.namespaces, cluster.bridge]) assert.ok(listNamespaces().includes(ns), `${ns} exists`);
      // What the kernel cannot delay, the peers' emulator does (the bandwidth is always the kernel's).
      const emulated = cluster.shaping.missing.includes('latency') ? ['--latency', String(LATENCY_MS)] : [];
      const common = (i: number) => [
        '--listen', `/ip4/${cluster.addresses[i]}/tcp/0`, '--swarm-key', key, '--workers', '3', '--algo', 'gossip', ...emulated,
        '--model', 'mlp', '--model-config', '{"hidden":[16]}', '--batch-size', '16', '--limit', '256', '--eval-limit', '128',
        '--backend', 'js', '--steps', '30', '--final-exchanges', '1', '--timeout', '8000', '--join-timeout', '30', '--barrier-timeout', '30',
      ];
      const spawner = (i: number) => (cmd: string, args: string[], o: object) => cluster.spawn(i, cmd, args, o);
      const first = startPeer(0, common(0), spawner(0));
      const addr = await addressOf(first, cluster.addresses[0]);
      const peers = [first, ...[1, 2].map((i) => startPeer(i, [...common(i), '--bootstrap', addr], spawner(i)))];
      const summaries = await finish(peers);
      for (const s of summaries) {
        assert.equal(s.steps, 30, 'trained to the end');
        assert.ok((s.exchanges as number) > 0, 'exchanged');
        const ms = s.exchangeMs as number;
        assert.ok(ms >= 2 * LATENCY_MS, `an exchange lasts at least a round trip: ${ms} ms`);
      }
      // Every byte a peer's exchanges sent went out through its shaped link (the kernel counts more: headers, TCP, noise).
      summaries.forEach((s, i) => {
        const sent = Number(/Sent (\d+) bytes/.exec(cluster.qdiscStats(i))?.[1] ?? 0);
        assert.ok(sent >= (s.wire as { bytesSent: number }).bytesSent, `peer ${i}: ${sent} bytes through its qdisc`);
      });
    } finally {
      cluster.destroy();
    }
    const left = listNamespaces().filter((ns) => ns.startsWith(`gsm-${process.pid}-`));
    assert.deepEqual(left, [], 'no namespace left');
  });
});

describe('namespace links: the tc arguments', () => {
  it('netem carries latency, jitter, loss and rate; without netem tbf the bandwidth alone, the rest reported missing', () => {
    const link = { latencyMs: 20, jitterMs: 5, loss: 0.01, bandwidth: 12.5e6 };
    assert.deepEqual(shapingFor(link, true), {
      kernel: 'netem', qdisc: ['netem', 'limit', '100000', 'delay', '20ms', '5ms', 'loss', '1%', 'rate', '100000000bit'], missing: [],
    });
    assert.deepEqual(shapingFor(link, false), {
      kernel: 'tbf', qdisc: ['tbf', 'rate', '100000000bit', 'burst', '125000', 'latency', '200ms'], missing: ['latency', 'jitter', 'loss'],
    });
    assert.deepEqual(shapingFor({}, true), { kernel: 'none', qdisc: [], missing: [] });
  });
});
