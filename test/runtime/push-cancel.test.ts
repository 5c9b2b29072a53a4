/**
 * A worker stopped while it waits for the server's answer to its push takes its round back: a resumed worker pushes
 * it again under the same name (a duplicate if the server had applied it, applied if not), not the next round with
 * this one's steps in it a second time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildAlgorithm } from '../../src/algorithms/index.js';
import { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';
import type { AsyncDilocoState } from '../../src/algorithms/async-diloco.js';
import { Rng } from '../../src/core/rng.js';
import { jsBackend } from '../../src/engine/backends/index.js';
import { makeTopology } from '../../src/graph/topology.js';
import { WorkerAgent } from '../../src/runtime/agent.js';
import type { PushMeta, ServerLink } from '../../src/runtime/transport.js';

const DIM = 8;

/** A server that answers the first `answered` pushes and then never (until the pusher gives up). */
function server(answered: number): ServerLink & { pushes: PushMeta[] } {
  const slot = new Float32Array(DIM);
  const pushes: PushMeta[] = [];
  return {
    pushes,
    pushSlot: () => slot,
    push: async (meta, cancelled = () => false) => {
      pushes.push(meta);
      if (pushes.length <= answered) return { model: new Float32Array(DIM), innerSteps: 2 };
      while (!cancelled()) await new Promise((r) => setTimeout(r, 2));
      return null;
    },
  };
}

function agent(link: ServerLink): WorkerAgent {
  const backend = jsBackend();
  const built = buildAlgorithm({ name: 'async-diloco', graph: makeTopology('ring', 2), rate: 0, dim: DIM, dtype: 'f32', backend, diloco: { innerSteps: 2 } });
  return new WorkerAgent({
    id: 1, built, x: new Float32Array(new SharedArrayBuffer(4 * DIM)), layoutHash: 'h', rng: new Rng(1), rate: 0, server: link,
    optimizer: new LocalOptimizer({ lr: 0.1 }, { dim: DIM, dtype: 'f32', backend }), permit: () => {},
  });
}

test('a push left unanswered when the worker stops takes its round back', async () => {
  const link = server(1);
  const a = agent(link);
  const g = new Float32Array(DIM).fill(1);
  for (let k = 0; k < 2; k++) assert.equal(await a.applyGradient(0, g, 1), true);
  const state = a.state as AsyncDilocoState;
  assert.equal(state.round, 1, 'round 1 pushed and answered');
  assert.equal(await a.applyGradient(0, g, 1), true);
  const waiting = a.applyGradient(0, g, 1);
  while (link.pushes.length < 2) await new Promise((r) => setTimeout(r, 2));
  assert.equal(link.pushes[1].round, 2);
  await a.stop();
  assert.equal(await waiting, false, 'stopped while waiting');
  assert.equal(state.round, 1, 'round 2 is taken back');
  assert.equal(state.inner, 2, 'its steps stay taken');
});
