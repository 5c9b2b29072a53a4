import { buildAlgorithm } from '../../src/algorithms/index.js';
import type { Algorithm, WorkerState } from '../../src/algorithms/types.js';
import { makeTopology } from '../../src/graph/topology.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { simulate } from '../../src/sim/simulator.js';
import { workerSpeeds } from '../../src/sim/speeds.js';
import { mean, table } from './common.js';

type Clock = 'own' | 'virtual' | 'cadence';

/**
 * A2CiD2 in the paced simulator with its mixing on another clock than the worker's own (speed × t, the runtime's and
 * the authors' clock: one unit per expected duration of the worker's own step, waits for communication not counted):
 * 'virtual' — every worker on the virtual time t; 'cadence' — the worker's own steps, waits counted (wall-clock time
 * over a moving average, factor ½, of the time between its steps). The wrapper sees the worker's own time τ = s·t.
 */
function onClock<S extends WorkerState>(inner: Algorithm<S>, speeds: Float64Array, clock: Clock): Algorithm<S> {
  if (clock === 'own') return inner;
  const who = new Map<unknown, number>();
  const byVector = new Map<unknown, number>();
  const vectorOf = (s: S) => (s as unknown as { xt?: unknown }).xt;
  let created = 0;
  const n = speeds.length;
  const average = new Float64Array(n);
  const time = new Float64Array(n);
  const last = new Float64Array(n);
  const lastStep = new Float64Array(n);
  const worker = (s: S) => who.get(s) ?? byVector.get(vectorOf(s)) ?? 0;
  /** The time to hand to worker w's handler at its own time τ (advancing its cadence clock, for its own state). */
  const at = (s: S, tau: number): number => {
    const w = worker(s);
    const t = tau / speeds[w];
    if (clock === 'virtual') return t;
    const ahead = average[w] > 0 ? (t - last[w]) / average[w] : 0;
    if (!who.has(s)) return time[w] + ahead; // a copy taken for the metrics
    time[w] += ahead;
    last[w] = t;
    return time[w];
  };
  return {
    name: inner.name,
    createState: (x0, t0) => {
      const s = inner.createState(x0, t0);
      if (created < n) {
        who.set(s, created);
        byVector.set(vectorOf(s), created);
        created++;
      }
      return s;
    },
    advance: (s, tau) => inner.advance(s, at(s, tau)),
    localStep: (s, tau, gradient, optimizer) => {
      const t = at(s, tau);
      const w = worker(s);
      const cycle = tau / speeds[w] - lastStep[w];
      lastStep[w] = tau / speeds[w];
      average[w] = average[w] > 0 ? 0.5 * average[w] + 0.5 * cycle : cycle;
      return inner.localStep(s, t, gradient, optimizer);
    },
    pairwise: {
      messageLength: () => inner.pairwise!.messageLength(),
      message: (s, tau, out) => inner.pairwise!.message(s, at(s, tau), out),
      receive: (s, tau, peer) => inner.pairwise!.receive(s, at(s, tau), peer),
    },
    saved: (s) => inner.saved(s),
    restore: (s, saved) => {
      const w = byVector.get(saved.vectors.xt);
      if (w !== undefined) byVector.set(vectorOf(s), w);
      inner.restore(s, saved);
    },
  };
}

/**
 * Which clock A2CiD2's mixing should run on (docs/algorithms.md §2.6), on heterogeneous quadratics, ring of 16, rate
 * 1, quota pacing (the runtime's rate control): workers of equal or different speeds, and exchanges that take time
 * (the compute loop then waits). Mean consensus distance over the second half of the run.
 */
export function acidClock(opts: { seeds?: number; quick?: boolean } = {}) {
  const seeds = opts.seeds ?? 3;
  const n = 16;
  const time = opts.quick ? 300 : 600;
  const graph = makeTopology('ring', n);
  const cases = [
    { name: 'equal speeds', speeds: () => new Float64Array(n).fill(1), latency: 0 },
    { name: 'speeds 1 and 0.5, alternating', speeds: () => Float64Array.from({ length: n }, (_, i) => (i % 2 ? 0.5 : 1)), latency: 0 },
    { name: '3 workers 4× slower', speeds: (seed: number) => workerSpeeds(n, { stragglers: 3, slowdown: 4, seed }), latency: 0 },
    { name: 'lognormal speeds (σ 0.7)', speeds: (seed: number) => workerSpeeds(n, { distribution: 'lognormal:0.7', seed }), latency: 0 },
    { name: 'equal speeds, exchanges of 0.5 steps', speeds: () => new Float64Array(n).fill(1), latency: 0.5 },
    { name: 'equal speeds, exchanges of 2 steps', speeds: () => new Float64Array(n).fill(1), latency: 2 },
  ];
  const variants: Array<[string, 'acid' | 'gossip', Clock]> = [['gossip', 'gossip', 'own'], ['own (runtime, authors)', 'acid', 'own'], ['virtual', 'acid', 'virtual'], ['cadence', 'acid', 'cadence']];
  const results: Array<Record<string, unknown>> = [];
  const rows: Array<Array<string | number>> = [];
  for (const c of opts.quick ? cases.slice(0, 2) : cases) {
    const cells: string[] = [];
    for (const [label, algo, clock] of variants) {
      const values: number[] = [];
      for (let seed = 1; seed <= seeds; seed++) {
        const speeds = c.speeds(seed);
        const objective = new Quadratic({ workers: n, dim: 20, seed, spread: 1 });
        const built = buildAlgorithm({ name: algo, graph, rate: 1, dim: 20, dtype: 'f64' });
        const r = simulate({
          objective, graph, built: { ...built, algorithm: onClock(built.algorithm, speeds, clock) }, optimizer: { lr: 0.05 }, rate: 1, time, seed, every: 10, speeds,
          pacing: 'quota', link: c.latency > 0 ? { latency: c.latency, bandwidth: 1e9 } : undefined,
        });
        values.push(mean(r.rows.filter((row) => row.t >= time / 2).map((row) => row.consensus)));
      }
      results.push({ case: c.name, variant: label, consensus: mean(values) });
      cells.push(mean(values).toPrecision(3));
    }
    rows.push([c.name, ...cells]);
  }
  const markdown = table(['workers', ...variants.map(([label, algo]) => (algo === 'gossip' ? 'gossip' : `A2CiD2, ${label} clock`))], rows);
  return { name: 'acid-clock', results, markdown };
}
