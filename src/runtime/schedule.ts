/**
 * The learning-rate schedule of a run, as plain data (it travels to the worker threads), with the defaults of a
 * run's step schedule; the engine's makeSchedule computes the rates.
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
  return makeSchedule({
    kind: s.kind, lr: s.lr, warmupSteps: s.warmup, totalSteps: s.totalSteps, minLr: s.minLr ?? 0,
    stepSize: s.stepSize ?? Math.max(1, Math.ceil(s.totalSteps / 3)), gamma: s.gamma ?? 0.1, milestones: s.milestones,
  });
}
