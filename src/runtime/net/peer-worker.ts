/**
 * One worker of a networked cluster, one per process (`gossamer peer`): the runtime's worker agent (../agent.ts:
 * the algorithm's handlers, rate control, A2CiD2's local clock, the engine optimizer with its schedule, and the
 * coordinator-free pairing protocol) over the network transport, fed by a compute loop on the same event loop.
 * Three phases, announced to the cluster through the transport's status:
 *
 *   train  — local steps through the agent, exchanges at `rate` per step with graph neighbours;
 *   final  — once this worker's steps are done: exchanges only, plain pairwise averaging x ← (x + x_peer)/2; once
 *            every live worker is in this phase, `finalExchanges` more exchanges (or until no neighbour is left);
 *   done   — keeps answering exchanges until every live worker is done, then stops.
 *
 * A worker whose connection closes is dropped from the phase barriers and from its neighbours' pairing, so killing
 * one leaves the others training to the end.
 */
import type { Built } from '../../algorithms/index.js';
import type { Rng } from '../../core/rng.js';
import type { Backend } from '../../engine/backend.js';
import type { Model } from '../../engine/models/model.js';
import { clipGradNorm } from '../../engine/optim/clip.js';
import type { BatchSource } from '../../engine/training/batches.js';
import { WorkerAgent } from '../agent.js';
import type { LocalOptimizer } from '../optimizer.js';
import { Pairing, type ExchangeContext, type ExchangeParty } from '../pairing.js';
import type { MessageHeader, Transport, WorkerId } from '../transport.js';
import { WIRE_VERSION } from './wire.js';

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
  off(event: 'leave' | 'join', listener: (index: WorkerId) => void): unknown;
  off(event: 'status', listener: (index: WorkerId, status: Record<string, unknown>) => void): unknown;
  /** Payload codec of outgoing messages (null: the header's); the final averaging sends float32. */
  codec?: MessageHeader['codec'] | null;
}

export interface PeerWorkerOptions {
  transport: PeerMembership;
  /** The model, holding the common initial point x0 (same seed on every worker). */
  model: Model;
  backend: Backend;
  train: BatchSource;
  /** A pairwise algorithm built with the runtime's DIRECTION_STEP (the optimizer makes the local step). */
  built: Built;
  optimizer: LocalOptimizer;
  clip: number | null;
  /** Graph neighbours of this worker. */
  neighbours: readonly WorkerId[];
  layoutHash: string;
  steps: number;
  /** Expected exchanges per local step. */
  rate: number;
  finalExchanges: number;
  /** Deadline of one exchange, ms. */
  timeoutMs: number;
  /** Longest wait at each phase barrier, ms. */
  barrierTimeoutMs: number;
  rng: Rng;
  /** Called every `progressEvery` steps and at phase changes. */
  onProgress?: (p: PeerProgress) => void;
  progressEvery?: number;
  log?: (line: string) => void;
}

export interface PeerProgress {
  phase: Phase;
  steps: number;
  exchanges: number;
  loss: number;
  /** Local time in units of gradient steps. */
  t: number;
}

export interface PeerResult {
  steps: number;
  exchanges: number;
  finalExchanges: number;
  loss: number;
  seconds: number;
  /** Workers that reached the end (announced 'done'), this one included. */
  finished: WorkerId[];
  pairing: Pairing['stats'];
  /** The final parameters. */
  x: Float32Array;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The exchange side after training: plain pairwise averaging of x. */
class AveragingParty implements ExchangeParty {
  exchanges = 0;
  /** Exchanges since the final barrier. */
  counted = 0;
  counting = false;

  constructor(
    private readonly x: Float32Array,
    private readonly headerOf: () => MessageHeader,
  ) {}

  wants(): boolean {
    return true;
  }

  header(): MessageHeader {
    return this.headerOf();
  }

  message(out: Float32Array, _ex: ExchangeContext): void {
    out.set(this.x);
  }

  receive(message: Float32Array, _header: MessageHeader, _ex: ExchangeContext): void {
    const x = this.x;
    for (let k = 0; k < x.length; k++) x[k] = 0.5 * (x[k] + message[k]);
    this.exchanges++;
    if (this.counting) this.counted++;
  }
}

/** Trains this worker with its neighbours to the end of the three phases; never throws on network trouble. */
export async function runPeerWorker(opts: PeerWorkerOptions): Promise<PeerResult> {
  const { transport, model, built } = opts;
  if (built.kind !== 'pairwise') throw new Error('the networked worker runs pairwise algorithms');
  const log = opts.log ?? (() => {});
  const started = performance.now();
  // The agent's x is the model's parameter buffer: gradients are taken right where the algorithm keeps x.
  const x = Float32Array.from(model.params);
  model.setParams(x);

  let waiting: (() => void) | null = null;
  let permits = 0;
  const permit = (): void => {
    const w = waiting;
    waiting = null;
    if (w) w();
    else permits++;
  };
  const nextPermit = (): Promise<void> => {
    if (permits > 0) {
      permits--;
      return Promise.resolve();
    }
    return new Promise((resolve) => (waiting = resolve));
  };
  const agent = new WorkerAgent({
    id: transport.self,
    built,
    x,
    layoutHash: opts.layoutHash,
    optimizer: opts.optimizer,
    rate: opts.rate,
    rng: opts.rng,
    pairing: { transport, neighbours: opts.neighbours, timeoutMs: opts.timeoutMs },
    permit,
    log,
  });
  const state = { phase: 'train' as Phase };
  let averaging: Pairing | null = null;
  const onLeave = (j: WorkerId): void => {
    log(`worker ${j} left`);
    agent.pairing?.markGone(j);
    agent.pairing?.wake();
    averaging?.markGone(j);
    averaging?.wake();
  };
  transport.on('leave', onLeave);
  const finished = new Set<WorkerId>([transport.self]);
  const onStatus = (j: WorkerId, status: Record<string, unknown>): void => {
    if (status.phase === 'done') finished.add(j);
  };
  transport.on('status', onStatus);
  let loss = NaN;
  const party = new AveragingParty(x, () => ({ version: WIRE_VERSION, algorithm: built.algorithm.name, step: agent.steps, layoutHash: opts.layoutHash, codec: 'f32' }));
  const progress = (): void =>
    opts.onProgress?.({ phase: state.phase, steps: agent.steps, exchanges: agent.exchanges + party.exchanges, loss, t: agent.clock.now() });

  // Training: the compute loop takes a step whenever the agent permits one (rate control), yielding to the network
  // between steps.
  await transport.setStatus({ phase: 'train' });
  const every = opts.progressEvery ?? Math.max(1, Math.floor(opts.steps / 10));
  agent.start();
  while (agent.steps < opts.steps) {
    await nextPermit();
    await yieldToEventLoop();
    const t0 = performance.now();
    const batch = opts.train.batch(agent.steps);
    loss = model.lossAndGradient(batch.inputs, batch.targets);
    if (opts.clip !== null && opts.clip > 0) clipGradNorm(opts.backend, model.grads, opts.clip);
    agent.applyGradient(loss, model.grads, performance.now() - t0);
    if (agent.steps % every === 0) progress();
  }
  await agent.stop();

  // Final phase: averaging only, in float32 (a lossy codec would leave the models a quantisation step apart), once
  // every live worker has finished its steps.
  state.phase = 'final';
  if (transport.codec !== undefined) transport.codec = null;
  averaging = new Pairing(transport, party, {
    neighbours: agent.pairing?.liveNeighbours() ?? opts.neighbours, messageLength: x.length, rng: opts.rng.fork('final'), timeoutMs: opts.timeoutMs, log,
  });
  averaging.start();
  await transport.setStatus({ phase: 'final' });
  progress();
  const allIn = (phases: Phase[]) => (): boolean =>
    transport.connected().every((j) => phases.includes(transport.peer(j)?.status.phase as Phase));
  if (!(await barrier(transport, allIn(['final', 'done']), opts.barrierTimeoutMs, { phase: 'final' }))) {
    log('gave up waiting for every worker to finish its steps');
  }
  party.counting = true;
  const pairing = averaging;
  const finalDone = (): boolean => party.counted >= opts.finalExchanges || pairing.liveNeighbours().length === 0;
  if (!(await barrier(transport, finalDone, opts.barrierTimeoutMs, { phase: 'final' }))) log('final averaging ran out of time');

  state.phase = 'done';
  await transport.setStatus({ phase: 'done' });
  progress();
  if (!(await barrier(transport, allIn(['done']), opts.barrierTimeoutMs, { phase: 'done' }))) log('gave up waiting for every worker to finish');
  await averaging.stop();
  transport.off('leave', onLeave);
  transport.off('status', onStatus);
  const stats = { ...(agent.pairing?.stats ?? averaging.stats) };
  for (const [k, v] of Object.entries(averaging.stats)) stats[k as keyof typeof stats] += agent.pairing ? v : 0;
  return {
    steps: agent.steps,
    exchanges: agent.exchanges + party.exchanges,
    finalExchanges: party.counted,
    loss,
    seconds: (performance.now() - started) / 1000,
    finished: [...finished].sort((a, b) => a - b),
    pairing: stats,
    x: Float32Array.from(x),
  };
}

/**
 * Waits until `done()` holds (re-checked on membership events and every 100 ms), re-announcing this worker's
 * status every 2 s so that a lost announcement cannot stall the cluster; false at the timeout.
 */
async function barrier(transport: PeerMembership, done: () => boolean, timeoutMs: number, status: Record<string, unknown>): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  let announced = performance.now();
  while (!done()) {
    if (performance.now() > until) return false;
    if (performance.now() - announced > 2000) {
      void transport.setStatus(status);
      announced = performance.now();
    }
    await sleep(100);
  }
  return true;
}
