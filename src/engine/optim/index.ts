export { Optimizer, decayRanges, NO_DECAY_BIAS_NORM, type OptimTarget, type DecayRange, type StateEntry } from './optimizer.js';
export { Sgd, type SgdOptions } from './sgd.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { clipGradNorm, gradNorm } from './clip.js';
export { makeSchedule, type Schedule, type ScheduleConfig } from './schedule.js';

import { UsageError } from '../../core/errors.js';
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
}

/** The optimizer configuration of command-line settings; inconsistent settings are a UsageError. */
export function optimizerConfigOf(s: OptimizerSettings): OptimizerConfig {
  const noDecay = s.decayAll ? [] : NO_DECAY_BIAS_NORM;
  if (s.optimizer === 'adamw') {
    if (s.nesterov) throw new UsageError('nesterov applies to SGD only', { field: 'nesterov' });
    return { kind: 'adamw', lr: s.lr, weightDecay: s.weightDecay, noDecay };
  }
  if (s.nesterov && !(s.momentum > 0)) throw new UsageError('nesterov needs a momentum above 0', { field: 'nesterov' });
  return { kind: 'sgd', lr: s.lr, momentum: s.momentum, nesterov: s.nesterov ?? false, weightDecay: s.weightDecay, noDecay };
}

/** Builds an optimizer from a plain configuration object. */
export function createOptimizer(target: OptimTarget, config: OptimizerConfig): Sgd | AdamW {
  switch (config.kind) {
    case 'sgd': return new Sgd(target, config);
    case 'adamw': return new AdamW(target, config);
    default: throw new Error(`unknown optimizer ${String((config as { kind: unknown }).kind)}`);
  }
}
