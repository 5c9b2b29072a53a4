/**
 * The worked example of the README's "Writing an algorithm": local SGD with periodic averaging (every worker takes H
 * local steps, then the workers average their models), written once against the algorithm interface and run by the
 * simulator. The README shows this very class.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';
import { restoreFields, type Algorithm, type CollectiveCapability, type GradientSource, type SavedState } from '../../src/algorithms/types.js';
import { allocVec, type Dtype, type Vec } from '../../src/core/vec.js';
import { makeTopology } from '../../src/graph/topology.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { simulate } from '../../src/sim/simulator.js';

// --- the example ---------------------------------------------------------------------------------------------------

interface PeriodicState {
  readonly x: Vec;
  /** Local steps since the last averaging. */
  steps: number;
}

/** Local SGD with periodic averaging: H local steps, then x ← the mean of every worker's x. */
class PeriodicAveraging implements Algorithm<PeriodicState> {
  readonly name = 'periodic';
  readonly collective: CollectiveCapability<PeriodicState>;
  private readonly grad: Vec;

  constructor(private readonly dim: number, private readonly dtype: Dtype, private readonly H: number) {
    this.grad = allocVec(dtype, dim);
    this.collective = {
      overlaps: false,                                  // wait for the mean before the next step
      due: (s) => s.steps % this.H === 0,               // after every H-th local step
      ranges: () => [{ start: 0, end: this.dim }],      // the whole model
      begin: (s, _t, out) => out.set(s.x),              // this worker's contribution: its model
      complete: (s, _t, mean) => (s.x as Vec).set(mean), // everyone takes the mean
    };
  }

  createState(x0: Vec): PeriodicState {
    const x = allocVec(this.dtype, this.dim);
    x.set(x0);
    return { x, steps: 0 };
  }

  advance(): void {}

  localStep(s: PeriodicState, _t: number, gradient: GradientSource, optimizer: LocalOptimizer): number {
    const loss = gradient(s.x, this.grad);
    optimizer.update(s.x, this.grad);
    s.steps++;
    return loss;
  }

  saved(s: PeriodicState): SavedState {
    return { vectors: {}, scalars: { steps: s.steps } };
  }

  restore(s: PeriodicState, saved: SavedState): void {
    restoreFields(s, saved);
  }
}

// --- its checks ----------------------------------------------------------------------------------------------------

function run(H: number, time = 400) {
  const n = 8;
  const graph = makeTopology('ring', n);
  const objective = new Quadratic({ workers: n, dim: 5, seed: 3 });
  const algorithm = new PeriodicAveraging(objective.dim, objective.dtype, H);
  return simulate({ objective, graph, built: { algorithm, edgeRates: null, info: {} }, optimizer: { lr: 0.05 }, rate: 1, time, seed: 2, every: time / 4 });
}

test('the worked example runs in the simulator: H = 1 is AllReduce SGD, a larger H communicates less and drifts more', () => {
  const every = run(1);
  const rarely = run(10);
  // (The last row falls inside a round: after its local steps, before its averaging.)
  assert.ok(every.summary.optimality! < 0.05, `H = 1 ends next to the optimum of the sum (${every.summary.optimality})`);
  assert.ok(every.summary.consensus < 0.01, `H = 1: the models stay together (${every.summary.consensus})`);
  assert.ok(rarely.summary.communications < every.summary.communications / 5, 'H = 10: far fewer rounds');
  assert.ok(rarely.summary.consensus > 10 * every.summary.consensus, 'local steps drift apart between averagings');
});

test('the worked example saves and restores its scalar state', () => {
  const a = new PeriodicAveraging(3, 'f64', 4);
  const s = a.createState(new Float64Array(3));
  s.steps = 7;
  const t = a.createState(new Float64Array(3));
  a.restore(t, a.saved(s));
  assert.equal(t.steps, 7);
});

test('the README shows the example as it is here', () => {
  const here = readFileSync(new URL(import.meta.url), 'utf8');
  const start = (text: string) => text.indexOf('class PeriodicAveraging implements');
  const end = (text: string, from: number) => text.indexOf('\n}\n', from) + 2;
  const ours = here.slice(start(here), end(here, start(here)));
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const shown = readme.slice(start(readme), end(readme, start(readme)));
  assert.ok(ours.length > 500);
  assert.equal(shown, ours);
});
