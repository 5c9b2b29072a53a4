export { Optimizer, decayRanges, NO_DECAY_BIAS_NORM, type OptimTarget, type DecayRange, type StateEntry } from './optimizer.js';
export { Sgd, type SgdOptions } from './sgd.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { clipGradNorm, gradNorm } from './clip.js';
export { makeSchedule, type Schedule, type ScheduleConfig } from './schedule.js';
export { brake, checkBraking, DEFAULT_BRAKING, tensorRanges, type TensorRange } from './braking.js';

import { UsageError } from '../../core/errors.js';
import { checkBraking, DEFAULT_BRAKING } from './braking.js';
import { AdamW, type AdamWOptions } from './adamw.js';
import { NO_DECAY_BIAS_NORM, type OptimTarget } from './optimizer.js';
import { Sgd, type SgdOptions } from './sgd.js';

export type OptimizerConfig = ({ kind: 'sgd' } & SgdOptions) | ({ kind: 'adamw' } & AdamWOptions);

/** The optimizer settings of the command line (train, cluster, peer). */
export interface OptimizerSettings {
  optimizer: 'sgd' | 'adamw';
  lr: number;
  /** SGD only. */
  momentum: number;
  /** SGD only: Nesterov momentum (needs momentum > 0). */
  nesterov?: boolean;
  weightDecay: number;
  /** Weight decay on biases and norm parameters too (by default they are excluded). */
  decayAll?: boolean;
  /** Adaptive Braking's ρ (braking.ts; default 0: off). */
  braking?: number;
}

/** The optimizer configuration of command-line settings; inconsistent settings are a UsageError. */
export function optimizerConfigOf(s: OptimizerSettings): OptimizerConfig {
  const noDecay = s.decayAll ? [] : NO_DECAY_BIAS_NORM;
  if (s.optimizer === 'adamw') {
    if (s.nesterov) throw new UsageError('nesterov applies to SGD only', { field: 'nesterov' });
    checkBraking(s.braking ?? DEFAULT_BRAKING, true);
    return { kind: 'adamw', lr: s.lr, weightDecay: s.weightDecay, noDecay, ...braking(s) };
  }
  if (s.nesterov && !(s.momentum > 0)) throw new UsageError('nesterov needs a momentum above 0', { field: 'nesterov' });
  checkBraking(s.braking ?? DEFAULT_BRAKING, s.momentum > 0);
  return { kind: 'sgd', lr: s.lr, momentum: s.momentum, nesterov: s.nesterov ?? false, weightDecay: s.weightDecay, noDecay, ...braking(s) };
}

/** The braking entry of a configuration: only when on, so that configurations without it stay as they were. */
function braking(s: OptimizerSettings): { braking?: number } {
  return s.braking ? { braking: s.braking } : {};
}

/** Builds an optimizer from a plain configuration object. */
export function createOptimizer(target: OptimTarget, config: OptimizerConfig): Sgd | AdamW {
  switch (config.kind) {
    case 'sgd': return new Sgd(target, config);
    case 'adamw': return new AdamW(target, config);
    default: throw new Error(`unknown optimizer ${String((config as { kind: unknown }).kind)}`);
  }
}
