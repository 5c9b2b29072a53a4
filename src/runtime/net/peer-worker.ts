/**
 * One worker of a networked cluster, one per process (`gossamer peer`): a compute loop of local gradient steps
 * through the algorithm's own handlers (src/algorithms), and, concurrently on the same event loop, the runtime's
 * coordinator-free pairing protocol (../pairing.ts) exchanging parameters with graph neighbours over the network
 * transport. Three phases, announced to the cluster through the transport's status:
 *
 *   train  — local steps; exchanges at `rate` per step (the compute loop never waits for them);
 *   final  — once this worker's steps are done: exchanges only, plain pairwise averaging x ← (x + x_peer)/2; once
 *            every live worker is in this phase, `finalExchanges` more exchanges (or until no neighbour is left);
 *   done   — keeps answering exchanges until every live worker is done, then stops.
 *
 * A worker whose connection closes is dropped from the phase barriers, so killing one leaves the others training to
 * the end. The compute loop here is deliberately small (the step loop, a local clock, a rate cap) so that the
 * shared worker loop of the runtime can take its place: everything network-specific is in PeerMembership and the
 * transport.
 */
import type { PairwiseAlgorithm, WorkerState } from '../../algorithms/types.js';
import type { Rng } from '../../core/rng.js';
import type { Vec } from '../../core/vec.js';
import type { Model } from '../../engine/models/model.js';
import type { BatchSource } from '../../engine/training/batches.js';
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
}

export interface PeerWorkerOptions {
  transport: PeerMembership;
  /** The model, holding the common initial point x0 (same seed on every worker). */
  model: Model;
  train: BatchSource;
  algorithm: PairwiseAlgorithm;
  /** Graph neighbours of this worker. */
  neighbours: readonly WorkerId[];
  layoutHash: string;
  steps: number;
  /** Expected exchanges per local step. */
  rate: number;
  finalExchanges: number;
  codec: MessageHeader['codec'];
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

/** Wall-clock time in units of the moving average of a gradient step's duration (A2CiD2's time). */
class LocalClock {
  private t = 0;
  private last = performance.now();
  private stepMs = 0;

  now(): number {
    const at = performance.now();
    if (this.stepMs > 0) this.t += (at - this.last) / this.stepMs;
    this.last = at;
    return this.t;
  }

  stepTook(ms: number): void {
    this.now();
    this.stepMs = this.stepMs === 0 ? Math.max(ms, 1e-3) : 0.9 * this.stepMs + 0.1 * Math.max(ms, 1e-3);
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The exchange side of the worker: the algorithm's message/receive in training, plain averaging afterwards. */
class Party implements ExchangeParty {
  phase: Phase = 'train';
  steps = 0;
  exchanges = 0;
  /** Exchanges since the final barrier. */
  finalExchanges = 0;
  finalCounting = false;

  constructor(
    private readonly algorithm: PairwiseAlgorithm,
    private readonly state: WorkerState,
    private readonly clock: LocalClock,
    private readonly rate: number,
    private readonly headerBase: Omit<MessageHeader, 'step'>,
  ) {}

  wants(): boolean {
    if (this.phase !== 'train') return true;
    return this.rate > 0 && this.exchanges < this.rate * (this.steps + 1);
  }

  header(): MessageHeader {
    return { ...this.headerBase, step: this.steps };
  }

  message(out: Float32Array, _ex: ExchangeContext): void {
    if (this.phase === 'train') this.algorithm.message(this.state, this.clock.now(), out);
    else out.set(this.state.x);
  }

  receive(message: Float32Array, _header: MessageHeader, _ex: ExchangeContext): void {
    if (this.phase === 'train') this.algorithm.receive(this.state, this.clock.now(), message);
    else {
      const x = this.state.x;
      for (let k = 0; k < x.length; k++) x[k] = 0.5 * (x[k] + message[k]);
    }
    this.exchanges++;
    if (this.finalCounting) this.finalExchanges++;
  }
}

/** Trains this worker with its neighbours to the end of the three phases; never throws on network trouble. */
export async function runPeerWorker(opts: PeerWorkerOptions): Promise<PeerResult> {
  const { transport, model, algorithm } = opts;
  const log = opts.log ?? (() => {});
  const started = performance.now();
  const clock = new LocalClock();
  const state = algorithm.createState(Float32Array.from(model.params), 0);
  const x = state.x as Float32Array;
  const party = new Party(algorithm, state, clock, opts.rate, { version: WIRE_VERSION, algorithm: algorithm.name, layoutHash: opts.layoutHash, codec: opts.codec });
  const pairing = new Pairing(transport, party, {
    neighbours: opts.neighbours, messageLength: x.length, rng: opts.rng.fork('pairing'), timeoutMs: opts.timeoutMs, log,
  });
  const onLeave = (j: WorkerId): void => {
    log(`worker ${j} left`);
    pairing.markGone(j);
    pairing.wake();
  };
  transport.on('leave', onLeave);
  const finished = new Set<WorkerId>([transport.self]);
  const onStatus = (j: WorkerId, status: Record<string, unknown>): void => {
    if (status.phase === 'done') finished.add(j);
  };
  transport.on('status', onStatus);
  const progress = (loss: number): void => opts.onProgress?.({ phase: party.phase, steps: party.steps, exchanges: party.exchanges, loss, t: clock.now() });

  // Gradients at the algorithm's x, computed by the engine model bound to a scratch buffer.
  const params = model.params;
  let loss = NaN;
  const gradient = (at: Vec, grad: Vec): number => {
    params.set(at);
    const batch = opts.train.batch(party.steps);
    const value = model.lossAndGradient(batch.inputs, batch.targets);
    grad.set(model.grads);
    return value;
  };

  await transport.setStatus({ phase: 'train' });
  pairing.start();
  const every = opts.progressEvery ?? Math.max(1, Math.floor(opts.steps / 10));
  for (let step = 0; step < opts.steps; step++) {
    const t0 = performance.now();
    loss = algorithm.gradientStep(state, clock.now(), gradient);
    clock.stepTook(performance.now() - t0);
    party.steps++;
    if (party.steps % every === 0) progress(loss);
    pairing.wake();
    await yieldToEventLoop();
  }

  // Final phase: averaging only, once every live worker has finished its steps.
  party.phase = 'final';
  await transport.setStatus({ phase: 'final' });
  progress(loss);
  const allIn = (phases: Phase[]) => (): boolean =>
    transport.connected().every((j) => phases.includes(transport.peer(j)?.status.phase as Phase));
  if (!(await barrier(transport, allIn(['final', 'done']), opts.barrierTimeoutMs, { phase: 'final' }))) {
    log('gave up waiting for every worker to finish its steps');
  }
  party.finalCounting = true;
  const finalDone = (): boolean => party.finalExchanges >= opts.finalExchanges || pairing.liveNeighbours().length === 0;
  if (!(await barrier(transport, finalDone, opts.barrierTimeoutMs, { phase: 'final' }))) log('final averaging ran out of time');

  party.phase = 'done';
  await transport.setStatus({ phase: 'done' });
  progress(loss);
  if (!(await barrier(transport, allIn(['done']), opts.barrierTimeoutMs, { phase: 'done' }))) log('gave up waiting for every worker to finish');
  await pairing.stop();
  transport.off('leave', onLeave);
  transport.off('status', onStatus);
  return {
    steps: party.steps,
    exchanges: party.exchanges,
    finalExchanges: party.finalExchanges,
    loss,
    seconds: (performance.now() - started) / 1000,
    finished: [...finished].sort((a, b) => a - b),
    pairing: { ...pairing.stats },
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
