import type { ParamKind } from '../layout.js';
import { checkBraking } from './braking.js';
import { Optimizer, type OptimTarget, type StateEntry } from './optimizer.js';

export interface SgdOptions {
  lr: number;
  /** Momentum factor (default 0). */
  momentum?: number;
  /** Nesterov momentum (needs momentum > 0; default false). */
  nesterov?: boolean;
  /** L2 weight decay added to the gradient (default 0). */
  weightDecay?: number;
  /** Parameter kinds without weight decay (e.g. NO_DECAY_BIAS_NORM); default none. */
  noDecay?: readonly ParamKind[];
  /** Adaptive Braking's ρ against the momentum buffer (braking.ts; needs momentum > 0; default 0: off). */
  braking?: number;
}

/**
 * SGD with momentum / Nesterov / weight decay, exactly torch.optim.SGD (dampening 0):
 * g = ∇ + wd·θ;  b ← μ·b + g;  θ ← θ − lr·(nesterov ? g + μ·b : b). State: the momentum buffer b (size n, or
 * empty without momentum). With Adaptive Braking, ∇ is first braked against b (braking.ts).
 */
export class Sgd extends Optimizer {
  readonly kind = 'sgd';
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  readonly stateLayout: readonly StateEntry[];

  constructor(target: OptimTarget, options: SgdOptions) {
    const momentum = options.momentum ?? 0;
    checkBraking(options.braking ?? 0, momentum > 0);
    super(target, options.lr, momentum !== 0 ? 1 : 0, options.noDecay ?? [], options.braking);
    if (!(momentum >= 0)) throw new Error(`SGD momentum must be non-negative (got ${momentum})`);
    this.momentum = momentum;
    this.nesterov = options.nesterov ?? false;
    if (this.nesterov && momentum === 0) throw new Error('SGD: Nesterov momentum needs momentum > 0');
    this.weightDecay = options.weightDecay ?? 0;
    this.stateLayout = momentum !== 0 ? [{ name: 'momentum', offset: 0, size: target.params.length }] : [];
  }

  protected update(): void {
    const b = this.target.backend;
    const empty = this.state;
    for (let i = 0; i < this.ranges.length; i++) {
      const wd = this.ranges[i].decay ? this.weightDecay : 0;
      const buf = this.momentum !== 0 ? this.stateViews[i][0] : empty;
      b.sgdStep(this.paramViews[i], this.gradViews[i], buf, this.lr, this.momentum, wd, this.nesterov);
    }
  }
}
