/**
 * Streaming DiLoCo: its reduction to DiLoCo, its schedule of fragments, its merge rule, one worker, and its rules.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildAlgorithm, type AlgorithmSetup } from '../../src/algorithms/index.js';
import { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';
import { StreamingDiloco, streamingRules, type StreamingDilocoOptions, type StreamingDilocoState } from '../../src/algorithms/streaming-diloco.js';
import { rangesLength, type Algorithm, type WorkerState } from '../../src/algorithms/types.js';
import { UsageError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import type { Vec } from '../../src/core/vec.js';
import { makeTopology } from '../../src/graph/topology.js';
import { makeObjective } from '../../src/objectives/index.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { simulate } from '../../src/sim/simulator.js';

/**
 * Runs n workers by hand for `steps` local steps each, in lockstep, on a quadratic; every collective completes as soon
 * as all have begun it. Records, per round, the step count and fragment of its begin.
 */
function byHand(opts: Omit<StreamingDilocoOptions, 'dim' | 'dtype'>, n: number, steps: number, lr = 0.05) {
  const dim = 12;
  const objective = new Quadratic({ workers: n, dim, seed: 3 });
  const algo = new StreamingDiloco({ dim, dtype: 'f64', ...opts });
  const x0 = Float64Array.from({ length: dim }, (_, k) => Math.sin(k + 1));
  const states = Array.from({ length: n }, () => algo.createState(x0));
  const optimizers = states.map(() => new LocalOptimizer({ lr }, { dim, dtype: 'f64' }));
  const rounds: Array<{ step: number; fragment: number }> = [];
  const c = algo.collective;
  const noise = new Rng(0);
  for (let step = 1; step <= steps; step++) {
    states.forEach((s, i) => algo.localStep(s, step, (x, g) => objective.gradient(i, x, g, noise), optimizers[i]));
    if (!c.due(states[0])) continue;
    const len = rangesLength(c.ranges(states[0]));
    const mean = new Float64Array(len);
    for (const s of states) {
      assert.equal(c.due(s), true, 'every worker is due at the same step');
      const out = new Float64Array(len);
      c.begin(s, step, out);
      for (let k = 0; k < len; k++) mean[k] += out[k] / n;
    }
    rounds.push({ step, fragment: states[0].flight });
    for (const s of states) c.complete(s, step, mean, optimizers[0]);
  }
  return { algo, states, rounds, x0, objective, optimizers };
}

test('P = 1, τ = 0, α = 0 is DiLoCo bit for bit in the simulator (float64 quadratic, float32 MLP; lockstep and event rounds)', async () => {
  process.env.GOSSAMER_BACKEND = 'js';
  const cases: Array<{ problem: string; n: number; time: number; H: number }> = [
    { problem: 'quadratic', n: 8, time: 300, H: 10 },
    { problem: 'mlp-synthetic', n: 4, time: 24, H: 4 },
  ];
  for (const c of cases) {
    const graph = makeTopology('ring', c.n);
    // A fresh objective per run: a neural one keeps its workers' places in their data.
    const run = async (name: 'diloco' | 'streaming-diloco', rounds?: 'events') => {
      const objective = await makeObjective(c.problem, { workers: c.n, seed: 2, dim: 6, noise: 0.2, batchSize: 16, evalLimit: 50 });
      const setup: AlgorithmSetup = {
        name, graph, rate: 1, dim: objective.dim, dtype: objective.dtype, backend: objective.backend, layout: objective.layout,
        diloco: { innerSteps: c.H }, streaming: name === 'diloco' ? undefined : { fragments: 1, overlap: 0, mix: 0 },
      };
      return simulate({ objective, graph, built: buildAlgorithm(setup), optimizer: { lr: 0.05, momentum: 0.5 }, rate: 1, time: c.time, seed: 4, every: c.time / 4, rounds });
    };
    for (const rounds of [undefined, 'events'] as const) {
      const a = await run('diloco', rounds);
      const b = await run('streaming-diloco', rounds);
      assert.ok(a.summary.communications > 0, c.problem);
      assert.deepEqual(b.rows, a.rows, `${c.problem} ${rounds ?? 'lockstep'}`);
      assert.deepEqual(b.final, a.final, c.problem);
    }
  }
});

test('fragment p is synchronised at the steps s with (s − p·H/P) mod H = 0: every fragment equally often', () => {
  const H = 12;
  for (const P of [1, 2, 3, 4]) {
    const { rounds } = byHand({ innerSteps: H, fragments: P }, 2, 5 * H);
    assert.equal(rounds.length, 5 * P);
    for (const { step, fragment } of rounds) assert.equal((step - (fragment * H) / P) % H, 0, `P ${P}: fragment ${fragment} at step ${step}`);
    for (let p = 0; p < P; p++) assert.equal(rounds.filter((r) => r.fragment === p).length, 5, `P ${P}: fragment ${p}`);
  }
});

test('in the simulator, with overlap, every worker synchronises the same fragments in the same order, each equally often', () => {
  const n = 3;
  const graph = makeTopology('ring', n);
  const objective = new Quadratic({ workers: n, dim: 9, seed: 1, noise: 0.1 });
  const built = buildAlgorithm({ name: 'streaming-diloco', graph, rate: 1, dim: 9, dtype: 'f64', diloco: { innerSteps: 12 }, streaming: { fragments: 3, overlap: 2, mix: 0.5 } });
  const base = built.algorithm as unknown as Algorithm<StreamingDilocoState>;
  const begun = new Map<StreamingDilocoState, number[]>();
  const sizes: number[] = [];
  const algorithm: Algorithm<StreamingDilocoState> = Object.assign(Object.create(base) as Algorithm<StreamingDilocoState>, {
    collective: {
      ...base.collective!,
      begin: (s: StreamingDilocoState, t: number, out: Vec) => {
        base.collective!.begin(s, t, out);
        begun.set(s, [...(begun.get(s) ?? []), s.flight]);
        sizes.push(out.length);
      },
    },
  });
  const r = simulate({ objective, graph, built: { ...built, algorithm: algorithm as unknown as Algorithm<WorkerState> }, optimizer: { lr: 0.05 }, rate: 1, time: 400, seed: 2, every: 100, link: { latency: 1, bandwidth: 100 } });
  const sequences = [...begun.values()];
  assert.equal(sequences.length, n);
  const shortest = Math.min(...sequences.map((q) => q.length));
  assert.ok(shortest >= 12, `${shortest} rounds`);
  for (const q of sequences) assert.deepEqual(q.slice(0, shortest), sequences[0].slice(0, shortest), 'the same fragments in the same order');
  const counts = [0, 1, 2].map((p) => sequences[0].slice(0, 3 * Math.floor(shortest / 3)).filter((f) => f === p).length);
  assert.ok(counts.every((k) => k === counts[0]), `rounds per fragment ${counts}`);
  // The contributions are a third of the model: the summary's peak is a fragment's size.
  assert.deepEqual([...new Set(sizes)], [3]);
  assert.equal(r.summary.peakSyncBytes, 3 * 8);
});

test('the merge: τ steps after a fragment began, x_p ← (1 − α) θ_p + α x_p; the rest of the model stays local', () => {
  const H = 8;
  const tau = 2;
  const alpha = 0.25;
  const dim = 8;
  const algo = new StreamingDiloco({ dim, dtype: 'f64', innerSteps: H, fragments: 2, overlap: tau, mix: alpha, outerOptimizer: 'sgd', outerLr: 0.5, outerMomentum: 0 });
  const s = algo.createState(new Float64Array(dim));
  const opt = new LocalOptimizer({ lr: 0.1 }, { dim, dtype: 'f64' });
  const grad = (_x: Vec, g: Vec) => {
    for (let k = 0; k < dim; k++) g[k] = k + 1;
    return 0;
  };
  const c = algo.collective;
  for (let k = 0; k < H / 2; k++) algo.localStep(s, k, grad, opt);
  assert.equal(c.due(s), true);
  const [fragment] = c.ranges(s);
  assert.deepEqual(fragment, { start: 4, end: 8 }, 'round 1 synchronises fragment 1');
  const out = new Float64Array(4);
  c.begin(s, 4, out);
  // x = −0.4·(k + 1) after 4 steps; Δ = θ − x = 0.4·(k + 1).
  assert.deepEqual(Array.from(out, (v) => +v.toFixed(12)), [2, 2.4, 2.8, 3.2]);
  // The mean arrives at once (another worker's Δ was zero): θ_p ← −0.5 · mean.
  const mean = out.map((v) => v / 2);
  c.complete(s, 4, mean, opt);
  assert.equal(s.arrived, 1);
  assert.equal(c.waits!(s), false);
  algo.localStep(s, 5, grad, opt);
  assert.equal(s.flight, 1, 'not merged before τ steps');
  algo.localStep(s, 6, grad, opt);
  assert.equal(s.flight, -1, 'merged after τ steps');
  for (let k = 0; k < dim; k++) {
    const local = -0.6 * (k + 1);
    if (k < 4) assert.ok(Math.abs(s.x[k] - local) < 1e-12, `coordinate ${k} outside the fragment stays local`);
    else {
      const global = -0.5 * mean[k - 4];
      assert.ok(Math.abs(s.outer[k] - global) < 1e-12);
      assert.ok(Math.abs(s.x[k] - ((1 - alpha) * global + alpha * local)) < 1e-12, `coordinate ${k}: ${s.x[k]}`);
    }
  }
  // A mean that has not arrived τ steps after the begin: the worker waits for it.
  for (let k = 0; k < 2; k++) algo.localStep(s, 7 + k, grad, opt);
  assert.equal(c.due(s), true);
  assert.deepEqual(c.ranges(s), [{ start: 0, end: 4 }], 'round 2 synchronises fragment 0');
  c.begin(s, 8, new Float64Array(4));
  assert.equal(c.waits!(s), false);
  algo.localStep(s, 9, grad, opt);
  algo.localStep(s, 10, grad, opt);
  assert.equal(c.waits!(s), true);
  c.complete(s, 10, new Float64Array(4), opt);
  assert.equal(s.flight, -1, 'a late mean is merged as soon as it arrives');
});

test('one worker (outer SGD, lr 1, no momentum) is plain local training, with any fragments; with overlap, when α = 1', () => {
  const steps = 60;
  const plain = byHand({ innerSteps: 12, fragments: 1, outerOptimizer: 'sgd', outerLr: 1, outerMomentum: 0 }, 1, 0);
  const x = Float64Array.from(plain.x0);
  const g = new Float64Array(x.length);
  const opt = new LocalOptimizer({ lr: 0.05 }, { dim: x.length, dtype: 'f64' });
  for (let k = 0; k < steps; k++) {
    plain.objective.gradient(0, x, g, new Rng(0));
    opt.update(x, g);
  }
  const settings = [
    { fragments: 4, overlap: 0, mix: 0 }, { fragments: 3, overlap: 0, mix: 0.7 }, { fragments: 2, overlap: 3, mix: 1 }, { fragments: 4, overlap: 2, mix: 1 },
  ];
  for (const st of settings) {
    const { states, rounds } = byHand({ innerSteps: 12, outerOptimizer: 'sgd', outerLr: 1, outerMomentum: 0, ...st }, 1, steps);
    assert.equal(rounds.length, (steps / 12) * st.fragments);
    for (let k = 0; k < x.length; k++) assert.ok(Math.abs(states[0].x[k] - x[k]) < 1e-12, `${JSON.stringify(st)}: coordinate ${k}`);
  }
});

test('the closing collective averages the whole models; saved state round-trips', () => {
  const { algo, states } = byHand({ innerSteps: 8, fragments: 2, overlap: 1, mix: 0.5 }, 3, 21);
  const closing = algo.collective.closing!;
  const dim = states[0].x.length;
  assert.deepEqual(closing.ranges(states[0]), [{ start: 0, end: dim }]);
  const mean = new Float64Array(dim);
  for (const s of states) {
    const out = new Float64Array(dim);
    closing.begin(s, 21, out);
    for (let k = 0; k < dim; k++) mean[k] += out[k] / 3;
  }
  for (const s of states) closing.complete(s, 21, mean, new LocalOptimizer({ lr: 0.1 }, { dim, dtype: 'f64' }));
  for (const s of states) assert.deepEqual(s.x, mean);
  const copy = algo.createState(new Float64Array(dim));
  algo.restore(copy, algo.saved(states[1]));
  assert.deepEqual([copy.outer, copy.momentum, copy.steps, copy.rounds], [states[1].outer, states[1].momentum, 21, states[1].rounds]);
});

test('the rules are errors: H a multiple of P, τ < H/P, 0 ≤ α ≤ 1, at most one fragment per layer', () => {
  assert.deepEqual(streamingRules({ innerSteps: 12, fragments: 3, overlap: 3, mix: 1 }), { H: 12, P: 3, tau: 3, alpha: 1 });
  const graph = makeTopology('ring', 4);
  const bad: Array<[AlgorithmSetup['streaming'] & { innerSteps?: number }, RegExp]> = [
    [{ innerSteps: 10, fragments: 3 }, /multiple of the number of fragments/],
    [{ innerSteps: 12, fragments: 3, overlap: 4 }, /overlap \(4 steps\) must be shorter/],
    [{ innerSteps: 12, fragments: 2, mix: -0.1 }, /mixing factor must be in \[0, 1\]/],
    [{ innerSteps: 12, fragments: 2, mix: 1.5 }, /mixing factor/],
    [{ innerSteps: 12, fragments: 0 }, /positive integer/],
    [{ innerSteps: 40, fragments: 20 }, /20 fragments of a vector of 10 values/],
  ];
  for (const [{ innerSteps, ...streaming }, pattern] of bad) {
    assert.throws(() => buildAlgorithm({ name: 'streaming-diloco', graph, rate: 1, dim: 10, dtype: 'f64', diloco: { innerSteps }, streaming }), (e: Error) => e instanceof UsageError && pattern.test(e.message), pattern.source);
  }
  assert.throws(() => buildAlgorithm({ name: 'streaming-diloco', graph, rate: 1, dim: 10, dtype: 'f64', diloco: { eager: true } }), UsageError);
});
