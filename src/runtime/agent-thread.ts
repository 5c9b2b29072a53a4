/**
 * A worker's agent thread: runs the worker's WorkerAgent (algorithm state, exchanges, rate control) next to the
 * worker's compute thread.
 *
 * Why a second thread per worker rather than exchanges done between steps on the compute thread: a gradient step
 * is one long synchronous call into the engine, during which a thread answers nobody. With exchanges on the
 * compute thread, a proposal would wait up to a whole step for its answer, the rate control would stall the
 * compute loops on each other, and the communication would not overlap the computation at all. With the agent on
 * its own thread, proposals are answered within microseconds while the gradient is being computed, exactly as in
 * the authors' runtime where a gossip process and a gradient process share one parameter buffer. Unlike theirs,
 * every write to the parameters (local steps, exchanges, A2CiD2's mixing) happens on this one thread, through the
 * algorithm's handlers, so the handlers' state needs no lock; only the compute thread's reads of x race with them,
 * as the authors' do. The alternative — a peer's thread writing into our buffer — would need the handlers' state
 * (such as A2CiD2's last mixing time) to be shared across threads, which the algorithms do not (and should not)
 * know about.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { buildAlgorithm, type AlgorithmSetup } from '../algorithms/index.js';
import { Rng } from '../core/rng.js';
import { getBackend, type BackendChoice } from '../engine/backends/index.js';
import type { LayoutEntry } from '../engine/layout.js';
import { LocalOptimizer, type LocalStepSettings } from '../algorithms/local-optimizer.js';
import { collectiveSchedulePoint, collectivesDone } from '../algorithms/types.js';
import type { Aggregate } from './aggregate.js';
import { WorkerAgent } from './agent.js';
import { Adversary, AdversarialTransport, type AdversaryKind } from './adversary.js';
import { DEFAULT_BOUNDS } from './bounds.js';
import { ExchangeGuard } from './exchange-guard.js';
import { SharedAllReduce, ringAllReduceMs, type CollectiveBuffers } from './collective.js';
import { SharedShardedCollective } from './sharded-collective.js';
import { shardOf } from '../algorithms/shards.js';
import type { ServerBuffers } from './server-memory.js';
import { SharedServerHost, SharedServerLink, type ServerLinkDelay } from './shared-server.js';
import type { GradientReport } from './compute-thread.js';
import { EmulatedTransport, emulatesLinks, linkBetween, type LinkTable } from './emulator.js';
import { DEFAULT_BLOCK_SIZE, payloadBytes } from '../core/codecs.js';
import { InProcessTransport, type InProcessEndpoint } from './inprocess.js';
import { graphPairing } from './pairing.js';
import { makeRunSchedule, type RunSchedule } from './schedule.js';
import type { MessageHeader, Transport } from './transport.js';
import { LocalClock } from './rate.js';
import { C, G, S, permitStep, restoreSaved, savedCopy, stopCompute } from './shared-memory.js';

export interface AgentThreadData {
  id: number;
  n: number;
  setup: AlgorithmSetup;
  backend: BackendChoice;
  x: Float32Array;
  grads: Float32Array;
  layout: LayoutEntry[];
  layoutHash: string;
  optimizer: LocalStepSettings;
  schedule: RunSchedule;
  rate: number;
  rateMode: 'poisson' | 'exact';
  seed: number;
  timeoutMs: number;
  endpoint: InProcessEndpoint | null;
  /** Pair through the supervisor's central orchestrator instead of the coordinator-free protocol. */
  central: boolean;
  links: LinkTable | null;
  /** Codec of what crosses the links, and whether contributions and pushes carry error feedback. */
  codec: MessageHeader['codec'];
  errorFeedback: boolean;
  collective: CollectiveBuffers | null;
  /** Emulated links of the all-reduce's ring (null: none): a round lasts as long as a ring all-reduce of its contribution on them. */
  collectiveLinks: Array<{ latencyMs: number; bandwidth: number }> | null;
  /** How the collective combines the contributions. */
  aggregate: Aggregate;
  /** Algorithms that push to a server: its shared memory (this worker may hold the server). */
  server: ServerBuffers | null;
  /** Gradient steps of all workers together after which the run stops. */
  budget: number;
  global: Int32Array;
  /**
   * Gradient steps of all workers claimed before being applied (one shared counter): a pairwise worker applies a
   * gradient only when its claim is within the budget, so that the run takes exactly its budget of steps.
   */
  claimed: Int32Array;
  /** This worker's steps in the runs this one continues (schedule of synchronous workers, their last round). */
  startOwn: number;
  control: Int32Array;
  stats: Float64Array;
  /** From the compute thread. */
  port: MessagePort;
  /** What this worker held when the run it continues stopped (its x is already in `x`); null: a fresh start. */
  restore: WorkerSnapshot | null;
  /** A worker restarted within the run: the statistics of its earlier lives (its counts go on from them). */
  carry: Float64Array | null;
  /** This worker sends forged models instead of its own (fault injection). */
  adversary: AdversaryKind | null;
  /** Whether neighbours' messages are checked against the bounds before they are applied. */
  bounds: boolean;
}

/**
 * A worker's own state besides x: the algorithm's vectors (A2CiD2's x̃) and scalars (its time, counters), the
 * worker's local time, and the local optimizer's state.
 */
export interface WorkerSnapshot {
  vectors: Record<string, Float32Array>;
  scalars: Record<string, number>;
  /** The worker's local clock (expected local steps): a resumed worker's clock goes on from it. */
  time: number;
  optimizer: { state: Float32Array; steps: number };
}

/** Messages from the agent thread to the supervisor. */
export type AgentEvent =
  | { type: 'ready' } | { type: 'log'; line: string } | { type: 'diverged'; step: number; loss: number }
  | { type: 'stopped'; snapshot: WorkerSnapshot }
  | { type: 'available' } | { type: 'banned'; peer: number; reason: string } | { type: 'ruined'; reason: string }
  | { type: 'applied'; worker: number; round: number; staleness: number };

const d = workerData as AgentThreadData;
const post = (e: AgentEvent) => parentPort!.postMessage(e);
const log = (line: string) => post({ type: 'log', line });
const backend = getBackend({ backend: d.backend });
const built = buildAlgorithm({ ...d.setup, backend, layout: d.layout });
const rng = new Rng(`${d.seed}:agent:${d.id}`);
const global = d.global;
const ctrl = d.control;

// Workers that meet in collectives take part in every round, so they all take the same steps: each follows its own
// step count, which is everyone's (so that they all use the same learning rate), or the collectives' count of every
// worker's steps (ACCO, DPU); asynchronous ones the cluster's progress in expected local steps (all steps over the
// workers).
const lockstep = built.algorithm.collective !== undefined;
const progress = lockstep
  ? (): number => collectiveSchedulePoint(built.algorithm.collective!, agent.state, d.startOwn + agent.steps, d.n)
  : () => Math.floor(Atomics.load(global, G.STEPS) / d.n);
// A sharded optimizer (--shard-optimizer) covers this worker's shard of the parameters only.
const shard = built.algorithm.collective?.sharded ? shardOf(d.x.length, d.n, d.id) : undefined;
const optimizer = new LocalOptimizer(d.optimizer, { dim: d.x.length, dtype: 'f32', backend, layout: d.layout, schedule: makeRunSchedule(d.schedule), progress, shard });
let transport: Transport | null = null;
let inner: InProcessTransport | null = null;
if (d.endpoint) {
  inner = new InProcessTransport(d.endpoint, { expect: { algorithm: built.algorithm.name, layoutHash: d.layoutHash }, log, codec: d.codec });
  const linked = d.links && emulatesLinks(d.links) ? new EmulatedTransport(inner, d.links, rng.fork('links')) : inner;
  transport = d.adversary ? new AdversarialTransport(linked, new Adversary(d.adversary, rng.fork('adversary'))) : linked;
}
// Every worker of a server algorithm may come to hold the server (the live worker of lowest index does).
const host = d.server && built.algorithm.server
  ? new SharedServerHost(d.id, d.server, built.algorithm.server, { log, onApplied: (p) => post({ type: 'applied', ...p }) })
  : null;
const guard = new ExchangeGuard(d.id, { bounds: d.bounds ? DEFAULT_BOUNDS : null, log, onBan: (peer, reason) => post({ type: 'banned', peer, reason }) });


const partners = graphPairing(d.setup.graph, d.rate, d.id, d.endpoint?.peers.map((p) => p.id) ?? []);

const agent: WorkerAgent = new WorkerAgent({
  // A resumed worker's clock goes on from its saved time, with which its algorithm's saved time agrees.
  clock: new LocalClock(undefined, d.restore?.time ?? 0),
  id: d.id,
  built,
  x: d.x,
  layoutHash: d.layoutHash,
  optimizer,
  rate: partners.rate,
  rateMode: d.rateMode,
  rng,
  progress,
  pairing: transport && d.endpoint
    ? {
      transport, neighbours: partners.neighbours, weights: partners.weights, timeoutMs: d.timeoutMs,
      register: d.central ? () => post({ type: 'available' }) : undefined,
    }
    : undefined,
  guard,
  sumSquares: (x) => backend.sumSquares(x),
  onRuined: (reason) => {
    post({ type: 'ruined', reason });
    requestStop();
  },
  collective: d.collective ? collectiveOf(d.collective) : undefined,
  shard,
  server: d.server ? new SharedServerLink(d.id, d.server, serverDelay(d.links, d.server.dim)) : undefined,
  contributions: { codec: d.codec, errorFeedback: d.errorFeedback },
  stats: d.stats,
  carry: d.carry ?? undefined,
  permit: () => permitStep(ctrl),
  onStep: (steps) => {
    const total = Atomics.add(global, G.STEPS, 1) + 1;
    Atomics.store(ctrl, C.CLAIM, 0);
    // Asynchronous runs stop when all workers together reach the budget; lockstep ones after the same number of
    // steps everywhere.
    if (!lockstep && total >= d.budget) requestStop();
    else if (lockstep && collectivesDone(built.algorithm.collective!, agent.state, d.startOwn + steps, Math.ceil(d.budget / d.n), d.n)) void stop(true);
  },
  log,
});

if (d.restore) {
  restoreSaved(built.algorithm, agent.state, d.restore, log);
  optimizer.loadState(d.restore.optimizer.state, d.restore.optimizer.steps);
}

let stopping = false;
function requestStop(): void {
  Atomics.store(global, G.STOP, 1);
  Atomics.notify(global, G.STOP);
  void stop();
}

/** Stops the worker; `last`: after its last step, when it first closes its part in the collectives. */
async function stop(last = false): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (last && Atomics.load(global, G.STOP) === 0) await agent.close();
  await agent.stop();
  // A sharded round under way settles first, so that the snapshot holds all of it or none of it.
  if (shard) await agent.settled();
  await host?.stop();
  stopCompute(ctrl);
  await transport?.close();
  d.stats[S.DONE] = 1;
  const snapshot: WorkerSnapshot = {
    ...savedCopy(built.algorithm, agent.state),
    time: agent.clock.now(),
    optimizer: { state: Float32Array.from(optimizer.state), steps: optimizer.steps },
  };
  post({ type: 'stopped', snapshot });
  d.port.close();
  parentPort!.close();
}

// Gradients arrive from the compute thread one at a time (it waits for our permission before the next one).
d.port.on('message', (m: GradientReport) => {
  if (stopping) return;
  if (!Number.isFinite(m.loss)) {
    post({ type: 'diverged', step: m.step, loss: m.loss });
    requestStop();
    return;
  }
  if (!lockstep) {
    // The budget may be reached by the others while this gradient was computed: then it is not applied.
    if (Atomics.add(d.claimed, 0, 1) >= d.budget) {
      requestStop();
      return;
    }
    Atomics.store(ctrl, C.CLAIM, 1);
  }
  void agent.applyGradient(m.loss, d.grads, m.ms).then((applied) => {
    if (!applied) void stop();
  });
  if (Atomics.load(global, G.STOP) !== 0) void stop();
});

parentPort!.on('message', (m: { type: string; peer?: number; link?: Parameters<InProcessTransport['link']>[0] }) => {
  if (m.type === 'start') {
    host?.start();
    agent.start();
  }
  else if (m.type === 'link' && m.link && !stopping) {
    // A neighbour restarted: a new channel to it, and it is a partner again.
    inner?.link(m.link);
    agent.readmit(m.link.id);
  }
  else if (m.type === 'stop') void stop();
  else if (m.type === 'assigned' && typeof m.peer === 'number' && !stopping) agent.pairing?.assigned(m.peer);
});

/** How long an emulated all-reduce of `length` values lasts, ms (0 without emulated links). */
/** A push (encoded) and its answer (a float32 model) on the emulated link between this worker and the holder. */
function serverDelay(links: LinkTable | null, dim: number): ServerLinkDelay | null {
  if (!links) return null;
  const push = payloadBytes(d.codec, dim, DEFAULT_BLOCK_SIZE);
  return (holder, leg) => {
    if (holder === d.id) return 0;
    const l = linkBetween(links, d.id, holder);
    return l.latencyMs + (1000 * (leg === 'push' ? push : 4 * dim)) / l.bandwidth;
  };
}

/** The shared-memory collective: all-reduces, or a sharded optimizer's rounds when its buffers have an all-gather. */
function collectiveOf(b: CollectiveBuffers): SharedAllReduce {
  const emulated = emulatedRound(d.collectiveLinks);
  return b.gather ? new SharedShardedCollective(d.id, b, backend, emulated, d.aggregate) : new SharedAllReduce(d.id, b, backend, emulated, d.aggregate);
}

function emulatedRound(links: AgentThreadData['collectiveLinks']): (length: number) => number {
  return (bytes) => (links ? ringAllReduceMs(d.n, bytes, links) : 0);
}

post({ type: 'ready' });
