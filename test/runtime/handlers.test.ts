import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Acid } from '../../src/algorithms/acid.js';
import { AllReduce } from '../../src/algorithms/allreduce.js';
import { buildAlgorithm } from '../../src/algorithms/index.js';
import { Rng } from '../../src/core/rng.js';
import { jsBackend } from '../../src/engine/backends/index.js';
import { createModel } from '../../src/engine/models/index.js';
import { makeTopology } from '../../src/graph/topology.js';
import { WorkerAgent } from '../../src/runtime/agent.js';
import { SharedAllReduce, collectiveBuffers, ringAllReduceMs } from '../../src/runtime/collective.js';
import { InProcessTransport, inProcessNetwork } from '../../src/runtime/inprocess.js';
import { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';
import { LocalClock } from '../../src/runtime/rate.js';
import { agentHarness } from './harness.js';

/** Counts the calls of some prototype methods while fn runs. */
async function spy(proto: object, names: string[], fn: () => Promise<void>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const saved = new Map<string, unknown>();
  for (const name of names) {
    const original = (proto as Record<string, unknown>)[name] as (...args: unknown[]) => unknown;
    saved.set(name, original);
    counts[name] = 0;
    (proto as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
      counts[name]++;
      return original.apply(this, args);
    };
  }
  try {
    await fn();
  } finally {
    for (const [name, original] of saved) (proto as Record<string, unknown>)[name] = original;
  }
  return counts;
}

test('the runtime drives the algorithms of src/algorithms: every step and exchange goes through their handlers', async () => {
  let agents: WorkerAgent[] = [];
  const counts = await spy(Acid.prototype, ['localStep', 'message', 'receive', 'advance'], async () => {
    const h = agentHarness({ n: 4, topology: 'ring', algorithm: 'acid', rate: 1, seed: 2 });
    await h.run(30);
    agents = h.agents;
    await h.close();
  });
  const steps = agents.reduce((s, a) => s + a.steps, 0);
  const exchanges = agents.reduce((s, a) => s + a.exchanges, 0);
  assert.ok(steps >= 120 && exchanges > 0);
  assert.equal(counts.localStep, steps);
  assert.equal(counts.receive, exchanges);
  assert.ok(counts.message >= exchanges);
  assert.ok(counts.advance > 0);
});

test('a runtime worker takes the same steps as the algorithm driven directly (the simulator’s way), bit for bit', () => {
  const backend = jsBackend();
  const graph = makeTopology('ring', 4);
  const model = createModel('mlp', { inputSize: 5, hidden: [4], classes: 3, backend, seed: 3 });
  const dim = model.size;
  const settings = { lr: 0.05, momentum: 0.9 };
  const optimizer = () => new LocalOptimizer(settings, { dim, dtype: 'f32', backend, layout: model.layout });
  const runtimeBuilt = buildAlgorithm({ name: 'acid', graph, rate: 1, dim, dtype: 'f32', backend });
  const direct = buildAlgorithm({ name: 'acid', graph, rate: 1, dim, dtype: 'f32', backend });
  assert.ok(runtimeBuilt.algorithm instanceof Acid && direct.algorithm instanceof Acid);
  let wall = 0;
  const clock = new LocalClock(() => wall);
  const x = new Float32Array(new SharedArrayBuffer(4 * dim));
  x.set(model.params);
  const [endpoint] = inProcessNetwork(1, [], dim);
  const agent = new WorkerAgent({
    id: 0, built: runtimeBuilt, x, layoutHash: model.layoutHash, rng: new Rng(1), rate: 1, clock, optimizer: optimizer(),
    pairing: { transport: new InProcessTransport(endpoint), neighbours: [], timeoutMs: 100 }, permit: () => {},
  });
  const ref = direct.algorithm.createState(model.params, 0);
  const refOptimizer = optimizer();
  const pairwise = direct.algorithm.pairwise!;
  const rng = new Rng(9);
  const grad = new Float32Array(dim);
  const peer = new Float32Array(dim);
  const out = new Float32Array(dim);
  const refOut = new Float32Array(dim);
  for (let k = 0; k < 40; k++) {
    for (let i = 0; i < dim; i++) grad[i] = rng.normal();
    wall += 3 + 5 * rng.uniform();
    const t = clock.now();
    void agent.applyGradient(0, grad, 4);
    direct.algorithm.localStep(ref, t, (_x, g) => {
      g.set(grad);
      return 0;
    }, refOptimizer);
    if (k % 3 === 0) {
      // An exchange with a made-up peer, started now and completed a little later.
      for (let i = 0; i < dim; i++) peer[i] = x[i] + 0.1 * rng.normal();
      const ex = { peer: 1, role: 'proposer' as const };
      agent.message(out, ex);
      pairwise.message(ref, clock.now(), refOut);
      wall += 2;
      const t2 = clock.now();
      agent.receive(peer, agent.header(), ex);
      pairwise.receive(ref, t2, peer);
    }
  }
  const refState = ref as unknown as { x: Float32Array; xt: Float32Array };
  const state = agent.state as unknown as { x: Float32Array; xt: Float32Array };
  assert.equal(state.x, x, 'the agent keeps x in the shared buffer');
  assert.deepEqual(Float32Array.from(state.x), refState.x);
  assert.deepEqual(Float32Array.from(state.xt), refState.xt);
});

test('the synchronous baseline is a collective due every step: begin / complete keep every worker identical', async () => {
  const backend = jsBackend();
  const n = 3;
  const model = createModel('mlp', { inputSize: 5, hidden: [4], classes: 3, backend, seed: 4 });
  const dim = model.size;
  const graph = makeTopology('ring', n);
  const built = buildAlgorithm({ name: 'allreduce', graph, rate: 1, dim, dtype: 'f32', backend });
  assert.ok(built.algorithm instanceof AllReduce);
  const collective = built.algorithm.collective!;
  const counts = { begin: 0, complete: 0 };
  const { begin, complete } = collective;
  Object.assign(collective, {
    begin: (...a: Parameters<typeof begin>) => (counts.begin++, begin(...a)),
    complete: (...a: Parameters<typeof complete>) => (counts.complete++, complete(...a)),
  });
  const buffers = collectiveBuffers(n, dim);
  const agents = Array.from({ length: n }, (_, i) => {
    const x = new Float32Array(new SharedArrayBuffer(4 * dim));
    x.set(model.params);
    return new WorkerAgent({
      id: i, built, x, layoutHash: model.layoutHash, rng: new Rng(i), rate: 0, collective: new SharedAllReduce(i, buffers, backend),
      optimizer: new LocalOptimizer({ lr: 0.1, momentum: 0.9 }, { dim, dtype: 'f32', backend, layout: model.layout }),
      permit: () => {},
    });
  });
  const rng = new Rng(5);
  for (let round = 0; round < 5; round++) {
    await Promise.all(agents.map(async (a) => {
      const g = new Float32Array(dim);
      for (let i = 0; i < dim; i++) g[i] = rng.normal();
      await new Promise((r) => setTimeout(r, rng.uniform() * 5));
      assert.equal(await a.applyGradient(0, g, 1), true);
    }));
  }
  assert.deepEqual(counts, { begin: 5 * n, complete: 5 * n });
  for (const a of agents) assert.deepEqual(a.x, agents[0].x);
  assert.notDeepEqual(agents[0].x, model.params);
});

test('emulated all-reduce rounds take a ring all-reduce’s time on the slowest link', () => {
  // 8 workers, 2.68 MB vectors, 20 ms and 100 Mbit/s: 14 steps of 20 ms + 335 kB / 12.5 MB/s.
  const ms = ringAllReduceMs(8, 4 * 669706, [{ latencyMs: 20, bandwidth: 12.5e6 }, { latencyMs: 5, bandwidth: 1e9 }]);
  assert.ok(Math.abs(ms - 14 * (20 + (1000 * 4 * 669706) / (8 * 12.5e6))) < 1e-9);
  assert.equal(ringAllReduceMs(1, 100, [{ latencyMs: 20, bandwidth: 1 }]), 0);
});
