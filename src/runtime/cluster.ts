/**
 * runCluster(config): N workers training one model together in this process — two threads per worker (compute and
 * agent, see agent-thread.ts), parameters on shared memory, pairwise exchanges over the in-process transport (with
 * the link emulator when links are given), or synchronous all-reduce rounds. The supervisor (this thread) loads the
 * data once (shared by all workers), starts the threads together, writes metrics rows in the simulator's format,
 * injects the faults it is given, stops the run at the budget (gradient steps of all workers together, as the
 * authors count it) or when asked to, evaluates the global average of the final parameters on the test set, and
 * saves it. Its parts, one per module:
 *
 *   cluster-plan.ts        what the run trains: data, graph, model, budget, algorithm, schedule (checked up front)
 *   cluster-memory.ts      the shared memory and what each worker's threads are handed
 *   cluster-lifecycle.ts   the workers' threads: start, failure, kill, rejoin, stop, the agents' reports
 *   cluster-faults.ts      kills and rejoins at step counts, adversaries, slow-downs
 *   cluster-measure.ts     the average model, its consensus and evaluation, the workers' totals
 *   cluster-metrics.ts     metrics rows (when, and where to), the live display, the final row, the plot
 *   cluster-checkpoint.ts  the checkpoint: the average, the run record, every worker's own state when interrupted
 *
 * A resumed run (config.resume, from readClusterCheckpoint) starts every saved worker where it was (a worker that
 * was dead starts from the average, with fresh optimizer state), continues the budget, the learning-rate schedule and
 * each worker's data order, and appends to the metrics.
 */
import { join, resolve } from 'node:path';
import { Rng } from '../core/rng.js';
import { saveClusterCheckpoint, type SavedWorker } from './cluster-checkpoint.js';
import { checkClusterConfig, type ClusterConfig, type ClusterSummary, type WorkerSummary } from './cluster-config.js';
import { ClusterLifecycle } from './cluster-lifecycle.js';
import { clusterMemory, workerThreadData } from './cluster-memory.js';
import { ClusterMeasure } from './cluster-measure.js';
import { ClusterMetrics } from './cluster-metrics.js';
import { planCluster, type ClusterPlan } from './cluster-plan.js';
import { DEFAULT_ALPHA, examplesDigest, examplesOf } from '../data/shard.js';
import { FifoOrchestrator } from './orchestrator.js';
import { freshestServerState, readServerModel } from './server-memory.js';
import { G, S } from './shared-memory.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runCluster(config: ClusterConfig): Promise<ClusterSummary> {
  checkClusterConfig(config);
  const log = config.log ?? (() => {});
  const plan = planCluster(config);
  const { n, model, resume, faults } = plan;
  const memory = clusterMemory(plan, config);
  const { stats, global } = memory;
  const out = config.out ? resolve(config.out) : null;
  // The parts below ask `workers` (the lifecycle) about the workers only once the threads have started.
  const measure = new ClusterMeasure(
    {
      model, data: plan.data, ...memory, alive: (i) => workers.alive(i), honest: (i) => faults.honest(i),
      globalModel: memory.server ? (out) => readServerModel(memory.server!, out) : undefined,
    },
    { pairwise: plan.pairwise, pushes: memory.server !== null, startSteps: plan.startSteps, resume },
  );
  const metrics = new ClusterMetrics({ measure, data: plan.data, seq: plan.seq, ...memory, alive: (i) => workers.alive(i) }, {
    budget: plan.budget, startSteps: plan.startSteps, priorSeconds: resume?.seconds, file: out ? join(out, 'metrics.jsonl') : null, resumed: resume !== null,
    every: config.metricsEvery, everySeconds: config.metricsEverySeconds, evalLimit: config.evalLimit, onRow: config.onRow, formats: config.logFormats, log,
  });
  // The authors' central pairing, when asked for: the supervisor hosts the orchestrator.
  const orchestrator = plan.central ? new FifoOrchestrator(plan.graph, new Rng(`${config.seed}:orchestrator`), (a, b) => workers.pair(a, b)) : null;
  const workers = await ClusterLifecycle.start({ graph: plan.graph, memory, threadData: workerThreadData(plan, memory, config), orchestrator, log });
  const onAbort = () => workers.requestStop();
  config.signal?.addEventListener('abort', onAbort);

  // Everything after the threads started: on an unexpected error, stop them before passing it on.
  const supervise = async (): Promise<ClusterSummary> => {
    await workers.ready;
    const display = config.progress?.({ workers: n, perWorker: plan.perWorker, budget: plan.budget, testExamples: metrics.heldOut.rows }) ?? { update() {}, stop() {} };
    metrics.first();
    workers.go();
    while (workers.running) {
      await Promise.race([sleep(50), workers.exited()]);
      const steps = Atomics.load(global, G.STEPS);
      await faults.inject(steps, workers);
      if (Atomics.load(global, G.STOP) !== 0) workers.requestStop();
      if (!workers.stopRequested) metrics.sampleIfDue(steps);
      metrics.show(display);
      if (!workers.stopRequested && workers.done) workers.requestStop();
    }
    const end = metrics.finish(display);
    const { totals, seconds } = end;
    const workerSteps = stats.map((s, i) => (resume?.workerSteps[i] ?? 0) + s[S.STEPS]);
    const interrupted = (config.signal?.aborted ?? false) && !workers.diverged;

    let checkpoint: string | null = null;
    let plot: string | null = null;
    if (out) {
      await metrics.close();
      // An interrupted run is meant to be resumed: its workers are saved too (a finished one keeps just the average,
      // a model's size instead of three per worker).
      const saved = Array.from({ length: n }, (_, i): SavedWorker | null => {
        const snapshot = workers.snapshots[i];
        return interrupted && workers.alive(i) && snapshot ? { x: memory.xs[i], state: memory.states[i], ...snapshot } : null;
      });
      checkpoint = saveClusterCheckpoint(join(out, 'checkpoint.safetensors'), {
        config, model, average: measure.mean, state: memory.states[end.survivors[0]], workersAveraged: end.survivors.length, budget: plan.budget,
        progress: { steps: totals.steps, workerSteps, t: totals.t, seconds: (resume?.seconds ?? 0) + seconds, communications: totals.communications },
        trainCount: plan.trainCount, workers: saved, server: interrupted && memory.server ? freshestServerState(memory.server) : null,
      });
      plot = await metrics.plot(join(out, 'metrics.svg'), `${config.algorithm} ${config.topology} ${n}`, `${config.algorithm}, ${config.topology} of ${n}, rate ${config.rate}`);
    }

    const perWorker: WorkerSummary[] = stats.map((s, i) => ({
      id: i, alive: workers.alive(i), steps: workerSteps[i], exchanges: s[S.EXCHANGES],
      idleFraction: s[S.WALL_MS] > 0 ? s[S.IDLE_MS] / s[S.WALL_MS] : 0,
      msPerStep: s[S.STEPS] > 0 ? s[S.WALL_MS] / s[S.STEPS] : NaN, trainLoss: s[S.LOSS], timeouts: s[S.TIMEOUTS], forgiven: s[S.FORGIVEN],
      computeMs: s[S.COMPUTE_MS] / Math.max(1, s[S.STEPS]), applyMs: s[S.APPLY_MS] / Math.max(1, s[S.STEPS]),
      exchangeMs: s[S.EXCHANGE_MS] / Math.max(1, s[S.STEPS]), rejected: s[S.REJECTED], banned: workers.bans[i],
      ...workerExamplesSummary(plan, i),
    }));
    const applied = workers.applied;
    const server = memory.server ? {
      pushes: applied.length,
      meanStaleness: applied.reduce((a, p) => a + p.staleness, 0) / Math.max(1, applied.length),
      maxStaleness: applied.reduce((a, p) => Math.max(a, p.staleness), 0),
      holders: applied.map((p) => p.holder).filter((h, k, all) => k === 0 || all[k - 1] !== h),
      applied: applied.map((p): [number, number] => [p.worker, p.round]),
    } : undefined;
    const trainLosses = perWorker.filter((w) => w.alive && Number.isFinite(w.trainLoss)).map((w) => w.trainLoss);
    const final = end.evaluation;
    return {
      algorithm: plan.built.algorithm.name, workers: n, topology: config.topology, rate: plan.pairwise ? config.rate : 0, codec: config.codec ?? 'f32', errorFeedback: config.errorFeedback ?? false,
      model: config.model, dataset: plan.data.name, shard: config.shard ?? 'full', alpha: config.shard === 'dirichlet' ? config.alpha ?? DEFAULT_ALPHA : null, params: plan.dim, budget: plan.budget, steps: totals.steps, exchanges: totals.communications, seconds,
      stepsPerSecond: totals.stepsNow / Math.max(seconds, 1e-9), epochs: (totals.steps * config.batchSize) / plan.trainCount, consensus: end.consensus,
      ...final, testLoss: final.testLoss, testAccuracy: final.testAccuracy, testExamples: metrics.heldOut.final, idleFraction: totals.idleFraction,
      bytesSent: totals.bytesSent, outerSteps: totals.outerSteps,
      trainLoss: trainLosses.length > 0 ? trainLosses.reduce((a, b) => a + b, 0) / trainLosses.length : NaN,
      interrupted, diverged: workers.diverged, killed: workers.killed, rejoined: workers.rejoined, perWorker, ...(server ? { server } : {}), constants: plan.built.info,
      backend: plan.backend.name, metrics: metrics.path, plot, checkpoint,
      resumedFrom: resume ? resume.file : null, resumedAtStep: resume ? plan.startSteps : null,
    };
  };
  try {
    return await supervise();
  } catch (err) {
    await workers.terminate();
    throw err;
  } finally {
    config.signal?.removeEventListener('abort', onAbort);
  }
}

/** A worker's training examples in the summary: how many, and their fingerprint (the same split as the simulator's). */
function workerExamplesSummary(plan: ClusterPlan, i: number): { examples: number; examplesDigest: string } {
  const { data, shards } = plan;
  const examples = data.kind === 'text' ? null : examplesOf(shards, i, data.train.n);
  return { examples: examples?.length ?? plan.trainCount, examplesDigest: examples ? examplesDigest(examples) : '' };
}
