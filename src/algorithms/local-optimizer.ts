/**
 * A worker's local optimizer over a flat vector, the one both clocks hand to the algorithms' handlers.
 *
 * An algorithm asks it for the step of a gradient g at x and gets a direction d and a scale s: the optimizer's update
 * is x ← x − s·d. A2CiD2 adds the same −s·d to x̃, AllReduce applies it to the mean gradient, DiLoCo takes its inner
 * steps with it. Two ways to compute d, chosen from the settings:
 * - the paper's recipe — SGD, heavy-ball momentum, weight decay on every value, optional clipping — computed here, on
 *   float64 convex problems (plain loops) as on float32 models (the backend's kernels):
 *   d = g + wd·x, or with momentum b ← μ·b + (g + wd·x), d = b; s = lr of the step;
 * - everything else (Nesterov, AdamW, weight decay that skips biases and norms) through the engine's optimizers
 *   (float32, torch semantics): d = x − update(x), s = 1.
 * Adaptive Braking (settings.braking = ρ > 0; engine/optim/braking.ts, one definition for both ways) scales the
 * clipped gradient of every tensor of the layout (the whole vector without one) by 1 − ρ·cos(g, v) against the
 * momentum v before it enters the momentum: b above, or the engine optimizer's buffer or first moment.
 */
import { UsageError } from '../core/errors.js';
import { allocVec, type Dtype, type Vec } from '../core/vec.js';
import type { Backend } from '../engine/backend.js';
import type { LayoutEntry } from '../engine/layout.js';
import { brake, checkBraking, DEFAULT_BRAKING, tensorRanges, type TensorRange } from '../engine/optim/braking.js';
import { clipGradNorm } from '../engine/optim/clip.js';
import { createOptimizer, NO_DECAY_BIAS_NORM, type Optimizer, type OptimTarget, type StateEntry } from '../engine/optim/index.js';
import type { Schedule } from '../engine/optim/schedule.js';
import type { OptimizerName } from '../config/run.js';
import { checkShardable, shardLayout } from './shards.js';
import type { ParamRange } from './param-range.js';

/** The local optimizer's settings (the command line's --optimizer, --lr, --momentum, ...). */
export interface LocalStepSettings {
  /** @default 'sgd' */
  optimizer?: OptimizerName;
  /** Peak learning rate (the schedule's, when one is given). */
  lr: number;
  /** SGD momentum μ. @default 0 */
  momentum?: number;
  /** SGD: Nesterov momentum (needs μ > 0). @default false */
  nesterov?: boolean;
  /** @default 0 */
  weightDecay?: number;
  /** Weight decay on biases and norm parameters too (otherwise they are excluded when a layout says which they are). @default false */
  decayAll?: boolean;
  /** Clip every gradient to this ℓ2 norm (0: no clipping). @default 0 */
  clip?: number;
  /** Adaptive Braking's ρ (needs a momentum: SGD with μ > 0, or AdamW). @default 0 (off) */
  braking?: number;
}

export interface LocalOptimizerInit {
  dim: number;
  dtype: Dtype;
  /** Vector kernels for float32 (required there). */
  backend?: Backend | null;
  /** Which values are biases and norms (for weight decay); without it every value is decayed. */
  layout?: readonly LayoutEntry[];
  /** The learning rate of step k. @default the constant settings.lr */
  schedule?: Schedule;
  /** The step index the schedule reads (e.g. the cluster's global progress). @default this optimizer's own step count */
  progress?: () => number;
  /**
   * A sharded optimizer (shards.ts): this worker's range of the dim values, the only one it steps on and keeps state
   * for (its vectors are the range's length). Weight decay skips the same values as the whole vector's optimizer.
   * @default the whole vector
   */
  shard?: ParamRange;
}

export class LocalOptimizer {
  /** The direction of the last step (valid until the next one). */
  direction: Vec;
  /** The scale of the last step: the update is x ← x − scale·direction. */
  scale = 0;
  /** Steps taken (restored with the state). */
  steps = 0;
  readonly kind: 'sgd' | 'adamw';
  /** The optimizer's state as one flat vector (momentum, or AdamW's moments), described by stateLayout. */
  readonly state: Vec;
  readonly stateLayout: readonly StateEntry[];
  private readonly engine: { optimizer: Optimizer; target: { params: Float32Array; grads: Float32Array } } | null;
  private readonly kernels: Backend | null;
  private readonly momentum: number;
  private readonly weightDecay: number;
  private readonly clip: number;
  private readonly braking: number;
  /** The tensors braking works on (plain path with braking only). */
  private readonly tensors: readonly TensorRange[] = [];
  private readonly schedule: Schedule;
  private readonly progress: (() => number) | null;

  constructor(readonly settings: LocalStepSettings, init: LocalOptimizerInit) {
    const { dtype, shard } = init;
    const dim = shard ? shard.end - shard.start : init.dim;
    const s = settings;
    this.kind = s.optimizer ?? 'sgd';
    this.momentum = s.momentum ?? 0;
    this.weightDecay = s.weightDecay ?? 0;
    this.clip = s.clip ?? 0;
    this.braking = s.braking ?? DEFAULT_BRAKING;
    this.schedule = init.schedule ?? (() => s.lr);
    this.progress = init.progress ?? null;
    this.kernels = dtype === 'f32' ? (init.backend ?? null) : null;
    if (dtype === 'f32' && !this.kernels) throw new Error('a float32 local optimizer needs the engine backend for its kernels');
    if (!(s.lr >= 0)) throw new UsageError(`the learning rate must be non-negative (got ${s.lr})`, { field: 'lr' });
    if (!(this.momentum >= 0 && this.momentum < 1)) throw new UsageError(`the momentum must be in [0, 1) (got ${this.momentum})`, { field: 'momentum' });
    if (!(this.weightDecay >= 0)) throw new UsageError(`the weight decay must be non-negative (got ${this.weightDecay})`, { field: 'weightDecay' });
    if (!(this.clip >= 0)) throw new UsageError(`the clipping norm must be non-negative (got ${this.clip})`, { field: 'clip' });
    if (this.kind === 'adamw' && s.nesterov) throw new UsageError('Nesterov momentum applies to SGD only', { field: 'nesterov' });
    if (s.nesterov && !(this.momentum > 0)) throw new UsageError('Nesterov momentum needs a momentum above 0', { field: 'nesterov' });
    checkBraking(this.braking, this.kind === 'adamw' || this.momentum > 0);
    if (shard) checkShardable(s);
    const masked = this.weightDecay !== 0 && !s.decayAll && init.layout !== undefined
      && init.layout.some((e) => NO_DECAY_BIAS_NORM.includes(e.kind as never));
    const plain = this.kind === 'sgd' && !s.nesterov && !masked;
    if (plain) {
      this.engine = null;
      this.state = allocVec(dtype, this.momentum !== 0 ? dim : 0);
      this.stateLayout = this.momentum !== 0 ? [{ name: 'momentum', offset: 0, size: dim }] : [];
      this.direction = this.momentum !== 0 ? this.state : allocVec(dtype, 0);
      if (this.braking > 0) this.tensors = tensorRanges(init.layout, dim);
      return;
    }
    if (dtype !== 'f32' || !this.kernels) throw new UsageError(`${this.kind === 'adamw' ? 'AdamW' : 'Nesterov momentum'} and masked weight decay run on float32 models only`);
    const whole = init.layout ?? [{ name: 'params', kind: 'weight' as const, shape: [init.dim], offset: 0, size: init.dim }];
    const layout = shard ? shardLayout(whole, shard) : whole;
    const target = { params: new Float32Array(dim), grads: new Float32Array(dim), layout, backend: this.kernels };
    const noDecay = s.decayAll ? [] : NO_DECAY_BIAS_NORM;
    const braking = this.braking;
    const config = this.kind === 'adamw'
      ? { kind: 'adamw' as const, lr: s.lr, weightDecay: this.weightDecay, noDecay, braking }
      : { kind: 'sgd' as const, lr: s.lr, momentum: this.momentum, nesterov: s.nesterov ?? false, weightDecay: this.weightDecay, noDecay, braking };
    const optimizer = createOptimizer(target as OptimTarget, config);
    this.engine = { optimizer, target };
    this.state = optimizer.state;
    this.stateLayout = optimizer.stateLayout;
    this.direction = new Float32Array(dim);
  }

  /** The learning rate of step `step`. */
  lr(step: number): number {
    return this.schedule(step);
  }

  /**
   * The step of gradient g at x: sets direction and scale (x ← x − scale·direction) and advances the optimizer's
   * state. g is the optimizer's to overwrite (clipping, weight decay).
   */
  step(x: Vec, g: Vec): void {
    const lr = this.schedule(this.progress ? this.progress() : this.steps);
    this.steps++;
    const k = this.kernels;
    if (this.clip > 0) {
      if (k) clipGradNorm(k, g as Float32Array, this.clip);
      else clipFloat64(g, this.clip);
    }
    if (this.engine) {
      // The engine updates a copy of x held in direction, then direction ← x − direction.
      const d = this.direction as Float32Array;
      k!.copy(x as Float32Array, d);
      this.engine.target.params = d;
      this.engine.target.grads = g as Float32Array;
      this.engine.optimizer.step(lr);
      k!.axpby(1, x as Float32Array, -1, d);
      this.scale = 1;
      return;
    }
    this.scale = lr;
    const wd = this.weightDecay;
    const mu = this.momentum;
    if (this.braking > 0) brake(g, this.state, this.tensors, this.braking, k);
    if (k) {
      if (wd !== 0) k.axpy(wd, x as Float32Array, g as Float32Array);
      if (mu !== 0) k.axpby(1, g as Float32Array, mu, this.state as Float32Array);
      else this.direction = g;
      return;
    }
    if (mu !== 0) {
      const b = this.state;
      for (let i = 0; i < g.length; i++) b[i] = mu * b[i] + g[i] + wd * x[i];
      return;
    }
    for (let i = 0; i < g.length; i++) g[i] = g[i] + wd * x[i];
    this.direction = g;
  }

  /** One step of gradient g at x, applied to x (step, then applyTo). */
  update(x: Vec, g: Vec): void {
    this.step(x, g);
    this.applyTo(x);
  }

  /** Adds −scale·direction of the last step to v (x itself, or a copy that moves with it). */
  applyTo(v: Vec): void {
    const d = this.direction;
    const a = -this.scale;
    if (this.kernels) {
      this.kernels.axpy(a, d as Float32Array, v as Float32Array);
      return;
    }
    for (let i = 0; i < v.length; i++) v[i] += a * d[i];
  }

  /** Restores the state and the step count (e.g. from a checkpoint). */
  loadState(state: Vec, steps: number): void {
    if (state.length !== this.state.length) throw new Error(`optimizer state has length ${state.length}, expected ${this.state.length}`);
    this.state.set(state);
    this.steps = steps;
    if (this.engine) this.engine.optimizer.steps = steps;
  }

  /** Zero state, zero steps (a worker that starts again). */
  reset(): void {
    this.state.fill(0);
    this.steps = 0;
    if (this.engine) this.engine.optimizer.steps = 0;
  }
}

/** clip_grad_norm_ on a float64 vector: g ← g · c/(‖g‖ + 1e-6) when ‖g‖ > c. */
function clipFloat64(g: Vec, c: number): void {
  let ss = 0;
  for (let i = 0; i < g.length; i++) ss += g[i] * g[i];
  const norm = Math.sqrt(ss);
  if (norm <= c) return;
  const f = c / (norm + 1e-6);
  for (let i = 0; i < g.length; i++) g[i] *= f;
}
