import { UsageError } from '../core/errors.js';
import { allocVec, type Dtype, type Vec } from '../core/vec.js';
import type { OuterLoop } from './outer.js';
import { dynamicInnerSteps } from './dynamic-steps.js';
import { restoreFields, type Pulled, type Push, type SavedState, type ServerRole } from './types.js';

export interface OuterServerOptions {
  dim: number;
  dtype: Dtype;
  /** Workers of the run. */
  workers: number;
  /** H, the outer learning rate ε, the momentum β and the rule. */
  outer: Omit<OuterLoop, 'nesterov'>;
  /** N: the divisor of every push, and the pushes per momentum step of delayed-nesterov. @default workers */
  buffer?: number;
  /** Dynamic Local Updates: each worker's next round takes H_w steps by its speed (dynamic-steps.ts). @default false */
  dynamic?: boolean;
}

/**
 * The server of asynchronous Local-SGD (Liu et al. 2024, docs/algorithms.md §5.6): it holds the global model θ and
 * applies the workers' pseudo-gradients g = θ_pulled − θ_w one at a time, in arrival order, each scaled by 1/N (N the
 * number of workers), so that the outer learning rate ε means what it means for DiLoCo, where the outer step takes
 * the mean of N pseudo-gradients:
 *   sgd:              m ← β m + g/N;  θ ← θ − ε m
 *   nesterov:         m ← β m + g/N;  θ ← θ − ε (g/N + β m)
 *   delayed-nesterov: buf ← buf + g;  θ ← θ − ε g/N on every push, except on every N-th push:
 *                     m ← β m + buf/N;  θ ← θ − ε (g/N + β m);  buf ← 0
 * Delayed Nesterov moves the momentum once per N pushes, with their mean: N pushes from the same θ are exactly one
 * Nesterov step on their mean (a test), and between momentum steps each push takes a plain step of its own. With
 * one worker, outer SGD with ε = 1 and β = 0 gives θ ← θ_w: plain local training (a test).
 *
 * Each push names itself by (worker, round); a push whose round is not above the last one applied from its worker
 * is a duplicate (a retry after the server's holder died) and changes nothing. The whole state — θ, m, buf, the push
 * count, the last round and speed of every worker, when each last pulled — is what a replica holds (saved/restore).
 */
export class OuterServer implements ServerRole {
  readonly model: Vec;
  readonly momentum: Vec;
  readonly buffer: Vec;
  pushes = 0;
  /** Per worker: the last round applied (0: none), its last reported speed, the push count when it last pulled. */
  readonly rounds: Float64Array;
  readonly speeds: Float64Array;
  readonly pulledAt: Float64Array;
  private readonly N: number;

  constructor(private readonly opts: OuterServerOptions, x0: Vec) {
    const { dim, dtype, workers } = opts;
    this.N = opts.buffer ?? workers;
    if (!(Number.isInteger(this.N) && this.N >= 1)) throw new UsageError(`the outer buffer must be a positive integer (got ${this.N})`, { field: 'outerBuffer' });
    if (x0.length !== dim) throw new Error(`the initial model has ${x0.length} values, not ${dim}`);
    this.model = allocVec(dtype, dim);
    this.model.set(x0);
    this.momentum = allocVec(dtype, dim);
    this.buffer = allocVec(dtype, dim);
    this.rounds = new Float64Array(workers);
    this.speeds = new Float64Array(workers);
    this.pulledAt = new Float64Array(workers);
  }

  apply(push: Push): boolean {
    const w = push.worker;
    if (!(Number.isInteger(w) && w >= 0 && w < this.rounds.length)) throw new Error(`a push from worker ${w}, outside 0…${this.rounds.length - 1}`);
    if (!(push.round > this.rounds[w])) return false;
    if (push.delta.length !== this.model.length) throw new Error(`a push of ${push.delta.length} values for a model of ${this.model.length}`);
    this.step(push.delta);
    this.rounds[w] = push.round;
    if (push.speed > 0) this.speeds[w] = push.speed;
    this.pushes++;
    return true;
  }

  /** The outer step of one push (see the class comment). */
  private step(g: Vec): void {
    const { model: theta, momentum: m, buffer: buf, N } = this;
    const { lr, mu, optimizer } = this.opts.outer;
    const d = theta.length;
    if (optimizer === 'sgd') {
      for (let k = 0; k < d; k++) {
        m[k] = mu * m[k] + g[k] / N;
        theta[k] -= lr * m[k];
      }
    } else if (optimizer === 'nesterov') {
      for (let k = 0; k < d; k++) {
        const gk = g[k] / N;
        const b = mu * m[k] + gk;
        m[k] = b;
        theta[k] -= lr * (gk + mu * b);
      }
    } else if ((this.pushes + 1) % N === 0) {
      for (let k = 0; k < d; k++) {
        const b = mu * m[k] + (buf[k] + g[k]) / N;
        m[k] = b;
        theta[k] -= lr * (g[k] / N + mu * b);
        buf[k] = 0;
      }
    } else {
      for (let k = 0; k < d; k++) {
        buf[k] += g[k];
        theta[k] -= lr * (g[k] / N);
      }
    }
  }

  staleness(worker: number): number {
    return Math.max(0, this.pushes - 1 - this.pulledAt[worker]);
  }

  answer(worker: number): Pulled {
    this.pulledAt[worker] = this.pushes;
    const { H } = this.opts.outer;
    return { model: this.model, innerSteps: this.opts.dynamic ? dynamicInnerSteps(H, this.speeds, worker) : H };
  }

  forget(worker: number): void {
    this.speeds[worker] = 0;
  }

  saved(): SavedState {
    const { model, momentum, buffer, rounds, speeds, pulledAt } = this;
    return { vectors: { model, momentum, buffer, rounds, speeds, pulledAt }, scalars: { pushes: this.pushes } };
  }

  restore(saved: SavedState): void {
    restoreFields(this, saved);
  }
}
