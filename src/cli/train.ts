/**
 * `gossamer train`: trains a model of the engine on a data set with one worker, evaluates it, and writes
 * metrics.jsonl (the simulator's format: t = steps) and checkpoint.safetensors to --out. Checkpoints are also
 * written every --checkpoint-every steps and on SIGINT (the run stops after the current step and exits with 130);
 * --resume continues a run from its checkpoint to its original budget, taking exactly the steps the uninterrupted
 * run would have taken (batches are a function of the seed and the step).
 *
 * The run's configuration is resolved as: explicit flags, then (with --resume) the checkpoint's run, then the
 * one-worker recipe of the model (config/recipe.ts).
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { Command } from 'commander';
import { z } from 'zod';
import { UsageError } from '../core/errors.js';
import { writeOrFallback } from '../core/output-dir.js';
import { Rng } from '../core/rng.js';
import { getBackend, type BackendChoice } from '../engine/backends/index.js';
import { checkCompatible, readCheckpoint, restoreModel, restoreOptimizer, saveCheckpoint, type Checkpoint } from '../engine/checkpoint.js';
import { createModel, MODEL_NAMES, type CreateModelOptions, type ModelName } from '../engine/models/index.js';
import type { Model } from '../engine/models/model.js';
import { createOptimizer, DEFAULT_BRAKING, optimizerConfigOf } from '../engine/optim/index.js';
import { makeSchedule, type ScheduleConfig } from '../engine/optim/schedule.js';
import type { BatchSource } from '../engine/training/batches.js';
import { batchSource, dataInfo, DATASETS, DEFAULT_SEQ, evaluate, evaluationSet, inputDescription, loadTrainingData, modelShape, type Evaluation } from '../engine/training/data.js';
import { trainLocal, type TrainRecord } from '../engine/training/loop.js';
import { sampleText } from '../engine/training/sample.js';
import { initFromSafetensors } from '../engine/init-weights.js';
import { MetricsWriter, readMetrics, type MetricsRow } from '../report/metrics.js';
import { writeRunPlot, type RunPlot } from '../report/plot.js';
import { recipe, warmupSteps } from '../config/recipe.js';
import { BACKENDS, OPTIMIZERS, parseRunRecord, SCHEDULES, TrainingRecord, type TrainingSettings } from '../config/run.js';
import { addBrakingOption, addInitOption, addLogFormatOption, integer, modelConfig, namingFlags, oneOf, real, type TrainingFlags } from './options.js';
import { printable } from './printable.js';
import { recipeLine } from './recipe-line.js';
import { RunDir } from './run-dir.js';
import { addDashboardOption, startDashboard } from './dashboard-option.js';
import { addClusterOptions, CLUSTER_FLAG_NAMES, explicitOptions, isClusterCheckpoint, isClusterRun, runClusterCommand } from './cluster.js';


/**
 * Everything that defines a one-worker run; stored in checkpoints (metadata "run") so that --resume continues the
 * same run. Every default is resolved.
 */
export interface RunConfig extends TrainingSettings {
  modelConfig: Record<string, unknown>;
  seq: number;
  limit: number | null;
  evalLimit: number | null;
  nesterov: boolean;
  decayAll: boolean;
  /** Adaptive Braking's ρ (0: off). */
  braking: number;
  warmup: number;
  minLr: number;
  /** null: a third of the budget. */
  stepSize: number | null;
  gamma: number;
  /** Budget in updates. */
  totalSteps: number;
  evalEvery: number | null;
  logEvery: number;
  checkpointEvery: number;
}

interface TrainFlags extends TrainingFlags {
  workers?: number;
  init?: string;
  epochs?: number;
  minLr?: number;
  lrStepSize?: number;
  lrGamma?: number;
  backend: BackendChoice;
  evalEvery?: number;
  checkpointEvery?: number;
  logEvery?: number;
  prompt: string;
  sampleLength: number;
  temperature: number;
  dashboard?: number | boolean;
}

export function trainCommand(): Command {
  const command: Command = new Command('train')
    .summary('Train a model: a cluster of worker threads in this process, or one worker.')
    .description(
      'Train a model with n worker threads (--workers, default 8, whatever the other flags) that train together, ' +
        'A2CiD2 on a ring and the MLP on MNIST by default (see the cluster options), evaluate the average on held-out ' +
        'data, and write run.json, metrics.jsonl, its plot metrics.svg and checkpoint.safetensors to --out. Several workers ' +
        'follow the recipe of decentralized training: 4 epochs of the training set over all workers, batch 128 per ' +
        'worker, SGD momentum 0.9 with lr 0.1 x max(1, batch x workers / 256) (the transformer: AdamW lr 1e-3, weight ' +
        'decay 0.01), warm-up over 5% of the steps then x0.1 at 50% and 75%, weight decay 5e-4 (not on biases and ' +
        'norms), clipping at 1; the DiLoCo family H 10 and an outer step of lr 0.7, momentum 0.5 (over AdamW: H 50, ' +
        'momentum 0.9). Ctrl-C stops the workers and writes the averaged model with the run\'s configuration and ' +
        'progress; --resume <checkpoint> continues such a run to its budget, every worker from its own saved ' +
        'parameters, algorithm state and optimizer momentum (the metrics are appended to).\n\n' +
        '--workers 1 trains one model alone, with its model\'s recipe: mlp and cnn on MNIST with SGD (momentum 0.9, ' +
        'lr 0.1 and 0.05, batch 128, cosine schedule, no weight decay nor clipping) for 2 epochs; resnet20 the same on ' +
        'synthetic images, weight decay 5e-4; transformer a character language model on Moby-Dick with AdamW (lr 3e-3, ' +
        '100 warm-up steps then cosine, batch 32, context 64, weight decay 0.01, clipping at 1) for 2000 steps. Ctrl-C ' +
        'stops after the current step and writes a checkpoint; --resume <checkpoint> continues the run to its original ' +
        'budget. A run prints its resolved recipe when it starts.',
    )
    .option('--model <name>', `model: ${MODEL_NAMES.join(', ')} (default mlp)`, oneOf(MODEL_NAMES))
    .option('--dataset <name>', 'data set: mnist, moby-dick or synthetic (default: mnist for mlp and cnn, synthetic for resnet20, moby-dick for transformer)', oneOf(DATASETS))
    .option('--workers <n>', 'number of workers: threads of this process (default 8, whatever the other flags; 1: one model trained alone, with its own recipe)', integer(1))
    .option('--epochs <e>', 'training budget in epochs (may be fractional)', real({ positive: true }))
    .option('--steps <n>', 'training budget in updates (instead of --epochs)', integer(1))
    .option('--batch-size <n>', 'examples (text: windows) per update', integer(1))
    .option('--optimizer <kind>', 'sgd or adamw', oneOf(OPTIMIZERS))
    .option('--lr <lr>', 'peak learning rate', real({ positive: true }))
    .option('--momentum <m>', 'SGD momentum', real({ min: 0, max: 0.999 }))
    .option('--nesterov', 'SGD: Nesterov momentum')
    .option('--weight-decay <wd>', 'weight decay (SGD: L2; AdamW: decoupled); not on biases and norms unless --decay-all', real({ min: 0 }))
    .option('--decay-all', 'apply weight decay to biases and norm parameters too');
  addBrakingOption(command, 'optimizer (one worker and clusters)')
    .option('--schedule <kind>', 'learning-rate schedule: constant, cosine, step or multistep (×gamma at 50% and 75% of the budget); default cosine with one worker, multistep in a cluster', oneOf(SCHEDULES))
    .option('--warmup <steps>', 'linear warm-up steps', integer(0))
    .option('--min-lr <lr>', 'final learning rate of the cosine schedule (default 0)', real({ min: 0 }))
    .option('--lr-step-size <steps>', 'step schedule: updates between decays (a cluster: each worker\'s steps; default a third of the budget)', integer(1))
    .option('--lr-gamma <g>', 'step schedule (and a cluster\'s default multistep one): decay factor (default 0.1)', real({ positive: true }))
    .option('--clip <norm>', 'clip the gradient to this L2 norm (0: no clipping)', real({ min: 0 }))
    .option('--seed <s>', 'random seed of the initialisation and of the data order (default 1)', integer(0))
    .option('--backend <name>', 'compute backend: auto, js or native', oneOf(BACKENDS), 'auto')
    .option('--out <dir>', 'output directory (default runs/train-<model>-<dataset>-<hash of the configuration>, cluster-… with several workers; with --resume, the checkpoint\'s directory); it receives run.json with the resolved configuration, the status and the summary')
    .option('--overwrite', 'replace the run already in the output directory (otherwise refused)')
    .option('--resume <checkpoint>', 'continue the run saved in this checkpoint (one worker or a cluster; see above)')
    .option('--eval-every <steps>', 'evaluate every this many updates (default: once per epoch; 0: only at the end)', integer(0))
    .option('--checkpoint-every <steps>', 'also write the checkpoint every this many updates (default 0: at the end only)', integer(0))
    .option('--log-every <steps>', 'metrics row with the mean training loss every this many updates (default 50)', integer(1))
    .option('--limit <n>', 'keep only the first n training examples (text: characters)', integer(1))
    .option('--eval-limit <n>', 'evaluate on at most n test examples (text: windows)', integer(1))
    .option('--seq <n>', 'context length of the transformer (default 64)', integer(1))
    .option('--model-config <json>', 'extra model options as JSON, e.g. \'{"hidden":[256]}\'', modelConfig)
    .option('--prompt <text>', 'transformer: prompt of the sample printed at the end', 'The whale ')
    .option('--sample-length <n>', 'transformer: characters to sample (0: none)', integer(0), 200)
    .option('--temperature <t>', 'transformer: sampling temperature (0: greedy)', real({ min: 0 }), 0.8)
    .option('--json', 'print one JSON summary on stdout and nothing else');
  addDashboardOption(command);
  addInitOption(command);
  addLogFormatOption(command);
  return addClusterOptions(command)
    .action(namingFlags(async (flags: TrainFlags, cmd: Command) => {
      const explicit = explicitOptions(cmd);
      // A resumed run is what its checkpoint says; a new one, a cluster unless --workers 1.
      if (flags.resume !== undefined ? isClusterCheckpoint(flags.resume) : isClusterRun(flags, explicit)) {
        process.exitCode = await runClusterCommand(flags, explicit);
        return;
      }
      const { summary, interrupted } = await runTrain(flags);
      if (interrupted) {
        process.stderr.write(`gossamer: interrupted at step ${summary.steps}/${summary.totalSteps}; checkpoint written to ${summary.checkpoint} (continue with --resume ${summary.checkpoint})\n`);
        process.exitCode = 130;
        return;
      }
      if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else printSummary(summary);
    }, CLUSTER_FLAG_NAMES));
}

// -------------------------------------------------------------------------------------------------------------------
// Data

interface PreparedData {
  train: BatchSource;
  /** Evaluation of the model on the held-out data. */
  evaluate: (model: Model) => Evaluation;
  /** Model options implied by the data (input shape, classes, context length). */
  modelOptions: Record<string, unknown>;
  /** Values per input sample and number of classes of the data. */
  inputSize: number;
  classes: number;
  info: Record<string, unknown>;
  /** What the inputs are and how they were scaled (the checkpoint's "input" metadata). */
  input: Record<string, unknown>;
}

function prepareData(run: RunConfig): PreparedData {
  const { model, seq } = run;
  const data = loadTrainingData(run.dataset, model, { seed: run.seed, limit: run.limit ?? undefined, evalLimit: run.evalLimit ?? undefined });
  const evalSet = evaluationSet(data, seq, data.kind === 'text' ? (run.evalLimit ?? undefined) : undefined);
  return {
    train: batchSource(data, run.seed, run.batchSize, seq),
    evaluate: (m) => evaluate(m, data, evalSet),
    modelOptions: modelShape(model, data, seq),
    inputSize: data.kind === 'text' ? seq : data.train.channels * data.train.height * data.train.width,
    classes: data.kind === 'text' ? data.vocab : data.train.classes,
    info: dataInfo(data, seq, run.evalLimit ?? undefined),
    input: inputDescription(data, seq),
  };
}

// -------------------------------------------------------------------------------------------------------------------
// Configuration

/**
 * What a one-worker checkpoint's run may hold: the shared training record and the one worker's own settings, every
 * field optional (older or hand-made checkpoints may lack some). Older runs spelled the step schedule's settings
 * lrStepSize and lrGamma.
 */
const SavedRun = z.preprocess(
  (run) => {
    if (typeof run !== 'object' || run === null) return run;
    const { lrStepSize, lrGamma, ...rest } = run as Record<string, unknown>;
    return { stepSize: lrStepSize, gamma: lrGamma, ...rest };
  },
  TrainingRecord.extend({
    totalSteps: z.number().int().nonnegative(),
    evalEvery: z.number().int().nonnegative().nullable(),
    logEvery: z.number().int().positive(),
    checkpointEvery: z.number().int().nonnegative(),
  }).partial(),
);

/** The run stored in a checkpoint, validated (a malformed one is reported, not trusted). */
function savedRun(checkpoint: Checkpoint): Partial<RunConfig> {
  return parseRunRecord(SavedRun, checkpoint.run, checkpoint.file, 'its run configuration') as Partial<RunConfig>;
}

/** Steps of a budget given in epochs. */
function stepsOfEpochs(epochs: number, epochSize: number, batchSize: number): number {
  return Math.max(1, Math.ceil((epochs * epochSize) / batchSize));
}

interface Resolved {
  run: RunConfig;
  /** Budget still to be resolved against the data (epochs need its size). */
  epochs: number | null;
}

function resolveRun(flags: TrainFlags, checkpoint: Checkpoint | null): Resolved {
  if (flags.epochs !== undefined && flags.steps !== undefined) throw new UsageError('give either --epochs or --steps, not both');
  const saved = checkpoint ? savedRun(checkpoint) : {};
  const model: ModelName = flags.model ?? saved.model ?? (checkpoint && (MODEL_NAMES as readonly string[]).includes(checkpoint.model) ? checkpoint.model as ModelName : 'mlp');
  // A checkpoint's run applies to its own model only; --model naming another model starts from that model's defaults.
  const base: Partial<RunConfig> = saved.model === undefined || saved.model === model ? saved : {};
  const pick = <K extends keyof RunConfig>(key: K, flag: RunConfig[K] | undefined, fallback: RunConfig[K]): RunConfig[K] =>
    flag !== undefined ? flag : base[key] !== undefined ? (base[key] as RunConfig[K]) : fallback;
  const d = recipe(model, 1, { optimizer: flags.optimizer ?? base.optimizer });
  const run: RunConfig = {
    model,
    dataset: pick('dataset', flags.dataset, d.dataset),
    modelConfig: pick('modelConfig', flags.modelConfig, {}),
    batchSize: pick('batchSize', flags.batchSize, d.batchSize),
    totalSteps: flags.steps ?? (flags.epochs === undefined ? base.totalSteps ?? 0 : 0),
    optimizer: d.optimizer,
    lr: pick('lr', flags.lr, d.lr),
    momentum: pick('momentum', flags.momentum, d.momentum),
    nesterov: pick('nesterov', flags.nesterov, false),
    weightDecay: pick('weightDecay', flags.weightDecay, d.weightDecay),
    decayAll: pick('decayAll', flags.decayAll, false),
    braking: pick('braking', flags.braking, DEFAULT_BRAKING),
    schedule: pick('schedule', flags.schedule, d.schedule),
    warmup: pick('warmup', flags.warmup, warmupSteps(d.warmup, 0)),
    minLr: pick('minLr', flags.minLr, 0),
    stepSize: pick('stepSize', flags.lrStepSize, null),
    gamma: pick('gamma', flags.lrGamma, 0.1),
    clip: pick('clip', flags.clip === 0 ? null : flags.clip, d.clip),
    seed: pick('seed', flags.seed, 1),
    seq: pick('seq', flags.seq, DEFAULT_SEQ),
    limit: pick('limit', flags.limit, null),
    evalLimit: pick('evalLimit', flags.evalLimit, null),
    evalEvery: pick('evalEvery', flags.evalEvery, null),
    logEvery: pick('logEvery', flags.logEvery, 50),
    checkpointEvery: pick('checkpointEvery', flags.checkpointEvery, 0),
  };
  if (run.optimizer === 'adamw' && run.momentum !== 0 && flags.momentum !== undefined) {
    throw new UsageError('--momentum applies to SGD only (AdamW has its own moment estimates)');
  }
  let epochs: number | null = null;
  if (flags.epochs !== undefined) epochs = flags.epochs;
  else if (flags.steps === undefined && run.totalSteps === 0) {
    if ('epochs' in d.budget) epochs = d.budget.epochs;
    else run.totalSteps = d.budget.steps;
  }
  return { run, epochs };
}

// -------------------------------------------------------------------------------------------------------------------
// The command

function loadResume(file: string): Checkpoint {
  return readCheckpoint(resolve(file));
}

async function runTrain(flags: TrainFlags): Promise<{ summary: Record<string, unknown>; interrupted: boolean }> {
  if (flags.init !== undefined && flags.resume !== undefined) throw new UsageError('--init starts a run from given weights; --resume continues one from its checkpoint');
  const checkpoint = flags.resume !== undefined ? loadResume(flags.resume) : null;
  const { run, epochs } = resolveRun(flags, checkpoint);
  const optimizerConfig = optimizerConfigOf(run);
  // A resumed run continues in its checkpoint's directory unless told otherwise.
  const runDir = RunDir.claim({
    command: 'train', out: flags.out, resumes: checkpoint ? dirname(checkpoint.file) : undefined, name: `train-${run.model}-${run.dataset}`,
    config: { ...run, workers: 1, ...(epochs === null ? {} : { epochs }) }, overwrite: flags.overwrite,
  });
  const out = runDir.path;
  const data = prepareData(run);
  const backend = getBackend({ backend: flags.backend });
  if (epochs !== null) run.totalSteps = stepsOfEpochs(epochs, data.train.epochSize, run.batchSize);
  const stepsPerEpoch = Math.max(1, Math.round(data.train.epochSize / run.batchSize));
  const evalEvery = run.evalEvery ?? stepsPerEpoch;

  const modelOptions = checkpoint && checkpoint.model === run.model && flags.modelConfig === undefined
    ? { ...checkpoint.modelConfig }
    : { ...data.modelOptions, ...run.modelConfig };
  let model: Model;
  try {
    model = createModel(run.model, { ...modelOptions, backend, seed: run.seed } as CreateModelOptions<ModelName>);
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError(`cannot build model ${run.model}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (model.inputSize !== data.inputSize || model.classes < data.classes) {
    throw new UsageError(
      `model ${run.model} takes inputs of ${model.inputSize} values into ${model.classes} classes, which does not fit ${run.dataset} ` +
        `(${data.inputSize} values, ${data.classes} classes)`,
    );
  }

  if (flags.init !== undefined) initFromSafetensors(model, flags.init);
  const optimizer = createOptimizer(model, optimizerConfig);
  if (checkpoint) {
    checkCompatible(checkpoint, model);
    restoreModel(checkpoint, model);
    restoreOptimizer(checkpoint, optimizer);
  }
  const startStep = optimizer.steps;
  if (startStep > run.totalSteps) {
    throw new UsageError(`the checkpoint is at step ${startStep}, beyond the budget of ${run.totalSteps} steps (give a larger --steps or --epochs)`);
  }
  const scheduleConfig: ScheduleConfig = {
    kind: run.schedule, lr: run.lr, warmupSteps: run.warmup, totalSteps: run.totalSteps, minLr: run.minLr,
    stepSize: run.stepSize ?? Math.max(1, Math.ceil(run.totalSteps / 3)), gamma: run.gamma, milestones: run.milestones,
  };
  const schedule = makeSchedule(scheduleConfig);

  // Where the checkpoint goes: out, unless out has become unwritable (then a temporary directory, from then on).
  let checkpointFile = join(out, 'checkpoint.safetensors');
  const metricsFile = join(out, 'metrics.jsonl');
  // Resuming into a directory with metrics keeps its rows up to the checkpoint (later ones are trained again).
  const earlier = checkpoint && existsSync(metricsFile) ? readMetrics(metricsFile).filter((row) => row.t <= startStep) : [];
  const recipeText = recipeLine(run, { workers: 1, budget: `${run.totalSteps} steps${epochs === null ? '' : ` (${epochs} epochs)`}` });
  // Started before the run begins: a port in use leaves no run behind.
  const dashboard = await startDashboard(flags.dashboard, { name: basename(out), kind: 'train', workers: 1, edges: [], description: recipeText }, flags.json === true);
  runDir.begin();
  if (!flags.json) process.stdout.write(`${recipeText}\n`);
  const metrics = new MetricsWriter(metricsFile, { onRow: dashboard ? (row) => dashboard.row(row) : undefined, formats: flags.logFormat });
  for (const row of earlier) metrics.write(row);
  const save = (step: number) => {
    checkpointFile = writeOrFallback(checkpointFile, 'checkpoint', (file) => saveCheckpoint(file, {
      model, optimizer, optimizerConfig: { ...optimizerConfig, noDecay: [...(optimizerConfig.noDecay ?? [])] }, step,
      epoch: (step * run.batchSize) / data.train.epochSize, seed: run.seed, run: { ...run, workers: 1 },
      input: data.input,
    }));
  };

  const bar = trainBar(run.totalSteps, startStep, !flags.json);
  const printEvals = !flags.json && !bar.active;
  let lastLoss = NaN;
  let lastEval: Record<string, number> = {};
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130); // a second Ctrl-C: leave at once
    stop = true;
  };
  process.on('SIGINT', onSigint);
  const showSteps = (step: number) => dashboard?.workers([{ steps: step, exchanges: 0 }]);
  let result;
  try {
    result = await trainLocal({
      model, optimizer, data: data.train, totalSteps: run.totalSteps, schedule, clip: run.clip ?? undefined,
      logEvery: run.logEvery, evalEvery, checkpointEvery: run.checkpointEvery,
      evaluate: () => data.evaluate(model),
      checkpoint: (p) => save(p.step),
      shouldStop: () => stop,
      onRecord: (r) => {
        if (r.window === 0 && r.step === 0) {
          // The row before the first step: the loss of the first batch at the initial parameters.
          const first = data.train.batch(0);
          r.loss = model.loss(first.inputs, first.targets);
        }
        metrics.write(metricsRow(r));
        if (r.window > 0) lastLoss = r.loss;
        if (r.eval) {
          lastEval = r.eval;
          if (printEvals) process.stdout.write(`${formatRecord(r, run.totalSteps)}\n`);
        }
        bar.update(r.step, lastLoss, lastEval.testAccuracy);
        showSteps(r.step);
      },
      onStep: (p) => {
        bar.update(p.step, lastLoss, lastEval.testAccuracy);
        showSteps(p.step);
      },
    });
  } finally {
    process.off('SIGINT', onSigint);
    bar.stop();
    await dashboard?.close(result === undefined ? 'failed' : result.stopped ? 'interrupted' : 'finished');
  }
  save(optimizer.steps);
  await metrics.close();
  const plot = await drawPlot(join(out, 'metrics.svg'), metricsFile, { name: basename(out), kind: 'train', title: `${run.model} on ${run.dataset}, one worker, ${run.optimizer} lr ${run.lr}, batch ${run.batchSize}` });

  const seconds = result.seconds;
  const summary: Record<string, unknown> = {
    model: run.model, dataset: run.dataset, workers: 1, backend: backend.name, isa: backend.isa, layoutHash: model.layoutHash,
    params: model.size, steps: optimizer.steps, totalSteps: run.totalSteps, epochs: result.epoch, seconds,
    msPerStep: result.stepsTaken > 0 ? (seconds * 1000) / result.stepsTaken : null,
    trainLoss: result.trainLoss, ...(result.eval ?? {}), ...data.info,
    optimizer: run.optimizer, lr: run.lr, ...(run.braking > 0 ? { braking: run.braking } : {}), batchSize: run.batchSize, seed: run.seed,
    checkpoint: checkpointFile, metrics: metrics.path, plot, resumedFrom: checkpoint ? checkpoint.file : null, resumedAtStep: checkpoint ? startStep : null,
  };
  if (!result.stopped && model.name === 'transformer' && flags.sampleLength > 0) {
    summary.prompt = flags.prompt;
    summary.sample = sampleText(model, flags.prompt, { length: flags.sampleLength, temperature: flags.temperature, rng: new Rng(`sample:${run.seed}`) });
  }
  summary.config = run;
  runDir.close(result.stopped ? 'interrupted' : 'finished', summary);
  return { summary, interrupted: result.stopped };
}

/**
 * The run's plot from its metrics file; null when there is no file any more (its directory went away: the checkpoint
 * line says where the results are), or with a line on stderr when it cannot be drawn (the run's results stand).
 */
async function drawPlot(file: string, metricsFile: string, run: Omit<RunPlot, 'rows'>): Promise<string | null> {
  if (!existsSync(metricsFile)) return null;
  try {
    await writeRunPlot(file, { ...run, rows: readMetrics(metricsFile) });
    return file;
  } catch (err) {
    process.stderr.write(`gossamer: cannot draw the plot ${file}: ${err instanceof Error ? err.message : String(err)}\n`);
    return null;
  }
}

function metricsRow(r: TrainRecord): MetricsRow {
  const row: MetricsRow = {
    t: r.step, consensus: 0, trainLoss: r.loss, gradients: r.step, communications: 0, seconds: r.seconds, epoch: r.epoch, lr: r.lr,
  };
  if (r.eval) Object.assign(row, r.eval);
  return row;
}

const fmt = (v: unknown): string => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(5)) : String(v));

function formatRecord(r: TrainRecord, total: number): string {
  const parts = [`step ${r.step}/${total}`, `epoch ${r.epoch.toFixed(2)}`];
  if (r.window > 0) parts.push(`trainLoss ${fmt(r.loss)}`);
  for (const [k, v] of Object.entries(r.eval ?? {})) parts.push(`${k} ${fmt(v)}`);
  return parts.join('  ');
}

/** A progress bar on stderr (a terminal only) showing the training loss and the last test accuracy. */
function trainBar(total: number, start: number, enabled: boolean) {
  if (!enabled || !process.stderr.isTTY) return { active: false, update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format: 'train [{bar}] {value}/{total} | train loss {loss} | test acc {acc} | eta {eta_formatted}', stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, start, { loss: '-', acc: '-' });
  return {
    active: true,
    update(step: number, loss: number, acc: number | undefined) {
      bar.update(step, { loss: Number.isFinite(loss) ? loss.toFixed(4) : '-', acc: acc === undefined ? '-' : `${(acc * 100).toFixed(2)}%` });
    },
    stop: () => bar.stop(),
  };
}

function printSummary(s: Record<string, unknown>): void {
  const keys = [
    'model', 'dataset', 'backend', 'isa', 'params', 'steps', 'epochs', 'seconds', 'msPerStep', 'trainLoss', 'testLoss', 'testAccuracy', 'testExamples',
    'testBitsPerChar', 'unigramLoss', 'checkpoint', 'metrics', 'plot',
  ];
  for (const k of keys) if (s[k] !== undefined && s[k] !== null) process.stdout.write(`${k.padEnd(16)} ${fmt(s[k])}\n`);
  if (typeof s.sample === 'string') process.stdout.write(`sample           ${printable(JSON.stringify(s.prompt))} → ${printable(JSON.stringify(s.sample))}\n`);
}
