/**
 * `gossamer peer`: one worker of a cluster that trains across processes and machines over the network transport
 * (js-libp2p: TCP + noise + yamux, in a private network keyed by a swarm key). Every worker runs the same command
 * with its own --index; they find each other from --bootstrap addresses, train with A2CiD2 (or the gossip baseline)
 * on their graph neighbours, average to consensus at the end, and each writes the final model.
 *
 * `gossamer peer keygen <file>` writes a new swarm key.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { buildAlgorithm } from '../algorithms/index.js';
import { UsageError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { ImageDataset } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';
import { syntheticImages } from '../data/synthetic.js';
import { getBackend, type BackendChoice } from '../engine/backends/index.js';
import { saveCheckpoint } from '../engine/checkpoint.js';
import { createModel } from '../engine/models/index.js';
import { ShuffledBatches } from '../engine/training/batches.js';
import { NO_DECAY_BIAS_NORM } from '../engine/optim/index.js';
import { makeTopology } from '../graph/topology.js';
import { DIRECTION_STEP, LocalOptimizer } from '../runtime/optimizer.js';
import { makeRunSchedule } from '../runtime/schedule.js';
import type { NetLogger } from '../runtime/net/libp2p-transport.js';
import { readSwarmKey, writeSwarmKey } from '../runtime/net/swarm-key.js';
import { integer, modelConfig, oneOf, real } from './options.js';

const PEER_MODELS = ['mlp', 'cnn'] as const;
const PEER_DATASETS = ['synthetic', 'mnist'] as const;
const PEER_ALGORITHMS = ['acid', 'gossip'] as const;
const CODECS = ['f32', 'f16', 'i8'] as const;
const BACKENDS = ['auto', 'js', 'native'] as const;
const SCHEDULES = ['constant', 'cosine'] as const;

interface PeerFlags {
  listen: string[];
  bootstrap?: string[];
  swarmKey?: string;
  index?: number;
  workers?: number;
  model: (typeof PEER_MODELS)[number];
  dataset: (typeof PEER_DATASETS)[number];
  modelConfig?: Record<string, unknown>;
  algo: (typeof PEER_ALGORITHMS)[number];
  topology: string;
  rate: number;
  steps: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  schedule: (typeof SCHEDULES)[number];
  warmup: number;
  clip?: number;
  codec: (typeof CODECS)[number];
  finalExchanges: number;
  timeout: number;
  joinTimeout: number;
  barrierTimeout: number;
  limit?: number;
  evalLimit?: number;
  seed: number;
  backend: BackendChoice;
  out?: string;
  json?: boolean;
  verbose?: boolean;
}

export function peerCommand(): Command {
  const peer = new Command('peer')
    .description(
      'Run one worker of a cluster that trains over the network, one process per worker: each with its own --index, ' +
        'all with the same --workers, --swarm-key, model and data flags. Workers find each other from --bootstrap ' +
        'addresses (any running worker; the first one needs none), train with A2CiD2 or gossip on their neighbours in ' +
        '--topology, then average to consensus and write the final model to --out. Create the swarm key once with ' +
        '"gossamer peer keygen <file>" and give every worker a copy.',
    )
    .option('--listen <multiaddr...>', 'addresses to listen on', ['/ip4/0.0.0.0/tcp/0'])
    .option('--bootstrap <multiaddr...>', 'addresses of running workers to join through')
    .option('--swarm-key <file>', 'pre-shared key of the private network (required)')
    .option('--index <i>', 'this worker\'s index, 0 … workers − 1 (required)', integer(0))
    .option('--workers <n>', 'number of workers in the cluster (required)', integer(1))
    .option('--model <name>', `model: ${PEER_MODELS.join(', ')}`, oneOf(PEER_MODELS), 'mlp')
    .option('--dataset <name>', `data set: ${PEER_DATASETS.join(', ')}`, oneOf(PEER_DATASETS), 'synthetic')
    .option('--model-config <json>', 'extra model options as JSON, e.g. \'{"hidden":[64]}\'', modelConfig)
    .option('--algo <name>', `algorithm: ${PEER_ALGORITHMS.join(', ')}`, oneOf(PEER_ALGORITHMS), 'acid')
    .option('--topology <name>', 'communication graph (as in gossamer graph)', 'ring')
    .option('--rate <r>', 'expected exchanges per local step', real({ min: 0 }), 1)
    .option('--steps <n>', 'local steps of this worker', integer(1), 200)
    .option('--batch-size <n>', 'examples per step', integer(1), 32)
    .option('--lr <lr>', 'learning rate', real({ positive: true }), 0.05)
    .option('--momentum <m>', 'heavy-ball momentum', real({ min: 0, max: 0.999 }), 0.9)
    .option('--weight-decay <wd>', 'weight decay (not on biases and norms)', real({ min: 0 }), 0)
    .option('--schedule <kind>', 'learning-rate schedule over the steps: constant or cosine', oneOf(SCHEDULES), 'cosine')
    .option('--warmup <steps>', 'linear warm-up steps', integer(0), 0)
    .option('--clip <norm>', 'clip gradients to this L2 norm', real({ positive: true }))
    .option('--codec <c>', `payload codec: ${CODECS.join(', ')}`, oneOf(CODECS), 'f32')
    .option('--final-exchanges <n>', 'averaging exchanges after every worker has finished its steps', integer(0), 20)
    .option('--timeout <ms>', 'deadline of one exchange, ms', integer(1), 30_000)
    .option('--join-timeout <s>', 'how long to wait for every worker to join before starting, s', real({ min: 0 }), 60)
    .option('--barrier-timeout <s>', 'longest wait for the other workers at the end of each phase, s', real({ min: 0 }), 600)
    .option('--limit <n>', 'training examples (synthetic: generated; mnist: the first n)', integer(1))
    .option('--eval-limit <n>', 'test examples', integer(1))
    .option('--seed <s>', 'seed of the initial model and the data (the same on every worker)', integer(0), 1)
    .option('--backend <name>', 'compute backend: auto, js or native', oneOf(BACKENDS), 'auto')
    .option('--out <dir>', 'write the final model to <dir>/checkpoint.safetensors')
    .option('--json', 'print JSON lines on stdout: {"event":"listening",…} at start, {"event":"progress",…}, {"event":"summary",…} at the end')
    .option('--verbose', 'log the network\'s dropped messages and membership changes')
    .action(async (flags: PeerFlags) => {
      await runPeer(flags);
    });
  peer
    .command('keygen')
    .description('Write a new random swarm key (the pre-shared secret of a private cluster) to <file>.')
    .argument('<file>', 'where to write the key')
    .option('--force', 'replace an existing file')
    .exitOverride()
    .action((file: string, opts: { force?: boolean }) => {
      writeSwarmKey(file, opts.force ?? false);
      process.stdout.write(`swarm key written to ${file}\n`);
    });
  return peer;
}

function loadData(flags: PeerFlags): { train: ImageDataset; test: ImageDataset } {
  if (flags.dataset === 'mnist') {
    const train = loadMnist('train');
    const test = loadMnist('test');
    const cut = (d: ImageDataset, n: number | undefined): ImageDataset => {
      if (n === undefined || n >= d.n) return d;
      const row = d.channels * d.height * d.width;
      return { ...d, images: d.images.subarray(0, n * row), labels: d.labels.subarray(0, n), n };
    };
    return { train: cut(train, flags.limit), test: cut(test, flags.evalLimit ?? 2000) };
  }
  const nTrain = flags.limit ?? 4096;
  const nTest = flags.evalLimit ?? 1024;
  const all = syntheticImages({ n: nTrain + nTest, seed: `synthetic:${flags.seed}`, channels: 1, height: 16, width: 16, classes: 10 });
  const row = all.channels * all.height * all.width;
  return {
    train: { ...all, name: 'synthetic-train', images: all.images.subarray(0, nTrain * row), labels: all.labels.subarray(0, nTrain), n: nTrain },
    test: { ...all, name: 'synthetic-test', images: all.images.subarray(nTrain * row), labels: all.labels.subarray(nTrain), n: nTest },
  };
}

async function runPeer(flags: PeerFlags): Promise<void> {
  if (flags.index === undefined) throw new UsageError('--index is required');
  if (flags.workers === undefined) throw new UsageError('--workers is required');
  if (!flags.swarmKey) throw new UsageError('--swarm-key is required (create one with "gossamer peer keygen <file>")');
  if (flags.index >= flags.workers) throw new UsageError(`--index ${flags.index} is out of range for ${flags.workers} workers`);
  const swarmKey = readSwarmKey(flags.swarmKey);
  // libp2p loads only for this command.
  const { createNetTransport } = await import('../runtime/net/libp2p-transport.js');
  const { runPeerWorker } = await import('../runtime/net/peer-worker.js');
  const say = (line: string): void => {
    if (!flags.json) process.stderr.write(`[peer ${flags.index}] ${line}\n`);
  };

  const { train, test } = loadData(flags);
  const backend = getBackend({ backend: flags.backend });
  const shape = flags.model === 'mlp'
    ? { inputSize: train.channels * train.height * train.width, classes: train.classes }
    : { channels: train.channels, height: train.height, width: train.width, classes: train.classes };
  const model = createModel(flags.model, { ...shape, ...(flags.modelConfig ?? {}), seed: flags.seed, backend } as Parameters<typeof createModel>[1]);
  const graph = makeTopology(flags.topology, flags.workers);
  // The runtime's recipe: the algorithm adds the engine optimizer's step (see runtime/optimizer.ts).
  const built = buildAlgorithm({ name: flags.algo, graph, rate: flags.rate, dim: model.size, dtype: 'f32', ...DIRECTION_STEP });
  const optimizer = new LocalOptimizer(
    backend, model.layout, model.size,
    { kind: 'sgd', lr: flags.lr, momentum: flags.momentum, weightDecay: flags.weightDecay, noDecay: NO_DECAY_BIAS_NORM },
    makeRunSchedule({ kind: flags.schedule, lr: flags.lr, warmup: flags.warmup, totalSteps: flags.steps }),
  );
  if (built.kind !== 'pairwise') throw new UsageError(`${flags.algo} is not a pairwise algorithm`);
  const neighbours = [...new Set(graph.neighbors[flags.index])];
  model.initialize(flags.seed);

  const log: NetLogger = (level, message) => {
    if (level === 'warn' || (flags.verbose && level === 'info')) process.stderr.write(`[peer ${flags.index}] ${message}\n`);
  };
  const transport = await createNetTransport({
    self: flags.index,
    workers: flags.workers,
    listen: flags.listen,
    bootstrap: flags.bootstrap,
    swarmKey,
    algorithm: built.algorithm.name,
    layoutHash: model.layoutHash,
    messageLength: model.size,
    codec: flags.codec,
    status: { phase: 'join' },
    log,
  });
  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    say(`${signal}: leaving the cluster`);
    void transport.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));

  try {
    const addrs = transport.addresses();
    if (flags.json) process.stdout.write(`${JSON.stringify({ event: 'listening', index: flags.index, peerId: transport.peerId, addrs })}\n`);
    else process.stdout.write(`worker ${flags.index} listening on ${addrs.join(' ')}\n`);

    const joined = await transport.waitForPeers(flags.joinTimeout * 1000);
    if (!joined) log('warn', `not every worker joined within ${flags.joinTimeout} s; starting with workers ${transport.connected().join(', ') || 'none'}`);
    say(`cluster: workers ${[flags.index, ...transport.connected()].sort((a, b) => a - b).join(', ')}; neighbours ${neighbours.join(', ')}`);

    const result = await runPeerWorker({
      transport,
      model,
      backend,
      train: new ShuffledBatches({ inputs: train.images, targets: train.labels, count: train.n }, flags.seed * 7919 + flags.index + 1, flags.batchSize),
      built,
      optimizer,
      clip: flags.clip ?? null,
      neighbours,
      layoutHash: model.layoutHash,
      steps: flags.steps,
      rate: flags.rate,
      finalExchanges: flags.finalExchanges,
      timeoutMs: flags.timeout,
      barrierTimeoutMs: flags.barrierTimeout * 1000,
      rng: new Rng(flags.seed).fork(`peer:${flags.index}`),
      onProgress: (p) => {
        if (flags.json) process.stdout.write(`${JSON.stringify({ event: 'progress', index: flags.index, ...p })}\n`);
        else say(`${p.phase} step ${p.steps}/${flags.steps} loss ${p.loss.toFixed(4)} exchanges ${p.exchanges}`);
      },
      log: (line) => say(line),
    });

    model.params.set(result.x);
    const evaluation = model.evaluate({ inputs: test.images, targets: test.labels, count: test.n }, { batchSize: 500 });
    let checkpoint: string | null = null;
    if (flags.out) {
      const dir = resolve(flags.out);
      mkdirSync(dir, { recursive: true });
      checkpoint = join(dir, 'checkpoint.safetensors');
      saveCheckpoint(checkpoint, {
        model,
        step: result.steps,
        seed: flags.seed,
        run: { command: 'peer', index: flags.index, workers: flags.workers, algo: flags.algo, topology: flags.topology, rate: flags.rate, steps: flags.steps },
      });
    }
    const summary = {
      index: flags.index,
      workers: flags.workers,
      peerId: transport.peerId,
      algorithm: built.algorithm.name,
      model: flags.model,
      layoutHash: model.layoutHash,
      steps: result.steps,
      exchanges: result.exchanges,
      finalExchanges: result.finalExchanges,
      trainLoss: result.loss,
      testLoss: evaluation.loss,
      testAccuracy: evaluation.accuracy,
      finished: result.finished,
      seconds: result.seconds,
      bytesSent: transport.stats.bytesSent,
      bytesReceived: transport.stats.bytesReceived,
      rejected: transport.stats.rejected,
      pairing: result.pairing,
      checkpoint,
    };
    if (flags.json) process.stdout.write(`${JSON.stringify({ event: 'summary', ...summary })}\n`);
    else {
      process.stdout.write(
        `worker ${flags.index}: ${result.steps} steps, ${result.exchanges} exchanges (${result.finalExchanges} final), ` +
          `test accuracy ${(100 * evaluation.accuracy).toFixed(2)}%, loss ${evaluation.loss.toFixed(4)}, ${result.seconds.toFixed(1)} s` +
          `${checkpoint ? `; model written to ${checkpoint}` : ''}\n`,
      );
    }
  } finally {
    closing = true;
    await transport.close();
  }
}
