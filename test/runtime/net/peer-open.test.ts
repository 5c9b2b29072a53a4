/**
 * `gossamer peer` in open mode end to end, over real sockets on 127.0.0.1: a first peer defines the run; three more
 * join one by one with only --bootstrap and --swarm-key (and --out); one is killed mid-run and one more joins. Every
 * peer alive at the end holds a model within the consensus tolerance of the others, and every one of them saw the
 * topology re-form.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readCheckpoint } from '../../../src/engine/checkpoint.js';
import { addressOf, consensus, finish, startOpenPeer, testSwarm, type Peer } from './peer-harness.js';

const { dir, key } = testSwarm('gossamer-open-');

/** Every peer computes 20× slower than it could: the five processes then leave the two cores room to start the joiners. */
const SLOW = ['--slow', '20'];
const FIRST = [
  '--algo', 'acid', '--topology', 'ring', '--model', 'mlp', '--model-config', '{"hidden":[16]}', '--batch-size', '16', '--lr', '0.05',
  '--limit', '256', '--eval-limit', '128', '--steps', '100000', '--schedule', 'constant', '--duration', '35', '--final-exchanges', '10', '--timeout', '5000', '--backend', 'js',
];
const steps = (p: Peer): number => Math.max(0, ...p.events.filter((e) => e.event === 'progress').map((e) => e.steps as number));

describe('gossamer peer, open mode', { timeout: 120_000 }, () => {
  // Run and reported, but not yet a gate: under load the live membership can split (peers that hear the gossip but
  // count no connected member), and the survivors then end apart (README, "Open mode at scale").
  it('peers join one by one, one dies, one more joins; the survivors agree and saw the topology re-form', async () => {
    const t0 = performance.now();
    const out = (name: string) => ['--out', join(dir, name)];
    const first = startOpenPeer(0, ['--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, ...FIRST, ...SLOW, ...out('p0')]);
    const addr = await addressOf(first);
    const join1 = (label: number): Peer => startOpenPeer(label, ['--bootstrap', addr, '--swarm-key', key, '--listen', '/ip4/127.0.0.1/tcp/0', '--backend', 'js', ...SLOW, ...out(`p${label}`)]);
    const peers = [first];
    const timeline: Array<[string, number]> = [];
    const mark = (what: string): void => void timeline.push([what, Math.round((performance.now() - t0) / 100) / 10]);
    // One by one: each starts once the one before it has learned the run, or 2.5 s after it started (a loaded
    // machine takes longer to start a process than a joiner takes to come in once started).
    for (const label of [1, 2, 3]) {
      const p = join1(label);
      peers.push(p);
      await Promise.race([p.waitFor((e) => e.event === 'config'), new Promise((r) => setTimeout(r, 2500))]);
      mark(`${label} started`);
    }
    // Peer 2 dies while training.
    const victim = peers[2];
    const gone = (await victim.waitFor((e) => e.event === 'listening')).peerId as string;
    await victim.waitFor((e) => e.event === 'start');
    const survivors = [first, peers[1], peers[3]];
    // (once every survivor has it in its graph)
    await Promise.all(survivors.map((p) => p.waitFor((e) => e.event === 'topology' && (e.peers as string[]).includes(gone))));
    const marks = survivors.map((p) => p.events.length);
    const killed = performance.now();
    victim.proc.kill('SIGKILL');
    mark('2 killed');
    // (how long the survivors take to re-form their graph without it)
    const without = (e: Record<string, unknown>): boolean => e.event === 'topology' && !(e.peers as string[]).includes(gone);
    const reformed = Promise.all(survivors.map((p, k) => p.waitFor((e) => without(e) && p.events.indexOf(e) >= marks[k]).then(() => performance.now() - killed)));
    await victim.exited;
    const late = join1(4);
    void late.waitFor((e) => e.event === 'start').then(() => mark('4 started'), () => {});
    const alive = [first, peers[1], peers[3], late];
    const summaries = await finish(alive).finally(() => console.log(JSON.stringify(timeline)));
    const seconds = (performance.now() - t0) / 1000;
    const reformMs = (await reformed).map(Math.round);

    // The joiners learned the config of the first peer.
    for (const p of alive.slice(1)) {
      const c = p.events.find((e) => e.event === 'config');
      assert.ok(c && c.learned === true, `peer ${p.index} learned the config`);
      assert.equal((c.config as { steps: number }).steps, 100000);
      const start = p.events.find((e) => e.event === 'start');
      assert.notEqual(start?.pulledFrom, null, `peer ${p.index} pulled the cluster's parameters`);
    }
    const lateId = (await late.waitFor((e) => e.event === 'listening')).peerId as string;
    for (const [k, s] of summaries.entries()) {
      const p = alive[k];
      assert.ok((s.steps as number) > 10 && (s.steps as number) < 100000, `peer ${p.index} trained to the cluster's deadline`);
      assert.ok((s.exchanges as number) > 0);
      assert.deepEqual(s.rejected, {});
      // Every live peer saw the graph re-form; those there before the late joiner saw it come in.
      const topologies = p.events.filter((e) => e.event === 'topology');
      assert.ok(topologies.length >= 2, `peer ${p.index} saw ${topologies.length} topologies`);
      if (p !== late) assert.ok(topologies.some((e) => (e.peers as string[]).includes(lateId)), `peer ${p.index} took the late joiner in`);
    }
    // The first peer saw the others come in one at a time, until all four were in (a member may drop out of its view
    // for a moment on the way, a known weakness of the membership under load: README, "Open mode at scale").
    const grown = first.events.filter((e) => e.event === 'topology').map((e) => e.members as number);
    const firstSeen = [1, 2, 3, 4].map((m) => grown.indexOf(m));
    assert.ok(firstSeen[0] === 0 && firstSeen.every((k, i) => k > (i === 0 ? -1 : firstSeen[i - 1])), `the first peer's graphs: ${grown}`);
    // Those alive when the victim died had it in their graph, then formed one without it.
    for (const p of survivors) {
      const topologies = p.events.filter((e) => e.event === 'topology');
      const had = topologies.findIndex((e) => (e.peers as string[]).includes(gone));
      assert.ok(had >= 0 && topologies.slice(had).some(without), `peer ${p.index} re-formed its graph without the dead peer`);
    }
    const models = summaries.map((s) => readCheckpoint(s.checkpoint as string).params);
    const c = consensus(models);
    assert.ok(c < 1e-3, `the survivors agree (relative distance ${c})`);
    console.log(JSON.stringify({ seconds, reformMs, consensus: c, steps: alive.map(steps), exchanges: summaries.map((s) => s.exchanges), topologies: summaries.map((s) => s.topologies) }));
  });

  it('refuses collectives, and a joiner whose explicit flags conflict with the cluster\'s', async () => {
    const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'peer', ...args], { encoding: 'utf8', timeout: 60_000 });
    const r = cli(['--swarm-key', key, '--algo', 'allreduce']);
    assert.equal(r.status, 2);
    assert.match(r.stderr.trim(), /^gossamer: open mode .* not allreduce/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    const first = startOpenPeer(10, ['--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, ...FIRST]);
    const addr = await addressOf(first);
    const conflict = cli(['--bootstrap', addr, '--swarm-key', key, '--listen', '/ip4/127.0.0.1/tcp/0', '--lr', '0.2', '--json']);
    first.proc.kill('SIGKILL');
    assert.equal(conflict.status, 2, conflict.stderr);
    assert.match(conflict.stderr, /the cluster trains with --lr 0\.05; this peer was given --lr 0\.2/);
  });
});
