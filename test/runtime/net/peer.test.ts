/**
 * `gossamer peer` end to end: four processes on 127.0.0.1 train a small model together over the network transport
 * and agree on the final model; killing one mid-training leaves the others training to the end.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readCheckpoint } from '../../../src/engine/checkpoint.js';
import { parseSwarmKey } from '../../../src/runtime/net/swarm-key.js';
import { addressOf, consensus, finish, startPeer, testSwarm, type Peer } from './peer-harness.js';

const { dir, key } = testSwarm('gossamer-peer-');

/** A small, fast run: an MLP with one hidden layer of 32 on synthetic 16 x 16 images, 4 workers on a ring. */
const COMMON = [
  '--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, '--workers', '4', '--topology', 'ring', '--algo', 'acid',
  '--model', 'mlp', '--model-config', '{"hidden":[32]}', '--batch-size', '16', '--lr', '0.05', '--limit', '512',
  '--eval-limit', '256', '--final-exchanges', '15', '--timeout', '10000', '--join-timeout', '60', '--barrier-timeout', '90',
  '--backend', 'js',
];

async function startCluster(name: string, steps: number): Promise<Peer[]> {
  const out = (i: number) => ['--out', join(dir, name, `p${i}`), '--steps', String(steps)];
  const first = startPeer(0, [...COMMON, ...out(0)]);
  const addr = await addressOf(first);
  return [first, ...[1, 2, 3].map((i) => startPeer(i, [...COMMON, ...out(i), '--bootstrap', addr]))];
}

describe('gossamer peer', { timeout: 240_000 }, () => {
  it('four processes train together over the network and agree on the final model', async () => {
    const peers = await startCluster('together', 30);
    const summaries = await finish(peers);
    // Started together, none of them is a late joiner: all start from the common initial point.
    for (const p of peers) assert.equal(p.events.find((e) => e.event === 'start')?.pulledFrom, null, `worker ${p.index} pulled: ${p.stderr.join('\n')}`);
    for (const s of summaries) {
      assert.equal(s.steps, 30);
      assert.deepEqual(s.finished, [0, 1, 2, 3]);
      assert.ok((s.exchanges as number) > 0, 'exchanged parameters');
      assert.ok((s.wire as { bytesReceived: number }).bytesReceived > 0);
      assert.ok((s.bytesSent as number) > 0);
      assert.ok((s.testAccuracy as number) > 0.2, `learned something (accuracy ${s.testAccuracy})`);
      assert.deepEqual(s.rejected, {});
    }
    assert.equal(new Set(summaries.map((s) => s.layoutHash)).size, 1);
    const models = summaries.map((s) => readCheckpoint(s.checkpoint as string).params);
    const c = consensus(models);
    assert.ok(c < 1e-3, `final models agree (relative distance ${c})`);
  });

  it('killing one worker mid-training leaves the others training to the end', async () => {
    const peers = await startCluster('killed', 100);
    await peers[3].waitFor((e) => e.event === 'progress' && e.phase === 'train' && (e.steps as number) >= 15);
    peers[3].proc.kill('SIGKILL');
    assert.equal(await peers[3].exited, null);
    const summaries = await finish(peers.slice(0, 3));
    for (const s of summaries) {
      assert.equal(s.steps, 100, 'trained to the end');
      assert.deepEqual(s.finished, [0, 1, 2]);
    }
    // Every survivor says so without --verbose (on stderr, beside its JSON events).
    for (const p of peers.slice(0, 3)) {
      assert.ok(p.stderr.some((l) => /^\[peer \d\] worker 3( \(a neighbour\))? left the cluster before the end/.test(l)), `worker ${p.index}: ${p.stderr.join('\n')}`);
    }
    const c = consensus(summaries.map((s) => readCheckpoint(s.checkpoint as string).params));
    assert.ok(c < 1e-3, `the survivors agree (relative distance ${c})`);
  });

  it('a model above a megabyte: its payloads take the lanes, into a few buffers reused from one exchange to the next', async () => {
    // 784 x 400 + 400 x 10 weights and their biases: 1.27 MB of float32, above the lanes' 1 MiB threshold.
    // Two workers: gossip (A2CiD2 is refused on a complete graph).
    const given = { '--workers': '2', '--algo': 'gossip', '--model-config': '{"hidden":[400]}' } as Record<string, string>;
    const common = COMMON.map((a, k) => given[COMMON[k - 1]] ?? a);
    const args = (i: number) => [...common, '--out', join(dir, 'lanes', `p${i}`), '--steps', '60'];
    const first = startPeer(0, args(0));
    const second = startPeer(1, [...args(1), '--bootstrap', await addressOf(first)]);
    const summaries = await finish([first, second]);
    for (const s of summaries) {
      const wire = s.wire as { lanePayloadsReceived: number; payloadBuffers: number };
      assert.ok(wire.lanePayloadsReceived >= 20, `payloads on the lane: ${JSON.stringify(wire)}`);
      // Each received payload is handed back once applied: a handful of buffers, not one per exchange.
      assert.ok(wire.payloadBuffers <= 4, `buffers for ${wire.lanePayloadsReceived} payloads: ${wire.payloadBuffers}`);
    }
  });
});

describe('gossamer peer: keys and bad input', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'peer', ...args], { encoding: 'utf8', timeout: 60_000 });

  it('keygen writes a swarm key and refuses to overwrite it', () => {
    const file = join(dir, 'new.key');
    const first = cli(['keygen', file]);
    assert.equal(first.status, 0, first.stderr);
    assert.ok(existsSync(file));
    parseSwarmKey(readFileSync(file));
    const again = cli(['keygen', file]);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /already exists/);
  });

  it('a missing or malformed swarm key is a one-line usage error', () => {
    const missing = cli(['--index', '0', '--workers', '2']);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /--swarm-key is required/);
    const bad = cli(['--index', '0', '--workers', '2', '--swarm-key', join(dir, 'nope.key')]);
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  });
});
