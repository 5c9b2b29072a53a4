import type { Rng } from '../core/rng.js';
import type { Dtype, Vec } from '../core/vec.js';
import type { Backend } from '../engine/backend.js';
import type { LayoutEntry } from '../engine/layout.js';

/**
 * An objective: f(x) = (1/n) Σ_i f_i(x), where worker i only sees f_i (its own data).
 * Convex problems know their optimum exactly, so that distances to it can be measured; neural objectives
 * (engine models on real data) implement the same interface with dtype 'f32'.
 */
export interface Objective {
  readonly name: string;
  /** Number of parameters. */
  readonly dim: number;
  /** Number of local objectives (workers). */
  readonly workers: number;
  /** Storage type of parameter vectors handed to gradient(). */
  readonly dtype: Dtype;
  /** Smoothness L and strong convexity μ of every f_i, when known (DADAO needs them). */
  readonly smoothness?: number;
  readonly strongConvexity?: number;
  /** Neural objectives: the engine backend of their model (its kernels serve the algorithms and optimizers too). */
  readonly backend?: Backend;
  /** Neural objectives: the model's parameter layout (which values are biases and norms, for weight decay). */
  readonly layout?: readonly LayoutEntry[];
  /** The exact minimiser of f, when known. */
  readonly optimum?: Float64Array;

  /** Starting point shared by all workers (the algorithms start from the global average anyway). */
  initial(rng: Rng): Vec;
  /**
   * Writes a (possibly stochastic) gradient of f_i at x into grad and returns the corresponding loss value.
   * rng drives the sampling (mini-batches, gradient noise) so that runs are reproducible.
   */
  gradient(i: number, x: Vec, grad: Vec, rng: Rng): number;
  /**
   * True when loss() is measured on held-out data (neural models: the test set), which metrics rows then call
   * testLoss; otherwise loss() is the objective f itself and rows call it objective.
   */
  readonly heldOut?: boolean;
  /** The full objective f at x (for metrics), or the held-out loss of a neural model (see heldOut). */
  loss(x: Vec): number;
  /** Further metrics at x, e.g. test accuracy of a neural model. */
  metrics?(x: Vec): Record<string, number>;
}
