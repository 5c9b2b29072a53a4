/**
 * The server of asynchronous Local-SGD among live peers (127.0.0.1): a worker that holds it while the worker of lower
 * index is away hands its state over when that worker (re)joins, which takes the role over from it — its pushes,
 * momentum and rounds — instead of starting again from its initial model; and a worker given a checkpoint's state
 * (--resume) takes the role over from that.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { OuterServer } from '../../../src/algorithms/outer-server.js';
import type { ServerCapability, WorkerState } from '../../../src/algorithms/types.js';
import { createNetTransport, type NetTransport } from '../../../src/runtime/net/libp2p-transport.js';
import { NetServer } from '../../../src/runtime/net/server.js';
import { generateSwarmKey } from '../../../src/runtime/net/swarm-key.js';

const LAYOUT = 'e'.repeat(64);
const DIM = 500;
const outer = { H: 5, lr: 0.7, mu: 0.9, optimizer: 'sgd' as const };
const capability = { createServer: (x0: Float32Array) => new OuterServer({ dim: DIM, dtype: 'f32', workers: 2, outer }, x0) } as unknown as ServerCapability<WorkerState>;
const initial = new Float32Array(DIM).fill(1);

describe('the server of asynchronous Local-SGD: handing over, resuming', { timeout: 60_000 }, () => {
  const nodes: NetTransport[] = [];
  const servers: NetServer[] = [];
  after(async () => {
    for (const s of servers) s.stop();
    await Promise.all(nodes.map((t) => t.close()));
  });
  const key = generateSwarmKey();
  const base = { workers: 2, swarmKey: key, algorithm: 'async-diloco', layoutHash: LAYOUT, log: () => {} };
  const init = { algorithm: 'async-diloco', layoutHash: LAYOUT, capability, initial, timeoutMs: 5000 };

  it('worker 1 holds the server alone; worker 0 joins and goes on from its state', async () => {
    const one = await createNetTransport({ self: 1, ...base });
    nodes.push(one);
    const warnings: string[] = [];
    const s1 = new NetServer(one, init);
    servers.push(s1);
    await s1.start();
    // Alone, worker 1 holds the server: two pushes of its own (the momentum moves).
    for (const round of [1, 2]) {
      s1.pushSlot().fill(0.1 * round);
      assert.ok(await s1.push({ round, steps: 5, speed: 1 }));
    }
    assert.equal(s1.holding, true);
    const held = (await s1.snapshot())!;
    assert.equal(held.scalars.pushes, 2);

    const zero = await createNetTransport({ self: 0, ...base, bootstrap: one.addresses() });
    nodes.push(zero);
    const s0 = new NetServer(zero, { ...init, log: (level, line) => void (level === 'warn' && warnings.push(line)) });
    servers.push(s0);
    await s0.start();
    assert.ok(await zero.waitForPeers(20_000));
    // Worker 0 receives worker 1's state as its replica as soon as it joins.
    for (let k = 0; k < 100 && (await s0.snapshot())?.scalars.pushes !== 2; k++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await s0.snapshot(), held);
    // Worker 1's next push goes to worker 0, which takes the role over from that state.
    s1.pushSlot().fill(0.3);
    const answer = await s1.push({ round: 3, steps: 5, speed: 1 });
    assert.ok(answer);
    assert.equal(s0.holding, true);
    assert.equal(s1.holding, false, 'worker 1 no longer holds it');
    assert.ok(warnings.some((w) => /worker 0 holds the server now, from worker 1's replica of 2 pushes/.test(w)), warnings.join('\n'));
    const now = (await s0.snapshot())!;
    assert.equal(now.scalars.pushes, 3);
    assert.deepEqual(Array.from(now.vectors.rounds), [0, 3]);
    // The momentum went on: m = 0.9·m_2 + g_3/N.
    const m2 = held.vectors.momentum[0];
    assert.ok(Math.abs(now.vectors.momentum[0] - Math.fround(0.9 * m2 + 0.3 / 2)) < 1e-6, `${now.vectors.momentum[0]} after ${m2}`);
  });

  it('a worker given a checkpoint\'s state takes the role over from it, its rounds and push count', async () => {
    const state = (await servers[1].snapshot())!;
    const t = await createNetTransport({ self: 0, ...base, workers: 2 });
    nodes.push(t);
    const warnings: string[] = [];
    const s = new NetServer(t, { ...init, resume: state, log: (level, line) => void (level === 'warn' && warnings.push(line)) });
    servers.push(s);
    await s.start();
    // Alone, it holds the server: worker 0's own push of a round the state has not seen.
    s.pushSlot().fill(0.5);
    assert.ok(await s.push({ round: 1, steps: 5, speed: 1 }));
    assert.ok(warnings.some((w) => /holds the server now, from this worker's checkpoint of 3 pushes/.test(w)), warnings.join('\n'));
    const after = (await s.snapshot())!;
    assert.equal(after.scalars.pushes, 4);
    assert.deepEqual(Array.from(after.vectors.rounds), [1, 3]);
  });
});
