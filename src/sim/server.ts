/**
 * The simulator's driver for algorithms whose workers push their rounds to a server (asynchronous Local-SGD). Every
 * worker steps on its own Poisson gradient clock (at its speed); when its push is due it sends it, and waits: the push
 * reaches the server one message's time later on the link model (latency + d / bandwidth; instantly without one),
 * the server applies the pushes one at a time in the order they arrive and answers each with its model and the
 * worker's next inner steps, and the answer takes as long again to come back. Meanwhile the others go on, so a push is
 * stale by the pushes the server applied since its worker pulled. A worker's speed, as it reports it, is its steps
 * over the time they took, all its rounds so far together. Metrics rows measure the server's model.
 */
import { allocVec, type Vec } from '../core/vec.js';
import { EventHeap } from './heap.js';
import { modelGrid } from './metrics.js';
import { contributionEncoders, messageBytes, type DriverContext } from './run.js';

type Event = { kind: 'step' | 'arrive' | 'answered'; i: number };

/** What the server saw: its pushes, and their staleness (pushes applied between a worker's pull and its push). */
export interface ServerStats {
  pushes: number;
  meanStaleness: number;
  maxStaleness: number;
}

export function runServer(ctx: DriverContext): ServerStats {
  const { opts, starts, speeds, sources, optimizers, rng, counts } = ctx;
  const algo = opts.built.algorithm;
  const server = algo.server;
  if (!server) throw new Error(`${algo.name} has no server`);
  const { objective } = opts;
  const n = starts.length;
  const T = opts.time;
  const states = starts.map((x0) => algo.createState(x0, 0));
  const role = server.createServer(starts[0]);
  const copy = (v: Vec): Vec => (objective.dtype === 'f64' ? Float64Array.from(v) : Float32Array.from(v));
  const record = modelGrid(opts, () => [copy(role.model)], ctx.emit);
  // A push travels encoded, its answer (a model) in float32.
  const pushTime = opts.link ? opts.link.latency + messageBytes(opts, objective.dim) / (4 * opts.link.bandwidth) : 0;
  const answerTime = opts.link ? opts.link.latency + objective.dim / opts.link.bandwidth : 0;
  const encoders = contributionEncoders(opts, n);
  const whole = [{ start: 0, end: objective.dim }];
  // Per worker: its push in flight (one at a time) and what it says, the server's answer, when its round started,
  // its steps and the time they took.
  const deltas = states.map(() => allocVec(objective.dtype, objective.dim));
  const pushed = states.map(() => ({ round: 0, steps: 0, speed: 0 }));
  const answers = states.map(() => allocVec(objective.dtype, objective.dim));
  const innerSteps = new Float64Array(n);
  const roundStart = new Float64Array(n);
  const stepsDone = new Float64Array(n);
  const computeTime = new Float64Array(n);
  let staleness = 0;
  let maxStaleness = 0;

  const events = new EventHeap<Event>();
  const step = (i: number, t: number) => events.push(t + rng.exponential(speeds[i]), { kind: 'step', i });
  for (let i = 0; i < n; i++) step(i, 0);
  for (;;) {
    const t = events.peekTime();
    record(t);
    if (t > T) break;
    const { kind, i } = events.pop();
    counts.events++;
    if (kind === 'step') {
      algo.localStep(states[i], t, sources[i], optimizers[i]);
      counts.gradients++;
      if (!server.due(states[i])) step(i, t);
      else {
        const { round, steps } = server.push(states[i], t, deltas[i]);
        encoders[i].encode(deltas[i], whole);
        stepsDone[i] += steps;
        computeTime[i] += t - roundStart[i];
        pushed[i] = { round, steps, speed: computeTime[i] > 0 ? stepsDone[i] / computeTime[i] : 0 };
        events.push(t + pushTime, { kind: 'arrive', i });
      }
    } else if (kind === 'arrive') {
      role.apply({ worker: i, ...pushed[i], delta: deltas[i] });
      const stale = role.staleness(i);
      staleness += stale;
      maxStaleness = Math.max(maxStaleness, stale);
      const answer = role.answer(i);
      answers[i].set(answer.model);
      innerSteps[i] = answer.innerSteps;
      counts.communications++;
      // The push and its answer, a model each.
      counts.bytes += messageBytes(opts, answer.model.length) + messageBytes(opts, answer.model.length, false);
      counts.outerSteps++;
      events.push(t + answerTime, { kind: 'answered', i });
    } else {
      server.pull(states[i], t, { model: answers[i], innerSteps: innerSteps[i] });
      roundStart[i] = t;
      step(i, t);
    }
  }
  return { pushes: role.pushes, meanStaleness: role.pushes > 0 ? staleness / role.pushes : 0, maxStaleness };
}
