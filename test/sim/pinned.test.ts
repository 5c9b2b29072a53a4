/**
 * Same-seed simulator outputs, pinned: every configuration below is hashed (its metrics rows and final models) and
 * compared with the hash recorded when it was written. A change of any bit fails the test; a deliberate change of
 * the simulator's output must say so here.
 *
 * The grid has only the first and the last time (`every` = time), so that when metrics are taken does not enter.
 * Neural problems run on the TypeScript backend, whose float32 arithmetic is the same on every machine (the native
 * kernels' results depend on the instruction set they dispatch to).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { buildAlgorithm, type AlgorithmName } from '../../src/algorithms/index.js';
import { makeTopology } from '../../src/graph/topology.js';
import { makeObjective } from '../../src/objectives/index.js';
import type { Objective } from '../../src/objectives/objective.js';
import { simulate, type SimOptions } from '../../src/sim/simulator.js';
import { messageCodec } from '../../src/core/codecs.js';

interface Case {
  algo: AlgorithmName;
  problem?: string;
  topology?: string;
  n?: number;
  time?: number;
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  exchange?: 'ideal' | 'official';
  sim?: Partial<SimOptions>;
}

async function hashOf(c: Case): Promise<string> {
  const n = c.n ?? 12;
  const problem = c.problem ?? 'quadratic';
  const objective: Objective = await makeObjective(problem, { workers: n, seed: 5, dim: problem === 'quadratic' ? 6 : undefined, noise: problem === 'quadratic' ? 0.1 : undefined, batchSize: 16, shard: 'iid', evalLimit: 100 });
  const graph = makeTopology(c.topology ?? 'ring', n);
  const built = buildAlgorithm({
    name: c.algo, graph, rate: 1, dim: objective.dim, dtype: objective.dtype, backend: objective.backend,
    exchange: c.exchange, smoothness: objective.smoothness, strongConvexity: objective.strongConvexity,
  });
  const time = c.time ?? 60;
  // Weight decay on every value (biases too), as these outputs were first produced.
  const optimizer = { lr: c.lr ?? 0.05, momentum: c.momentum, weightDecay: c.weightDecay, decayAll: true };
  const out = simulate({ objective, graph, built, optimizer, rate: 1, time, seed: 7, every: time, ...c.sim });
  const h = createHash('sha256');
  // (the bytes sent, a count added to the rows later, are not part of the trajectories pinned here; the loss at the
  // average is hashed under the one name it had when these were recorded)
  const renamed = (row: object) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k === 'objective' || k === 'testLoss' ? 'loss' : k, v]));
  h.update(JSON.stringify(out.rows.map(({ bytes: _bytes, ...row }) => renamed(row))));
  for (const x of out.final) h.update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
  return h.digest('hex').slice(0, 16);
}

const CASES: Record<string, Case> = {
  'gossip quadratic': { algo: 'gossip' },
  'acid quadratic': { algo: 'acid' },
  'acid quadratic official': { algo: 'acid', exchange: 'official' },
  'acid quadratic momentum wd': { algo: 'acid', momentum: 0.9, weightDecay: 0.01, lr: 0.01 },
  'acid quadratic faithful': { algo: 'acid', sim: { link: { latency: 0.2, bandwidth: 30 } } },
  'acid quadratic paced': { algo: 'acid', sim: { pacing: 'quota', link: { latency: 0.2, bandwidth: 30 } } },
  'acid quadratic i8': { algo: 'acid', sim: { codec: messageCodec('i8'), link: { latency: 0.1, bandwidth: 30 } } },
  'gossip quadratic churn': { algo: 'gossip', sim: { churn: [{ worker: 2, leave: 10, back: 30 }, { worker: 5, leave: 20 }] } },
  'acid exponential speeds': { algo: 'acid', topology: 'exponential', n: 16, sim: { speeds: Float64Array.from({ length: 16 }, (_, i) => (i % 3 === 0 ? 0.5 : 1)) } },
  'allreduce quadratic': { algo: 'allreduce' },
  'allreduce quadratic momentum link': { algo: 'allreduce', momentum: 0.5, sim: { link: { latency: 0.01, bandwidth: 100 } } },
  'dadao least-squares': { algo: 'dadao', problem: 'least-squares', n: 8, time: 40 },
  'acid mlp-synthetic momentum wd': { algo: 'acid', problem: 'mlp-synthetic', n: 4, time: 20, momentum: 0.9, weightDecay: 1e-4 },
  'gossip mlp-synthetic': { algo: 'gossip', problem: 'mlp-synthetic', n: 4, time: 20 },
  'allreduce mlp-synthetic momentum': { algo: 'allreduce', problem: 'mlp-synthetic', n: 4, time: 20, momentum: 0.9 },
};

const PINNED: Record<string, string> = {
  'gossip quadratic': '9b9b809d59af0caa',
  'acid quadratic': '5a78cbf342e4dd31',
  'acid quadratic official': '3c2cfda29988da6b',
  'acid quadratic momentum wd': 'f03ba5aca9b2238e',
  'acid quadratic faithful': '12a77cb30b1c9a1e',
  'acid quadratic paced': 'e68c88612f1d8f83',
  'acid quadratic i8': 'f1fc35e89dde2206',
  'gossip quadratic churn': '908a41937fe0ccbe',
  'acid exponential speeds': 'd838087777c6e9e0',
  'allreduce quadratic': 'cc073d97a9601edb',
  'allreduce quadratic momentum link': '6291413656d59247',
  'dadao least-squares': 'd46326ffb70f4ccd',
  // Changed deliberately: the cross-entropy's value is summed as (max − label logit) + log Σ (so that huge logits
  // cannot cancel to a loss of 0); the metrics rows' losses moved in their last bits, the trajectories did not.
  'acid mlp-synthetic momentum wd': '48f5385916f7a16e',
  'gossip mlp-synthetic': '1cb2333be4336b21',
  // Changed deliberately: AllReduce's float32 step went from plain loops to the backend's kernels (the one local
  // optimizer, shared with A2CiD2), then the cross-entropy's order as above.
  'allreduce mlp-synthetic momentum': '8de467646feab723',
};

test('same-seed simulator outputs are the pinned ones, bit for bit', async () => {
  process.env.GOSSAMER_BACKEND = 'js';
  const got: Record<string, string> = {};
  for (const [name, c] of Object.entries(CASES)) got[name] = await hashOf(c);
  if (process.env.GOSSAMER_PRINT_PINS) console.log(JSON.stringify(got, null, 2));
  assert.deepEqual(got, PINNED);
});
