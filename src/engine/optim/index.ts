export { Optimizer, decayRanges, NO_DECAY_BIAS_NORM, type OptimTarget, type DecayRange, type StateEntry } from './optimizer.js';
export { Sgd, type SgdOptions } from './sgd.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { clipGradNorm, gradNorm } from './clip.js';
export { makeSchedule, type Schedule, type ScheduleConfig } from './schedule.js';

import { AdamW, type AdamWOptions } from './adamw.js';
import type { OptimTarget } from './optimizer.js';
import { Sgd, type SgdOptions } from './sgd.js';

export type OptimizerConfig = ({ kind: 'sgd' } & SgdOptions) | ({ kind: 'adamw' } & AdamWOptions);

/** Builds an optimizer from a plain configuration object. */
export function createOptimizer(target: OptimTarget, config: OptimizerConfig): Sgd | AdamW {
  switch (config.kind) {
    case 'sgd': return new Sgd(target, config);
    case 'adamw': return new AdamW(target, config);
    default: throw new Error(`unknown optimizer ${String((config as { kind: unknown }).kind)}`);
  }
}
