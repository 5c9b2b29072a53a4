/**
 * The learning-rate schedule of a run, as plain data (it travels to the worker threads). Besides the engine's
 * schedules it has the authors' recipe: a linear warm-up, then the rate multiplied by `gamma` at fixed fractions of
 * the budget (×0.1 at 50% and 75% for CIFAR-10).
 */
import { makeSchedule, type Schedule } from '../engine/optim/schedule.js';

export interface RunSchedule {
  kind: 'constant' | 'cosine' | 'step' | 'multistep';
  lr: number;
  /** Linear warm-up steps. */
  warmup: number;
  /** Length of the run in (expected local) steps. */
  totalSteps: number;
  /** cosine: final rate. */
  minLr?: number;
  /** step: steps between decays. */
  stepSize?: number;
  /** step and multistep: decay factor (default 0.1). */
  gamma?: number;
  /** multistep: fractions of totalSteps at which the rate is multiplied by gamma (default [0.5, 0.75]). */
  milestones?: number[];
}

export function makeRunSchedule(s: RunSchedule): Schedule {
  if (s.kind !== 'multistep') {
    return makeSchedule({
      kind: s.kind, lr: s.lr, warmupSteps: s.warmup, totalSteps: s.totalSteps, minLr: s.minLr ?? 0,
      stepSize: s.stepSize ?? Math.max(1, Math.ceil(s.totalSteps / 3)), gamma: s.gamma ?? 0.1,
    });
  }
  const gamma = s.gamma ?? 0.1;
  const marks = (s.milestones ?? [0.5, 0.75]).map((f) => Math.round(f * s.totalSteps)).sort((a, b) => a - b);
  const warmup = Math.max(0, Math.floor(s.warmup));
  return (step: number) => {
    if (step < warmup) return (s.lr * (step + 1)) / warmup;
    let lr = s.lr;
    for (const m of marks) if (step >= m) lr *= gamma;
    return lr;
  };
}
