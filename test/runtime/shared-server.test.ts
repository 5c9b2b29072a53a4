import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { AsyncDiloco } from '../../src/algorithms/async-diloco.js';
import { markDead } from '../../src/runtime/collective.js';
import { readServerModel, replicaPushes, serverBuffers } from '../../src/runtime/server-memory.js';
import { SharedServerHost, SharedServerLink, type AppliedPush } from '../../src/runtime/shared-server.js';

/** Three workers' server parts in one thread, on the buffers threads would share. */
function setup() {
  // Atomics.waitAsync alone does not keep the event loop alive (a thread's ports do).
  const alive = setInterval(() => {}, 1000);
  after(() => clearInterval(alive));
  const dim = 3;
  const algo = new AsyncDiloco({ dim, dtype: 'f32', workers: 3, innerSteps: 2, outerOptimizer: 'sgd', outerLr: 1, outerMomentum: 0 });
  const x0 = Float32Array.from([1, 2, 3]);
  const b = serverBuffers(3, algo.server.createServer(x0));
  const applied: Array<AppliedPush & { holder: number }> = [];
  const hosts = [0, 1, 2].map((i) => new SharedServerHost(i, b, algo.server, { onApplied: (p) => applied.push({ holder: i, ...p }) }));
  const links = [0, 1, 2].map((i) => new SharedServerLink(i, b));
  return { b, hosts, links, applied };
}

const push = async (link: SharedServerLink, round: number, delta: number[]) => {
  link.pushSlot().set(delta);
  return link.push({ round, steps: 2, speed: 1 });
};

test('the live worker of lowest index holds the server: it applies the pushes in arrival order and replicates to the next live one', async () => {
  const { b, hosts, links, applied } = setup();
  for (const h of hosts) h.start();
  // N = 3, outer SGD lr 1: θ ← θ − Δ/3
  const a = await push(links[2], 1, [3, 0, 0]);
  assert.deepEqual(Array.from(a!.model), [0, 2, 3]);
  assert.equal(a!.innerSteps, 2);
  const c = await push(links[1], 1, [0, 3, 0]);
  assert.deepEqual(Array.from(c!.model), [0, 1, 3]);
  assert.deepEqual([hosts[0].holding, hosts[1].holding, hosts[2].holding], [true, false, false]);
  assert.deepEqual([replicaPushes(b, 0), replicaPushes(b, 1), replicaPushes(b, 2)], [2, 2, -1]);
  const model = new Float32Array(3);
  assert.equal(readServerModel(b, model), true);
  assert.deepEqual(Array.from(model), [0, 1, 3]);
  assert.deepEqual(applied.map((p) => [p.holder, p.worker, p.round]), [[0, 2, 1], [0, 1, 1]]);
  await Promise.all(hosts.map((h) => h.stop()));
});

test('a new holder takes over from the replica: a push the dead one applied and committed is answered, not applied again', async () => {
  const { b, hosts, links, applied } = setup();
  hosts[0].start();
  await push(links[2], 1, [3, 0, 0]);
  const second = push(links[2], 2, [0, 3, 0]);
  await second;
  await hosts[0].stop();
  // As if worker 0 died after committing round 2 but before publishing its answer: the push is unanswered.
  Atomics.store(b.answered, 2, Atomics.load(b.answered, 2) - 1);
  markDead(b, 0);
  const answer = new SharedServerLink(2, b);
  const waiting = answer.push({ round: 2, steps: 2, speed: 1 });
  hosts[1].start();
  hosts[2].start();
  const a = await waiting;
  assert.deepEqual(Array.from(a!.model), [0, 1, 3], 'the model holds each push once');
  assert.equal(replicaPushes(b, 1), 2);
  // Worker 1 holds it now and replicates to worker 2, the next live one.
  assert.equal(hosts[1].holding, true);
  assert.equal(replicaPushes(b, 2), 2);
  await push(links[1], 1, [0, 0, 3]);
  assert.deepEqual(applied.map((p) => [p.holder, p.worker, p.round]), [[0, 2, 1], [0, 2, 2], [1, 1, 1]]);
  await Promise.all(hosts.map((h) => h.stop()));
});

test('a push left unanswered and uncommitted by a dead holder is applied by the next one', async () => {
  const { b, hosts, links, applied } = setup();
  hosts[0].start();
  await push(links[1], 1, [3, 0, 0]);
  await hosts[0].stop();
  markDead(b, 0);
  // Published while nobody serves: the next holder finds it pending.
  const waiting = push(links[2], 1, [0, 0, 3]);
  hosts[1].start();
  const a = await waiting;
  assert.deepEqual(Array.from(a!.model), [0, 2, 2]);
  assert.deepEqual(applied.map((p) => [p.holder, p.worker, p.round]), [[0, 1, 1], [1, 2, 1]]);
  // A push whose worker stops waiting resolves null.
  const stop = { now: false };
  const cancelled = links[2].push({ round: 2, steps: 2, speed: 1 }, () => stop.now);
  await hosts[1].stop();
  stop.now = true;
  assert.equal(await cancelled, null);
});
