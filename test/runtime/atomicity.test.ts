import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { buildAlgorithm } from '../../src/algorithms/index.js';
import { Rng } from '../../src/core/rng.js';
import { jsBackend } from '../../src/engine/backends/index.js';
import { createModel } from '../../src/engine/models/index.js';
import { makeTopology } from '../../src/graph/topology.js';
import { WorkerAgent } from '../../src/runtime/agent.js';
import { IN_PROCESS_VERSION, InProcessTransport, acceptorWaitMs, sharedMailbox, type Mailbox } from '../../src/runtime/inprocess.js';
import { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';
import type { MessageHeader, ProposalHandler } from '../../src/runtime/transport.js';

const L = 16;
const HEADER: MessageHeader = { version: 1, algorithm: 'fake', step: 0, layoutHash: 'h', codec: 'f32' };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A transport for worker 0 whose only neighbour (1) is played by the test through a raw port and mailbox. */
function withRawPeer(log: string[] = []) {
  const { port1, port2 } = new MessageChannel();
  const mine = sharedMailbox(L);
  const theirs: Mailbox = sharedMailbox(L);
  const transport = new InProcessTransport({ self: 0, messageLength: L, mailbox: mine, peers: [{ id: 1, port: port1, mailbox: theirs }] }, { log: (l) => log.push(l) });
  const received: unknown[] = [];
  let notify: (() => void) | null = null;
  port2.on('message', (m) => {
    received.push(m);
    notify?.();
  });
  const next = async (): Promise<Record<string, unknown>> => {
    while (received.length === 0) await new Promise<void>((r) => (notify = r));
    return received.shift() as Record<string, unknown>;
  };
  return { transport, peer: port2 as MessagePort, theirs, mine, next, log };
}

/** A handler that records what happens to a fake parameter vector. */
function recorder(x: Float32Array, accept = true) {
  const events: string[] = [];
  const handler: ProposalHandler = {
    accept: (peer) => {
      events.push(`accept ${peer}`);
      return accept ? { header: HEADER, message: Float32Array.from(x) } : null;
    },
    commit: (peer, _h, m) => {
      events.push(`commit ${peer}`);
      for (let i = 0; i < x.length; i++) x[i] = 0.5 * (x[i] + m[i]);
    },
    abort: (peer, reason) => events.push(`abort ${peer} ${reason}`),
  };
  return { events, handler };
}

test('a proposer that timed out answers a late accept with cancel and stays untouched', async () => {
  const { transport, peer, next, theirs } = withRawPeer();
  const x = new Float32Array(L).fill(1);
  const result = await transport.propose(1, HEADER, x, 30);
  assert.deepEqual(result, { ok: false, peer: 1, reason: 'timeout' });
  const proposal = await next();
  assert.equal(proposal.k, 'propose');
  assert.equal((await next()).k, 'cancel');
  // The peer, too slow, accepts now: the proposer must refuse to complete it.
  theirs.answer.fill(7);
  peer.postMessage({ v: IN_PROCESS_VERSION, k: 'accept', id: proposal.id, header: HEADER, length: L });
  assert.equal((await next()).k, 'cancel');
  assert.deepEqual(x, new Float32Array(L).fill(1));
  await transport.close();
});

test('an acceptor applies nothing when the proposer cancels, vanishes, or stays silent after the accept', async () => {
  for (const ending of ['cancel', 'close', 'silence'] as const) {
    const { transport, peer, next, theirs } = withRawPeer();
    const x = new Float32Array(L).fill(2);
    const { events, handler } = recorder(x);
    transport.onProposal(handler);
    theirs.propose.fill(10);
    peer.postMessage({ v: IN_PROCESS_VERSION, k: 'propose', id: 1, header: HEADER, length: L, timeoutMs: 200 });
    assert.equal((await next()).k, 'accept');
    if (ending === 'cancel') peer.postMessage({ v: IN_PROCESS_VERSION, k: 'cancel', id: 1 });
    else if (ending === 'close') peer.close();
    await sleep(ending === 'silence' ? acceptorWaitMs(200) + 50 : 20);
    assert.deepEqual(events, ['accept 1', `abort 1 ${{ cancel: 'cancelled', close: 'closed', silence: 'timeout' }[ending]}`]);
    assert.deepEqual(x, new Float32Array(L).fill(2));
    await transport.close();
    peer.close();
  }
  // A completed one, for contrast: the ack commits the whole message at once.
  const { transport, peer, next, theirs } = withRawPeer();
  const x = new Float32Array(L).fill(2);
  const { events, handler } = recorder(x);
  transport.onProposal(handler);
  theirs.propose.fill(10);
  peer.postMessage({ v: IN_PROCESS_VERSION, k: 'propose', id: 5, header: HEADER, length: L, timeoutMs: 1000 });
  assert.equal((await next()).k, 'accept');
  theirs.propose.fill(99); // the proposer's mailbox may change once we hold its message: we copied it at accept
  peer.postMessage({ v: IN_PROCESS_VERSION, k: 'ack', id: 5 });
  await sleep(20);
  assert.deepEqual(events, ['accept 1', 'commit 1']);
  assert.deepEqual(x, new Float32Array(L).fill(6));
  await transport.close();
});

test('malformed, mismatched and wrong-sized messages are dropped or refused with a logged reason, never a crash', async () => {
  const log: string[] = [];
  const { port1, port2 } = new MessageChannel();
  const transport = new InProcessTransport(
    { self: 0, messageLength: L, mailbox: sharedMailbox(L), peers: [{ id: 1, port: port1, mailbox: sharedMailbox(L) }] },
    { expect: { algorithm: 'fake', layoutHash: 'h' }, log: (l) => log.push(l) },
  );
  const x = new Float32Array(L).fill(3);
  const { events, handler } = recorder(x);
  transport.onProposal(handler);
  const replies: Array<Record<string, unknown>> = [];
  port2.on('message', (m) => replies.push(m));
  port2.postMessage('garbage');
  port2.postMessage({ v: 99, k: 'propose', id: 1 });
  port2.postMessage({ v: IN_PROCESS_VERSION, k: 'propose', id: 2, header: { nope: true }, length: L, timeoutMs: 10 });
  port2.postMessage({ v: IN_PROCESS_VERSION, k: 'propose', id: 3, header: HEADER, length: L + 1, timeoutMs: 100 });
  port2.postMessage({ v: IN_PROCESS_VERSION, k: 'propose', id: 4, header: { ...HEADER, layoutHash: 'other' }, length: L, timeoutMs: 100 });
  port2.postMessage({ v: IN_PROCESS_VERSION, k: 'ack', id: 77 });
  await sleep(30);
  assert.equal(log.filter((l) => l.includes('malformed')).length, 3);
  assert.deepEqual(replies.map((r) => [r.id, r.k, r.reason]), [[3, 'refused', 'invalid'], [4, 'refused', 'refused']]);
  assert.deepEqual(events, []);
  assert.deepEqual(x, new Float32Array(L).fill(3));
  await transport.close();
  port2.close();
});

test('a worker whose peer vanishes in the middle of an exchange keeps its parameters and trains on alone', async () => {
  const backend = jsBackend();
  const model = createModel('mlp', { inputSize: 5, hidden: [4], classes: 3, backend, seed: 3 });
  const dim = model.size;
  const graph = makeTopology('path', 2);
  const built = buildAlgorithm({ name: 'gossip', graph, rate: 1, dim, dtype: 'f32', backend });
  const { port1, port2 } = new MessageChannel();
  const boxes = [sharedMailbox(dim), sharedMailbox(dim)];
  const tA = new InProcessTransport({ self: 0, messageLength: dim, mailbox: boxes[0], peers: [{ id: 1, port: port1, mailbox: boxes[1] }] });
  const tB = new InProcessTransport({ self: 1, messageLength: dim, mailbox: boxes[1], peers: [{ id: 0, port: port2, mailbox: boxes[0] }] });
  // B vanishes right after receiving A's proposal, before answering it.
  tB.onProposal({ accept: () => { void tB.close(); return { header: HEADER, message: new Float32Array(dim).fill(5) }; }, commit: () => {}, abort: () => {} });
  let permits = 0;
  const x = new Float32Array(new SharedArrayBuffer(4 * dim));
  x.set(model.params);
  const agent = new WorkerAgent({
    id: 0, built, x, layoutHash: model.layoutHash, rng: new Rng(1), rate: 1, rateMode: 'exact',
    optimizer: new LocalOptimizer({ lr: 0.1 }, { dim, dtype: 'f32', backend, layout: model.layout }),
    pairing: { transport: tA, neighbours: [1], timeoutMs: 200 }, permit: () => permits++,
  });
  // Take one step without starting the protocol (so that its quota of one exchange is owed), then start it.
  void agent.applyGradient(0, new Float32Array(dim), 1);
  const before = Float32Array.from(x);
  agent.start();
  await sleep(100);
  assert.deepEqual(x, before, 'parameters untouched by the failed exchange');
  assert.equal(agent.exchanges, 0);
  assert.deepEqual(agent.pairing!.liveNeighbours(), []);
  assert.ok(permits >= 2, 'the compute loop goes on without its neighbour');
  await agent.stop();
  await tA.close();
});
