/**
 * What the simulator reports as sent: every run's summary gives the payload bytes of all workers together as the wire
 * carries them (float32, or a codec's encoding; `bytesSent`) and the outer steps of the algorithms that have them; every metrics row the bytes so far.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildAlgorithm, type AlgorithmName } from '../../src/algorithms/index.js';
import { DEFAULT_BLOCK_SIZE, messageCodec, payloadBytes } from '../../src/core/codecs.js';
import { makeTopology } from '../../src/graph/topology.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { simulate } from '../../src/sim/simulator.js';

const n = 4;
const dim = 10;
const graph = makeTopology('ring', n);
const objective = new Quadratic({ workers: n, dim, seed: 2, noise: 0.1 });

function run(name: AlgorithmName, extra: Partial<Parameters<typeof simulate>[0]> = {}) {
  const built = buildAlgorithm({ name, graph, rate: 1, dim, dtype: 'f64', diloco: { innerSteps: 5, outerOptimizer: 'sgd', outerLr: 1, outerMomentum: 0 } });
  return simulate({ objective, graph, built, optimizer: { lr: 0.05 }, rate: 1, time: 60, seed: 3, every: 10, ...extra });
}

test('pairwise exchanges send one model each way; a ring all-reduce 2(n − 1) contributions in all', () => {
  const gossip = run('gossip');
  assert.equal(gossip.summary.bytesSent, gossip.summary.communications * 2 * dim * 4);
  assert.equal(gossip.summary.outerSteps, null);
  const diloco = run('diloco');
  assert.ok(diloco.summary.outerSteps! > 0);
  assert.equal(diloco.summary.bytesSent, diloco.summary.outerSteps! * 2 * (n - 1) * dim * 4);
  // Rows carry the bytes so far, never decreasing, up to the summary's.
  const bytes = diloco.rows.map((r) => r.bytes as number);
  assert.ok(bytes.every((b, i) => i === 0 || b >= bytes[i - 1]));
  assert.equal(bytes[bytes.length - 1], diloco.summary.bytesSent);
});

test('a codec is charged its encoded size', () => {
  const plain = run('gossip');
  const i8 = run('gossip', { codec: messageCodec('i8') });
  assert.equal(i8.summary.communications, plain.summary.communications);
  assert.equal(i8.summary.bytesSent, i8.summary.communications * 2 * payloadBytes('i8', dim, DEFAULT_BLOCK_SIZE));
  assert.ok(i8.summary.bytesSent < plain.summary.bytesSent / 2, `${i8.summary.bytesSent} against ${plain.summary.bytesSent}`);
});

test('pseudo-gradients under a codec: contributions and their mean charged encoded, pushes encoded and their answers float32', () => {
  for (const codec of ['f16', 'i8', 'i4'] as const) {
    const diloco = run('diloco', { codec: messageCodec(codec) });
    assert.equal(diloco.summary.bytesSent, diloco.summary.outerSteps! * 2 * (n - 1) * payloadBytes(codec, dim, DEFAULT_BLOCK_SIZE), codec);
  }
  const pushes = run('async-diloco', { codec: messageCodec('i8') });
  assert.equal(pushes.summary.bytesSent, pushes.summary.outerSteps! * (payloadBytes('i8', dim, DEFAULT_BLOCK_SIZE) + 4 * dim));
});

test('error feedback: DiLoCo with 4-bit pseudo-gradients ends closer to float32 DiLoCo than without it', () => {
  // Outer SGD at rate 1: each round's mean is applied as it is, so what the rounding drops is lost for good unless it
  // is fed back. Mean distance of the final average model to the float32 run's, over seeds.
  const big = new Quadratic({ workers: n, dim: 64, seed: 5, noise: 0.05 });
  const distance = (errorFeedback: boolean): number => {
    let total = 0;
    for (const seed of [1, 2, 3]) {
      const go = (codec?: ReturnType<typeof messageCodec>) => {
        const built = buildAlgorithm({ name: 'diloco', graph, rate: 1, dim: 64, dtype: 'f64', diloco: { innerSteps: 5, outerOptimizer: 'sgd', outerLr: 1, outerMomentum: 0 } });
        return simulate({ objective: big, graph, built, optimizer: { lr: 0.05 }, rate: 1, time: 200, seed, every: 200, codec, errorFeedback: codec ? errorFeedback : undefined });
      };
      total += go(messageCodec('i4')).summary.optimality! - go().summary.optimality!;
    }
    return total / 3;
  };
  const without = distance(false);
  const with_ = distance(true);
  assert.ok(with_ < without, `excess optimality gap with feedback ${with_}, without ${without}`);
});
