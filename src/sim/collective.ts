/**
 * The simulator's collective driver, for algorithms whose collectives wait for every worker (AllReduce SGD). Each
 * round, every worker takes local steps on its own gradient clock until its collective is due; the collective
 * starts when the slowest worker is done and lasts as long as a ring all-reduce of the contribution on the link
 * model: 2(n − 1) latency-bound steps, each moving 1/n of it. Then every worker applies the mean. Under a lossy
 * codec every contribution and the mean are rounded as they travel (core/contribution.ts).
 * Metrics rows at grid times inside a round show the models after the round's local steps.
 */
import { rangesLength } from '../algorithms/types.js';
import { UsageError } from '../core/errors.js';
import { allocVec } from '../core/vec.js';
import { gridRecorder } from './metrics.js';
import { allReduceDuration, contributionEncoders, messageBytes, type DriverContext } from './run.js';

export function runCollective(ctx: DriverContext): void {
  const { opts, starts, speeds, gradients, sources, optimizers, rng, counts } = ctx;
  const algo = opts.built.algorithm;
  const collective = algo.collective;
  if (!collective) throw new Error(`${algo.name} has no collective`);
  if (collective.overlaps) throw new UsageError(`${algo.name} overlaps its collectives with local steps: the simulator runs only collectives that wait`);
  if (collective.sharded) throw new Error(`${algo.name}'s sharded collectives run in the simulator's overlapping driver`);
  const { objective } = opts;
  const n = starts.length;
  const states = starts.map((x0) => algo.createState(x0));
  const T = opts.time;
  const encoders = contributionEncoders(opts, n);
  const record = gridRecorder(opts, algo, states, ctx.emit);
  // The round's buffers, kept while contributions keep their length.
  let contribution = allocVec(objective.dtype, 0);
  let mean = allocVec(objective.dtype, 0);
  let t = 0;
  for (;;) {
    let slowest = 0;
    let steps = 0;
    if (gradients) {
      for (let i = 0; i < n; i++) {
        let took = 0;
        do {
          took += rng.exponential(speeds[i]);
          algo.localStep(states[i], t + took, sources[i], optimizers[i]);
          steps++;
        } while (!collective.due(states[i]));
        slowest = Math.max(slowest, took);
      }
    }
    const ranges = collective.ranges(states[0]);
    const len = rangesLength(ranges);
    counts.largestCollective = Math.max(counts.largestCollective, len);
    const commTime = allReduceDuration(opts, n, len);
    const end = t + slowest + commTime;
    record(end);
    if (end > T || (!gradients && commTime === 0)) break;
    t = end;
    if (contribution.length !== len) {
      contribution = allocVec(objective.dtype, len);
      mean = allocVec(objective.dtype, len);
    }
    mean.fill(0);
    for (let i = 0; i < n; i++) {
      collective.begin(states[i], t, contribution);
      encoders[i].encode(contribution, ranges);
      for (let k = 0; k < len; k++) mean[k] += contribution[k] / n;
    }
    encoders[0].roundMean(mean);
    for (let i = 0; i < n; i++) collective.complete(states[i], t, mean, optimizers[i]);
    counts.gradients += steps;
    counts.communications += n - 1;
    // A ring all-reduce: every worker sends 2(n − 1)/n of the contribution.
    counts.bytes += 2 * (n - 1) * messageBytes(opts, len);
    counts.outerSteps++;
    counts.events += n;
  }
}
