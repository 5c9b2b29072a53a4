/**
 * The simulator's paced mode: workers paced by the runtime's rate control instead of free-running Poisson clocks.
 *
 * Each worker computes gradient steps back to back (exponential durations of mean 1/speed, so that one time unit
 * is still one expected local step of a speed-1 worker) and, after step m, starts step m+1 only once it has taken
 * part in its quota of exchanges (RateControl, docs/algorithms.md §2) — r_i per step, its share of the rate-weighted
 * Laplacian (partners.ts), so that the edges fire at the rates χ1, χ2 and the A2CiD2 constants are computed for. A free
 * worker that wants an exchange pairs with a free neighbour that accepts it, by the same rule as the runtime's agents
 * (RateControl.accepts): uniformly among those when all its neighbours carry the same rate; otherwise with the
 * partner drawn for its next exchange in proportion to the edge rates, for which it waits (choosing by weight among
 * the free ones would under-serve the heavier edges, whose own weight always sits in the denominator). An exchange
 * lasts latency + size / bandwidth for the proposer (the link model; instantaneous without one) and one latency more
 * for the acceptor, which commits on the proposer's acknowledgement, as in the runtime; a worker is in at most one at
 * a time. Gradients are computed and applied at the end of their step, as in the free mode.
 *
 * The free mode models workers whose computation never waits for communication (a busy worker skips an exchange);
 * this one models the runtime, where the compute loop waits for its quota, so that over slow links the number of
 * exchanges per gradient step stays at the rate and the gradient steps slow down instead.
 *
 * Each worker's handlers run on its own clock, as in the runtime (LocalClock, docs/algorithms.md §2.6): one unit per
 * expected duration of its own local step, waits for communication not counted — speed_i · t at virtual time t. (The
 * free mode keeps the virtual time, in which its edges fire at the rates A2CiD2's constants assume.)
 */
import { RateControl } from '../algorithms/rate-control.js';
import { allocVec, type Vec } from '../core/vec.js';
import { drawWeighted, partnersOf } from '../graph/partners.js';
import { EventHeap } from './heap.js';
import { gridRecorder } from './metrics.js';
import { exchangeDuration, messageBytes, pairwiseOf, type DriverContext } from './run.js';

type Event = { kind: 'step'; i: number } | { kind: 'end'; self: number; from: Vec; proposer: boolean };

export function runPaced(ctx: DriverContext): void {
  const { opts, starts, speeds, sources, optimizers, rng, counts } = ctx;
  const { graph, objective } = opts;
  const algo = opts.built.algorithm;
  const pairwise = pairwiseOf(opts, algo);
  const n = graph.n;
  const states = starts.map((x0) => algo.createState(x0, 0));
  const partners = starts.map((_, i) => partnersOf(graph, opts.rate, i));
  const rate = partners.map((p, i) => new RateControl(p.rate, 'poisson', rng.fork(`rate:${i}`)));
  const neighbours = partners.map((p) => p.ids);
  /** The partner drawn for a worker's next exchange (−1: none yet), when its neighbours carry unequal rates. */
  const drawn = new Int32Array(n).fill(-1);
  const len = pairwise.messageLength();
  const pool: Vec[] = [];
  const take = () => pool.pop() ?? allocVec(objective.dtype, len);
  const duration = exchangeDuration(opts, len);
  // The acceptor learns that the exchange is complete one trip after the proposer (the proposer's acknowledgement).
  const ack = opts.link ? opts.link.latency : 0;
  const busy = new Uint8Array(n);
  const waiting = new Uint8Array(n);
  const events = new EventHeap<Event>();
  const candidates: number[] = [];
  /** Worker i's own time at virtual time t. */
  const own = (i: number, t: number) => speeds[i] * t;

  const startStep = (i: number, t: number) => events.push(t + rng.exponential(speeds[i]), { kind: 'step', i });
  /** Pairs worker i with a free neighbour that accepts it, if i is free and wants an exchange. */
  const pair = (i: number, t: number) => {
    const ri = rate[i];
    if (busy[i] || !ri.canExchange()) return;
    const owed = waiting[i] ? ri.owed() : 0;
    const p = partners[i];
    let j: number;
    if (p.uniform) {
      candidates.length = 0;
      for (const k of p.ids) if (!busy[k] && rate[k].accepts(ri.steps, owed)) candidates.push(k);
      if (candidates.length === 0) return;
      j = candidates[rng.int(candidates.length)];
    } else {
      if (drawn[i] < 0) drawn[i] = p.ids[drawWeighted(p.weights, rng)];
      j = drawn[i];
      if (busy[j] || !rate[j].accepts(ri.steps, owed)) return;
      drawn[i] = -1;
    }
    const fromI = take();
    const fromJ = take();
    pairwise.message(states[i], own(i, t), fromI);
    pairwise.message(states[j], own(j, t), fromJ);
    busy[i] = busy[j] = 1;
    events.push(t + duration, { kind: 'end', self: i, from: fromJ, proposer: true });
    events.push(t + duration + ack, { kind: 'end', self: j, from: fromI, proposer: false });
  };
  /** Worker k changed (a step or an exchange ended): it and its neighbours may pair now. */
  const changed = (k: number, t: number) => {
    pair(k, t);
    for (const j of neighbours[k]) pair(j, t);
  };

  for (let i = 0; i < n; i++) startStep(i, 0);
  for (let i = 0; i < n; i++) pair(i, 0);
  const record = gridRecorder(opts, algo, states, ctx.emit, undefined, own);
  for (;;) {
    const t = events.peekTime();
    record(t);
    if (t > opts.time) break;
    const ev = events.pop();
    counts.events++;
    if (ev.kind === 'step') {
      const i = ev.i;
      algo.localStep(states[i], own(i, t), sources[i], optimizers[i]);
      counts.gradients++;
      rate[i].stepDone();
      if (rate[i].canStep()) startStep(i, t);
      else waiting[i] = 1;
      changed(i, t);
      continue;
    }
    // One side of an exchange ends: it applies its peer's message and is free again.
    const k = ev.self;
    pairwise.receive(states[k], own(k, t), ev.from);
    pool.push(ev.from);
    if (ev.proposer) {
      counts.communications++;
      counts.bytes += 2 * messageBytes(opts, len);
    }
    busy[k] = 0;
    rate[k].exchangeDone();
    if (waiting[k] && rate[k].canStep()) {
      waiting[k] = 0;
      startStep(k, t);
    }
    changed(k, t);
  }
}
