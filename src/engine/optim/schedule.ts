/** A learning-rate schedule: the rate of step `step` (0-based index of the update about to be taken). */
export type Schedule = (step: number) => number;

export interface ScheduleConfig {
  /**
   * 'constant', 'step' (multiply by gamma every stepSize steps), 'cosine' (to minLr at totalSteps), 'linear',
   * 'multistep' (multiply by gamma at fixed fractions of totalSteps).
   */
  kind: 'constant' | 'step' | 'cosine' | 'linear' | 'multistep';
  /** Peak learning rate (after warm-up). */
  lr: number;
  /** Linear warm-up from lr/warmupSteps to lr over the first warmupSteps steps (default 0). */
  warmupSteps?: number;
  /** Length of the run (cosine and linear decay reach minLr there; default 1). */
  totalSteps?: number;
  /** Final rate of cosine / linear decay (default 0). */
  minLr?: number;
  /** Step decay: steps between multiplications by gamma (default 1). */
  stepSize?: number;
  /** Step and multistep decay factor (default 0.1). */
  gamma?: number;
  /** Multistep: fractions of totalSteps at which the rate is multiplied by gamma (default 0.5 and 0.75). */
  milestones?: number[];
}

/**
 * Builds a schedule. During warm-up (step < warmupSteps) the rate is lr · (step + 1)/warmupSteps; afterwards the
 * decay runs on t = step − warmupSteps:
 *   constant: lr;  step: lr · gamma^⌊t/stepSize⌋;
 *   cosine: minLr + (lr − minLr) · ½(1 + cos(π · min(t, T)/T));  linear: lr + (minLr − lr) · min(t, T)/T,
 * with T = totalSteps − warmupSteps (at least 1). Multistep (the A2CiD2 authors' recipe) counts its milestones
 * from the start of the run, warm-up included: lr · gamma^(number of milestones round(f · totalSteps) ≤ step).
 */
export function makeSchedule(config: ScheduleConfig): Schedule {
  const { kind, lr } = config;
  const warmup = Math.max(0, Math.floor(config.warmupSteps ?? 0));
  const total = config.totalSteps ?? 1;
  const minLr = config.minLr ?? 0;
  const stepSize = Math.max(1, Math.floor(config.stepSize ?? 1));
  const gamma = config.gamma ?? 0.1;
  const span = Math.max(1, total - warmup);
  if (!(lr >= 0)) throw new Error(`schedule: lr must be non-negative (got ${lr})`);
  const decay = (t: number): number => {
    switch (kind) {
      case 'constant': return lr;
      case 'step': return lr * Math.pow(gamma, Math.floor(t / stepSize));
      case 'cosine': return minLr + (lr - minLr) * 0.5 * (1 + Math.cos((Math.PI * Math.min(t, span)) / span));
      case 'linear': return lr + ((minLr - lr) * Math.min(t, span)) / span;
      default: throw new Error(`unknown schedule ${String(kind)}`);
    }
  };
  if (kind === 'multistep') {
    const marks = (config.milestones ?? [0.5, 0.75]).map((f) => Math.round(f * total));
    return (step: number) => (step < warmup ? (lr * (step + 1)) / warmup : lr * Math.pow(gamma, marks.filter((m) => step >= m).length));
  }
  decay(0);
  return (step: number) => (step < warmup ? (lr * (step + 1)) / warmup : decay(step - warmup));
}
