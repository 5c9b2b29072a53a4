/**
 * Collectives over a fragment of the model (what a streaming algorithm sends): the contribution covers the
 * parameter ranges the algorithm names, and the simulator's collective driver and the runtime's all-reduce both
 * carry it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';
import { restoreFields, type Algorithm, type CollectiveCapability, type GradientSource, type ParamRange, type SavedState } from '../../src/algorithms/types.js';
import { Rng } from '../../src/core/rng.js';
import { allocVec, type Dtype, type Vec } from '../../src/core/vec.js';
import { jsBackend } from '../../src/engine/backends/index.js';
import { makeTopology } from '../../src/graph/topology.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { WorkerAgent } from '../../src/runtime/agent.js';
import { SharedAllReduce, collectiveBuffers } from '../../src/runtime/collective.js';
import { simulate } from '../../src/sim/simulator.js';

interface State {
  readonly x: Vec;
  steps: number;
}

/** Local steps; after every step the workers average the fragment [from, to) of their models, and nothing else. */
class FragmentAveraging implements Algorithm<State> {
  readonly name = 'fragment';
  readonly collective: CollectiveCapability<State>;
  private readonly grad: Vec;

  constructor(private readonly dim: number, private readonly dtype: Dtype, fragment: ParamRange) {
    this.grad = allocVec(dtype, dim);
    const ranges = [fragment];
    this.collective = {
      overlaps: false,
      due: () => true,
      ranges: () => ranges,
      begin: (s, _t, out) => out.set(s.x.subarray(fragment.start, fragment.end)),
      complete: (s, _t, mean) => (s.x as Vec).set(mean, fragment.start),
    };
  }

  createState(x0: Vec): State {
    const x = allocVec(this.dtype, this.dim);
    x.set(x0);
    return { x, steps: 0 };
  }

  advance(): void {}

  localStep(s: State, _t: number, gradient: GradientSource, optimizer: LocalOptimizer): number {
    const loss = gradient(s.x, this.grad);
    optimizer.update(s.x, this.grad);
    s.steps++;
    return loss;
  }

  saved(s: State): SavedState {
    return { vectors: {}, scalars: { steps: s.steps } };
  }

  restore(s: State, saved: SavedState): void {
    restoreFields(s, saved);
  }
}

test('the simulator averages exactly the fragment a collective covers', () => {
  const n = 4;
  const graph = makeTopology('ring', n);
  const objective = new Quadratic({ workers: n, dim: 6, seed: 5 });
  const algorithm = new FragmentAveraging(6, 'f64', { start: 1, end: 4 });
  const { final } = simulate({ objective, graph, built: { algorithm, edgeRates: null, info: {} }, optimizer: { lr: 0.05 }, rate: 1, time: 30, seed: 3, every: 30, init: 'random' });
  // The last row falls after a round's local steps: the fragment then differs by one local step only, the rest by
  // the whole run's drift from different starting points.
  const spread = (k: number) => Math.max(...final.map((x) => x[k])) - Math.min(...final.map((x) => x[k]));
  for (const k of [1, 2, 3]) assert.ok(spread(k) < 0.2, `coordinate ${k} in the fragment: spread ${spread(k)}`);
  for (const k of [0, 4, 5]) assert.ok(spread(k) > 0.2, `coordinate ${k} outside it: spread ${spread(k)}`);
});

test('the runtime\'s all-reduce carries a fragment: the rest of every model stays its own', async () => {
  const backend = jsBackend();
  const n = 3;
  const dim = 10;
  const fragment = { start: 2, end: 7 };
  const algorithm = new FragmentAveraging(dim, 'f32', fragment);
  const buffers = collectiveBuffers(n, dim);
  const rng = new Rng(4);
  const agents = Array.from({ length: n }, (_, i) => {
    const x = new Float32Array(new SharedArrayBuffer(4 * dim));
    for (let k = 0; k < dim; k++) x[k] = rng.normal();
    return new WorkerAgent({
      id: i, built: { algorithm, edgeRates: null, info: {} }, x, layoutHash: 'fragment', rng: new Rng(i), rate: 0,
      collective: new SharedAllReduce(i, buffers, backend), optimizer: new LocalOptimizer({ lr: 0.1 }, { dim, dtype: 'f32', backend }),
      permit: () => {},
    });
  });
  const before = agents.map((a) => Float32Array.from(a.x));
  // A zero gradient: the local steps leave the models as they are, only the collective moves them.
  await Promise.all(agents.map((a) => a.applyGradient(0, new Float32Array(dim), 1)));
  for (let k = 0; k < dim; k++) {
    const inside = k >= fragment.start && k < fragment.end;
    const mean = Math.fround(before.reduce((s, x) => s + x[k], 0) / n);
    for (let i = 0; i < n; i++) {
      if (inside) assert.ok(Math.abs(agents[i].x[k] - mean) < 1e-6, `worker ${i}, coordinate ${k}: the mean of the fragment`);
      else assert.equal(agents[i].x[k], before[i][k], `worker ${i}, coordinate ${k}: its own`);
    }
  }
});

test('a collective that overlaps computation: the worker steps on while it is in flight, and applies it when it completes', async () => {
  const backend = jsBackend();
  const dim = 4;
  const completed: number[] = [];
  const base = new FragmentAveraging(dim, 'f32', { start: 0, end: dim });
  const overlapping: Algorithm<State> = Object.assign(Object.create(base) as FragmentAveraging, {
    collective: {
      ...base.collective,
      overlaps: true,
      due: (s: State) => s.steps === 1,
      complete: (s: State, t: number, mean: Vec, o: LocalOptimizer) => {
        completed.push(s.steps);
        base.collective.complete(s, t, mean, o);
      },
    },
  });
  const buffers = collectiveBuffers(2, dim);
  const agents = [0, 1].map((i) => new WorkerAgent({
    id: i, built: { algorithm: overlapping, edgeRates: null, info: {} }, x: new Float32Array(new SharedArrayBuffer(4 * dim)).fill(i),
    layoutHash: 'overlap', rng: new Rng(i), rate: 0, collective: new SharedAllReduce(i, buffers, backend),
    optimizer: new LocalOptimizer({ lr: 0.1 }, { dim, dtype: 'f32', backend }), permit: () => {},
  }));
  const zero = new Float32Array(dim);
  // Worker 0 takes its first step (its collective begins) and two more while worker 1 has not contributed yet.
  for (let k = 0; k < 3; k++) assert.equal(await agents[0].applyGradient(0, zero, 1), true);
  assert.equal(agents[0].steps, 3, 'worker 0 did not wait for the collective');
  assert.deepEqual(completed, []);
  // Worker 1's first step completes the round: both apply the mean, worker 0 after its third step.
  await agents[1].applyGradient(0, zero, 1);
  for (let waited = 0; completed.length < 2 && waited < 2000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual([...completed].sort((a, b) => a - b), [1, 3], 'worker 1 applied it at once, worker 0 three steps after it began');
  assert.deepEqual(agents[0].x, agents[1].x, 'the same mean');
});

test('the simulator runs a collective that overlaps computation: workers step on while it is in flight', () => {
  const n = 3;
  const graph = makeTopology('ring', n);
  const objective = new Quadratic({ workers: n, dim: 4, seed: 2 });
  const base = new FragmentAveraging(4, 'f64', { start: 0, end: 4 });
  const begunAt: number[] = [];
  const appliedAt: number[] = [];
  /** A collective due every 5 local steps; it lasts long on the link, so the workers take steps meanwhile. */
  const overlapping = (overlaps: boolean): Algorithm<State> => Object.assign(Object.create(base) as FragmentAveraging, {
    collective: {
      ...base.collective,
      overlaps,
      due: (s: State) => s.steps % 5 === 0,
      begin: (s: State, t: number, out: Vec) => (begunAt.push(s.steps), base.collective.begin(s, t, out)),
      complete: (s: State, t: number, mean: Vec, o: LocalOptimizer) => (appliedAt.push(s.steps), base.collective.complete(s, t, mean, o)),
    },
  });
  const run = (overlaps: boolean) => {
    begunAt.length = 0;
    appliedAt.length = 0;
    const r = simulate({
      objective, graph, built: { algorithm: overlapping(overlaps), edgeRates: null, info: {} }, optimizer: { lr: 0.05 }, rate: 1, time: 200, seed: 1,
      every: 50, link: { latency: 1, bandwidth: 1e9 },
    });
    return { ...r, begunAt: [...begunAt], appliedAt: [...appliedAt] };
  };
  const waiting = run(false);
  const overlapped = run(true);
  // Waiting: a worker applies the mean at the very step count it began with; overlapping: some steps later.
  assert.ok(waiting.appliedAt.every((s) => s % 5 === 0), 'no step while a waiting collective is in flight');
  assert.ok(overlapped.appliedAt.some((s) => s % 5 !== 0), 'steps while an overlapping one is in flight');
  assert.ok(overlapped.summary.gradients > 1.3 * waiting.summary.gradients, `${overlapped.summary.gradients} steps against ${waiting.summary.gradients}`);
  assert.deepEqual(run(true).rows, overlapped.rows, 'deterministic');
});
