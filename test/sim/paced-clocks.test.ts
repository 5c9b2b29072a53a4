/**
 * A2CiD2's time in the paced simulator. The runtime (and the authors' code) measures each worker's time in its own
 * expected local steps: wall-clock time over a moving average of its own step's duration (docs/algorithms.md §2.6).
 * The paced mode models the runtime, so a worker of speed s gets the time s · t at virtual time t: one unit per
 * expected step of its own. The free mode keeps the virtual time for every worker.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Algorithm, WorkerState } from '../../src/algorithms/types.js';
import type { Vec } from '../../src/core/vec.js';
import { makeTopology } from '../../src/graph/topology.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { simulate } from '../../src/sim/simulator.js';

interface ClockState extends WorkerState {
  x: Vec;
  id: number;
  /** The time handed to the worker's last local step, and its steps. */
  lastStep: number;
  steps: number;
}

/**
 * Records the times the driver hands to each worker's handlers: a message carries its sender's id and time, and the
 * receiver notes both beside its own.
 */
function clockProbe(n: number) {
  let created = 0;
  const states: ClockState[] = [];
  const pairs: Array<{ i: number; ti: number; j: number; tj: number }> = [];
  const algorithm: Algorithm<ClockState> = {
    name: 'clock-probe',
    createState: (x0) => {
      const s = { x: x0.slice(), id: created++ % n, lastStep: 0, steps: 0 };
      if (states.length < n) states.push(s);
      return s;
    },
    advance: () => {},
    localStep: (s, t) => {
      s.lastStep = t;
      s.steps++;
      return 0;
    },
    pairwise: {
      messageLength: () => 2,
      message: (s, t, out) => {
        out[0] = s.id;
        out[1] = t;
      },
      receive: (s, _t, peer) => void pairs.push({ i: s.id, ti: NaN, j: peer[0], tj: peer[1] }),
    },
    saved: () => ({ vectors: {}, scalars: {} }),
    restore: () => {},
  };
  return { built: { algorithm: algorithm as unknown as Algorithm, edgeRates: null, info: {} }, states, pairs };
}

function run(pacing: 'quota' | 'free', speeds: Float64Array) {
  const n = speeds.length;
  const graph = makeTopology('ring', n);
  const probe = clockProbe(n);
  const objective = new Quadratic({ workers: n, dim: 2, seed: 1 });
  simulate({ objective, graph, built: probe.built, optimizer: { lr: 0.01 }, rate: 1, time: 600, seed: 2, every: 600, speeds, pacing });
  return probe;
}

const SPEEDS = Float64Array.from([1, 0.5, 1, 0.25, 2, 0.5]);

test('paced mode: the two sides of an exchange start it at the same virtual time, each on its own clock (speed × t)', () => {
  const { pairs } = run('quota', SPEEDS);
  assert.ok(pairs.length > 500);
  // Both sides write their messages at the same virtual time t, each stamping its own time: speed × t. Each exchange
  // is received twice, once by each side with the other's stamp; scaled back by the sender's speed, the two agree.
  const stamps = new Map<string, number[]>();
  for (const p of pairs) {
    const edge = `${Math.min(p.i, p.j)}-${Math.max(p.i, p.j)}`;
    if (!stamps.has(edge)) stamps.set(edge, []);
    stamps.get(edge)!.push(p.tj / SPEEDS[p.j]);
  }
  let checked = 0;
  for (const list of stamps.values()) {
    const sorted = [...list].sort((a, b) => a - b);
    assert.equal(sorted.length % 2, 0);
    for (let k = 0; k < sorted.length; k += 2) {
      assert.ok(Math.abs(sorted[k] - sorted[k + 1]) < 1e-9 * Math.max(1, sorted[k]), `${sorted[k]} and ${sorted[k + 1]}`);
      checked++;
    }
  }
  assert.ok(checked > 250);
});

test('paced mode: a worker\'s clock counts its own expected steps — about one step per unit, whatever its speed', () => {
  const { states } = run('quota', SPEEDS);
  for (const s of states) {
    // Steps are computed back to back (exponential durations of mean 1/speed) except while waiting for a quota.
    const perUnit = s.steps / s.lastStep;
    assert.ok(perUnit > 0.8 && perUnit < 1.1, `worker ${s.id} (speed ${SPEEDS[s.id]}): ${s.steps} steps in ${s.lastStep.toFixed(1)} units of its clock`);
  }
});

test('free mode: every worker on the virtual time, in which the edges fire at the rates of the constants', () => {
  const { pairs, states } = run('free', SPEEDS);
  for (const p of pairs.slice(0, 200)) {
    const mine = pairs.find((q) => q.i === p.j && q.j === p.i && q.tj === p.tj);
    assert.ok(mine, 'both sides stamped the same time');
  }
  for (const s of states) {
    const perUnit = s.steps / s.lastStep;
    assert.ok(Math.abs(perUnit / SPEEDS[s.id] - 1) < 0.15, `worker ${s.id}: ${perUnit} steps per unit at speed ${SPEEDS[s.id]}`);
  }
});
