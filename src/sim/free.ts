/**
 * The simulator's free-running pairwise driver: independent Poisson gradient clocks (one per worker, at its speed)
 * and Poisson edges (at the algorithm's or the rate-weighted graph's rates). With a link model (faithful mode) an
 * exchange takes time and a worker is in at most one at a time: a busy worker skips the others and keeps computing.
 */
import { allocVec, type Vec } from '../core/vec.js';
import { AliasTable } from './alias.js';
import { EventHeap } from './heap.js';
import { gridRecorder } from './metrics.js';
import { exchangeDuration, messageBytes, pairwiseOf, type DriverContext } from './run.js';

export function runFree(ctx: DriverContext, rates: Float64Array): void {
  const { opts, starts, speeds, gradients, sources, optimizers, rng, counts } = ctx;
  const { graph, objective } = opts;
  const algo = opts.built.algorithm;
  const pairwise = pairwiseOf(opts, algo);
  const n = graph.n;
  const edges = graph.edges;
  const states = starts.map((x0) => algo.createState(x0, 0));
  const nGrad = gradients ? n : 0;
  const weights = new Float64Array(nGrad + edges.length);
  for (let i = 0; i < nGrad; i++) weights[i] = speeds[i];
  weights.set(rates, nGrad);
  const table = new AliasTable(weights);
  const total = table.total;
  const len = pairwise.messageLength();
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
  const record = gridRecorder(opts, algo, states, ctx.emit, opts.churn ? live : undefined);
  const churnUntil = (until: number) => {
    while (changes.length > 0 && changes[0].t <= until) {
      const c = changes.shift()!;
      record(c.t);
      if (!c.back) {
        live[c.worker] = 0;
        continue;
      }
      // Back from a live neighbour's x (else any live worker's, else its own), with fresh algorithm and optimizer state.
      const neighbours = graph.neighbors[c.worker].filter((j) => live[j]);
      const from = neighbours[0] ?? live.indexOf(1);
      if (from >= 0) algo.advance(states[from], c.t);
      const src = from >= 0 ? states[from].x : states[c.worker].x;
      states[c.worker] = algo.createState(objective.dtype === 'f64' ? Float64Array.from(src) : Float32Array.from(src), c.t);
      optimizers[c.worker].reset();
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
        pairwise.receive(states[ex.i], t, ex.fromJ);
        pairwise.receive(states[ex.j], t, ex.fromI);
        counts.communications++;
        counts.bytes += 2 * messageBytes(opts, len);
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
      algo.localStep(states[k], t, sources[k], optimizers[k]);
      counts.gradients++;
      continue;
    }
    const [i, j] = edges[k - nGrad];
    if (!live[i] || !live[j]) {
      counts.skipped++;
    } else if (!link) {
      pairwise.message(states[i], t, mi);
      pairwise.message(states[j], t, mj);
      pairwise.receive(states[i], t, mj);
      pairwise.receive(states[j], t, mi);
      counts.communications++;
      counts.bytes += 2 * messageBytes(opts, len);
    } else if (busy[i] || busy[j]) {
      counts.skipped++;
    } else {
      const fromI = take();
      const fromJ = take();
      pairwise.message(states[i], t, fromI);
      pairwise.message(states[j], t, fromJ);
      busy[i] = busy[j] = 1;
      inFlight.push(t + duration, { i, j, fromI, fromJ });
    }
  }
}
