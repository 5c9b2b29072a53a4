import type { Built } from '../algorithms/index.js';
import type { GradientSource, PairwiseAlgorithm, RoundAlgorithm, WorkerState } from '../algorithms/types.js';
import { UsageError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { allocVec, sqDist, type Vec } from '../core/vec.js';
import { edgeRates as graphEdgeRates } from '../graph/rates.js';
import type { Graph } from '../graph/topology.js';
import type { Objective } from '../objectives/objective.js';
import type { MetricsRow } from '../report/metrics.js';
import { AliasTable } from './alias.js';
import { EventHeap } from './heap.js';
import { runPaced } from './paced.js';

export interface LinkModel {
  /** Fixed delay of an exchange, in time units (expected local steps). */
  latency: number;
  /** Floats moved per time unit; an exchange of d floats takes latency + d / bandwidth. */
  bandwidth: number;
}

/** How pairwise messages travel (e.g. a lossy wire codec). */
export interface MessageCodec {
  name: string;
  /** Rounds a message in place to what its receiver decodes. */
  round(message: Vec): void;
  /** Size on the link of a message of `count` values, in floats (what LinkModel.bandwidth moves). */
  floats(count: number): number;
}

export interface ChurnEvent {
  worker: number;
  leave: number;
  back?: number;
}

export interface SimOptions {
  objective: Objective;
  graph: Graph;
  built: Built;
  /** Expected pairwise averagings per worker per unit time (for gossip and A2CiD2). */
  rate: number;
  /** Virtual time to simulate, in expected local steps. */
  time: number;
  seed: number;
  /** Gradient-clock rate of each worker (default: all 1). */
  speeds?: Float64Array;
  /** false: pure gossip, no gradient events. */
  gradients?: boolean;
  /** 'shared': all workers start at the same point; 'random': each worker at its own random point; or a given point. */
  init?: 'shared' | 'random' | Vec;
  /** Faithful mode: a worker is in at most one exchange at a time and an exchange takes time. */
  link?: LinkModel;
  /**
   * 'free' (default): independent Poisson gradient clocks and edges. 'quota': the runtime's rate control — a
   * worker's next step waits for its quota of exchanges, and free workers pair with free neighbours (paced.ts).
   */
  pacing?: 'free' | 'quota';
  /** Pairwise messages: rounded by this codec and sized by it on the link (default: exact, full size). */
  codec?: MessageCodec;
  /**
   * Churn (free pacing): worker `worker` leaves at time `leave` (no gradient steps, no exchanges; an exchange in
   * flight with it is lost on both sides) and, if `back` is given, returns then from a live neighbour's x, as a
   * late joiner pulls it. Metrics rows then cover the live workers, and say how many (`live`).
   */
  churn?: ChurnEvent[];
  /** Metrics grid step in virtual time. */
  every: number;
  onMetrics?: (row: MetricsRow) => void;
  onProgress?: (t: number) => void;
}

export interface SimSummary {
  algorithm: string;
  problem: string;
  workers: number;
  time: number;
  consensus: number;
  optimality: number | null;
  steadyOptimality: number | null;
  loss: number;
  gradients: number;
  communications: number;
  /** Exchanges that could not start because a peer was busy (faithful mode). */
  skipped: number;
  events: number;
  wallSeconds: number;
  eventsPerSecond: number;
}

/**
 * Deterministic discrete-event simulation in virtual time. Gradient clocks and edges are independent Poisson
 * processes; the algorithm reacts to their events through the same handlers the runtime calls.
 */
export function simulate(opts: SimOptions): { summary: SimSummary; rows: MetricsRow[]; final: Vec[] } {
  const started = performance.now();
  const { objective, graph } = opts;
  const n = graph.n;
  const rng = new Rng(opts.seed);
  const eventRng = rng.fork('events');
  const noiseRng = rng.fork('noise');
  const initRng = rng.fork('init');
  const speeds = opts.speeds ?? new Float64Array(n).fill(1);
  const gradients = opts.gradients ?? true;
  const sources: GradientSource[] = [];
  for (let i = 0; i < n; i++) sources.push((x, g) => objective.gradient(i, x, g, noiseRng));

  const starts: Vec[] = [];
  if (opts.init === 'random') for (let i = 0; i < n; i++) starts.push(objective.initial(initRng));
  else {
    const x0 = opts.init === undefined || opts.init === 'shared' ? objective.initial(initRng) : opts.init;
    for (let i = 0; i < n; i++) starts.push(x0);
  }

  const rows: MetricsRow[] = [];
  const counts = { gradients: 0, communications: 0, skipped: 0, events: 0 };
  let finalStates: WorkerState[] = [];
  const emit = (t: number, states: WorkerState[]) => {
    finalStates = states;
    const row = measure(objective, states, t, counts);
    if (opts.churn) row.live = states.length;
    rows.push(row);
    opts.onMetrics?.(row);
  };

  checkChurn(opts);
  if (opts.built.kind === 'round') {
    if (opts.churn) throw new UsageError(`churn is simulated for pairwise algorithms: ${opts.built.algorithm.name} rounds need every worker`);
    if (opts.codec) throw new UsageError(`a message codec applies to pairwise algorithms: ${opts.built.algorithm.name} averages exact gradients`);
    runRounds(opts, opts.built.algorithm, starts, speeds, gradients, sources, eventRng, counts, emit);
  } else {
    const algo = opts.codec ? roundingMessages(opts.built.algorithm, opts.codec) : opts.built.algorithm;
    if (opts.pacing === 'quota') {
      if (opts.churn) throw new UsageError('churn is simulated in the free pacing only');
      if (!gradients) throw new UsageError('the paced mode needs gradient steps (it paces exchanges by them)');
      if (opts.built.edgeRates) throw new UsageError(`${algo.name} prescribes its own communication rates: it runs in the free mode only`);
      runPaced(opts, algo, starts, speeds, sources, eventRng, counts, emit);
    } else {
      const rates = opts.built.edgeRates ?? graphEdgeRates(graph, opts.rate);
      runPairwise(opts, algo, rates, starts, speeds, gradients, sources, eventRng, counts, emit);
    }
  }

  const wallSeconds = (performance.now() - started) / 1000;
  const last = rows[rows.length - 1];
  const secondHalf = rows.filter((r) => r.t >= opts.time / 2 && r.optimality !== undefined);
  const summary: SimSummary = {
    algorithm: opts.built.algorithm.name,
    problem: objective.name,
    workers: n,
    time: opts.time,
    consensus: last.consensus,
    optimality: last.optimality ?? null,
    steadyOptimality: secondHalf.length > 0 ? secondHalf.reduce((s, r) => s + r.optimality!, 0) / secondHalf.length : null,
    loss: last.loss,
    gradients: counts.gradients,
    communications: counts.communications,
    skipped: counts.skipped,
    events: counts.events,
    wallSeconds,
    eventsPerSecond: counts.events / Math.max(wallSeconds, 1e-9),
  };
  return { summary, rows, final: finalStates.map((s) => s.x.slice()) };
}

type Counts = { gradients: number; communications: number; skipped: number; events: number };

/** The algorithm with every message it sends rounded by the codec (its handlers stay the same). */
export function roundingMessages<S extends WorkerState>(algo: PairwiseAlgorithm<S>, codec: MessageCodec): PairwiseAlgorithm<S> {
  return {
    name: algo.name,
    createState: (x0, t0) => algo.createState(x0, t0),
    advance: (s, t) => algo.advance(s, t),
    gradientStep: (s, t, gradient) => algo.gradientStep(s, t, gradient),
    messageLength: () => algo.messageLength(),
    message: (s, t, out) => {
      algo.message(s, t, out);
      codec.round(out);
    },
    receive: (s, t, peer) => algo.receive(s, t, peer),
  };
}

/** Checks the churn events: workers in range, times within the run, a worker's absences apart. */
function checkChurn(opts: SimOptions): void {
  const n = opts.graph.n;
  const byWorker = new Map<number, ChurnEvent[]>();
  for (const c of opts.churn ?? []) {
    if (!(Number.isInteger(c.worker) && c.worker >= 0 && c.worker < n)) throw new UsageError(`churn names worker ${c.worker}, outside 0…${n - 1}`);
    if (!(c.leave >= 0 && c.leave <= opts.time)) throw new UsageError(`worker ${c.worker} leaves at ${c.leave}, outside the run (0…${opts.time})`);
    if (c.back !== undefined && !(c.back > c.leave)) throw new UsageError(`worker ${c.worker} comes back at ${c.back}, not after it leaves (${c.leave})`);
    byWorker.set(c.worker, [...(byWorker.get(c.worker) ?? []), c]);
  }
  for (const [w, list] of byWorker) {
    list.sort((a, b) => a.leave - b.leave);
    for (let k = 1; k < list.length; k++) {
      if (list[k - 1].back === undefined || list[k - 1].back! > list[k].leave) throw new UsageError(`worker ${w} leaves at ${list[k].leave} before it is back`);
    }
  }
}

/** How long an exchange of `len` values lasts on the link (0 without one). */
export function exchangeDuration(opts: SimOptions, len: number): number {
  return opts.link ? opts.link.latency + (opts.codec ? opts.codec.floats(len) : len) / opts.link.bandwidth : 0;
}

function runPairwise(
  opts: SimOptions, algo: PairwiseAlgorithm, rates: Float64Array, starts: Vec[], speeds: Float64Array,
  gradients: boolean, sources: GradientSource[], rng: Rng, counts: Counts, emit: (t: number, s: WorkerState[]) => void,
): void {
  const { graph, objective } = opts;
  const n = graph.n;
  const edges = graph.edges;
  const states = starts.map((x0) => algo.createState(x0, 0));
  const nGrad = gradients ? n : 0;
  const weights = new Float64Array(nGrad + edges.length);
  for (let i = 0; i < nGrad; i++) weights[i] = speeds[i];
  weights.set(rates, nGrad);
  const table = new AliasTable(weights);
  const total = table.total;
  const len = algo.messageLength();
  const mi = allocVec(objective.dtype, len);
  const mj = allocVec(objective.dtype, len);

  // Faithful mode: exchanges in flight, their messages, and who is busy.
  const link = opts.link;
  const busy = new Uint8Array(n);
  const inFlight = new EventHeap<{ i: number; j: number; fromI: Vec; fromJ: Vec }>();
  const pool: Vec[] = [];
  const take = () => pool.pop() ?? allocVec(objective.dtype, len);
  const duration = exchangeDuration(opts, len);

  const T = opts.time;
  let t = 0;
  let nextPoisson = total > 0 ? rng.exponential(total) : Infinity;
  // Churn: who is live, and the departures and returns still to come, in time order.
  const live = new Uint8Array(n).fill(1);
  const changes = (opts.churn ?? [])
    .flatMap((c) => [{ t: c.leave, worker: c.worker, back: false }, ...(c.back === undefined ? [] : [{ t: c.back, worker: c.worker, back: true }])])
    .sort((a, b) => a.t - b.t || Number(a.back) - Number(b.back));
  const record = gridRecorder(opts, algo, states, emit, opts.churn ? live : undefined);
  const churnUntil = (until: number) => {
    while (changes.length > 0 && changes[0].t <= until) {
      const c = changes.shift()!;
      record(c.t);
      if (!c.back) {
        live[c.worker] = 0;
        continue;
      }
      // Back from a live neighbour's x (else any live worker's, else its own), with fresh algorithm state.
      const neighbours = graph.neighbors[c.worker].filter((j) => live[j]);
      const from = neighbours[0] ?? live.indexOf(1);
      if (from >= 0) algo.advance(states[from], c.t);
      const src = from >= 0 ? states[from].x : states[c.worker].x;
      states[c.worker] = algo.createState(objective.dtype === 'f64' ? Float64Array.from(src) : Float32Array.from(src), c.t);
      live[c.worker] = 1;
    }
  };

  for (;;) {
    if (inFlight.peekTime() <= nextPoisson) {
      t = inFlight.peekTime();
      churnUntil(t);
      record(t);
      if (t > T) break;
      const ex = inFlight.pop();
      busy[ex.i] = busy[ex.j] = 0;
      counts.events++;
      // A side that left while the exchange was in flight: neither side holds the other's whole message.
      if (live[ex.i] && live[ex.j]) {
        algo.receive(states[ex.i], t, ex.fromJ);
        algo.receive(states[ex.j], t, ex.fromI);
        counts.communications++;
      } else counts.skipped++;
      pool.push(ex.fromI, ex.fromJ);
      continue;
    }
    t = nextPoisson;
    churnUntil(t);
    record(t);
    if (t > T) break;
    nextPoisson = t + rng.exponential(total);
    counts.events++;
    const k = table.sample(rng);
    if (k < nGrad) {
      if (!live[k]) continue;
      algo.gradientStep(states[k], t, sources[k]);
      counts.gradients++;
      continue;
    }
    const [i, j] = edges[k - nGrad];
    if (!live[i] || !live[j]) {
      counts.skipped++;
    } else if (!link) {
      algo.message(states[i], t, mi);
      algo.message(states[j], t, mj);
      algo.receive(states[i], t, mj);
      algo.receive(states[j], t, mi);
      counts.communications++;
    } else if (busy[i] || busy[j]) {
      counts.skipped++;
    } else {
      const fromI = take();
      const fromJ = take();
      algo.message(states[i], t, fromI);
      algo.message(states[j], t, fromJ);
      busy[i] = busy[j] = 1;
      inFlight.push(t + duration, { i, j, fromI, fromJ });
    }
  }
}

/**
 * The metrics of a pairwise run: record(until) emits a row at every grid time up to `until` (each worker's state
 * advanced to it first) and reports progress.
 */
export function gridRecorder(
  opts: SimOptions, algo: PairwiseAlgorithm, states: WorkerState[], emit: (t: number, s: WorkerState[]) => void, live?: Uint8Array,
): (until: number) => void {
  const T = opts.time;
  let nextMetric = 0;
  let nextProgress = 0;
  return (until) => {
    while (nextMetric <= until && nextMetric <= T + 1e-9) {
      const measured = live ? states.filter((_, i) => live[i]) : states;
      for (const s of measured) algo.advance(s, nextMetric);
      emit(nextMetric, measured);
      nextMetric += opts.every;
    }
    if (opts.onProgress && until >= nextProgress) {
      opts.onProgress(Math.min(until, T));
      nextProgress = until + T / 100;
    }
  };
}

function runRounds(
  opts: SimOptions, algo: RoundAlgorithm, starts: Vec[], speeds: Float64Array, gradients: boolean,
  sources: GradientSource[], rng: Rng, counts: Counts, emit: (t: number, s: WorkerState[]) => void,
): void {
  const { objective } = opts;
  const n = starts.length;
  const d = objective.dim;
  const states = starts.map((x0) => algo.createState(x0));
  const contribution = allocVec(objective.dtype, d);
  const mean = allocVec(objective.dtype, d);
  // Ring all-reduce: 2(n − 1) latency-bound steps, each moving 1/n of the model.
  const link = opts.link;
  const commTime = link && n > 1 ? 2 * (n - 1) * link.latency + (2 * (n - 1) * d) / (n * link.bandwidth) : 0;
  const T = opts.time;
  let nextMetric = 0;
  let nextProgress = 0;
  let t = 0;
  for (;;) {
    // The round lasts as long as its slowest worker's gradient, then the all-reduce.
    let slowest = 0;
    if (gradients) for (let i = 0; i < n; i++) slowest = Math.max(slowest, rng.exponential(speeds[i]));
    const end = t + slowest + commTime;
    while (nextMetric <= end && nextMetric <= T + 1e-9) {
      emit(nextMetric, states);
      nextMetric += opts.every;
    }
    if (opts.onProgress && end >= nextProgress) {
      opts.onProgress(Math.min(end, T));
      nextProgress = end + T / 100;
    }
    if (end > T || (!gradients && commTime === 0)) break;
    t = end;
    mean.fill(0);
    for (let i = 0; i < n; i++) {
      if (gradients) algo.contribute(states[i], sources[i], contribution);
      else contribution.fill(0);
      for (let k = 0; k < d; k++) mean[k] += contribution[k] / n;
    }
    for (let i = 0; i < n; i++) algo.apply(states[i], mean);
    counts.gradients += gradients ? n : 0;
    counts.communications += n - 1;
    counts.events += n;
  }
}

/** Consensus, optimality and loss at the average, over the workers' current x. */
export function measure(objective: Objective, states: WorkerState[], t: number, counts: Counts): MetricsRow {
  const n = states.length;
  const d = objective.dim;
  const mean = new Float64Array(d);
  for (const s of states) for (let k = 0; k < d; k++) mean[k] += s.x[k] / n;
  let consensus = 0;
  let optimality = 0;
  for (const s of states) {
    consensus += sqDist(s.x, mean);
    if (objective.optimum) optimality += sqDist(s.x, objective.optimum);
  }
  const meanVec = objective.dtype === 'f64' ? mean : Float32Array.from(mean);
  const row: MetricsRow = {
    t,
    consensus: consensus / n,
    loss: objective.loss(meanVec),
    gradients: counts.gradients,
    communications: counts.communications,
    events: counts.events,
  };
  if (objective.optimum) row.optimality = optimality / n;
  if (objective.metrics) Object.assign(row, objective.metrics(meanVec));
  return row;
}
