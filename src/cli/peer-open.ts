/**
 * `gossamer peer` in open mode: no --index and no --workers. The first peer (no --bootstrap) defines the run config
 * from its flags; a peer started with --bootstrap and --swarm-key learns it from the cluster's announcements (and
 * refuses to start if one of its own explicit flags disagrees). Members find each other through signed gossipsub
 * announcements (runtime/net/open-membership.ts); the graph is a ring or an exponential graph over the live members in
 * peer-id order, re-formed with A2CiD2's constants whenever one joins, leaves or dies. A joiner pulls the current
 * parameters and goes on from that worker's step: the budget and the schedule are the cluster's.
 */
import { join, resolve } from 'node:path';
import { Acid } from '../algorithms/acid.js';
import type { Built } from '../algorithms/index.js';
import { LocalOptimizer } from '../algorithms/local-optimizer.js';
import { UsageError } from '../core/errors.js';
import { prepareOutputDir, writeOrFallback } from '../core/output-dir.js';
import { Rng } from '../core/rng.js';
import { getBackend } from '../engine/backends/index.js';
import { saveCheckpoint } from '../engine/checkpoint.js';
import { createModel } from '../engine/models/index.js';
import { initFromSafetensors } from '../engine/init-weights.js';
import { DEFAULT_SEQ, epochSize, evaluate, evaluationSet, loadTrainingData, modelShape, trainingPart } from '../engine/training/data.js';
import { recipe } from '../config/recipe.js';
import { LIVE_TOPOLOGIES, type LiveTopologyName } from '../graph/circulant.js';
import { makeRunSchedule } from '../runtime/schedule.js';
import { toShared } from '../runtime/shared-memory.js';
import type { LiveTopology } from '../runtime/net/live-topology.js';
import type { NetLogger } from '../runtime/net/net-options.js';
import { checkBootstrapAddress, checkListenAddress } from '../runtime/net/addresses.js';
import { readSwarmKey } from '../runtime/net/swarm-key.js';
import { checkJoinerFlags, OPEN_ALGORITHMS, parseOpenConfig, type OpenRunConfig } from './open-config.js';
import { laneOf, peerTraining, type PeerFlags } from './peer-flags.js';
import { printable } from './printable.js';
import { memoryFigures } from '../core/memory.js';

/** Flags of the fixed-index mode that open mode does not take (yet). */
const FIXED_ONLY = ['resume', 'links', 'latency', 'jitter', 'bandwidth', 'loss', 'aggregate', 'adversary', 'dashboard', 'shard', 'alpha', 'errorFeedback', 'logFormat'] as const;

/** The first peer's config: its flags over the model's recipe (a cluster of unknown size: the cluster recipe of two). */
function founderConfig(flags: PeerFlags): OpenRunConfig {
  const model = flags.model ?? 'mlp';
  const dataset = flags.dataset ?? recipe(model, 2).dataset;
  const data = loadTrainingData(dataset, model, { seed: flags.seed ?? 1, limit: flags.limit, evalLimit: flags.evalLimit, onDisk: true });
  const t = peerTraining(flags, 2, dataset, epochSize(data, flags.seq ?? DEFAULT_SEQ));
  const now = Date.now();
  return parseOpenConfig({
    v: 1, ...JSON.parse(JSON.stringify(t)), algo: flags.algo, topology: flags.topology, rate: flags.rate, codec: flags.codec,
    finalExchanges: flags.finalExchanges, timeout: flags.timeout, started: now, deadline: flags.duration === undefined ? null : now + Math.round(flags.duration * 1000),
  });
}

export async function runOpenPeer(flags: PeerFlags, explicit: readonly string[]): Promise<void> {
  for (const key of FIXED_ONLY) if (explicit.includes(key)) throw new UsageError(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is not available in open mode (without --index and --workers)`);
  if (!(OPEN_ALGORITHMS as readonly string[]).includes(flags.algo)) {
    throw new UsageError(`open mode (no --index, no --workers) runs the pairwise algorithms (${OPEN_ALGORITHMS.join(', ')}), not ${flags.algo}: give every peer --index and --workers for it`);
  }
  if (!(LIVE_TOPOLOGIES as readonly string[]).includes(flags.topology)) throw new UsageError(`open mode forms a ${LIVE_TOPOLOGIES.join(' or ')} over the live peers, not a ${flags.topology}`);
  if (!flags.swarmKey) throw new UsageError('--swarm-key is required (create one with "gossamer peer keygen <file>")');
  flags.listen.forEach(checkListenAddress);
  flags.bootstrap?.forEach(checkBootstrapAddress);
  if (flags.out !== undefined) flags.out = prepareOutputDir(flags.out, '--out');
  const swarmKey = readSwarmKey(flags.swarmKey);
  const joiner = (flags.bootstrap ?? []).length > 0;
  if (joiner && flags.duration !== undefined) throw new UsageError('--duration is the first peer\'s: a joiner takes the cluster\'s budget');
  const own = joiner ? null : founderConfig(flags);

  const { createNetTransport } = await import('../runtime/net/libp2p-transport.js');
  const { runPeerWorker } = await import('../runtime/net/peer-worker.js');
  const { LiveTopologyTracker } = await import('../runtime/net/live-topology-tracker.js');
  let name = 'peer';
  const say = (line: string): void => {
    if (!flags.json) process.stderr.write(`[${name}] ${printable(line)}\n`);
  };
  const log: NetLogger = (level, message) => {
    if (level === 'warn' || (flags.verbose && level === 'info')) process.stderr.write(`[${name}] ${printable(message)}\n`);
  };
  const transport = await createNetTransport({
    self: 0, workers: 0, listen: flags.listen, bootstrap: flags.bootstrap, swarmKey, lane: laneOf(flags), codec: flags.codec, status: { phase: 'join' }, log,
    open: { config: own },
  });
  const membership = transport.membership!;
  name = `peer ${transport.peerId.slice(-6)}`;
  const emit = (event: string, fields: Record<string, unknown>): void => {
    if (flags.json) process.stdout.write(`${JSON.stringify({ event, peerId: transport.peerId, id: transport.self, ...fields })}\n`);
  };
  const controller = new AbortController();
  let caught: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (caught) process.exit(signal === 'SIGTERM' ? 143 : 130);
    caught = signal;
    say(`${signal}: leaving after the current step (again to leave at once)`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const addrs = transport.addresses();
    if (flags.json) emit('listening', { addrs, open: true });
    else process.stdout.write(`open peer ${transport.peerId} listening on ${addrs.join(' ')}\n`);

    // A joiner learns the run from the cluster (and must reach it).
    const learned = await Promise.race([
      membership.config(),
      new Promise<null>((r) => setTimeout(() => r(null), flags.joinTimeout * 1000).unref()),
    ]);
    if (learned === null) throw new UsageError(`reached no peer of the cluster within ${flags.joinTimeout} s: ${transport.isolation()}`);
    const config = own ?? parseOpenConfig(learned);
    if (joiner) checkJoinerFlags(config, flags as unknown as Record<string, unknown>, explicit);
    emit('config', { config, learned: joiner });
    say(`${joiner ? 'joined' : 'started'} an open cluster: ${config.algo} on a live ${config.topology}, ${config.model} on ${config.dataset}, ${config.steps} steps${config.deadline ? ` or until ${new Date(config.deadline).toISOString()}` : ''}`);

    const backend = getBackend({ backend: flags.backend });
    // (images read from their files, as in fixed mode: the whole of MNIST in memory was 55 MB of an open peer's RSS)
    const data = loadTrainingData(config.dataset, config.model, { seed: config.seed, limit: config.limit ?? undefined, evalLimit: config.evalLimit ?? undefined, onDisk: true });
    const modelConfig: Record<string, unknown> = { ...modelShape(config.model, data, config.seq), ...(config.modelConfig ?? {}) };
    const model = createModel(config.model, { ...modelConfig, seed: config.seed, backend } as Parameters<typeof createModel>[1]);
    model.initialize(config.seed);
    if (flags.init !== undefined) {
      if (joiner) throw new UsageError('--init applies to the first peer: a joiner starts from the cluster\'s current parameters');
      initFromSafetensors(model, flags.init);
    }
    transport.expect({ algorithm: config.algo, layoutHash: model.layoutHash, messageLength: model.size });
    // The constants are the live topology's, set before the first step and on every change.
    const built: Built = { algorithm: new Acid({ dim: model.size, dtype: 'f32', backend, eta: 0, alphaTilde: 0, tracking: config.algo === 'acid' }), edgeRates: null, info: {} };
    const optimizer = new LocalOptimizer({ ...config, clip: config.clip ?? undefined }, {
      dim: model.size, dtype: 'f32', backend, layout: model.layout,
      schedule: makeRunSchedule({ kind: config.schedule, lr: config.lr, warmup: config.warmup, totalSteps: config.steps }),
    });
    const tracker = new LiveTopologyTracker(transport, { topology: config.topology as LiveTopologyName, rate: config.rate, momentum: config.algo === 'acid' });
    const report = (t: LiveTopology): void => {
      const fields = { members: t.members.length, peers: t.members, neighbours: t.neighbours, eta: t.eta, alphaTilde: t.alphaTilde, chi1: t.chi1, chi2: t.chi2 };
      emit('topology', fields);
      say(`topology: ${t.members.length} member(s), neighbours ${t.neighbours.join(', ') || 'none'}${config.algo === 'acid' ? `, eta ${t.eta.toPrecision(3)}, alphaTilde ${t.alphaTilde.toPrecision(3)}` : ''}`);
    };
    tracker.on('change', report);
    // A joiner waits a moment for the members its bootstrap peer announces, so that its first graph spans them.
    if (joiner) await new Promise((r) => setTimeout(r, 500));
    await tracker.start();
    report(tracker.current());

    const started = performance.now();
    const result = await runPeerWorker({
      transport,
      model,
      modelSpec: { name: config.model, config: modelConfig, backend: backend.name },
      train: { data: trainingPart(data, toShared), seq: config.seq, batchSize: config.batchSize, seed: config.seed * 7919 + (transport.self % 1_000_003) + 1 },
      built,
      optimizer,
      clip: config.clip,
      neighbours: [],
      topology: tracker,
      layoutHash: model.layoutHash,
      steps: config.steps,
      timeBudget: config.deadline === null ? undefined : { start: config.started, end: config.deadline },
      rate: config.rate,
      finalExchanges: config.finalExchanges,
      timeoutMs: config.timeout,
      barrierTimeoutMs: flags.barrierTimeout * 1000,
      rng: new Rng(config.seed).fork(`peer:${transport.peerId}`),
      pull: joiner,
      adoptStep: true,
      bounds: flags.bounds,
      slowdown: flags.slow,
      signal: controller.signal,
      onStart: (s) => {
        if (flags.json) emit('start', { ...s, trainLoss: Number.isFinite(s.trainLoss) ? s.trainLoss : null });
        else if (s.pulledFrom !== null) say(`started at step ${s.step} from worker ${s.pulledFrom}'s parameters`);
      },
      progressEvery: 50,
      onProgress: (p) => {
        if (flags.json) emit('progress', { ...p });
        else if (p.phase !== 'train' || p.steps % 500 === 0) say(`${p.phase} step ${p.steps}/${config.steps} train loss ${p.trainLoss.toFixed(4)} exchanges ${p.exchanges}`);
      },
      log: (line) => say(line),
      warn: (line) => log('warn', line),
    });
    await tracker.stop();
    model.params.set(result.x);
    const run = { command: 'peer', open: true, peerId: transport.peerId, ...config, interrupted: result.interrupted };
    const save = (dir: string): string => writeOrFallback(join(dir, 'checkpoint.safetensors'), 'checkpoint', (file) => saveCheckpoint(file, { model, step: result.steps, seed: config.seed, run }));
    if (result.ruined) throw new Error(result.ruined);
    const evaluation = evaluate(model, data, evaluationSet(data, config.seq, data.kind === 'text' ? (config.evalLimit ?? undefined) : undefined));
    const checkpoint = flags.out ? save(resolve(flags.out)) : null;
    const summary = {
      steps: result.steps, interrupted: result.interrupted, exchanges: result.exchanges, finalExchanges: result.finalExchanges, trainLoss: result.trainLoss,
      ...evaluation, seconds: (performance.now() - started) / 1000, layoutHash: model.layoutHash,
      members: tracker.current().members, topologies: tracker.history.map((t) => t.members.length), finished: result.finished,
      rejected: transport.stats.rejected, banned: result.banned, pairing: result.pairing, failed: transport.stats.failed, checkpoint, memory: memoryFigures(),
    };
    if (flags.json) emit('summary', summary);
    else process.stdout.write(`open peer: ${result.steps} steps, ${result.exchanges} exchanges, test accuracy ${(100 * evaluation.testAccuracy).toFixed(2)}%, ${summary.seconds.toFixed(1)} s${checkpoint ? `; model written to ${checkpoint}` : ''}\n`);
    if (result.interrupted) process.exitCode = caught === 'SIGTERM' ? 143 : 130;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await transport.close();
  }
}
