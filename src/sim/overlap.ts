/**
 * The simulator's driver for collectives that overlap computation (ACCO, eager and streaming DiLoCo): every worker
 * steps on its own Poisson gradient clock; when its collective becomes due it begins it and keeps stepping. The
 * collective of round r completes once every worker has begun it, after the all-reduce's time on the link model
 * (a ring all-reduce of the contribution: 2(n − 1) latency-bound steps, each moving 1/n of it); every worker then
 * applies the mean, at that time, wherever its local steps have taken it. A worker that is due again while its
 * previous collective is still in flight waits for that one to complete; so does a worker whose algorithm says it
 * waits for it (Streaming DiLoCo, τ steps after a fragment's all-reduce began). A sharded optimizer's round is a
 * reduce-scatter and an all-gather of the same duration (sharded.ts).
 */
import type { WorkerState } from '../algorithms/types.js';
import { contributionLength } from '../algorithms/types.js';
import { allocVec, type Vec } from '../core/vec.js';
import { EventHeap } from './heap.js';
import { gridRecorder } from './metrics.js';
import { allReduceDuration, contributionEncoders, messageBytes, type DriverContext } from './run.js';
import { completeSharded, shardedRoundBytes } from './sharded.js';

type Event = { kind: 'step'; i: number } | { kind: 'complete'; round: number };

export function runOverlap(ctx: DriverContext): void {
  const { opts, starts, speeds, sources, optimizers, rng, counts } = ctx;
  const algo = opts.built.algorithm;
  const collective = algo.collective;
  if (!collective) throw new Error(`${algo.name} has no collective`);
  const { objective } = opts;
  const n = starts.length;
  const T = opts.time;
  const encoders = contributionEncoders(opts, n);
  const states: WorkerState[] = starts.map((x0) => algo.createState(x0, 0));
  /** The round each worker has begun last, and the rounds' contributions (summed in worker order at completion). */
  const begun = new Int32Array(n);
  const contributions = new Map<number, Vec[]>();
  /** Workers waiting to begin their next collective until their previous one completes. */
  const blocked = new Uint8Array(n);
  /** Workers waiting for their collective in flight before their next step. */
  const waiting = new Uint8Array(n);
  let completed = 0;
  const events = new EventHeap<Event>();
  const step = (i: number, t: number) => events.push(t + rng.exponential(speeds[i]), { kind: 'step', i });
  const record = gridRecorder(opts, algo, states, ctx.emit);
  const begin = (i: number, t: number) => {
    const round = begun[i] + 1;
    begun[i] = round;
    const ranges = collective.ranges(states[i]);
    const len = contributionLength(collective, states[i]);
    const out = allocVec(objective.dtype, len);
    collective.begin(states[i], t, out);
    encoders[i].encode(out, ranges);
    counts.largestCollective = Math.max(counts.largestCollective, len);
    const list = contributions.get(round) ?? new Array<Vec>(n);
    list[i] = out;
    contributions.set(round, list);
    if (begun.every((r) => r >= round)) {
      events.push(t + allReduceDuration(opts, n, len), { kind: 'complete', round });
    }
  };

  /** The next step of worker i, unless it waits for its collective in flight. */
  const stepOrWait = (i: number, t: number) => {
    if (begun[i] > completed && collective.waits?.(states[i])) waiting[i] = 1;
    else step(i, t);
  };

  for (let i = 0; i < n; i++) step(i, 0);
  for (;;) {
    const t = events.peekTime();
    record(t);
    if (t > T) break;
    const ev = events.pop();
    counts.events++;
    if (ev.kind === 'step') {
      const i = ev.i;
      algo.localStep(states[i], t, sources[i], optimizers[i]);
      counts.gradients++;
      if (!collective.due(states[i])) stepOrWait(i, t);
      else if (begun[i] > completed) blocked[i] = 1;
      else {
        begin(i, t);
        if (collective.overlaps) stepOrWait(i, t);
      }
      continue;
    }
    // A round completes: every worker applies the mean of the whole contributions, summed in worker order.
    const list = contributions.get(ev.round)!;
    contributions.delete(ev.round);
    const mean = allocVec(objective.dtype, list[0].length);
    for (let i = 0; i < n; i++) for (let k = 0; k < mean.length; k++) mean[k] += list[i][k] / n;
    encoders[0].roundMean(mean);
    completed = ev.round;
    counts.communications += n - 1;
    counts.outerSteps++;
    if (collective.sharded) {
      counts.bytes += shardedRoundBytes(n, mean.length, objective.dim);
      completeSharded(collective.sharded, states, t, mean, optimizers, objective.dim, objective.dtype);
    } else {
      counts.bytes += 2 * (n - 1) * messageBytes(opts, mean.length);
      for (let i = 0; i < n; i++) collective.complete(states[i], t, mean, optimizers[i]);
    }
    for (let i = 0; i < n; i++) {
      if (!collective.overlaps) step(i, t);
      else if (blocked[i]) {
        blocked[i] = 0;
        begin(i, t);
        stepOrWait(i, t);
      } else if (waiting[i]) {
        waiting[i] = 0;
        step(i, t);
      }
    }
  }
}
