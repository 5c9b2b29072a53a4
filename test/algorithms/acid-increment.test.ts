/**
 * What A2CiD2's second variable x̃ receives at a local step. The paper adds the local update to both x and x̃; with
 * momentum, the authors' code adds to x̃ the whole momentum update, −lr · buf with buf the SGD momentum buffer (its
 * optimizer's buffer, shared as one flat vector: `params_com_tilde.add_(self.mom_vec, alpha=-lr)` right after
 * `optimizer.step()`), which is exactly the change of x — not the raw gradient step −lr · g. Gossamer does the same in
 * the simulator (float64 loops and float32 kernels) and in the runtime's agent, whatever the local optimizer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildAlgorithm } from '../../src/algorithms/index.js';
import { LocalOptimizer, type LocalStepSettings } from '../../src/algorithms/local-optimizer.js';
import type { Algorithm, WorkerState } from '../../src/algorithms/types.js';
import { Rng } from '../../src/core/rng.js';
import { allocVec, type Vec } from '../../src/core/vec.js';
import type { Backend } from '../../src/engine/backend.js';
import { availableBackends } from '../../src/engine/backends/index.js';
import { createModel } from '../../src/engine/models/index.js';
import { makeTopology } from '../../src/graph/topology.js';
import { WorkerAgent } from '../../src/runtime/agent.js';
import { InProcessTransport, inProcessNetwork } from '../../src/runtime/inprocess.js';
import { LocalClock } from '../../src/runtime/rate.js';

type AcidLike = WorkerState & { x: Vec; xt: Vec };

/** A copy of the state mixed up to t (what the step starts from). */
function mixedAt(algo: Algorithm, s: AcidLike, t: number): { x: Float64Array; xt: Float64Array } {
  const copy = algo.createState(s.x) as AcidLike;
  algo.restore(copy, algo.saved(s));
  algo.advance(copy, t);
  return { x: Float64Array.from(copy.x), xt: Float64Array.from(copy.xt) };
}

function maxGap(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k] - b[k]));
  return m;
}

const KINDS: Array<{ dtype: 'f32' | 'f64'; backend: Backend | null }> = [
  { dtype: 'f64', backend: null },
  ...availableBackends().map((backend) => ({ dtype: 'f32' as const, backend })),
];

for (const { dtype, backend } of KINDS) {
  test(`a local step adds the whole momentum update −lr·buf to x̃, as to x, not −lr·g (${dtype}${backend ? `, ${backend.name} kernels` : ''})`, () => {
    const dim = 7;
    const lr = 0.1;
    const mu = 0.9;
    const built = buildAlgorithm({ name: 'acid', graph: makeTopology('ring', 8), rate: 1, dim, dtype, backend });
    const algo = built.algorithm;
    const optimizer = new LocalOptimizer({ lr, momentum: mu }, { dim, dtype, backend });
    const rng = new Rng(4);
    const x0 = allocVec(dtype, dim);
    for (let k = 0; k < dim; k++) x0[k] = rng.normal();
    const s = algo.createState(x0, 0) as AcidLike;
    // An exchange first, so that x and x̃ differ and the mixing moves them.
    const peer = allocVec(dtype, dim);
    for (let k = 0; k < dim; k++) peer[k] = x0[k] + rng.normal();
    algo.pairwise!.receive(s, 0.5, peer);
    assert.ok(maxGap(s.x, s.xt) > 0.1);
    const buf = new Float64Array(dim);
    const tol = dtype === 'f64' ? 1e-12 : 2e-6;
    let t = 0.5;
    let rawGap = 0;
    for (let step = 0; step < 6; step++) {
      t += 0.7;
      const before = mixedAt(algo, s, t);
      const g = new Float64Array(dim);
      for (let k = 0; k < dim; k++) g[k] = rng.normal();
      algo.localStep(s, t, (_x, out) => {
        out.set(g);
        return 0;
      }, optimizer);
      for (let k = 0; k < dim; k++) buf[k] = mu * buf[k] + g[k];
      const dx = Array.from(s.x, (v, k) => v - before.x[k]);
      const dxt = Array.from(s.xt, (v, k) => v - before.xt[k]);
      const update = Array.from(buf, (b) => -lr * b);
      assert.ok(maxGap(dx, update) < tol, `step ${step}: x moved by −lr·buf (gap ${maxGap(dx, update)})`);
      assert.ok(maxGap(dxt, update) < tol, `step ${step}: x̃ moved by −lr·buf (gap ${maxGap(dxt, update)})`);
      rawGap = Math.max(rawGap, maxGap(dxt, Array.from(g, (v) => -lr * v)));
    }
    // With momentum the update is not the raw gradient step: a rule adding −lr·g to x̃ would fail above.
    assert.ok(rawGap > 0.1, `−lr·buf differs from −lr·g (by ${rawGap})`);
  });
}

/**
 * The runtime: the agent applies each gradient the compute loop reports through the algorithm's local step with the
 * worker's local optimizer, whichever it is — the paper's heavy ball (computed in the local optimizer), Nesterov
 * with weight decay that skips the biases, or AdamW (through the engine's optimizers): x̃ moves exactly as x does.
 */
const RUNTIME_OPTIMIZERS: Array<{ name: string; settings: LocalStepSettings; heavyBall: boolean }> = [
  { name: 'SGD with momentum 0.9', settings: { lr: 0.05, momentum: 0.9 }, heavyBall: true },
  { name: 'Nesterov, weight decay not on biases', settings: { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 }, heavyBall: false },
  { name: 'AdamW', settings: { optimizer: 'adamw', lr: 0.01, weightDecay: 0.01 }, heavyBall: false },
];

for (const backend of availableBackends()) {
  for (const o of RUNTIME_OPTIMIZERS) {
    test(`a runtime worker moves x̃ by x's own update at every local step: ${o.name} (${backend.name})`, () => {
      const model = createModel('mlp', { inputSize: 5, hidden: [4], classes: 3, backend, seed: 3 });
      const dim = model.size;
      const built = buildAlgorithm({ name: 'acid', graph: makeTopology('ring', 4), rate: 1, dim, dtype: 'f32', backend });
      // A clock that stands still: no mixing between the events, so each change is the step's alone.
      const clock = new LocalClock(() => 0);
      const x = new Float32Array(new SharedArrayBuffer(4 * dim));
      x.set(model.params);
      const [endpoint] = inProcessNetwork(1, [], dim);
      const optimizer = new LocalOptimizer(o.settings, { dim, dtype: 'f32', backend, layout: model.layout });
      const agent = new WorkerAgent({
        id: 0, built, x, layoutHash: model.layoutHash, rng: new Rng(1), rate: 1, clock, optimizer,
        pairing: { transport: new InProcessTransport(endpoint), neighbours: [], timeoutMs: 100 }, permit: () => {},
      });
      const state = agent.state as AcidLike;
      const rng = new Rng(2);
      const peer = Float32Array.from(x, (v) => v + 0.1 * rng.normal());
      const ex = { peer: 1, role: 'proposer' as const };
      agent.message(new Float32Array(dim), ex);
      agent.receive(peer, agent.header(), ex);
      assert.ok(maxGap(state.x, state.xt) > 0.01, 'x and x̃ differ after the exchange');
      const grad = new Float32Array(dim);
      const buf = new Float64Array(dim);
      let rawGap = 0;
      for (let step = 0; step < 5; step++) {
        for (let k = 0; k < dim; k++) grad[k] = rng.normal();
        const bx = Float64Array.from(state.x);
        const bxt = Float64Array.from(state.xt);
        void agent.applyGradient(0, grad, 1);
        const dx = Array.from(state.x, (v, k) => v - bx[k]);
        const dxt = Array.from(state.xt, (v, k) => v - bxt[k]);
        assert.ok(maxGap(dx, dxt) < 1e-6, `step ${step}: x̃ moved as x did (gap ${maxGap(dx, dxt)})`);
        assert.ok(maxGap(dx, new Float64Array(dim)) > 1e-3, 'the step moved x');
        if (o.heavyBall) {
          for (let k = 0; k < dim; k++) buf[k] = 0.9 * buf[k] + grad[k];
          const update = Array.from(buf, (b) => -0.05 * b);
          assert.ok(maxGap(dxt, update) < 1e-6, `step ${step}: x̃ moved by −lr·buf`);
          rawGap = Math.max(rawGap, maxGap(dxt, Array.from(grad, (v) => -0.05 * v)));
        }
      }
      if (o.heavyBall) assert.ok(rawGap > 0.05, `−lr·buf differs from −lr·g (by ${rawGap})`);
    });
  }
}
