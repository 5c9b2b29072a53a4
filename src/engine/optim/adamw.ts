import type { ParamKind } from '../layout.js';
import { checkBraking } from './braking.js';
import { Optimizer, type OptimTarget, type StateEntry } from './optimizer.js';

export interface AdamWOptions {
  lr: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay (default 0.01, as torch.optim.AdamW). */
  weightDecay?: number;
  /** Parameter kinds without weight decay (e.g. NO_DECAY_BIAS_NORM); default none. */
  noDecay?: readonly ParamKind[];
  /** Adaptive Braking's ρ against the first moment m (braking.ts; needs beta1 > 0; default 0: off). */
  braking?: number;
}

/**
 * AdamW, exactly torch.optim.AdamW (see Backend.adamwStep). State: first moments m then second moments v
 * (2n floats). With Adaptive Braking, the gradient is first braked against m (braking.ts), and both moments take
 * the braked gradient.
 */
export class AdamW extends Optimizer {
  readonly kind = 'adamw';
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly stateLayout: readonly StateEntry[];

  constructor(target: OptimTarget, options: AdamWOptions) {
    checkBraking(options.braking ?? 0, (options.beta1 ?? 0.9) > 0, '--braking', 'AdamW with beta1 above 0');
    super(target, options.lr, 2, options.noDecay ?? [], options.braking);
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    if (!(this.beta1 >= 0 && this.beta1 < 1 && this.beta2 >= 0 && this.beta2 < 1)) {
      throw new Error(`AdamW betas must be in [0, 1) (got ${this.beta1}, ${this.beta2})`);
    }
    const n = target.params.length;
    this.stateLayout = [{ name: 'exp_avg', offset: 0, size: n }, { name: 'exp_avg_sq', offset: n, size: n }];
  }

  protected update(): void {
    const b = this.target.backend;
    for (let i = 0; i < this.ranges.length; i++) {
      const wd = this.ranges[i].decay ? this.weightDecay : 0;
      const [m, v] = this.stateViews[i];
      b.adamwStep(this.paramViews[i], this.gradViews[i], m, v, this.lr, this.beta1, this.beta2, this.eps, wd, this.steps);
    }
  }
}
