import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { makeTopology } from '../../src/graph/topology.js';
import { EmulatedTransport, type LinkTable } from '../../src/runtime/emulator.js';
import { InProcessTransport, inProcessNetwork } from '../../src/runtime/inprocess.js';
import { FifoOrchestrator } from '../../src/runtime/orchestrator.js';
import { Pairing, type ExchangeContext, type ExchangeParty } from '../../src/runtime/pairing.js';
import type { MessageHeader, Transport } from '../../src/runtime/transport.js';

/**
 * The pairing protocol over the in-process transport, with fake parameters, inside one thread: every worker holds a
 * constant vector; a message is [sender, recipient, token, value, …, value]; receiving averages the value in. A torn
 * message, a half-applied exchange, an exchange with the wrong peer or two overlapping exchanges are all visible.
 */

const L = 48;
const HEADER: MessageHeader = { version: 1, algorithm: 'fake', step: 0, layoutHash: 'fake', codec: 'f32' };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Completed { peer: number; mine: number; theirs: number; start: number; end: number }

class FakeWorker implements ExchangeParty {
  x = new Float32Array(L);
  dead = false;
  stopping = false;
  computing = false;
  completed: Completed[] = [];
  failures = 0;
  readonly errors: string[] = [];
  private token = 0;
  private readonly open = new Map<ExchangeContext, { token: number; start: number }>();
  pairing!: Pairing;
  transport!: Transport;

  constructor(readonly id: number, readonly rng: Rng) {
    this.x.fill(id * 10);
  }

  wants(): boolean {
    return !this.dead && !this.stopping && !this.computing;
  }

  header(): MessageHeader {
    return { ...HEADER, step: this.completed.length };
  }

  message(out: Float32Array, ex: ExchangeContext): void {
    const token = ++this.token;
    out[0] = this.id;
    out[1] = ex.peer;
    out[2] = token;
    out.fill(this.x[0], 3);
    this.open.set(ex, { token, start: performance.now() });
  }

  receive(m: Float32Array, header: MessageHeader, ex: ExchangeContext): void {
    const mine = this.open.get(ex);
    this.open.delete(ex);
    if (this.dead) this.errors.push(`${this.id}: applied a message after its crash`);
    if (!mine) return void this.errors.push(`${this.id}: receive without message`);
    if (m[0] !== ex.peer || m[1] !== this.id) this.errors.push(`${this.id}: message ${m[0]}→${m[1]} in an exchange with ${ex.peer}`);
    if (header.algorithm !== 'fake') this.errors.push(`${this.id}: header ${JSON.stringify(header)}`);
    const v = m[3];
    for (let k = 4; k < L; k++) if (m[k] !== v) return void this.errors.push(`${this.id}: torn message from ${ex.peer}`);
    for (let k = 0; k < L; k++) this.x[k] = 0.5 * (this.x[k] + v);
    this.completed.push({ peer: ex.peer, mine: mine.token, theirs: m[2], start: mine.start, end: performance.now() });
    // Atomicity: the whole vector moved together.
    for (let k = 1; k < L; k++) if (this.x[k] !== this.x[0]) return void this.errors.push(`${this.id}: half-applied exchange`);
    // Go "compute" for a random while (not wanting exchanges), like a worker between rate quotas.
    if (this.rng.uniform() < 0.5) {
      this.computing = true;
      setTimeout(() => {
        this.computing = false;
        this.pairing.wake();
      }, this.rng.uniform() * 3);
    }
  }

  failed(ex: ExchangeContext): void {
    if (!this.open.delete(ex)) this.errors.push(`${this.id}: failure of an unknown exchange`);
    this.failures++;
  }
}

/**
 * Runs the workers in phases of phaseMs, at least `phases` of them and then until `exchanges` have completed (or
 * 40 phases: the machine may be slow); `crashes` workers are closed abruptly at random moments of random phases
 * after the first, and `stalled` (when given) never answers: every message to or from it is lost.
 */
async function stress(opts: {
  topology: string; n: number; phases: number; phaseMs: number; exchanges: number; crashes: number; stalled?: number; links?: LinkTable; seed: number;
  /** Pair through the authors' central FIFO orchestrator instead. */
  central?: boolean;
}) {
  const { n } = opts;
  const rng = new Rng(opts.seed);
  const graph = makeTopology(opts.topology, n);
  const endpoints = inProcessNetwork(n, graph.edges, L);
  const links: LinkTable = { ...opts.links, workers: { ...opts.links?.workers } };
  if (opts.stalled !== undefined) links.workers![opts.stalled] = { loss: 1 };
  // Messages to and from the orchestrator take an event-loop turn, as between threads.
  const orchestrator = opts.central
    ? new FifoOrchestrator(graph, rng.fork('orchestrator'), (a, b) => setImmediate(() => {
      for (const [x, y] of [[a, b], [b, a]]) if (!workers[x].dead) workers[x].pairing.assigned(y);
    }))
    : null;
  const workers: FakeWorker[] = endpoints.map((e, i) => {
    const w = new FakeWorker(i, rng.fork(`w${i}`));
    const inner = new InProcessTransport(e, { expect: { algorithm: 'fake' } });
    w.transport = new EmulatedTransport(inner, links, rng.fork(`links${i}`));
    w.pairing = new Pairing(w.transport, w, {
      neighbours: graph.neighbors[i], messageLength: L, rng: rng.fork(`pairing${i}`), timeoutMs: 60, pollMs: 5,
      register: orchestrator ? () => setImmediate(() => !w.dead && orchestrator.available(i)) : undefined,
    });
    return w;
  });
  for (const w of workers) w.pairing.start();

  const phases = opts.phases;
  const counts: number[][] = [];
  const crashAt = new Set<number>();
  while (crashAt.size < opts.crashes) crashAt.add(1 + rng.int(phases - 2));
  const crashOrder = rng.shuffle(workers.map((w) => w.id).filter((i) => i !== opts.stalled));
  let crashed = 0;
  const crashedIds = new Set<number>();
  const phaseMs = opts.phaseMs;
  const total = () => workers.reduce((sum, w) => sum + w.completed.length, 0) / 2;
  for (let phase = 0; phase < phases || (total() < opts.exchanges && phase < 40); phase++) {
    if (crashAt.has(phase)) {
      // Crash a worker at a random moment within the phase, possibly in the middle of an exchange.
      const victim = workers[crashOrder[crashed++]];
      crashedIds.add(victim.id);
      setTimeout(() => {
        victim.dead = true;
        orchestrator?.withdraw(victim.id);
        void victim.transport.close();
      }, rng.uniform() * phaseMs * 0.5);
    }
    await sleep(phaseMs);
    counts.push(workers.map((w) => w.completed.length));
  }
  for (const w of workers) w.stopping = true; // stop wanting; let exchanges under way finish
  await Promise.all(workers.map((w) => w.pairing.stop()));
  await Promise.all(workers.map((w) => w.transport.close()));
  return { graph, workers, counts, stalled: opts.stalled, crashedIds };
}

function check(r: Awaited<ReturnType<typeof stress>>) {
  const { workers, graph, counts, crashedIds } = r;
  for (const w of workers) assert.deepEqual(w.errors, [], `worker ${w.id}`);
  // Never two exchanges at once: the completed exchanges of a worker do not overlap in time.
  for (const w of workers) {
    const iv = [...w.completed].sort((a, b) => a.start - b.start);
    for (let k = 1; k < iv.length; k++) assert.ok(iv[k].start >= iv[k - 1].end, `worker ${w.id}: exchanges with ${iv[k - 1].peer} and ${iv[k].peer} overlap`);
  }
  // Both sides of every exchange between two survivors completed it, with each other's message.
  for (const w of workers) {
    if (crashedIds.has(w.id)) continue;
    for (const c of w.completed) {
      const peer = workers[c.peer];
      if (crashedIds.has(peer.id)) continue;
      const match = peer.completed.filter((d) => d.peer === w.id && d.mine === c.theirs && d.theirs === c.mine);
      assert.equal(match.length, 1, `exchange ${w.id}#${c.mine} ↔ ${peer.id}#${c.theirs} completed on one side only`);
    }
  }
  // Everyone alive keeps exchanging, in every phase (but the one of its neighbour's crash), as long as it has a
  // live, responsive neighbour.
  for (let phase = 1; phase < counts.length; phase++) {
    for (const w of workers) {
      if (crashedIds.has(w.id) || w.id === r.stalled) continue;
      const partners = graph.neighbors[w.id].filter((j) => !crashedIds.has(j) && j !== r.stalled);
      if (partners.length === 0) continue;
      assert.ok(counts[phase][w.id] > counts[phase - 1][w.id], `worker ${w.id} made no exchange in phase ${phase} (${counts.map((c) => c[w.id]).join(' ')})`);
    }
  }
  return workers.reduce((s, w) => s + w.completed.length, 0) / 2;
}

test('pairing stress: thousands of exchanges on a ring with random delays and crashes', async () => {
  const r = await stress({
    topology: 'ring', n: 10, phases: 6, phaseMs: 500, exchanges: 2000, crashes: 2, seed: 1, links: { default: { latencyMs: 0.2, jitterMs: 0.2 } },
  });
  assert.equal(r.crashedIds.size, 2);
  const exchanges = check(r);
  assert.ok(exchanges >= 2000, `only ${exchanges} exchanges`);
});

test('pairing stress: complete graph and torus, with a silent (stalled) worker and crashes', async () => {
  for (const [topology, n] of [['complete', 6], ['torus', 9]] as const) {
    const r = await stress({
      topology, n, phases: 5, phaseMs: 500, exchanges: 300, crashes: 1, stalled: 1, seed: 7, links: { default: { latencyMs: 0.1, jitterMs: 0.3 } },
    });
    const exchanges = check(r);
    assert.ok(exchanges >= 300, `${topology}: only ${exchanges} exchanges`);
    assert.equal(r.workers[1].completed.length, 0, 'the silent worker never completes an exchange');
  }
});

test('the authors’ central FIFO orchestrator as an alternative: same guarantees on a ring and a complete graph', async () => {
  for (const [topology, n] of [['ring', 8], ['complete', 6]] as const) {
    const r = await stress({
      topology, n, phases: 5, phaseMs: 400, exchanges: 400, crashes: 1, seed: 4, central: true, links: { default: { latencyMs: 0.1, jitterMs: 0.2 } },
    });
    const exchanges = check(r);
    assert.ok(exchanges >= 400, `${topology}: only ${exchanges} exchanges`);
  }
});
