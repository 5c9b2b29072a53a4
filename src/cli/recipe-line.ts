/**
 * The resolved recipe of a run in one line, printed on stderr when a run starts (not with --json): what the flags
 * and the defaults of config/recipe.ts made of the model, data, optimizer, schedule and budget.
 */
import { ASYNC_DILOCO_OUTER_OPTIMIZER } from '../algorithms/async-diloco.js';
import { DILOCO_DEFAULTS } from '../algorithms/outer.js';
import type { TrainingSettings } from '../config/run.js';

const num = (v: number) => (Number.isInteger(v) || Math.abs(v) >= 0.01 ? String(Number(v.toPrecision(4))) : v.toExponential(0));

export interface RecipeShape {
  /** Workers of the run (1: one worker). */
  workers: number;
  /** The budget as the run counts it, e.g. "4 epochs" or "2000 steps". */
  budget: string;
  /** The algorithm of a cluster, e.g. "acid on a ring". */
  algorithm?: string;
}

/** A cluster's algorithm in words: "diloco on a ring, H 10, outer lr 0.7 momentum 0.5" (the outer loop when it has one). */
export function algorithmText(algorithm: string, topology: string, outer: { innerSteps?: number; outerLr?: number; outerMomentum?: number; outerOptimizer?: string }): string {
  const rule = outer.outerOptimizer ?? (algorithm === 'async-diloco' ? ASYNC_DILOCO_OUTER_OPTIMIZER : DILOCO_DEFAULTS.outerOptimizer);
  const loop = outer.innerSteps === undefined ? '' : `, H ${outer.innerSteps}, outer ${rule} lr ${num(outer.outerLr ?? NaN)} momentum ${num(outer.outerMomentum ?? NaN)}`;
  return `${algorithm} on a ${topology}${loop}`;
}

export function recipeLine(t: TrainingSettings, shape: RecipeShape): string {
  const optimizer = t.optimizer === 'sgd'
    ? `SGD lr ${num(t.lr)}${t.momentum > 0 ? ` momentum ${num(t.momentum)}${t.nesterov ? ' (Nesterov)' : ''}` : ''}`
    : `AdamW lr ${num(t.lr)}`;
  const braking = t.braking ? `, Adaptive Braking ρ ${num(t.braking)}` : '';
  const decay = t.weightDecay > 0 ? `, weight decay ${num(t.weightDecay)}${t.decayAll ? '' : ' (not on biases and norms)'}` : '';
  const warmup = t.warmup === undefined ? ' after a warm-up over 5% of the steps' : t.warmup > 0 ? ` after ${num(t.warmup)} warm-up steps` : '';
  const parts = [
    `${t.model} on ${t.dataset}`,
    shape.workers > 1 ? `${shape.workers} workers${shape.algorithm ? `, ${shape.algorithm}` : ''}` : 'one worker',
    `batch ${t.batchSize}`,
    `${optimizer}${decay}${braking}`,
    `${t.schedule} schedule${warmup}`,
    t.clip === null ? 'no clipping' : `clipping at ${num(t.clip)}`,
    shape.budget,
    `seed ${t.seed}`,
  ];
  return `recipe: ${parts.join('; ')}`;
}
