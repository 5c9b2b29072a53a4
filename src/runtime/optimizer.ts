/**
 * The local optimizer of a runtime worker, as a direction for the algorithm's handlers.
 *
 * The algorithms of src/algorithms apply a local step as x ← x + u with u = −lr (g + wd x) (or heavy-ball momentum
 * with fixed hyper-parameters): enough for the simulator, but the authors' recipe needs a learning-rate schedule
 * (warm-up, decays), weight decay that skips biases and norms, and AdamW for transformers — all of which the
 * engine's optimizers implement exactly (torch semantics, native kernels). So the runtime builds the algorithms
 * with lr = 1, momentum = 0 and weight decay = 0, which makes their increment u = −g, and hands them as "gradient"
 * the engine optimizer's step d = x − optimizer(x, ∇): the handlers then add exactly the engine's update to x (and
 * the same to x̃ for A2CiD2), while mixing, exchanges and rounds stay theirs.
 */
import type { Backend } from '../engine/backend.js';
import type { LayoutEntry } from '../engine/layout.js';
import { createOptimizer, type OptimizerConfig } from '../engine/optim/index.js';
import type { Optimizer, OptimTarget } from '../engine/optim/optimizer.js';
import type { Schedule } from '../engine/optim/schedule.js';

/** The local-step options to build an algorithm with, so that its increment is minus the given direction. */
export const DIRECTION_STEP = { lr: 1, momentum: 0, weightDecay: 0 } as const;

export class LocalOptimizer {
  readonly optimizer: Optimizer;
  private readonly target: { params: Float32Array; grads: Float32Array; layout: readonly LayoutEntry[]; backend: Backend };

  constructor(
    readonly backend: Backend,
    layout: readonly LayoutEntry[],
    size: number,
    config: OptimizerConfig,
    private readonly schedule: Schedule,
  ) {
    this.target = { params: new Float32Array(size), grads: new Float32Array(size), layout, backend };
    this.optimizer = createOptimizer(this.target as OptimTarget, config);
  }

  /** The learning rate of step `step`. */
  lr(step: number): number {
    return this.schedule(step);
  }

  /**
   * Writes into out the direction d with x − d = the optimizer's update of x for the gradient grad, using the
   * learning rate of step `step`; advances the optimizer's state (momentum, moments).
   */
  direction(x: Float32Array, grad: Float32Array, out: Float32Array, step: number): void {
    const b = this.backend;
    const t = this.target;
    // The optimizer updates a copy of x held in out (its views are rebuilt only when the buffers change), then
    // out ← x − out: three passes over the vectors besides the optimizer's own.
    b.copy(x, out);
    t.params = out;
    t.grads = grad;
    this.optimizer.step(this.schedule(step));
    b.axpby(1, x, -1, out);
  }
}
