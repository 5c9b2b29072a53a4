/**
 * runCluster(config): N workers training one model together in this process — two threads per worker (compute and
 * agent, see agent-thread.ts), parameters on shared memory, pairwise exchanges over the in-process transport (with
 * the link emulator when links are given), or synchronous all-reduce rounds. The supervisor (this thread) loads the
 * data once (shared by all workers), starts the threads together, writes metrics rows in the simulator's format
 * (t in expected local steps, consensus, loss and accuracy of the average model, gradients, communications, plus
 * wall-clock seconds), stops the run at the budget (gradient steps of all workers together, as the authors count
 * it) or when asked to, evaluates the global average of the final parameters on the test set, and saves it.
 *
 * A worker that dies (thread error, or kill()) is left behind: its neighbours notice the closed channels and train
 * on without it.
 *
 * Checkpoints and resuming: the checkpoint holds the global average of the parameters, the BatchNorm state of the
 * first surviving worker, and as its run the configuration, the resolved budget and the progress (gradient steps of
 * all workers and of each, local time, wall-clock seconds, exchanges); when the run was interrupted, also every
 * live worker's own parameters, BatchNorm state, algorithm vectors (A2CiD2's x̃) and optimizer state
 * (cluster-checkpoint.ts). A run given `resume` (readClusterCheckpoint) starts every saved worker where it was (a
 * worker that was dead starts from the average, with fresh optimizer state), continues the budget, the
 * learning-rate schedule and each worker's data order, and appends to the metrics.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { buildAlgorithm, type AlgorithmSetup } from '../algorithms/index.js';
import { UsageError } from '../core/errors.js';
import { writeOrFallback } from '../core/output-dir.js';
import { Rng } from '../core/rng.js';
import { getBackend } from '../engine/backends/index.js';
import {
  DEFAULT_SEQ, epochSize, evaluate, evaluationSet, imageData, loadTrainingData, modelShape, trainingPart, type TrainingData,
} from '../engine/training/data.js';
import { saveCheckpoint } from '../engine/checkpoint.js';
import { createModel } from '../engine/models/index.js';
import type { LabeledData, Model } from '../engine/models/model.js';
import type { LocalStepSettings } from '../algorithms/local-optimizer.js';
import { createOptimizer, optimizerConfigOf } from '../engine/optim/index.js';
import { makeTopology, type Graph } from '../graph/topology.js';
import { MetricsWriter, type MetricsRow } from '../report/metrics.js';
import { writeMetricsSvg } from '../report/plot.js';
import type { AgentEvent, AgentThreadData, WorkerSnapshot } from './agent-thread.js';
import { savedWorkers, workerContents, WORKER_PREFIX, type SavedWorker } from './cluster-checkpoint.js';
import { checkClusterConfig, Progress, type ClusterConfig, type ClusterSummary, type WorkerSummary } from './cluster-config.js';
import { collectiveBuffers, markDead, ringAllReduceMs, type CollectiveBuffers } from './collective.js';
import type { ComputeThreadData } from './compute-thread.js';
import { linkBetween } from './emulator.js';
import { endpointTransferList, inProcessNetwork, relinkEndpoint, type InProcessEndpoint } from './inprocess.js';
import { FifoOrchestrator } from './orchestrator.js';
import type { RunSchedule } from './schedule.js';
import { G, S, C, sharedDoubles, sharedFloats, sharedInts, toShared } from './shared.js';
import { siblingModule, threadSpawner } from './threads.js';
import { MessageChannel } from 'node:worker_threads';
import { z } from 'zod';

/** Rows of an earlier metrics file up to a resumed point (its final row dropped); none when absent or unreadable. */
function earlierRows(file: string, steps: number, log: (line: string) => void): MetricsRow[] {
  if (!existsSync(file)) return [];
  const rows: MetricsRow[] = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  for (const line of lines) {
    if (line.trim() === '') continue;
    let row: MetricsRow;
    try {
      row = JSON.parse(line) as MetricsRow;
    } catch {
      log(`${file}: a line is not JSON; the earlier rows after it are dropped`);
      break;
    }
    if (row.final !== undefined || !(typeof row.gradients === 'number') || row.gradients > steps) continue;
    rows.push(row);
  }
  return rows;
}

/** The run's data: by name from the registry, or given. */
function prepareData(config: ClusterConfig): TrainingData {
  const ds = config.dataset;
  if (typeof ds === 'object') return imageData(ds.train, ds.test, config.limit);
  return loadTrainingData(ds, config.model, { seed: config.seed, limit: config.limit });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface WorkerThreads {
  agent: Worker;
  compute: Worker;
  alive: boolean;
  exited: Promise<void>;
  /** Both threads have exited. */
  exitedNow: boolean;
}

export async function runCluster(config: ClusterConfig): Promise<ClusterSummary> {
  checkClusterConfig(config);
  const n = config.workers;
  const log = config.log ?? (() => {});
  const backend = getBackend({ backend: config.backend });
  const data = prepareData(config);
  let graph: Graph;
  try {
    graph = makeTopology(config.topology, n, { seed: config.seed });
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError(err instanceof Error ? err.message : String(err));
  }

  // The model of the supervisor: initial point, layout, and evaluation of the average.
  const seq = config.seq ?? DEFAULT_SEQ;
  const modelConfig = { ...modelShape(config.model, data, seq), ...config.modelConfig };
  let model: Model;
  try {
    model = createModel(config.model, { ...modelConfig, backend, seed: config.seed } as never);
  } catch (err) {
    throw new UsageError(`cannot build model ${config.model}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const dim = model.size;
  const trainCount = epochSize(data, seq);
  const budget = config.steps ?? Math.max(n, Math.ceil(((config.epochs ?? 1) * trainCount) / config.batchSize));
  const perWorker = Math.max(1, Math.ceil(budget / n));
  for (const [flag, list] of [['kill', config.kill], ['rejoin', config.rejoin]] as const) {
    const late = (list ?? []).find((k) => k.atStep >= budget);
    if (late) throw new UsageError(`--${flag} ${late.worker}@${late.atStep} would never happen: the run takes ${budget} steps in all`);
  }

  // A resumed run starts every worker from the saved average.
  const resume = config.resume ?? null;
  if (resume) {
    const short = (h: string) => h.slice(0, 12);
    if (resume.layoutHash !== model.layoutHash) {
      throw new UsageError(`checkpoint ${resume.file} holds a model with layout ${short(resume.layoutHash)}, which does not match this run's ${config.model} (layout ${short(model.layoutHash)})`);
    }
    if (resume.workerSteps.length !== n) throw new UsageError(`checkpoint ${resume.file} was written by a run of ${resume.workerSteps.length} workers, not ${n}`);
    if (resume.steps >= budget) {
      throw new UsageError(`checkpoint ${resume.file} has done ${resume.steps} steps, the whole budget of ${budget} (give a larger --steps or --epochs to train on)`);
    }
    model.params.set(resume.params);
    model.state.set(resume.state);
  }
  const startSteps = resume?.steps ?? 0;
  const x0 = Float32Array.from(model.params);
  const setup: AlgorithmSetup = {
    name: config.algorithm, graph, rate: config.rate, dim, dtype: 'f32', exchange: config.exchange,
    diloco: { innerSteps: config.innerSteps, outerLr: config.outerLr, outerMomentum: config.outerMomentum, outerOptimizer: config.outerOptimizer, outerBraking: config.outerBraking },
    layout: model.layout,
  };
  let built;
  try {
    built = buildAlgorithm({ ...setup, backend });
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError(err instanceof Error ? err.message : String(err));
  }
  const pairwise = built.algorithm.pairwise !== undefined;
  if (!pairwise && (config.codec ?? 'f32') !== 'f32') {
    throw new UsageError(`--codec applies to the pairwise algorithms (acid, gossip): ${config.algorithm} averages exact gradients`);
  }
  const optimizer = optimizerConfigOf(config);
  const localStep: LocalStepSettings = {
    optimizer: config.optimizer, lr: config.lr, momentum: config.momentum, nesterov: config.nesterov, weightDecay: config.weightDecay, decayAll: config.decayAll,
    braking: config.braking,
  };
  const warmup = config.warmup ?? Math.round(0.05 * perWorker);
  const schedule: RunSchedule = {
    kind: config.schedule, lr: config.lr, warmup, totalSteps: perWorker, milestones: config.milestones, minLr: config.minLr, stepSize: config.stepSize, gamma: config.gamma,
  };

  // Shared memory: the training set once for all, per worker its parameters, gradient, state, control and statistics.
  const training = trainingPart(data, toShared);
  const global = sharedInts(G.SIZE);
  global[G.STEPS] = startSteps;
  // Gradient steps claimed by the agents before applying them: the run takes exactly its budget of steps.
  const claimed = sharedInts(1);
  claimed[0] = startSteps;
  const xs = Array.from({ length: n }, () => {
    const x = sharedFloats(dim);
    x.set(x0);
    return x;
  });
  const states = Array.from({ length: n }, () => toShared(Float32Array.from(model.state)));
  // A resumed worker goes on from its own saved parameters, statistics, algorithm vectors and optimizer state.
  const restored = resume ? savedWorkers(resume.saved, n, createOptimizer(model, optimizer).state.length) : null;
  restored?.forEach((w, i) => {
    if (!w) return;
    xs[i].set(w.x);
    states[i].set(w.state);
  });
  const snapshots: Array<WorkerSnapshot | null> = new Array(n).fill(null);
  const bans = Array.from({ length: n }, (): WorkerSummary['banned'] => []);
  const stats = Array.from({ length: n }, () => sharedDoubles(S.SIZE));
  const controls = Array.from({ length: n }, () => sharedInts(C.SIZE));
  const endpoints: InProcessEndpoint[] | null = pairwise ? inProcessNetwork(n, graph.edges, dim) : null;
  const collective: CollectiveBuffers | null = built.algorithm.collective ? collectiveBuffers(n, dim) : null;
  const collectiveMs = collective && config.links
    ? ringAllReduceMs(n, 4 * dim, Array.from({ length: n }, (_, i) => linkBetween(config.links!, i, (i + 1) % n)))
    : 0;

  const out = config.out ? resolve(config.out) : null;
  // A resumed run appends to the metrics of its directory: the rows up to the checkpoint are kept.
  const earlier = out && resume ? earlierRows(join(out, 'metrics.jsonl'), startSteps, log) : [];
  const metrics = out ? new MetricsWriter(join(out, 'metrics.jsonl')) : null;
  for (const r of earlier) metrics?.write(r);
  const rows: MetricsRow[] = [...earlier];
  const agentModule = siblingModule('agent-thread');
  const computeModule = siblingModule('compute-thread');
  const spawnThread = await threadSpawner([agentModule, computeModule]);
  const timeoutMs = config.timeoutMs ?? 2000;

  // The authors' central pairing, when asked for: the supervisor hosts the orchestrator.
  const orchestrator = pairwise && config.pairing === 'fifo'
    ? new FifoOrchestrator(graph, new Rng(`${config.seed}:orchestrator`), (a, b) => {
      threads[a].agent.postMessage({ type: 'assigned', peer: b });
      threads[b].agent.postMessage({ type: 'assigned', peer: a });
    })
    : null;

  // Threads.
  let diverged = false;
  const killed: number[] = [];
  const rejoined: number[] = [];
  const threads: WorkerThreads[] = [];
  const ready: Promise<void>[] = [];
  /**
   * Starts worker i's agent and compute threads. A worker restarted within the run (`life.carry`: its earlier
   * counts) gets a fresh endpoint and control block; its steps go on from where they were (data order included).
   */
  const spawnWorker = (i: number, life: { endpoint: InProcessEndpoint | null; carry: Float64Array | null }): Promise<void> => {
    const { port1, port2 } = new MessageChannel();
    const grads = sharedFloats(dim);
    const endpoint = life.endpoint;
    const ownSteps = (resume?.workerSteps[i] ?? 0) + (life.carry ? life.carry[S.STEPS] : 0);
    const agentData: AgentThreadData = {
      id: i, n, setup, backend: backend.name, x: xs[i], grads, layout: [...model.layout], layoutHash: model.layoutHash, optimizer: localStep, schedule,
      rate: config.rate, rateMode: config.rateMode ?? 'poisson', seed: config.seed, timeoutMs, endpoint, central: orchestrator !== null,
      links: config.links ?? null, codec: config.codec ?? 'f32',
      collective, collectiveMs, aggregate: config.aggregate ?? 'mean', budget, global, claimed, startOwn: ownSteps, control: controls[i], stats: stats[i], port: port1,
      restore: !life.carry && restored?.[i] ? { vectors: restored[i]!.vectors, scalars: restored[i]!.scalars, time: restored[i]!.time, optimizer: restored[i]!.optimizer } : null,
      carry: life.carry, adversary: config.adversary?.[i] ?? null, bounds: config.bounds !== false,
    };
    const computeData: ComputeThreadData = {
      id: i, model: { name: config.model, config: modelConfig }, backend: backend.name, x: xs[i], grads, state: states[i],
      data: training, seq, batchSize: config.batchSize, seed: (config.seed * 1000003 + i) >>> 0,
      firstBatch: ownSteps,
      clip: config.clip, slowdown: config.slowdown?.[i] ?? 1, control: controls[i], port: port2,
    };
    const agent = spawnThread(agentModule, agentData, [port1, ...(endpoint ? endpointTransferList(endpoint) : [])], `gossamer-agent-${i}`);
    const compute = spawnThread(computeModule, computeData, [port2], `gossamer-compute-${i}`);
    let agentExit!: () => void;
    let computeExit!: () => void;
    const w: WorkerThreads = {
      agent, compute, alive: true, exitedNow: false,
      exited: Promise.all([new Promise<void>((r) => (agentExit = r)), new Promise<void>((r) => (computeExit = r))]).then(() => {
        w.exitedNow = true;
      }),
    };
    threads[i] = w;
    let agentReady!: () => void;
    let computeReady!: () => void;
    const isReady = Promise.all([new Promise<void>((r) => (agentReady = r)), new Promise<void>((r) => (computeReady = r))]).then(() => {});
    const fail = (what: string) => (err: Error) => {
      log(`worker ${i}: ${what} thread failed: ${err.message}`);
      void kill(i);
    };
    agent.on('message', (e: AgentEvent) => {
      if (e.type === 'ready') agentReady();
      else if (e.type === 'log') log(e.line);
      else if (e.type === 'available') {
        if (threads[i] === w && w.alive && !stopRequested) orchestrator?.available(i);
      } else if (e.type === 'stopped') {
        snapshots[i] = e.snapshot;
        orchestrator?.withdraw(i);
      }
      else if (e.type === 'banned') bans[i].push({ worker: e.peer, reason: e.reason });
      else if (e.type === 'ruined') {
        diverged = true;
        log(`${e.reason}: the run stops`);
        requestStop();
      }
      else if (e.type === 'diverged') {
        diverged = true;
        log(`worker ${i}: the loss is ${e.loss} at its step ${e.step + 1}: training diverged`);
        requestStop();
      }
    });
    compute.on('message', (e: { type: string }) => {
      if (e.type === 'ready') computeReady();
    });
    agent.on('error', fail('agent'));
    compute.on('error', fail('compute'));
    agent.on('exit', () => {
      agentExit();
      agentReady();
    });
    compute.on('exit', () => {
      computeExit();
      computeReady();
    });
    return isReady;
  };
  for (let i = 0; i < n; i++) ready.push(spawnWorker(i, { endpoint: endpoints ? endpoints[i] : null, carry: null }));

  /**
   * Brings a dead worker back (fault injection): it takes the parameters and statistics of a live neighbour, as a
   * networked late joiner pulls them, links up with its live neighbours again and trains on; its counts continue.
   */
  async function rejoin(i: number): Promise<void> {
    const w = threads[i];
    if (w.alive || stopRequested) return;
    await w.exited;
    const live = [...new Set(graph.neighbors[i])].filter((j) => threads[j].alive);
    if (live.length === 0) {
      log(`worker ${i} cannot rejoin: none of its neighbours is alive`);
      return;
    }
    xs[i].set(xs[live[0]]);
    states[i].set(states[live[0]]);
    // The counts go on from the earlier life (published ones through the carry, accumulated ones in place).
    const carry = Float64Array.from(stats[i]);
    stats[i][S.DONE] = 0;
    controls[i] = sharedInts(C.SIZE);
    const { endpoint, links } = relinkEndpoint(endpoints!, i, live);
    for (const l of links) threads[l.to].agent.postMessage({ type: 'link', link: l.peer }, [l.peer.port]);
    await spawnWorker(i, { endpoint, carry });
    rejoined.push(i);
    log(`worker ${i} rejoined from worker ${live[0]}'s parameters`);
    threads[i].agent.postMessage({ type: 'start' });
  }

  async function kill(i: number): Promise<void> {
    const w = threads[i];
    if (!w.alive) return;
    w.alive = false;
    killed.push(i);
    orchestrator?.withdraw(i);
    await Promise.all([w.agent.terminate(), w.compute.terminate()]);
    stats[i][S.DONE] = 1;
    if (collective) markDead(collective, i);
  }

  let stopRequested = false;
  function requestStop(): void {
    if (stopRequested) return;
    stopRequested = true;
    Atomics.store(global, G.STOP, 1);
    for (const w of threads) if (w.alive) w.agent.postMessage({ type: 'stop' });
  }

  const onAbort = () => requestStop();
  config.signal?.addEventListener('abort', onAbort);

  // Everything after the threads started: on an unexpected error, stop them before passing it on.
  const supervise = async (): Promise<ClusterSummary> => {
    await Promise.all(ready);
    const display = config.progress?.({ workers: n, perWorker, budget }) ?? { update() {}, stop() {} };
    // Metrics rows evaluate on part of the held-out data (test images, or windows of held-out text); the end on all.
    const evalRows = evaluationSet(data, seq, config.evalLimit ?? (data.kind === 'text' ? 200 : 1000));
    const evalAll = evaluationSet(data, seq);
    let started = performance.now();

    // Measurements of the average model.
    const mean = new Float32Array(dim);
    // The cluster's model is its honest workers' (an adversary trains its own well, but shows the others garbage).
    const liveIds = () => threads.map((w, i) => (w.alive && !config.adversary?.[i] ? i : -1)).filter((i) => i >= 0);
    // In float64, so that identical workers have a consensus distance of exactly 0.
    const mean64 = new Float64Array(dim);
    const average = (ids: number[]): number => {
      mean64.fill(0);
      for (const i of ids) {
        const x = xs[i];
        for (let k = 0; k < dim; k++) mean64[k] += x[k];
      }
      for (let k = 0; k < dim; k++) mean64[k] /= ids.length;
      let c = 0;
      for (const i of ids) {
        const x = xs[i];
        for (let k = 0; k < dim; k++) {
          const d = x[k] - mean64[k];
          c += d * d;
        }
      }
      mean.set(mean64);
      return c / Math.max(1, ids.length);
    };
    const evaluateMean = (set: LabeledData) => {
      model.params.set(mean);
      model.state.set(states[liveIds()[0] ?? 0]);
      return evaluate(model, data, set);
    };
    const totals = () => {
      let steps = 0;
      let exchanges = 0;
      let idle = 0;
      let wall = 0;
      let t = 0;
      let alive = 0;
      for (let i = 0; i < n; i++) {
        const s = stats[i];
        steps += s[S.STEPS];
        exchanges += s[S.EXCHANGES];
        idle += s[S.IDLE_MS];
        wall += s[S.WALL_MS];
        if (threads[i].alive) {
          t += s[S.TIME];
          alive++;
        }
      }
      // An exchange is counted by both its workers; a collective among n workers by each of them, as n − 1 messages.
      const communications = (pairwise ? Math.round(exchanges / 2) : (exchanges / n) * (n - 1)) + (resume?.communications ?? 0);
      return {
        steps: startSteps + steps, stepsNow: steps, communications, idleFraction: wall > 0 ? idle / wall : 0,
        t: (resume?.t ?? 0) + (alive > 0 ? t / alive : 0),
      };
    };
    const elapsed = () => (performance.now() - started) / 1000;
    const priorSeconds = resume?.seconds ?? 0;
    let lastAccuracy: number | undefined;
    const row = (initial = false): MetricsRow => {
      // The time of the measurement is when the average is taken (its evaluation takes a while).
      const seconds = initial ? priorSeconds : priorSeconds + elapsed();
      const tot = totals();
      const consensus = average(liveIds());
      const ev = evaluateMean(evalRows);
      lastAccuracy = ev.testAccuracy;
      const r: MetricsRow = {
        t: tot.t, consensus, loss: ev.testLoss, gradients: tot.steps, communications: tot.communications,
        seconds, ...ev, idleFraction: tot.idleFraction,
        lr: initial ? undefined : stats[liveIds()[0] ?? 0][S.LR],
      };
      rows.push(r);
      metrics?.write(r);
      config.onRow?.(r);
      return r;
    };
    const refresh = () => {
      display.update(
        stats.map((s, i) => ({
          steps: s[S.STEPS], loss: s[S.LOSS], exchanges: s[S.EXCHANGES], idle: s[S.WALL_MS] > 0 ? s[S.IDLE_MS] / s[S.WALL_MS] : 0, alive: threads[i].alive,
        })),
        { steps: Atomics.load(global, G.STEPS), accuracy: lastAccuracy },
      );
    };

    // The first row is measured before the workers start: the starting point, at the time the run starts.
    row(true);
    started = performance.now();
    for (const w of threads) if (w.alive) w.agent.postMessage({ type: 'start' });
    Atomics.store(global, G.START, 1);
    const every = Math.max(1, config.metricsEvery ?? Math.round(budget / 40));
    let nextRow = (Math.floor(startSteps / every) + 1) * every;
    const everySeconds = config.metricsEverySeconds ?? Infinity;
    let nextTimedRow = everySeconds;
    // Fault injection, in the order of the step counts (a kill before a rejoin of the same worker at the same count).
    const pendingFaults = [
      ...(config.kill ?? []).map((k) => ({ ...k, rejoin: false })), ...(config.rejoin ?? []).map((k) => ({ ...k, rejoin: true })),
    ].sort((a, b) => a.atStep - b.atStep || Number(a.rejoin) - Number(b.rejoin));
    // Threads may be replaced (a rejoining worker): wait on the current ones.
    while (!threads.every((w) => w.exitedNow)) {
      await Promise.race([sleep(50), Promise.all(threads.map((w) => w.exited))]);
      const steps = Atomics.load(global, G.STEPS);
      while (pendingFaults.length > 0 && steps >= pendingFaults[0].atStep) {
        const k = pendingFaults.shift()!;
        log(`${k.rejoin ? 'restarting' : 'killing'} worker ${k.worker} at step ${steps}`);
        await (k.rejoin ? rejoin(k.worker) : kill(k.worker));
      }
      if (Atomics.load(global, G.STOP) !== 0) requestStop();
      if (!stopRequested && (steps >= nextRow || elapsed() >= nextTimedRow)) {
        row();
        while (nextRow <= steps) nextRow += every;
        while (nextTimedRow <= elapsed()) nextTimedRow += everySeconds;
      }
      refresh();
      if (!stopRequested && threads.every((w, i) => !w.alive || stats[i][S.DONE] === 1)) requestStop();
    }
    const seconds = elapsed();

    // The end: consensus of the final parameters, then the global average evaluated on the whole test set.
    const ids = liveIds();
    const survivors = ids.length > 0 ? ids : threads.map((_, i) => i);
    const tot = totals();
    const consensus = average(survivors);
    const final = evaluateMean(evalAll);
    lastAccuracy = final.testAccuracy;
    refresh();
    display.stop();
    const last: MetricsRow = {
      t: tot.t, consensus, loss: final.testLoss, gradients: tot.steps, communications: tot.communications, seconds: priorSeconds + seconds,
      ...final, testLoss: final.testLoss, testAccuracy: final.testAccuracy, idleFraction: tot.idleFraction, lr: stats[survivors[0]][S.LR], final: 1,
    };
    rows.push(last);
    metrics?.write(last);
    config.onRow?.(last);

    let checkpoint: string | null = null;
    let plot: string | null = null;
    if (out) {
      await metrics!.close();
      checkpoint = join(out, 'checkpoint.safetensors');
      model.params.set(mean);
      model.state.set(states[survivors[0]]);
      const progress: z.infer<typeof Progress> = {
        steps: tot.steps, workerSteps: stats.map((s, i) => (resume?.workerSteps[i] ?? 0) + s[S.STEPS]), t: tot.t,
        seconds: priorSeconds + seconds, communications: tot.communications,
      };
      // An interrupted run is meant to be resumed: its workers are saved too (a finished one keeps just the average,
      // a model's size instead of three per worker).
      const interrupted = (config.signal?.aborted ?? false) && !diverged;
      const workers = threads.map((w, i): SavedWorker | null => (interrupted && w.alive && snapshots[i] ? { x: xs[i], state: states[i], ...snapshots[i]! } : null));
      checkpoint = writeOrFallback(checkpoint, 'checkpoint', (file) => saveCheckpoint(file, {
        model, step: tot.steps, epoch: (tot.steps * config.batchSize) / trainCount, seed: config.seed,
        run: { ...serializable(config), kind: 'cluster', budget, progress, averaged: true, workersAveraged: survivors.length },
        extra: { prefix: WORKER_PREFIX, ...workerContents(workers) },
      }));
      plot = join(out, 'metrics.svg');
      try {
        await writeMetricsSvg(plot, [{ name: `${config.algorithm} ${config.topology} ${n}`, rows: rows.filter((r) => r.final === undefined) }], {
          title: `${config.algorithm}, ${config.topology} of ${n}, rate ${config.rate}`, y: ['loss', 'consensus', 'testAccuracy'], xTitle: 't (local steps)', logY: false,
        });
      } catch (err) {
        log(`cannot draw the plot: ${err instanceof Error ? err.message : String(err)}`);
        plot = null;
      }
    }

    const perWorkerSummary: WorkerSummary[] = stats.map((s, i) => ({
      id: i, alive: threads[i].alive, steps: (resume?.workerSteps[i] ?? 0) + s[S.STEPS], exchanges: s[S.EXCHANGES],
      idleFraction: s[S.WALL_MS] > 0 ? s[S.IDLE_MS] / s[S.WALL_MS] : 0,
      msPerStep: s[S.STEPS] > 0 ? s[S.WALL_MS] / s[S.STEPS] : NaN, loss: s[S.LOSS], timeouts: s[S.TIMEOUTS], forgiven: s[S.FORGIVEN],
      computeMs: s[S.COMPUTE_MS] / Math.max(1, s[S.STEPS]), applyMs: s[S.APPLY_MS] / Math.max(1, s[S.STEPS]),
      exchangeMs: s[S.EXCHANGE_MS] / Math.max(1, s[S.STEPS]), rejected: s[S.REJECTED], banned: bans[i],
    }));
    const trainLosses = perWorkerSummary.filter((w) => w.alive && Number.isFinite(w.loss)).map((w) => w.loss);
    return {
      algorithm: built.algorithm.name, workers: n, topology: config.topology, rate: pairwise ? config.rate : 0, codec: config.codec ?? 'f32',
      model: config.model, dataset: data.name, params: dim, budget, steps: tot.steps, exchanges: tot.communications, seconds,
      stepsPerSecond: tot.stepsNow / Math.max(seconds, 1e-9), epochs: (tot.steps * config.batchSize) / trainCount, consensus,
      ...final, testLoss: final.testLoss, testAccuracy: final.testAccuracy, idleFraction: tot.idleFraction,
      trainLoss: trainLosses.length > 0 ? trainLosses.reduce((a, b) => a + b, 0) / trainLosses.length : NaN,
      interrupted: (config.signal?.aborted ?? false) && !diverged, diverged, killed, rejoined, perWorker: perWorkerSummary, constants: built.info,
      backend: backend.name, metrics: metrics ? metrics.path : null, plot, checkpoint,
      resumedFrom: resume ? resume.file : null, resumedAtStep: resume ? startSteps : null,
    };
  };
  try {
    return await supervise();
  } catch (err) {
    await Promise.all(threads.map((w) => Promise.all([w.agent.terminate(), w.compute.terminate()])));
    throw err;
  } finally {
    config.signal?.removeEventListener('abort', onAbort);
  }
}

/** The configuration without its callbacks, signal, data arrays and machinery (for checkpoints). */
function serializable(c: ClusterConfig): Record<string, unknown> {
  const { signal: _s, onRow: _r, log: _l, resume: _u, out: _o, progress: _p, kill: _k, rejoin: _j, adversary: _a, bounds: _n, backend: _b, dataset, ...rest } = c;
  return { ...rest, dataset: typeof dataset === 'object' ? dataset.train.name : dataset };
}
