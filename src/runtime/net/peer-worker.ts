/**
 * One worker of a networked cluster, one per process (`gossamer peer`): the runtime's worker agent (../agent.ts:
 * the algorithm's handlers, rate control, A2CiD2's local clock, the engine optimizer with its schedule, and the
 * coordinator-free pairing protocol) over the network transport, on this process's event loop, fed by a compute
 * thread (../compute-thread.ts, as in a cluster of threads) that takes gradients at the worker's parameters on
 * shared memory while the event loop keeps exchanging with the neighbours.
 * Three phases, announced to the cluster through the transport's status:
 *
 *   train  — local steps through the agent, exchanges at `rate` per step with graph neighbours;
 *   final  — once this worker's steps are done: exchanges only, plain pairwise averaging x ← (x + x_peer)/2; once
 *            every live worker is in this phase, `finalExchanges` more exchanges (or until no neighbour is left).
 *            In open mode (a full mesh) with every live member as a partner: on the complete graph the models'
 *            spread shrinks by a constant factor per exchange whatever the cluster's size, where a ring's exchanges
 *            do less the larger it is;
 *   done   — keeps answering exchanges until every live worker is done, then stops.
 *
 * With a server (asynchronous Local-SGD, net/server.ts) the final phase has no averaging: once every live worker has
 * finished its steps (and so its pushes), each one pulls the server's model, the same for all.
 *
 * A worker whose connection closes is dropped from the phase barriers and from its neighbours' pairing, so killing
 * one leaves the others training to the end; a worker that (re)connects is admitted again.
 *
 * Before the first step (joinCluster): every worker waits for the others to connect — unless the cluster is already
 * training, in which case it is a late joiner (or a restarted one): it does not wait for that passed barrier, and it
 * pulls the current parameters from a live neighbour instead of starting from the initial point. "Already training"
 * means that some worker had taken a step when this one first reached the cluster: workers started together pass
 * the barrier at slightly different times, and one that is a moment behind must still start from the common initial
 * point, not pull another's. So a worker announces its step count with its phase once it has taken its first step.
 *
 * An abort signal (SIGINT) stops the worker after its current step, once the exchange under way has settled; the
 * result then says it was interrupted and carries what a checkpoint needs to resume it (steps, the algorithm's
 * vectors). A resumed worker starts from its checkpoint's step count and vectors.
 */
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { Acid, type AcidState } from '../../algorithms/acid.js';
import type { Built } from '../../algorithms/index.js';
import type { Backend } from '../../engine/backend.js';
import type { Rng } from '../../core/rng.js';
import type { BackendChoice } from '../../engine/backends/index.js';
import type { Model } from '../../engine/models/model.js';
import type { ModelName } from '../../engine/models/index.js';
import { WorkerAgent } from '../agent.js';
import type { Codec } from '../../core/codecs.js';
import { Adversary, AdversarialTransport, type AdversaryKind } from '../adversary.js';
import { DEFAULT_BOUNDS } from '../bounds.js';
import { ExchangeGuard } from '../exchange-guard.js';
import { choosePull } from '../pull-bounds.js';
import type { ComputeThreadData, GradientReport } from '../compute-thread.js';
import type { EmulatedTransport } from '../emulator.js';
import { LocalClock } from '../rate.js';
import { C, S, permitStep, restoreSaved, savedCopy, shareState, sharedFloats, sharedInts, stopCompute, toShared } from '../shared-memory.js';
import type { AlgorithmSnapshot } from './peer-checkpoint.js';
import { siblingModule, threadSpawner } from '../threads.js';
import type { LocalOptimizer } from '../../algorithms/local-optimizer.js';
import { emptyPairingStats, Pairing, type ExchangeContext, type ExchangeParty } from '../pairing.js';
import type { TrainingData } from '../../engine/training/data.js';
import type { Collective, ExchangeResult, MessageHeader, ServerLink, Transport, WorkerId } from '../transport.js';
import type { PullHandler } from './libp2p-transport.js';
import type { LiveTopology } from './live-topology.js';
import { WIRE_VERSION } from './wire.js';
import { collectiveSchedulePoint, collectivesDone } from '../../algorithms/types.js';

/** Open mode: how often, and how long apart, a joiner asks the live graph's neighbours for their parameters. */
const OPEN_PULL_ATTEMPTS = 20;
const OPEN_PULL_RETRY_MS = 500;

export type Phase = 'train' | 'final' | 'done';

/** What the worker needs from the network besides exchanges: who is alive, and their announced phase. */
export interface PeerMembership extends Transport {
  /** Workers currently connected. */
  connected(): WorkerId[];
  peer(index: WorkerId): { status: Record<string, unknown> } | undefined;
  /** Announces this worker's status; resolves once it is sent. */
  setStatus(status: Record<string, unknown>): Promise<void>;
  on(event: 'leave' | 'join', listener: (index: WorkerId) => void): unknown;
  on(event: 'status', listener: (index: WorkerId, status: Record<string, unknown>) => void): unknown;
  on(event: 'rejected', listener: (index: WorkerId, reason: string) => void): unknown;
  off(event: 'leave' | 'join', listener: (index: WorkerId) => void): unknown;
  off(event: 'status', listener: (index: WorkerId, status: Record<string, unknown>) => void): unknown;
  off(event: 'rejected', listener: (index: WorkerId, reason: string) => void): unknown;
  /** Closes a banned worker's connections and keeps it out for the rest of the run. */
  ban?(index: WorkerId, reason: string): void;
  /** Payload codec of outgoing messages (null: the header's); the final averaging sends float32. */
  codec?: MessageHeader['codec'] | null;
  /** Asks a worker for its current parameters (see NetTransport.pull). */
  pull(peer: WorkerId, header: MessageHeader, count: number, timeoutMs: number): Promise<ExchangeResult>;
  onPull(handler: PullHandler | null): void;
}

export interface PeerWorkerOptions {
  transport: PeerMembership;
  /** What exchanges go through (default: transport), e.g. a link emulator around it. */
  exchange?: Transport;
  /** Algorithms with collectives: the collective among the peers (net/collective.ts). */
  collective?: Collective;
  /** Codec of contributions and pushes, and whether they carry error feedback (core/contribution.ts). @default f32 */
  contributions?: { codec: Codec; errorFeedback: boolean };
  /** Algorithms that push to a server: the way to it, and a pull of its model (net/server.ts). */
  server?: ServerLink & { pull(cancelled?: () => boolean): Promise<{ model: Float32Array } | null> };
  /** The link emulator, if any: a late joiner's pull is delayed by it too. */
  emulator?: EmulatedTransport;
  /** The model, holding the common initial point x0 (same seed on every worker). */
  model: Model;
  /** What the compute thread builds the same model from (name, options) and the engine backend it uses there. */
  modelSpec: { name: ModelName; config: Record<string, unknown>; backend: BackendChoice };
  /**
   * The training data (trainingPart, on shared memory), this worker's examples (its shard; default: all of them),
   * the transformer's context length, the batches and their seed.
   */
  train: { data: TrainingData; examples?: Int32Array; seq: number; batchSize: number; seed: number };
  /** A pairwise algorithm. */
  built: Built;
  /** The cluster's workers: the budget of collectives that count every worker's steps is steps × workers. @default 1 */
  workers?: number;
  optimizer: LocalOptimizer;
  clip: number | null;
  /** Graph neighbours of this worker, each once. */
  neighbours: readonly WorkerId[];
  /** Their weights as partners (partners.ts; default: all equal). */
  weights?: readonly number[];
  layoutHash: string;
  steps: number;
  /**
   * A budget in time as well: training ends at `end` (epoch ms) if the steps are not done by then, and the schedule's
   * point is the larger of the step count and the fraction of [start, end] elapsed times `steps` (a cosine then
   * reaches its floor at the deadline, whichever budget binds).
   */
  timeBudget?: { start: number; end: number };
  /** Expected exchanges of this worker per local step: its r_i (partners.ts). */
  rate: number;
  finalExchanges: number;
  /** Deadline of one exchange, ms. */
  timeoutMs: number;
  /** Longest wait at each phase barrier, ms. */
  barrierTimeoutMs: number;
  rng: Rng;
  /** A late joiner: pull the parameters from a live neighbour before the first step. */
  pull?: boolean;
  /**
   * A late joiner takes the step count of the worker it pulled from as its own (open mode: the budget and the
   * schedule are the cluster's, so it goes on where the cluster is and stops where it does).
   */
  adoptStep?: boolean;
  /**
   * Open mode: the topology over the live membership. The worker starts from `current()` and follows its changes
   * (neighbours, partner weights, A2CiD2's constants) in training; the final averaging pairs with every member.
   */
  topology?: LiveTopologySource;
  /** false: neighbours' messages and pulled parameters are applied unchecked (default: bounded). */
  bounds?: boolean;
  /** Send forged models instead of this worker's own, in exchanges and answers to pulls (fault injection). */
  adversary?: AdversaryKind;
  /** Continue from a checkpoint: the steps it had taken and the algorithm's vectors (x is the model's parameters). */
  resume?: { steps: number; state: AlgorithmSnapshot };
  /** Compute slow-down factor: sleep (s − 1) × the compute time after each gradient. */
  slowdown?: number;
  /** Stops the worker after its current step (SIGINT). */
  signal?: AbortSignal;
  /** Called after the first local step (or at once when there is none). */
  onStart?: (s: PeerStart) => void;
  /** Called every `progressEvery` steps and at phase changes. */
  onProgress?: (p: PeerProgress) => void;
  progressEvery?: number;
  log?: (line: string) => void;
  /** What must be seen without --verbose (a worker that left before the end); default: log. */
  warn?: (line: string) => void;
}

/** The live topology as the worker follows it (live-topology-tracker.ts). */
export interface LiveTopologySource {
  current(): LiveTopology;
  on(event: 'change', listener: (t: LiveTopology) => void): unknown;
  off(event: 'change', listener: (t: LiveTopology) => void): unknown;
}

export interface PeerProgress {
  phase: Phase;
  steps: number;
  exchanges: number;
  /** Loss of its last training batch. */
  trainLoss: number;
  /** Local time in units of gradient steps. */
  t: number;
  /** The partner of its last pairwise exchange of the training phase (none yet: undefined). */
  peer?: number;
}

/** How a worker started. */
export interface PeerStart {
  /** Steps already taken (a resumed worker's). */
  step: number;
  /** The worker whose parameters were pulled (null: none). */
  pulledFrom: WorkerId | null;
  /** Its step count when it answered. */
  peerStep: number | null;
  /** Distance of the pulled parameters from this worker's own, relative to the norm of its own (0 without a pull). */
  moved: number;
  /** Loss of the first batch at the starting parameters (NaN without a step). */
  trainLoss: number;
}

export interface PeerResult {
  /** Local steps of this worker (a resumed worker's earlier ones included). */
  steps: number;
  /** Stopped by the signal before the end. */
  interrupted: boolean;
  /** Why the worker stopped with ruined parameters (x is then its last good state); null: it did not. */
  ruined: string | null;
  /** Neighbours' messages refused by the bounds, and the neighbours banned for it. */
  rejected: number;
  banned: Array<{ worker: WorkerId; reason: string }>;
  exchanges: number;
  finalExchanges: number;
  /** Payload bytes this worker sent (agent.ts; the final averaging's float32 messages included). */
  bytesSent: number;
  /** Collectives completed, or pushes answered by the server. */
  outerSteps: number;
  /** Loss of its last training batch. */
  trainLoss: number;
  seconds: number;
  /** Workers that reached the end (announced 'done'), this one included. */
  finished: WorkerId[];
  pairing: Pairing['stats'];
  /** The final parameters. */
  x: Float32Array;
  /** The algorithm's vectors besides x (A2CiD2's x̃), for a checkpoint. */
  state: AlgorithmSnapshot;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The final averaging phase: plain pairwise gossip (the baseline's handlers, η = 0, no x̃) on the worker's own x, of
 * the messages the worker's guard admits, so that the workers meet at their average without any momentum of their own.
 */
class AveragingParty implements ExchangeParty {
  exchanges = 0;
  /** Exchanges since the final barrier. */
  counted = 0;
  counting = false;
  /** Made at the first exchange of the final phase (its vectors are not needed while training). */
  private made: { gossip: Acid; state: AcidState } | null = null;
  private readonly started = performance.now();

  constructor(
    private readonly x: Float32Array,
    private readonly backend: Backend,
    private readonly headerOf: () => MessageHeader,
    private readonly guard: ExchangeGuard,
  ) {}

  private get gossip(): Acid {
    return this.make().gossip;
  }

  private get state(): AcidState {
    return this.make().state;
  }

  private make(): { gossip: Acid; state: AcidState } {
    if (!this.made) {
      const gossip = new Acid({ dim: this.x.length, dtype: 'f32', backend: this.backend, eta: 0, alphaTilde: 0, tracking: false });
      this.made = { gossip, state: shareState(gossip.createState(this.x), this.x) };
    }
    return this.made;
  }

  wants(): boolean {
    return true;
  }

  header(): MessageHeader {
    return this.headerOf();
  }

  message(out: Float32Array, _ex: ExchangeContext): void {
    this.gossip.pairwise.message(this.state, this.now(), out);
  }

  receive(message: Float32Array, header: MessageHeader, ex: ExchangeContext): void {
    if (!this.guard.admit(ex.peer, this.state.x as Float32Array, message, header.step)) return;
    this.gossip.pairwise.receive(this.state, this.now(), message);
    this.exchanges++;
    if (this.counting) this.counted++;
  }

  /** Gossip without momentum has no dynamics between events: any clock will do. */
  private now(): number {
    return performance.now() - this.started;
  }
}

/**
 * Whether a worker's announced status says the cluster is training: it has taken a step, or finished its steps. (A
 * status in the training phase without a step count comes from a worker that did not announce one: training.)
 */
function pastStart(status: Record<string, unknown> | undefined): boolean {
  const phase = status?.phase;
  if (phase === 'final' || phase === 'done') return true;
  return phase === 'train' && (status!.steps === undefined || (typeof status!.steps === 'number' && status!.steps > 0));
}

/**
 * The join barrier: resolves 'all' once every other worker is connected, 'late' when, at this worker's first contact
 * with the cluster, a connected worker had already taken a step (this worker then waits at most graceMs more for its
 * graph neighbours to connect, not for the whole cluster), 'timeout' at the timeout, 'aborted' on the signal.
 */
export async function joinCluster(
  transport: PeerMembership,
  opts: { workers: number; neighbours: readonly WorkerId[]; timeoutMs: number; graceMs?: number; signal?: AbortSignal },
): Promise<'all' | 'late' | 'timeout' | 'aborted'> {
  const until = performance.now() + opts.timeoutMs;
  let lateUntil = Infinity;
  let firstContact = true;
  for (;;) {
    if (opts.signal?.aborted) return 'aborted';
    const connected = transport.connected();
    if (firstContact && connected.length > 0) {
      firstContact = false;
      if (connected.some((j) => pastStart(transport.peer(j)?.status))) lateUntil = performance.now() + (opts.graceMs ?? 2000);
    }
    if (lateUntil !== Infinity) {
      if (opts.neighbours.every((j) => connected.includes(j)) || performance.now() > lateUntil) return 'late';
    } else if (connected.length >= opts.workers - 1) return 'all';
    if (performance.now() > until) return 'timeout';
    await sleep(50);
  }
}

/** Answers a pull takes from before choosing one (pull-bounds.ts): three, so that one forged answer is outvoted. */
const PULL_ANSWERS = 3;

/**
 * Pulls the current parameters from live workers past the join barrier — graph neighbours first, then any other, each
 * group in a random order — until PULL_ANSWERS answered, and takes the answer the pull bounds choose (without bounds,
 * the first); null when none answers or none is acceptable.
 */
async function pullParameters(
  transport: PeerMembership, emulator: EmulatedTransport | null, header: MessageHeader, own: Float32Array, neighbours: readonly WorkerId[],
  timeoutMs: number, rng: Rng, bounded: boolean, log: (line: string) => void, warn: (line: string) => void,
): Promise<{ from: WorkerId; step: number; x: Float32Array } | null> {
  const count = own.length;
  const running = transport.connected().filter((j) => pastStart(transport.peer(j)?.status));
  const near = rng.shuffle(running.filter((j) => neighbours.includes(j)));
  const far = rng.shuffle(running.filter((j) => !neighbours.includes(j)));
  const answers: Array<{ from: WorkerId; step: number; x: Float32Array }> = [];
  for (const j of [...near, ...far]) {
    if (answers.length >= (bounded ? PULL_ANSWERS : 1)) break;
    const pull = (ms: number) => transport.pull(j, header, count, ms);
    const r = await (emulator ? emulator.emulatePull(j, count, timeoutMs, pull) : pull(timeoutMs));
    if (r.ok) answers.push({ from: j, step: r.header.step, x: r.message });
    else log(`pulling the parameters from worker ${j} failed (${r.reason})`);
  }
  if (!bounded) return answers[0] ?? null;
  const { chosen, refused } = choosePull(own, answers);
  for (const r of refused) warn(`refused the parameters pulled from worker ${r.from}: ${r.reason}`);
  return chosen ? answers.find((a) => a.from === chosen.from)! : null;
}

/**
 * Starts this worker's compute thread (the cluster's, ../compute-thread.ts) on the shared buffers; resolves once it has
 * built its model.
 */
async function startComputeThread(
  opts: PeerWorkerOptions,
  shared: { x: Float32Array; grads: Float32Array; state: Float32Array; control: Int32Array; firstBatch: number },
): Promise<{ thread: Worker; port: MessagePort; exited: Promise<void> }> {
  const module = siblingModule('compute-thread');
  const spawn = await threadSpawner([module]);
  const { port1, port2 } = new MessageChannel();
  const { train, modelSpec } = opts;
  const data: ComputeThreadData = {
    id: opts.transport.self, model: { name: modelSpec.name, config: modelSpec.config }, backend: modelSpec.backend,
    x: shared.x, grads: shared.grads, state: shared.state,
    data: train.data, examples: train.examples, seq: train.seq, batchSize: train.batchSize, seed: train.seed, firstBatch: shared.firstBatch, clip: opts.clip, slowdown: opts.slowdown ?? 1,
    control: shared.control, port: port2,
  };
  const thread = spawn(module, data, [port2], `gossamer-compute-${opts.transport.self}`);
  const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    thread.once('message', () => resolve());
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`the compute thread exited (code ${code}) before it was ready`)));
  });
  return { thread, port: port1, exited };
}

function relativeDistance(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let n = 0;
  for (let k = 0; k < a.length; k++) {
    d += (a[k] - b[k]) ** 2;
    n += b[k] * b[k];
  }
  return Math.sqrt(d / (n || 1));
}

/** The schedule's point a time budget has reached at `now`: the fraction of it elapsed, in steps (0 without one). */
export function clockPoint(opts: Pick<PeerWorkerOptions, 'steps' | 'timeBudget'>, now = Date.now()): number {
  const b = opts.timeBudget;
  if (!b) return 0;
  return Math.floor(opts.steps * Math.min(1, Math.max(0, (now - b.start) / Math.max(1, b.end - b.start))));
}

/** Proposals in one round of the final averaging: it may pair with every member (open mode), a dense graph. */
const FINAL_PROPOSALS_PER_ROUND = 2;

/** Open mode's partners in the final averaging: every live member (the complete graph over the full mesh). */
function everyMember(t: LiveTopology, self: WorkerId): WorkerId[] {
  return t.ids.filter((j) => j !== self);
}

/** Trains this worker with its neighbours to the end of the three phases; never throws on network trouble. */
export async function runPeerWorker(opts: PeerWorkerOptions): Promise<PeerResult> {
  const { transport, model, built } = opts;
  if (built.algorithm.collective && !opts.collective) throw new Error(`${built.algorithm.name} takes part in collectives: the networked worker needs one`);
  if (built.algorithm.server && !opts.server) throw new Error(`${built.algorithm.name} pushes to a server: the networked worker needs a way to it`);
  const log = opts.log ?? (() => {});
  const warn = opts.warn ?? log;
  const adversary = opts.adversary ? new Adversary(opts.adversary, opts.rng.fork('adversary')) : null;
  const exchange = adversary ? new AdversarialTransport(opts.exchange ?? transport, adversary) : (opts.exchange ?? transport);
  const signal = opts.signal;
  const stopped = (): boolean => signal?.aborted ?? false;
  const started = performance.now();
  let first = opts.resume?.steps ?? 0;
  let neighbours: readonly WorkerId[] = opts.topology ? opts.topology.current().neighbours : opts.neighbours;
  let weights: readonly number[] | undefined = opts.topology ? opts.topology.current().weights : opts.weights;
  const headerAt = (step: number): MessageHeader => ({ version: WIRE_VERSION, algorithm: built.algorithm.name, step, layoutHash: opts.layoutHash, codec: 'f32' });

  // A late joiner starts from a live neighbour's parameters (and restarts its algorithm's vectors there too).
  let pulled: { from: WorkerId; step: number; x: Float32Array } | null = null;
  let moved = 0;
  if (opts.pull && !stopped()) {
    // In open mode the live graph may not hold this worker's neighbours yet when it starts: it asks again for a while
    // (a joiner that starts afresh would not follow the cluster's step count).
    const attempts = opts.topology ? OPEN_PULL_ATTEMPTS : 1;
    for (let k = 0; k < attempts && pulled === null && !stopped(); k++) {
      if (k > 0) await new Promise((r) => setTimeout(r, OPEN_PULL_RETRY_MS));
      const around = opts.topology ? opts.topology.current().neighbours : neighbours;
      pulled = await pullParameters(
        transport, opts.emulator ?? null, headerAt(first), model.params, around, opts.timeoutMs, opts.rng.fork(k === 0 ? 'pull' : `pull:${k}`), opts.bounds !== false, log, warn,
      );
    }
    if (pulled) {
      moved = relativeDistance(pulled.x, model.params);
      model.params.set(pulled.x);
      if (opts.adoptStep) first = pulled.step;
      log(`started from worker ${pulled.from}'s parameters (its step ${pulled.step})`);
    } else log('no worker answered a pull acceptably: starting from this worker\'s own parameters');
  }

  // The agent's x is the model's parameter buffer, on shared memory: the compute thread takes its gradients right
  // where the algorithm keeps x (reading it while an exchange may be changing it, as the authors' processes do).
  const x = toShared(Float32Array.from(model.params));
  model.setParams(x);
  const grads = sharedFloats(model.size);
  model.setGrads(grads);
  // Normalisation statistics, updated by the compute thread, saved with the model.
  model.setState(toShared(Float32Array.from(model.state)));
  const control = sharedInts(C.SIZE);
  // A banned neighbour is hung up on (its 'leave' then takes it out of the pairings).
  const guard = new ExchangeGuard(transport.self, {
    bounds: opts.bounds === false ? null : DEFAULT_BOUNDS, log,
    onBan: (j, reason) => {
      if (transport.ban) transport.ban(j, reason);
      else warn(`banned worker ${j}: ${reason}`);
    },
  });
  // Frames the wire dropped count against their sender as refusals do.
  const onRejected = (j: WorkerId, reason: string): void => guard.strike(j, reason);
  transport.on('rejected', onRejected);
  // The agent's counts: the partner of its last exchange is read from them for the progress reports.
  const agentStats = new Float64Array(S.SIZE);
  const c = built.algorithm.collective;
  let budgetReached = false;
  const agent: WorkerAgent = new WorkerAgent({
    stats: agentStats,
    // A resumed worker (not one that pulled its parameters afresh) goes on from its saved local time.
    clock: new LocalClock(undefined, opts.resume && !pulled ? opts.resume.state.time : 0),
    id: transport.self,
    built,
    x,
    layoutHash: opts.layoutHash,
    optimizer: opts.optimizer,
    rate: opts.rate,
    rng: opts.rng,
    // The learning-rate schedule goes on from a resumed worker's step count.
    progress: () => Math.max(c ? collectiveSchedulePoint(c, agent.state, first + agent.steps, opts.workers ?? 1) : first + agent.steps, clockPoint(opts)),
    pairing: built.algorithm.pairwise ? { transport: exchange, neighbours, weights, timeoutMs: opts.timeoutMs } : undefined,
    collective: opts.collective,
    server: opts.server,
    contributions: opts.contributions,
    permit: () => permitStep(control),
    guard,
    sumSquares: (v) => model.backend.sumSquares(v),
    // (the compute thread waits for a permission that will not come: the training loop is ended from here)
    onRuined: () => endTraining(),
    // Collectives that count every worker's steps: the budget is reached at one step, the same collective everywhere.
    onStep: () => {
      if (c && collectivesDone(c, agent.state, steps(), opts.steps, opts.workers ?? 1)) budgetReached = true;
    },
    log,
  });
  if (opts.resume && !pulled) restoreSaved(built.algorithm, agent.state, opts.resume.state, log);
  const steps = (): number => first + agent.steps;
  /** This worker took its part of the budget (with collectives that count their steps: set when a step reaches it). */
  const done = (): boolean => (c?.progress ? budgetReached : steps() >= opts.steps) || (opts.timeBudget !== undefined && Date.now() >= opts.timeBudget.end);
  if (c && collectivesDone(c, agent.state, steps(), opts.steps, opts.workers ?? 1)) budgetReached = true;
  const trainingStats = (): Pairing['stats'] => ({ ...(agent.pairing?.stats ?? emptyPairingStats()) });
  let endTraining = (): void => {};
  const state = { phase: 'train' as Phase };
  let averaging: Pairing | null = null;
  const onLeave = (j: WorkerId): void => {
    const phase = transport.peer(j)?.status.phase;
    const who = `worker ${j}${neighbours.includes(j) ? ' (a neighbour)' : ''}`;
    if (phase === 'done') log(`${who} left, done`);
    else warn(`${who} left the cluster before the end (its connection closed during its ${String(phase ?? 'join')} phase); going on without it`);
    agent.pairing?.markGone(j);
    agent.pairing?.wake();
    averaging?.markGone(j);
    averaging?.wake();
  };
  const onJoin = (j: WorkerId): void => {
    agent.readmit(j);
    if (!agent.guard.isBanned(j)) averaging?.markLive(j);
  };
  transport.on('leave', onLeave);
  transport.on('join', onJoin);
  // Open mode: the graph re-forms over the membership; the pairings (and A2CiD2's constants) follow it.
  const onTopology = (t: LiveTopology): void => {
    neighbours = t.neighbours;
    weights = t.weights;
    agent.retopologize(t.neighbours, t.weights, { eta: t.eta, alphaTilde: t.alphaTilde });
    averaging?.setNeighbours(everyMember(t, transport.self));
  };
  if (opts.topology) {
    const t = opts.topology.current();
    agent.retopologize(t.neighbours, t.weights, { eta: t.eta, alphaTilde: t.alphaTilde });
    opts.topology.on('change', onTopology);
  }
  const finished = new Set<WorkerId>([transport.self]);
  const onStatus = (j: WorkerId, status: Record<string, unknown>): void => {
    if (status.phase === 'done') finished.add(j);
  };
  transport.on('status', onStatus);
  // Late joiners pull from this worker: a snapshot of x, taken between two handlers (never half-updated).
  transport.onPull(() => {
    const message = Float32Array.from(x);
    adversary?.forge(message, message);
    return { header: headerAt(steps()), message };
  });
  let loss = NaN;
  const party = new AveragingParty(x, model.backend, () => headerAt(steps()), agent.guard);
  const progress = (): void =>
    opts.onProgress?.({
      phase: state.phase, steps: steps(), exchanges: agent.exchanges + party.exchanges, trainLoss: loss, t: agent.clock.now(),
      ...(agentStats[S.LAST_PEER] > 0 ? { peer: agentStats[S.LAST_PEER] - 1 } : {}),
    });
  const start = (firstLoss: number): void =>
    opts.onStart?.({ step: first, pulledFrom: pulled?.from ?? null, peerStep: pulled?.step ?? null, moved, trainLoss: firstLoss });
  const result = (interrupted: boolean, pairing: Pairing['stats'], ruined: string | null = null): PeerResult => {
    transport.off('leave', onLeave);
    transport.off('join', onJoin);
    opts.topology?.off('change', onTopology);
    transport.off('status', onStatus);
    transport.off('rejected', onRejected);
    return {
      steps: steps(),
      interrupted,
      ruined,
      rejected: agent.guard.rejected,
      banned: [...agent.guard.banned].map(([worker, reason]) => ({ worker, reason })),
      exchanges: agent.exchanges + party.exchanges,
      finalExchanges: party.counted,
      bytesSent: Math.round(agent.bytesSent + 4 * x.length * party.exchanges),
      outerSteps: agent.outerSteps,
      trainLoss: loss,
      seconds: (performance.now() - started) / 1000,
      finished: [...finished].sort((a, b) => a - b),
      pairing,
      x: Float32Array.from(x),
      state: { ...savedCopy(built.algorithm, agent.state), time: agent.clock.now() },
    };
  };

  // Training: the compute thread takes a gradient whenever the agent permits a step (rate control); the agent applies
  // it here, between the network's events.
  await transport.setStatus({ phase: 'train', steps: first });
  const every = opts.progressEvery ?? Math.max(1, Math.floor(opts.steps / 10));
  if (done() || stopped()) {
    start(NaN);
  } else {
    const compute = await startComputeThread(opts, { x, grads, state: model.state, control, firstBatch: first });
    await new Promise<void>((resolve) => {
      let ended = false;
      const end = (why?: string): void => {
        if (ended) return;
        ended = true;
        if (why) log(why);
        stopCompute(control);
        compute.port.close();
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => end();
      endTraining = () => end();
      // (a compute loop waiting for exchanges at the deadline is ended from here)
      const deadline = opts.timeBudget === undefined ? null : setTimeout(() => end(), Math.max(0, opts.timeBudget.end - Date.now()));
      compute.thread.once('exit', () => deadline && clearTimeout(deadline));
      signal?.addEventListener('abort', onAbort, { once: true });
      compute.thread.once('error', (err: Error) => end(`the compute thread failed: ${err.message}`));
      compute.thread.once('exit', () => end());
      compute.port.on('message', (m: GradientReport) => {
        if (ended) return;
        if (stopped() || done() || agent.ruined) return end();
        loss = m.loss;
        const applied = (): void => {
          if (agent.steps === 1) {
            start(loss);
            // The step count in the status tells whoever meets this worker from now on that it is past the join barrier.
            void transport.setStatus({ phase: 'train', steps: steps() });
          }
          if (steps() % every === 0) progress();
          if (done()) end();
        };
        void agent.applyGradient(m.loss, grads, m.ms).then((ok) => (ok ? applied() : end()));
      });
      agent.start();
    });
    // The thread ends after the gradient it may be computing (at most one step's time).
    await compute.exited;
  }
  // A worker that took all its steps closes its part in the collectives (the last one in flight, and the algorithm's
  // closing collective if it has one) with the others, unless it is stopped meanwhile.
  if (!stopped() && !agent.ruined && done()) {
    const onAbort = (): void => void agent.stop();
    signal?.addEventListener('abort', onAbort, { once: true });
    await agent.close();
    signal?.removeEventListener('abort', onAbort);
  }
  // Settles the exchange under way, if any: x is never left half-updated.
  await agent.stop();
  if (agent.ruined) return result(false, trainingStats(), agent.ruined);
  if (stopped()) return result(true, trainingStats());

  const allIn = (phases: Phase[]) => (): boolean =>
    transport.connected().every((j) => phases.includes(transport.peer(j)?.status.phase as Phase));
  if (opts.server) return finishWithServer(opts.server);

  // Final phase: averaging only, in float32 (a lossy codec would leave the models a quantisation step apart), once
  // every live worker has finished its steps.
  state.phase = 'final';
  if (transport.codec !== undefined) transport.codec = null;
  averaging = new Pairing(exchange, party, {
    neighbours: opts.topology ? everyMember(opts.topology.current(), transport.self) : neighbours, proposalsPerRound: FINAL_PROPOSALS_PER_ROUND, messageLength: x.length, rng: opts.rng.fork('final'), timeoutMs: opts.timeoutMs, log,
  });
  const connected = transport.connected();
  for (const j of averaging.liveNeighbours()) if (!connected.includes(j)) averaging.markGone(j);
  averaging.start();
  await transport.setStatus({ phase: 'final' });
  progress();
  const pairing = averaging;
  const stats = (): Pairing['stats'] => {
    const s = trainingStats();
    for (const [k, v] of Object.entries(pairing.stats)) s[k as keyof typeof s] += v;
    return s;
  };
  if (!(await barrier(transport, allIn(['final', 'done']), opts.barrierTimeoutMs, { phase: 'final' }, signal))) {
    if (stopped()) {
      await pairing.stop();
      return result(true, stats());
    }
    log('gave up waiting for every worker to finish its steps');
  }
  party.counting = true;
  const finalDone = (): boolean => party.counted >= opts.finalExchanges || pairing.liveNeighbours().length === 0;
  if (!(await barrier(transport, finalDone, opts.barrierTimeoutMs, { phase: 'final' }, signal))) {
    if (stopped()) {
      await pairing.stop();
      return result(true, stats());
    }
    log('final averaging ran out of time');
  }

  state.phase = 'done';
  await transport.setStatus({ phase: 'done' });
  progress();
  // Interrupted here, the worker has nothing left to do but it stops waiting for the others.
  if (!(await barrier(transport, allIn(['done']), opts.barrierTimeoutMs, { phase: 'done' }, signal)) && !stopped()) {
    log('gave up waiting for every worker to finish');
  }
  await pairing.stop();
  return result(stopped(), stats());

  /** The final phase with a server: every worker takes the server's model once all have pushed their last round. */
  async function finishWithServer(server: NonNullable<PeerWorkerOptions['server']>): Promise<PeerResult> {
    state.phase = 'final';
    await transport.setStatus({ phase: 'final' });
    progress();
    if (!(await barrier(transport, allIn(['final', 'done']), opts.barrierTimeoutMs, { phase: 'final' }, signal))) {
      if (stopped()) return result(true, trainingStats());
      log('gave up waiting for every worker to finish its steps');
    }
    const pulled = await server.pull(stopped);
    if (pulled) x.set(pulled.model);
    else if (!stopped()) warn('could not pull the server\'s final model: keeping this worker\'s own');
    state.phase = 'done';
    await transport.setStatus({ phase: 'done' });
    progress();
    if (!(await barrier(transport, allIn(['done']), opts.barrierTimeoutMs, { phase: 'done' }, signal)) && !stopped()) {
      log('gave up waiting for every worker to finish');
    }
    return result(stopped(), trainingStats());
  }
}

/**
 * Waits until `done()` holds (re-checked on membership events and every 100 ms), re-announcing this worker's
 * status every 2 s so that a lost announcement cannot stall the cluster; false at the timeout or on the signal.
 */
async function barrier(transport: PeerMembership, done: () => boolean, timeoutMs: number, status: Record<string, unknown>, signal?: AbortSignal): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  let announced = performance.now();
  while (!done()) {
    if (performance.now() > until || signal?.aborted) return false;
    if (performance.now() - announced > 2000) {
      void transport.setStatus(status);
      announced = performance.now();
    }
    await sleep(100);
  }
  return true;
}
