/**
 * `gossamer peer`: one worker of a cluster that trains across processes and machines over the network transport
 * (js-libp2p: TCP + noise + yamux, in a private network keyed by a swarm key). Every worker runs the same command
 * with its own --index; they find each other from --bootstrap addresses, train with A2CiD2 (or the gossip baseline)
 * on their graph neighbours, average to consensus at the end, and each writes the final model.
 *
 * A worker started while the others already train joins late: it pulls their current parameters first. SIGINT
 * stops a worker after its current step and writes a checkpoint that --resume continues from. Links can be
 * emulated (latency, jitter, bandwidth, loss) as for `gossamer train`'s threaded cluster, and the worker's compute
 * slowed down.
 *
 * `gossamer peer keygen <file>` writes a new swarm key.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { buildAlgorithm, COLLECTIVE_ALGORITHMS } from '../algorithms/index.js';
import { UsageError } from '../core/errors.js';
import { prepareOutputDir, writeOrFallback } from '../core/output-dir.js';
import { Rng } from '../core/rng.js';
import { getBackend } from '../engine/backends/index.js';
import { restoreModel, restoreOptimizer } from '../engine/checkpoint.js';
import { createModel, MODEL_NAMES } from '../engine/models/index.js';
import { createOptimizer, optimizerConfigOf } from '../engine/optim/index.js';
import {
  DATASETS, DEFAULT_SEQ, epochSize, evaluate, evaluationSet, loadTrainingData, modelShape, trainingPart, workerExamples,
} from '../engine/training/data.js';
import { makeTopology } from '../graph/topology.js';
import { bandwidth, explicitOptions, linksOf } from './cluster.js';
import { EmulatedTransport } from '../runtime/emulator.js';
import { LocalOptimizer } from '../algorithms/local-optimizer.js';
import { AGGREGATES } from '../runtime/aggregate.js';
import { makeRunSchedule } from '../runtime/schedule.js';
import { toShared } from '../runtime/shared-memory.js';
import { graphPairing } from '../runtime/pairing.js';
import type { Transport } from '../runtime/transport.js';
import type { NetCollective } from '../runtime/net/collective.js';
import type { NetLogger } from '../runtime/net/libp2p-transport.js';
import { checkPeerResume, peerServerState, readPeerCheckpoint, savePeerCheckpoint, type PeerCheckpoint, type PeerRun } from '../runtime/net/peer-checkpoint.js';
import type { SavedState } from '../algorithms/types.js';
import { checkBootstrapAddress, checkListenAddress } from '../runtime/net/addresses.js';
import { readSwarmKey, writeSwarmKey } from '../runtime/net/swarm-key.js';
import { adversaryKind } from './adversary-option.js';
import { ADVERSARY_KINDS } from '../runtime/adversary.js';
import { addBrakingOption, addCodecOptions, addShardOptimizerOption, addInitOption, addLogFormatOption, addDilocoOptions, addShardOptions, dilocoSettings, withOuterRecipe, integer, modelConfig, namingFlags, oneOf, optionName, real } from './options.js';
import { examplesDigest, examplesOf } from '../data/shard.js';
import { initFromSafetensors } from '../engine/init-weights.js';
import { checkContributionCodec } from '../core/contribution.js';
import { recipe } from '../config/recipe.js';
import { printable } from './printable.js';
import { memoryFigures } from '../core/memory.js';
import { keepMemorySmall } from '../runtime/allocator.js';
import { algorithmText, recipeLine } from './recipe-line.js';
import { RunDir } from './run-dir.js';
import { addDashboardOption, startDashboard } from './dashboard-option.js';
import { MetricsWriter, readMetrics, type MetricsWriterInit, type WrittenRow } from '../report/metrics.js';
import { PEER_ALGORITHMS, laneOf, peerTraining, type PeerFlags } from './peer-flags.js';
import { BACKENDS, OPTIMIZERS, SCHEDULES } from '../config/run.js';

export function peerCommand(): Command {
  const peer = new Command('peer')
    .summary('Run one worker of a cluster that trains over the network (js-libp2p).')
    .description(
      'Run one worker of a cluster that trains over the network, one process per worker: each with its own --index, ' +
        'all with the same --workers, --swarm-key, model and data flags. Workers find each other from --bootstrap ' +
        'addresses (any running worker; the first one needs none), train with A2CiD2 or gossip on their neighbours in ' +
        '--topology, then average to consensus and write the final model to --out. Create the swarm key once with ' +
        '"gossamer peer keygen <file>" and give every worker a copy.\n\n' +
        'A worker started while the others already train (a late joiner, or a restarted one) does not wait for them: ' +
        'it pulls the current parameters from a live neighbour before its first step, and its neighbours take it back ' +
        'into their exchanges. Ctrl-C (SIGINT) stops the worker after its current step, writes a checkpoint to ' +
        '<--out>/checkpoint.safetensors, leaves the cluster (the others carry on) and exits with 130; run the same command ' +
        'with --resume <checkpoint> to continue that worker to its budget of --steps.\n\n' +
        'Emulated links (as in "gossamer train" with several workers): --latency, --jitter, --bandwidth, --loss and a ' +
        '--links table; each exchange is delayed by its proposer\'s emulator both ways, so give every worker the same ' +
        'link flags (a per-worker or per-edge link goes in the --links table). --slow makes this worker compute slower.\n\n' +
        'Open mode (no --index and no --workers): peers come and go. The first peer (no --bootstrap) defines the run with ' +
        'its flags (--algo acid or gossip, --topology ring or exponential, --rate, --steps, --duration, model, data and ' +
        'optimizer); "gossamer peer --bootstrap <multiaddr> --swarm-key <file>" joins it: it learns the run from the ' +
        'members\' signed gossipsub announcements (refusing to start if one of its explicit training flags differs), pulls ' +
        'the current parameters and goes on from the cluster\'s step to its end. The graph is formed over the live members ' +
        'in peer-id order and re-formed, with A2CiD2\'s constants, whenever one joins, leaves or goes silent for 5 s. ' +
        'Collectives (allreduce, the DiLoCo family, acco, dpu), --resume, --shard, the link emulator, --adversary and ' +
        '--dashboard need the fixed mode.',
    )
    .option('--listen <multiaddr...>', 'addresses to listen on', ['/ip4/0.0.0.0/tcp/0'])
    .option('--bootstrap <multiaddr...>', 'addresses of running workers to join through')
    .option('--swarm-key <file>', 'pre-shared key of the private network (required)')
    .option('--no-lane', 'carry every exchange over libp2p streams: no direct sealed channel to each peer for the payloads of large exchanges (docs/network.md)')
    .option('--lane-port <port>', 'port of this worker\'s lane server, on the host of its first --listen address (default: any free one)', integer(0, 65535))
    .option('--lean-memory', 'give V8\'s young generation back whenever it grows past 8 MB: an MLP peer holds ~130 MB instead of ~165, for ~3% more CPU on its main thread (with many more peers than cores, the extra collections slow membership and consensus; docs/network.md)')
    .option('--index <i>', 'this worker\'s index, 0 … workers − 1 (fixed mode; leave out with --workers for open mode)', integer(0))
    .option('--workers <n>', 'number of workers in the cluster (fixed mode; leave out with --index for open mode)', integer(1))
    .option('--model <name>', `model: ${MODEL_NAMES.join(', ')} (default mlp)`, oneOf(MODEL_NAMES))
    .option('--dataset <name>', `data set: ${DATASETS.join(', ')} (default: mnist for mlp and cnn, synthetic for resnet20, moby-dick for transformer)`, oneOf(DATASETS))
    .option('--seq <n>', `context length of the transformer (default ${DEFAULT_SEQ})`, integer(1))
    .option('--model-config <json>', 'extra model options as JSON, e.g. \'{"hidden":[64]}\'', modelConfig)
    .option('--algo <name>', `algorithm: ${PEER_ALGORITHMS.join(', ')}`, oneOf(PEER_ALGORITHMS), 'acid')
    .option('--topology <name>', 'communication graph (as in gossamer graph)', 'ring')
    .option('--aggregate <rule>', `collectives (${COLLECTIVE_ALGORITHMS.join(', ')}): how the coordinator combines the contributions, ${AGGREGATES.join(', ')} (default mean)`, oneOf(AGGREGATES));
  addDilocoOptions(peer, '', 'recipe');
  peer
    .option('--rate <r>', 'expected exchanges per local step', real({ min: 0 }), 1)
    .option('--steps <n>', 'local steps of this worker (default: its share of 4 epochs of the training set over all workers; with --resume: the checkpoint\'s budget; open mode: the cluster\'s step count where training ends)', integer(1))
    .option('--duration <s>', 'open mode, first peer: the cluster\'s budget in time too: training ends this many seconds after the first peer started, if the steps are not done by then; the learning-rate schedule (and its warm-up) then runs over whichever budget binds: its point is the larger of the steps taken and the fraction of the time elapsed times --steps', real({ positive: true }))
    .option('--batch-size <n>', 'examples per step (default 128; transformer 128 windows)', integer(1))
    .option('--optimizer <kind>', `local optimizer: ${OPTIMIZERS.join(' or ')} (default sgd; transformer adamw)`, oneOf(OPTIMIZERS))
    .option('--lr <lr>', 'peak learning rate (default: SGD 0.1 · max(1, batch · workers / 256), AdamW 1e-3)', real({ positive: true }))
    .option('--momentum <m>', 'SGD momentum (default 0.9)', real({ min: 0, max: 0.999 }))
    .option('--nesterov', 'SGD: Nesterov momentum')
    .option('--weight-decay <wd>', 'weight decay, not on biases and norms unless --decay-all (default: SGD 5e-4, AdamW 0.01)', real({ min: 0 }))
    .option('--decay-all', 'apply weight decay to biases and norm parameters too');
  addCodecOptions(peer, 'network', 'f32');
  addShardOptimizerOption(peer, 'refused by gossamer peer (its collectives have no sharded rounds yet: use sim or train\'s clusters); ');
  addInitOption(peer);
  addLogFormatOption(peer);
  addBrakingOption(peer)
    .option('--schedule <kind>', `learning-rate schedule over the steps: ${SCHEDULES.join(', ')} (default multistep: ×0.1 at 50% and 75% of the steps)`, oneOf(SCHEDULES))
    .option('--warmup <steps>', 'linear warm-up steps (default 5% of the steps)', integer(0))
    .option('--clip <norm>', 'clip gradients to this L2 norm (default 1; 0: no clipping)', real({ min: 0 }))
    .option('--final-exchanges <n>', 'averaging exchanges after every worker has finished its steps', integer(0), 20)
    .option('--timeout <ms>', 'deadline of one exchange, of a late joiner\'s pull, and of an all-reduce round after the coordinator\'s own contribution, ms', integer(1), 30_000)
    .option('--join-timeout <s>', 'how long to wait for every worker to join before starting, s (a late joiner does not wait: the cluster is already training; a worker that has reached nobody by then exits with code 2)', real({ min: 0 }), 60)
    .option('--barrier-timeout <s>', 'longest wait for the other workers at the end of each phase, s', real({ min: 0 }), 600)
    .option('--latency <ms>', 'emulated one-way link latency, ms', real({ min: 0 }))
    .option('--jitter <ms>', 'emulated latency jitter (uniform ±), ms', real({ min: 0 }))
    .option('--bandwidth <rate>', 'emulated link bandwidth, e.g. 100Mbit or 12.5MB (per second)', bandwidth)
    .option('--loss <p>', 'probability that one direction of an exchange is lost (set a short --timeout: a loss costs one)', real({ min: 0, max: 1 }))
    .option('--links <file>', 'JSON link table with per-worker and per-edge links, e.g. {"default": {"latencyMs": 20}, "workers": {"3": {"bandwidth": "10Mbit"}}, "edges": {"0-1": {"loss": 0.1}}}; the link flags override its default')
    .option('--slow <factor>', 'compute slow-down of this worker: it sleeps (factor − 1) × the compute time after each gradient', real({ min: 1 }))
    .option('--adversary <kind>', `fault injection: this worker sends forged models instead of its own (${ADVERSARY_KINDS.join(', ')})`, adversaryKind)
    .option('--no-bounds', 'apply neighbours\' messages and pulled parameters unchecked (to measure what the bounds prevent)')
    .option('--limit <n>', 'training examples (synthetic: generated; mnist: the first n)', integer(1));
  addShardOptions(peer, 'data');
  peer
    .option('--eval-limit <n>', 'test examples', integer(1))
    .option('--seed <s>', 'seed of the initial model and the data, the same on every worker (default 1)', integer(0))
    .option('--backend <name>', 'compute backend: auto, js or native', oneOf(BACKENDS), 'auto')
    .option('--out <dir>', 'write the final model (or, on SIGINT, the checkpoint) to <dir>/checkpoint.safetensors (on SIGINT without --out: runs/peer-<index>)')
    .option('--overwrite', 'replace the run already in --out (otherwise refused)')
    .option('--resume <checkpoint>', 'continue the worker saved in this checkpoint (written on SIGINT) to its budget; --index, --workers, --steps, --algo, --topology, --rate, the model, data and optimizer settings and --seed default to the checkpoint\'s (a training setting that differs from it is refused), and --out to its directory')
    .option('--json', 'print JSON lines on stdout: {"event":"listening",…} at start, {"event":"start",…} after the first step (pulledFrom: whose parameters a late joiner took), {"event":"progress",…}, {"event":"summary",…} at the end, {"event":"interrupted",…} on SIGINT')
    .option('--verbose', 'log the network\'s dropped messages and membership changes')
    .action(namingFlags(async (flags: PeerFlags, cmd: Command) => {
      await runPeer(flags, explicitOptions(cmd));
    }, { algorithm: 'algo' }));
  addDashboardOption(peer);
  peer
    .command('keygen')
    .description('Write a new random swarm key (the pre-shared secret of a private cluster) to <file>.')
    .argument('<file>', 'where to write the key')
    .option('--force', 'replace an existing file')
    .exitOverride()
    .action(namingFlags((file: string, opts: { force?: boolean }) => {
      writeSwarmKey(file, opts.force ?? false);
      process.stdout.write(`swarm key written to ${file}\n`);
    }));
  return peer;
}


/** Durations of this worker's completed proposals, for the summary (emulated links make each last at least both one-way delays). */
interface ProposalTiming {
  count: number;
  totalMs: number;
  minMs: number;
}

function timed(inner: Transport, timing: ProposalTiming): Transport {
  return {
    self: inner.self,
    propose: async (peer, header, message, timeoutMs) => {
      const t0 = performance.now();
      const r = await inner.propose(peer, header, message, timeoutMs);
      if (r.ok) {
        const ms = performance.now() - t0;
        timing.count++;
        timing.totalMs += ms;
        timing.minMs = Math.min(timing.minMs, ms);
      }
      return r;
    },
    onProposal: (handler) => inner.onProposal(handler),
    // Without it the transport's received payloads would never be reused: a new model-sized buffer per exchange.
    release: inner.release && ((message) => inner.release!(message)),
    close: () => inner.close(),
  };
}

/** The training settings a peer's flags give (the shared run record's fields, config/run.ts). */
export const TRAINING_FLAGS = ['model', 'modelConfig', 'dataset', 'shard', 'alpha', 'seq', 'limit', 'evalLimit', 'batchSize', 'optimizer', 'lr', 'momentum', 'nesterov', 'weightDecay', 'decayAll', 'braking', 'schedule', 'warmup', 'clip', 'seed'] as const;

/**
 * With --resume: the checkpoint's run fills in what the command line does not say; a training setting given on the
 * command line must agree with it (the worker continues the same training).
 */
function resumeFlags(flags: PeerFlags, explicit: readonly string[]): PeerCheckpoint | null {
  if (flags.resume === undefined) return null;
  const ck = readPeerCheckpoint(resolve(flags.resume));
  const given = (k: string) => explicit.includes(k);
  const run = ck.run;
  flags.index ??= run.index;
  flags.workers ??= run.workers;
  if (!given('steps')) flags.steps = run.steps;
  if (!given('algo')) {
    if (!(PEER_ALGORITHMS as readonly string[]).includes(run.algo)) throw new UsageError(`checkpoint ${ck.checkpoint.file} was trained with ${run.algo}, which gossamer peer does not run`);
    flags.algo = run.algo as PeerFlags['algo'];
  }
  if (!given('topology') && typeof run.topology === 'string') flags.topology = run.topology;
  if (!given('rate') && typeof run.rate === 'number') flags.rate = run.rate;
  if (!given('seed')) flags.seed = ck.checkpoint.seed;
  for (const key of TRAINING_FLAGS) {
    const saved = key === 'clip' ? run.clip ?? undefined : run[key];
    if (saved === undefined || saved === null) continue;
    const value = key === 'clip' && flags.clip === 0 ? undefined : flags[key];
    if (value === undefined) Object.assign(flags, { [key]: saved });
    else if (JSON.stringify(value) !== JSON.stringify(saved)) {
      throw new UsageError(`checkpoint ${ck.checkpoint.file} was written with ${optionName(key)} ${JSON.stringify(saved)}; it cannot continue with ${optionName(key)} ${JSON.stringify(value)}`);
    }
  }
  flags.out ??= dirname(ck.checkpoint.file);
  return ck;
}

async function runPeer(flags: PeerFlags, explicit: readonly string[]): Promise<void> {
  // (before any thread starts: an arena is given to a thread at its first allocation)
  keepMemorySmall({ youngGeneration: flags.leanMemory ?? false });
  if (flags.shardOptimizer) throw new UsageError('--shard-optimizer runs in gossamer sim and in train\'s clusters: over the network, the collectives have no sharded rounds yet');
  if (flags.init !== undefined && flags.resume !== undefined) throw new UsageError('--init starts a run from given weights; --resume continues one from its checkpoint');
  // Neither --index nor --workers: open mode (peer-open.ts).
  if (flags.index === undefined && flags.workers === undefined && flags.resume === undefined) {
    const { runOpenPeer } = await import('./peer-open.js');
    return runOpenPeer(flags, explicit);
  }
  if (flags.duration !== undefined) throw new UsageError('--duration applies to open mode (no --index, no --workers)');
  const resume = resumeFlags(flags, explicit);
  if (flags.index === undefined) throw new UsageError('--index is required');
  if (flags.workers === undefined) throw new UsageError('--workers is required');
  if (!flags.swarmKey) throw new UsageError('--swarm-key is required (create one with "gossamer peer keygen <file>")');
  if (flags.index >= flags.workers) throw new UsageError(`--index ${flags.index} is out of range for ${flags.workers} workers`);
  flags.listen.forEach(checkListenAddress);
  flags.bootstrap?.forEach(checkBootstrapAddress);
  // Checked now, not after training (without --out, only a checkpoint at Ctrl-C is written, to runs/peer-<index>).
  if (flags.out !== undefined) flags.out = prepareOutputDir(flags.out, '--out');
  const index: number = flags.index;
  const swarmKey = readSwarmKey(flags.swarmKey);
  const links = linksOf(flags);
  const workers = flags.workers;
  const modelName = flags.model ?? 'mlp';
  const dataset = flags.dataset ?? recipe(modelName, workers).dataset;
  // MNIST stays in its files, read a batch at a time: the page cache holds it once for all the peers of a machine.
  const data = loadTrainingData(dataset, modelName, { seed: flags.seed ?? 1, limit: flags.limit, evalLimit: flags.evalLimit, onDisk: true });
  const t = peerTraining(flags, workers, dataset, epochSize(data, flags.seq ?? DEFAULT_SEQ));
  const optimizerConfig = optimizerConfigOf(t);
  const runDir = flags.out === undefined ? null : RunDir.claim({
    command: 'peer', out: flags.out, resumes: resume ? dirname(resume.checkpoint.file) : undefined, name: `peer-${index}`,
    config: { index, workers, algo: flags.algo, topology: flags.topology, rate: flags.rate, ...t }, overwrite: flags.overwrite, restartable: true,
  });
  // libp2p loads only for this command.
  const { createNetTransport } = await import('../runtime/net/libp2p-transport.js');
  const { joinCluster, runPeerWorker } = await import('../runtime/net/peer-worker.js');
  const { NetCollective } = await import('../runtime/net/collective.js');
  const { NetServer } = await import('../runtime/net/server.js');
  const say = (line: string): void => {
    if (!flags.json) process.stderr.write(`[peer ${index}] ${printable(line)}\n`);
  };
  const emit = (event: string, fields: Record<string, unknown>): void => {
    if (flags.json) process.stdout.write(`${JSON.stringify({ event, index, ...fields })}\n`);
  };

  const seq = t.seq;
  // This worker's examples: the simulator's split of the same seed, as every other worker computes it.
  const shards = workerExamples(data, workers, { shard: t.shard ?? 'full', alpha: t.alpha }, t.seed);
  const examples = data.kind === 'text' ? null : examplesOf(shards, index, data.train.n);
  const dataReport = { shard: t.shard ?? 'full', alpha: t.alpha ?? null, examples: examples?.length ?? null, examplesDigest: examples ? examplesDigest(examples) : null };
  const backend = getBackend({ backend: flags.backend });
  const modelConfig: Record<string, unknown> = { ...modelShape(t.model, data, seq), ...(t.modelConfig ?? {}) };
  const model = createModel(t.model, { ...modelConfig, seed: t.seed, backend } as Parameters<typeof createModel>[1]);
  // Every worker starts from the same point: give them all the same file.
  if (flags.init !== undefined) initFromSafetensors(model, flags.init);
  const graph = makeTopology(flags.topology, workers);
  if (flags.aggregate !== undefined && !COLLECTIVE_ALGORITHMS.includes(flags.algo)) {
    throw new UsageError(`--aggregate applies to the algorithms with collectives (${COLLECTIVE_ALGORITHMS.join(', ')}), not to ${flags.algo}`);
  }
  const outer = withOuterRecipe(flags, recipe(t.model, workers, { optimizer: flags.optimizer }).outer);
  const built = buildAlgorithm({ name: flags.algo, graph, rate: flags.rate, dim: model.size, dtype: 'f32', backend, ...dilocoSettings(outer), layout: model.layout });
  checkContributionCodec(flags.codec, flags.errorFeedback, built.algorithm);
  // The schedule follows the optimizer's own step count, which a resumed worker takes back from its checkpoint.
  const optimizer = new LocalOptimizer({ ...t, clip: t.clip ?? undefined }, {
    dim: model.size, dtype: 'f32', backend, layout: model.layout,
    schedule: makeRunSchedule({ kind: t.schedule, lr: t.lr, warmup: t.warmup, totalSteps: t.steps }),
  });
  // Checkpoints describe the engine's optimizer of the same settings; its state is the local optimizer's. Made when
  // needed (a resume, a save): its state is one more vector of the model's size.
  let engineOptimizer: ReturnType<typeof createOptimizer> | null = null;
  const saved = () => (engineOptimizer ??= createOptimizer(model, optimizerConfig));
  const optimizerToSave = () => {
    saved().loadState(optimizer.state as Float32Array, optimizer.steps);
    return saved();
  };
  const partners = graphPairing(graph, flags.rate, index);
  const neighbours = partners.neighbours;
  model.initialize(t.seed);
  if (resume) {
    checkPeerResume(resume, { index, workers: flags.workers, algorithm: built.algorithm.name, model });
    restoreModel(resume.checkpoint, model);
    if (resume.checkpoint.optimizer) {
      restoreOptimizer(resume.checkpoint, saved());
      optimizer.loadState(saved().state, saved().steps);
      engineOptimizer = null; // (until a save)
    }
  }

  const log: NetLogger = (level, message) => {
    // (messages may quote what peers sent)
    if (level === 'warn' || (flags.verbose && level === 'info')) process.stderr.write(`[peer ${index}] ${printable(message)}\n`);
  };
  // The live page (started before the run begins: a port in use leaves no run behind) and the metrics rows.
  const dashboard = await startDashboard(flags.dashboard, {
    name: `peer ${index}${flags.out ? ` (${flags.out})` : ''}`, kind: 'peer', workers, edges: graph.edges,
    description: `worker ${index} of ${workers}: ${flags.algo} on a ${flags.topology}, ${t.model} on ${dataset}`,
  }, flags.json === true);
  const metrics = peerMetrics(flags.out, resume ? resume.checkpoint.step : null, { onRow: dashboard ? (row) => dashboard.row(row) : undefined, formats: flags.logFormat });
  const record = (row: WrittenRow): void => (metrics ? metrics.write(row) : dashboard?.row(row));
  const started = performance.now();
  let status = 'failed';
  let lastT = 0;
  const closeOutputs = async (): Promise<void> => {
    await metrics?.close();
    await dashboard?.close(status);
  };
  runDir?.begin();
  if (!flags.json) process.stdout.write(`worker ${index} ${recipeLine(t, { workers, budget: `${t.steps} steps of this worker`, algorithm: algorithmText(flags.algo, flags.topology, outer) })}\n`);
  const transport = await createNetTransport({
    self: index,
    workers: flags.workers,
    listen: flags.listen,
    bootstrap: flags.bootstrap,
    swarmKey,
    lane: laneOf(flags),
    algorithm: built.algorithm.name,
    layoutHash: model.layoutHash,
    messageLength: model.size,
    codec: flags.codec,
    status: { phase: 'join' },
    log,
  });
  const timing: ProposalTiming = { count: 0, totalMs: 0, minMs: Infinity };
  const emulator = links ? new EmulatedTransport(transport, links, new Rng(t.seed).fork(`links:${index}`)) : undefined;
  const exchange = timed(emulator ?? transport, timing);
  // The first SIGINT (or SIGTERM) stops the worker after its current step; a second one leaves at once.
  const controller = new AbortController();
  let caught: NodeJS.Signals | null = null;
  const exitCode = (signal: NodeJS.Signals): number => (signal === 'SIGTERM' ? 143 : 130);
  const onSignal = (signal: NodeJS.Signals): void => {
    if (caught) process.exit(exitCode(signal));
    caught = signal;
    process.stderr.write(`[peer ${index}] ${signal}: stopping after the current step (again to leave at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const addrs = transport.addresses();
    if (flags.json) emit('listening', { peerId: transport.peerId, addrs, data: dataReport });
    else process.stdout.write(`worker ${index} listening on ${addrs.join(' ')}\n`);

    // Every worker of a server algorithm may come to hold the server: the live one of lowest index does. (Served
    // before the join, so that a holder can hand its state over to a worker of lower index as soon as it joins.)
    let server: InstanceType<typeof NetServer> | undefined;
    const applied: Array<[number, number]> = [];
    if (built.algorithm.server) {
      server = new NetServer(transport, {
        algorithm: built.algorithm.name, layoutHash: model.layoutHash, capability: built.algorithm.server, initial: Float32Array.from(model.params),
        codec: flags.codec, resume: resume ? peerServerState(resume, built.algorithm.server.createServer(model.params).saved()) : null, timeoutMs: flags.timeout, log: (level, line) => log(level, line),
        onApplied: (p) => {
          applied.push([p.worker, p.round]);
          emit('applied', { ...p });
        },
      });
      await server.start();
    }
    const joined = await joinCluster(transport, { workers: flags.workers, neighbours, timeoutMs: flags.joinTimeout * 1000, signal: controller.signal });
    if (joined === 'timeout' && transport.connected().length === 0) {
      // Training alone is not what was asked for, and a wrong key or address would otherwise look like success.
      throw new UsageError(`worker ${index} reached no other worker within ${flags.joinTimeout} s: ${transport.isolation()}`);
    }
    if (joined === 'timeout') log('warn', `not every worker joined within ${flags.joinTimeout} s; starting with workers ${transport.connected().join(', ')}`);
    if (joined === 'late') say('the cluster is already training: joining it late');
    let collective: NetCollective | undefined;
    if (built.algorithm.collective) {
      collective = new NetCollective(transport, {
        algorithm: built.algorithm.name, layoutHash: model.layoutHash, maxLength: model.size + (built.algorithm.collective.extra ?? 0), timeoutMs: flags.timeout, aggregate: flags.aggregate, log: (level, line) => log(level, line),
      });
      await collective.start();
    }
    if (joined !== 'aborted') say(`cluster: workers ${[index, ...transport.connected()].sort((a, b) => a - b).join(', ')}; neighbours ${neighbours.join(', ')}`);

    const result = await runPeerWorker({
      transport,
      exchange,
      emulator,
      model,
      modelSpec: { name: t.model, config: modelConfig, backend: backend.name },
      train: { data: trainingPart(data, toShared), examples: shards?.[index], seq, batchSize: t.batchSize, seed: t.seed * 7919 + index + 1 },
      built,
      workers: flags.workers,
      collective,
      server,
      contributions: { codec: flags.codec, errorFeedback: flags.errorFeedback ?? false },
      optimizer,
      clip: t.clip,
      neighbours,
      weights: partners.weights,
      layoutHash: model.layoutHash,
      steps: t.steps,
      rate: partners.rate,
      finalExchanges: flags.finalExchanges,
      timeoutMs: flags.timeout,
      barrierTimeoutMs: flags.barrierTimeout * 1000,
      rng: new Rng(t.seed).fork(`peer:${index}`),
      // A late joiner of collectives starts from the initial model and catches up with the means the others applied;
      // a resumed worker of a server goes on with its round (the server knows which of its rounds it applied).
      pull: joined === 'late' && !built.algorithm.collective && !(built.algorithm.server && resume),
      resume: resume ? { steps: resume.checkpoint.step, state: resume.state } : undefined,
      slowdown: flags.slow,
      adversary: flags.adversary,
      bounds: flags.bounds,
      signal: controller.signal,
      onStart: (s) => {
        if (flags.json) emit('start', { ...s, trainLoss: Number.isFinite(s.trainLoss) ? s.trainLoss : null });
        else if (s.pulledFrom !== null) say(`started at step ${s.step} from worker ${s.pulledFrom}'s parameters (its step ${s.peerStep})`);
      },
      // Rows for the metrics file and the dashboard: about fifty a run, at least every fifty steps.
      progressEvery: dashboard || metrics ? Math.max(1, Math.min(50, Math.floor(t.steps / 50))) : undefined,
      onProgress: (p) => {
        // Seconds of this process (a resumed worker's clock starts again).
        const seconds = (performance.now() - started) / 1000;
        lastT = p.t;
        record({
          t: p.t, trainLoss: p.trainLoss, gradients: p.steps, communications: p.exchanges, seconds, bytes: transport.stats.bytesSent, phase: p.phase,
        });
        dashboard?.workers([{ id: index, steps: p.steps, exchanges: p.exchanges, peer: p.peer }]);
        // The lines for people: about ten a run (and every phase change).
        const printEvery = Math.max(1, Math.floor(t.steps / 10));
        if (flags.json) emit('progress', { ...p });
        else if (p.phase !== 'train' || p.steps % printEvery === 0 || p.steps === t.steps) say(`${p.phase} step ${p.steps}/${t.steps} train loss ${p.trainLoss.toFixed(4)} exchanges ${p.exchanges}`);
      },
      log: (line) => say(line),
      warn: (line) => log('warn', line),
    });

    model.params.set(result.x);
    const run: PeerRun = { command: 'peer', index, workers, algo: flags.algo, topology: flags.topology, rate: flags.rate, ...t, interrupted: result.interrupted };
    // A final model stays readable by every checkpoint reader (gossamer train --resume): no algorithm vectors.
    const save = (dir: string, withState: boolean, serverState: SavedState | null = null): string => writeOrFallback(join(dir, 'checkpoint.safetensors'), 'checkpoint', (file) => savePeerCheckpoint(file, {
      model, optimizer: optimizerToSave(), step: result.steps, seed: t.seed, run, algorithm: built.algorithm.name,
      state: withState ? result.state : undefined, server: serverState,
    }));

    if (result.interrupted) {
      // The server's state this worker has, once it stops serving (so that nothing is applied after it is saved).
      server?.stop();
      const serverState = (await server?.snapshot()) ?? null;
      const file = save(resolve(flags.out ?? join('runs', `peer-${index}`)), true, serverState);
      emit('interrupted', { steps: result.steps, budget: t.steps, checkpoint: file });
      process.stderr.write(`gossamer: worker ${index} interrupted at step ${result.steps}/${t.steps}; checkpoint written to ${file} (continue with --resume ${file})\n`);
      runDir?.close('interrupted');
      status = 'interrupted';
      await closeOutputs();
      await transport.close();
      process.exit(exitCode(caught ?? 'SIGINT'));
    }

    if (result.ruined) {
      const file = save(resolve(flags.out ?? join('runs', `peer-${index}`)), false);
      runDir?.close('failed');
      throw new Error(`${result.ruined}; its last good parameters are in ${file}`);
    }

    const evaluation = evaluate(model, data, evaluationSet(data, seq, data.kind === 'text' ? (t.evalLimit ?? undefined) : undefined));
    // The last row: the final model on the held-out data.
    record({
      t: lastT, trainLoss: result.trainLoss, gradients: result.steps, communications: result.exchanges, seconds: (performance.now() - started) / 1000,
      bytes: transport.stats.bytesSent, phase: 'done', ...evaluation, final: 1,
    });
    const checkpoint = flags.out ? save(resolve(flags.out), false) : null;
    const summary = {
      index,
      workers: flags.workers,
      peerId: transport.peerId,
      algorithm: built.algorithm.name,
      model: t.model,
      layoutHash: model.layoutHash,
      steps: result.steps,
      resumedFrom: resume ? resume.checkpoint.file : null,
      resumedAtStep: resume ? resume.checkpoint.step : null,
      lateJoin: joined === 'late',
      exchanges: result.exchanges,
      finalExchanges: result.finalExchanges,
      trainLoss: result.trainLoss,
      data: dataReport,
      ...evaluation,
      finished: result.finished,
      seconds: result.seconds,
      bytesSent: result.bytesSent,
      outerSteps: result.outerSteps,
      // What the pairwise exchanges' frames (headers included) moved on the wire, how many payloads took a lane, and
      // how many buffers the lanes' received payloads needed (reused once applied).
      wire: {
        bytesSent: transport.stats.bytesSent, bytesReceived: transport.stats.bytesReceived,
        lanePayloadsSent: transport.stats.lanePayloadsSent, lanePayloadsReceived: transport.stats.lanePayloadsReceived,
        payloadBuffers: transport.payloads.created,
      },
      // Messages refused by the wire (malformed) and by the bounds (well-formed, but no model of this cluster).
      rejected: result.rejected > 0 ? { ...transport.stats.rejected, 'out-of-bounds': result.rejected } : transport.stats.rejected,
      banned: result.banned,
      pairing: result.pairing,
      links: links ?? null,
      slowdown: flags.slow ?? 1,
      proposals: { completed: timing.count, meanMs: timing.count ? timing.totalMs / timing.count : null, minMs: timing.count ? timing.minMs : null },
      // Mean measured duration of this worker's completed exchanges (its proposals), ms.
      exchangeMs: timing.count ? timing.totalMs / timing.count : null,
      // This process's memory after the final evaluation (the peak is over the whole run).
      memory: memoryFigures(),
      // Pushes this worker sent over the network (not to itself as the holder), and their frames' bytes.
      ...(server ? { server: { holding: server.holding, applied, pushes: server.stats.pushes, pushBytes: server.stats.pushBytes } } : {}),
      checkpoint,
    };
    runDir?.close('finished', summary);
    status = 'finished';
    if (flags.json) emit('summary', summary);
    else {
      process.stdout.write(
        `worker ${index}: ${result.steps} steps, ${result.exchanges} exchanges (${result.finalExchanges} final), ` +
          `test accuracy ${(100 * evaluation.testAccuracy).toFixed(2)}%, loss ${evaluation.testLoss.toFixed(4)}, ${result.seconds.toFixed(1)} s` +
          `${checkpoint ? `; model written to ${checkpoint}` : ''}\n`,
      );
    }
  } finally {
    await closeOutputs();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await transport.close();
  }
}

/**
 * The worker's metrics file, <out>/metrics.jsonl, when it has --out: a resumed worker keeps the rows up to its
 * checkpoint. Its rows have no consensus distance: one worker does not see the others' parameters.
 */
function peerMetrics(out: string | undefined, resumedAt: number | null, init: MetricsWriterInit): MetricsWriter | null {
  if (out === undefined) return null;
  const file = join(out, 'metrics.jsonl');
  let earlier: WrittenRow[] = [];
  if (resumedAt !== null && existsSync(file)) {
    try {
      earlier = readMetrics(file).filter((row) => typeof row.gradients === 'number' && row.gradients <= resumedAt);
    } catch {
      earlier = [];
    }
  }
  const writer = new MetricsWriter(file, init);
  for (const row of earlier) writer.write(row);
  return writer;
}
