import type { Dtype, Vec } from '../core/vec.js';
import { allocVec } from '../core/vec.js';
import { outerLoop, type OuterLoop, type OuterOptimizer, type OuterOptions } from './outer.js';
import type { LocalOptimizer } from './local-optimizer.js';
import { OuterServer } from './outer-server.js';
import { restoreFields, type Algorithm, type GradientSource, type SavedState, type ServerCapability, type WorkerState } from './types.js';

export interface AsyncDilocoOptions extends OuterOptions {
  dim: number;
  dtype: Dtype;
  /** Workers of the run (N of the server's rule). */
  workers: number;
  /** Dynamic Local Updates (dynamic-steps.ts). @default false */
  dynamicH?: boolean;
}

/** The outer optimizer asynchronous Local-SGD takes unless told otherwise: the paper's. */
export const ASYNC_DILOCO_OUTER_OPTIMIZER: OuterOptimizer = 'delayed-nesterov';

export interface AsyncDilocoState extends WorkerState {
  /** The inner model, where gradients are taken. */
  readonly x: Vec;
  /** θ as pulled from the server when the round started. */
  readonly anchor: Vec;
  /** Inner steps taken in this round, and the steps it takes (H, or H_w with Dynamic Local Updates). */
  inner: number;
  target: number;
  /** Rounds pushed. */
  round: number;
}

/**
 * Asynchronous Local-SGD (Liu et al., *Asynchronous Local-SGD Training for Language Modeling*, 2024, arXiv
 * 2401.09135), a worker's side. A round: `target` inner steps with the worker's local optimizer (its state goes on
 * across rounds) from the model pulled from the server; then the worker pushes its pseudo-gradient
 * Δ = θ_pulled − x as soon as it is done — no barrier, nobody waits for anybody — and starts its next round from the
 * server's model as it is after applying the push (outer-server.ts holds the server's rule). The server answers with
 * the next round's inner steps too: H, or H_w by the worker's speed with Dynamic Local Updates.
 */
export class AsyncDiloco implements Algorithm<AsyncDilocoState> {
  readonly name = 'async-diloco';
  readonly server: ServerCapability<AsyncDilocoState>;
  readonly outer: OuterLoop;
  private readonly grad: Vec;

  constructor(private readonly opts: AsyncDilocoOptions) {
    this.outer = outerLoop(opts, this.name, ['sgd', 'nesterov', 'delayed-nesterov'], ASYNC_DILOCO_OUTER_OPTIMIZER);
    this.grad = allocVec(opts.dtype, opts.dim);
    const { dim, dtype, workers } = opts;
    this.server = {
      due: (s) => s.inner >= s.target,
      push: (s, _t, out) => {
        for (let k = 0; k < out.length; k++) out[k] = s.anchor[k] - s.x[k];
        s.round++;
        return { round: s.round, steps: s.inner };
      },
      pull: (s, _t, pulled) => {
        s.x.set(pulled.model);
        s.anchor.set(pulled.model);
        s.inner = 0;
        s.target = pulled.innerSteps;
      },
      createServer: (x0) => new OuterServer({ dim, dtype, workers, outer: this.outer, dynamic: opts.dynamicH ?? false }, x0),
    };
  }

  createState(x0: Vec): AsyncDilocoState {
    const { dtype, dim } = this.opts;
    const x = allocVec(dtype, dim);
    x.set(x0);
    const anchor = allocVec(dtype, dim);
    anchor.set(x0);
    return { x, anchor, inner: 0, target: this.outer.H, round: 0 };
  }

  advance(): void {}

  localStep(s: AsyncDilocoState, _t: number, gradient: GradientSource, optimizer: LocalOptimizer): number {
    const loss = gradient(s.x, this.grad);
    optimizer.update(s.x, this.grad);
    s.inner++;
    return loss;
  }

  saved(s: AsyncDilocoState): SavedState {
    return { vectors: { anchor: s.anchor }, scalars: { inner: s.inner, target: s.target, round: s.round } };
  }

  restore(s: AsyncDilocoState, saved: SavedState): void {
    restoreFields(s, saved);
  }
}
