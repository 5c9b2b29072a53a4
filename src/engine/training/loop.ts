/**
 * Local training: the step of one worker (schedule → loss and gradient → clipping → optimizer update) and a loop
 * that runs it to a budget with periodic records, evaluations and checkpoints. The step is what a distributed
 * worker runs between exchanges; the loop is single-worker training (`gossamer train --workers 1`).
 *
 * The step count is the optimizer's (`optimizer.steps`, restored from checkpoints), and the batch of each step comes
 * from a BatchSource indexed by that count, so a run resumed from a checkpoint takes exactly the steps an
 * uninterrupted run would have taken.
 */
import { UsageError } from '../../core/errors.js';
import type { Model } from '../models/model.js';
import { clipGradNorm } from '../optim/clip.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Schedule } from '../optim/schedule.js';
import type { BatchSource, TrainBatch } from './batches.js';

export interface StepOptions {
  /** Learning rate of each step (default: the optimizer's current lr). */
  schedule?: Schedule;
  /** Clip the gradient to this ℓ2 norm (torch.nn.utils.clip_grad_norm_); none when absent or ≤ 0. */
  clip?: number;
}

export interface StepResult {
  /** Mean training loss of the batch (before the update). */
  loss: number;
  /** Gradient norm before clipping (NaN when not clipping). */
  gradNorm: number;
  /** Learning rate used. */
  lr: number;
}

/**
 * One local update: lr ← schedule(steps), loss and gradient on the batch, optional clipping, optimizer step.
 * Throws a UsageError when the loss is not finite (divergence: the learning rate is too high).
 */
export function trainStep(model: Model, optimizer: Optimizer, batch: TrainBatch, options: StepOptions = {}): StepResult {
  const step = optimizer.steps;
  if (options.schedule) optimizer.lr = options.schedule(step);
  const loss = model.lossAndGradient(batch.inputs, batch.targets);
  if (!Number.isFinite(loss)) {
    throw new UsageError(`training diverged at step ${step + 1}: the loss is ${loss} (try a lower learning rate or gradient clipping)`);
  }
  const gradNorm = options.clip !== undefined && options.clip > 0 ? clipGradNorm(model.backend, model.grads, options.clip) : NaN;
  const lr = optimizer.lr;
  optimizer.step();
  return { loss, gradNorm, lr };
}

/** Where a run stands (passed to callbacks). */
export interface TrainProgress {
  /** Updates taken so far. */
  step: number;
  /** Epochs of data consumed (fractional). */
  epoch: number;
  /** Wall-clock seconds spent in this call of trainLocal. */
  seconds: number;
}

/** One line of the training record: progress, mean training loss since the previous record, evaluation results. */
export interface TrainRecord extends TrainProgress {
  /** Mean training loss over the steps since the previous record (NaN when no step was taken). */
  loss: number;
  /** Learning rate of the last step. */
  lr: number;
  /** Steps averaged into `loss`. */
  window: number;
  /** Evaluation results (e.g. testLoss, testAccuracy) when an evaluation ran at this step. */
  eval?: Record<string, number>;
}

export interface TrainLocalOptions extends StepOptions {
  model: Model;
  optimizer: Optimizer;
  data: BatchSource;
  /** Total updates of the run, counting those already taken (optimizer.steps); the loop stops there. */
  totalSteps: number;
  /** Record the mean training loss every this many steps (default 50; the last step is always recorded). */
  logEvery?: number;
  /** Evaluate every this many steps (0 or absent: only at the end). */
  evalEvery?: number;
  /** Evaluation of the current model; `final` is true for the evaluation at the end of the run. */
  evaluate?: (final: boolean) => Record<string, number>;
  /** Checkpoint every this many steps (0 or absent: never inside the loop). */
  checkpointEvery?: number;
  checkpoint?: (progress: TrainProgress) => void | Promise<void>;
  /** Called with every record (metrics rows). */
  onRecord?: (record: TrainRecord) => void;
  /** Called after every step (progress bars). */
  onStep?: (progress: TrainProgress) => void;
  /** Polled after every step: true stops the run cleanly after that step (e.g. on SIGINT). */
  shouldStop?: () => boolean;
  /**
   * Give the event loop a turn at least this often (milliseconds, default 50), so that signals, timers and I/O are
   * handled during a long synchronous run.
   */
  yieldEvery?: number;
  /** Record the state before the first step (step 0 of a fresh run), with an evaluation (default true). */
  recordStart?: boolean;
}

export interface TrainLocalResult extends TrainProgress {
  /** True when shouldStop() ended the run before its budget. */
  stopped: boolean;
  /** Steps taken by this call. */
  stepsTaken: number;
  /** Mean training loss over the last record's window (NaN when no step was taken). */
  trainLoss: number;
  /** The last evaluation (at the end unless stopped), if any. */
  eval?: Record<string, number>;
  records: number;
}

const now = () => performance.now();
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs local training from optimizer.steps to totalSteps. Evaluates at the end (unless stopped), records every
 * logEvery steps and at the end, evaluates every evalEvery steps and calls checkpoint() every checkpointEvery
 * steps. The final checkpoint (end of run or interruption) is the caller's: it knows where and why.
 */
export async function trainLocal(options: TrainLocalOptions): Promise<TrainLocalResult> {
  const { model, optimizer, data, totalSteps } = options;
  if (!Number.isSafeInteger(totalSteps) || totalSteps < 0) throw new Error(`totalSteps must be a non-negative integer, got ${totalSteps}`);
  const logEvery = Math.max(1, Math.floor(options.logEvery ?? 50));
  const evalEvery = Math.max(0, Math.floor(options.evalEvery ?? 0));
  const checkpointEvery = Math.max(0, Math.floor(options.checkpointEvery ?? 0));
  const yieldEvery = options.yieldEvery ?? 50;
  const start = now();
  const first = optimizer.steps;
  const progress = (): TrainProgress => {
    const step = optimizer.steps;
    return { step, epoch: (step * data.batchSize) / data.epochSize, seconds: (now() - start) / 1000 };
  };

  let records = 0;
  let sum = 0;
  let window = 0;
  let lastLoss = NaN;
  let lastLr = optimizer.lr;
  let lastEval: Record<string, number> | undefined;
  const record = (evaluation?: Record<string, number>) => {
    const loss = window > 0 ? sum / window : NaN;
    if (window > 0) lastLoss = loss;
    const r: TrainRecord = { ...progress(), loss, lr: lastLr, window, ...(evaluation ? { eval: evaluation } : {}) };
    sum = 0;
    window = 0;
    records++;
    options.onRecord?.(r);
  };
  const evaluate = (final: boolean) => {
    if (!options.evaluate) return undefined;
    lastEval = options.evaluate(final);
    return lastEval;
  };

  if ((options.recordStart ?? true) && first === 0 && totalSteps > 0) record(evaluate(false));

  let stopped = false;
  let turn = now();
  while (optimizer.steps < totalSteps) {
    const step = optimizer.steps;
    const result = trainStep(model, optimizer, data.batch(step), options);
    sum += result.loss;
    window++;
    lastLr = result.lr;
    const done = optimizer.steps;
    const last = done === totalSteps;
    const evalNow = !last && evalEvery > 0 && done % evalEvery === 0;
    if (evalNow) record(evaluate(false));
    else if (!last && done % logEvery === 0) record();
    options.onStep?.(progress());
    if (!last && checkpointEvery > 0 && done % checkpointEvery === 0 && options.checkpoint) await options.checkpoint(progress());
    if (now() - turn >= yieldEvery) {
      await nextTurn();
      turn = now();
    }
    if (!last && options.shouldStop?.()) {
      stopped = true;
      break;
    }
  }
  if (stopped) {
    if (window > 0) record();
  } else if (optimizer.steps > first || window > 0 || records === 0) {
    record(evaluate(true));
  }
  return {
    ...progress(), stopped, stepsTaken: optimizer.steps - first, trainLoss: lastLoss, eval: lastEval, records,
  };
}
