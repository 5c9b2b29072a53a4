/**
 * A runtime worker's algorithm side: it owns the algorithm's state for this worker (on shared memory), applies the
 * local steps whose gradients the compute loop delivers, takes part in pairwise exchanges and in collectives, and
 * tells the compute loop when it may start its next step (rate control; a collective that does not overlap
 * computation; a push to the server, whose answer it waits for). Every change to the parameters goes through the
 * algorithm's own handlers — localStep, the pairwise message / receive, the collective's begin / complete, the
 * server's push / pull — the very code the simulator drives, here at times read from the worker's LocalClock, with
 * the worker's local optimizer.
 *
 * The agent is thread-agnostic: agent-thread.ts runs it in a worker thread next to a compute thread, tests run it
 * directly.
 */
import type { Built } from '../algorithms/index.js';
import type { LocalOptimizer } from '../algorithms/local-optimizer.js';
import { contributionLength, type Algorithm, type ClosingCollective, type CollectiveCapability, type ParamRange, type ServerCapability, type WorkerState } from '../algorithms/types.js';
import { DEFAULT_BLOCK_SIZE, messageCodec, payloadBytes, type Codec } from '../core/codecs.js';
import { ContributionEncoder } from '../core/contribution.js';
import type { Rng } from '../core/rng.js';
import { DEFAULT_BOUNDS } from './bounds.js';
import { ExchangeGuard } from './exchange-guard.js';
import { ParameterHealth } from './health.js';
import { Pairing, type ExchangeContext, type ExchangeParty } from './pairing.js';
import { RateControl, type RateMode } from '../algorithms/rate-control.js';
import { LocalClock } from './rate.js';
import { S, shareState } from './shared-memory.js';
import { ShardedRound } from './sharded-round.js';
import type { Collective, MessageHeader, ServerLink, Transport, WorkerId } from './transport.js';

/** Wire version of the runtime's exchange headers. */
export const HEADER_VERSION = 1;

export interface AgentOptions {
  id: WorkerId;
  built: Built;
  /** The worker's parameter buffer (shared), holding the initial point x0. */
  x: Float32Array;
  layoutHash: string;
  optimizer: LocalOptimizer;
  /** This worker's exchanges per local step: r_i of partners.ts. */
  rate: number;
  rateMode?: RateMode;
  rng: Rng;
  clock?: LocalClock;
  /** Step index for the learning-rate schedule (default: this worker's own step count). */
  progress?: () => number;
  /** Pairwise algorithms: the transport and the protocol's settings (weights: of the neighbours, see partners.ts). */
  pairing?: { transport: Transport; neighbours: readonly WorkerId[]; weights?: readonly number[]; timeoutMs: number; backoffMs?: number; register?: () => void };
  /** Algorithms with collectives: the all-reduce. */
  collective?: Collective;
  /**
   * A sharded optimizer (--shard-optimizer): this worker's shard of the parameters, the one its optimizer covers;
   * the collective must then run sharded rounds.
   */
  shard?: ParamRange;
  /** Algorithms that push their rounds to a server: the way to it. */
  server?: ServerLink;
  /**
   * Codec of the contributions to collectives and of the pushes to the server, and whether they carry error feedback
   * (core/contribution.ts). @default f32, without
   */
  contributions?: { codec: Codec; errorFeedback: boolean };
  /** What decides whether a neighbour's message is applied (default: the default bounds, logging to `log`). */
  guard?: ExchangeGuard;
  /** Give up exchanges owed to the rate control after waiting this long for them, ms (default 5000). */
  maxWaitMs?: number;
  /** Shared statistics block of this worker (layout S). */
  stats?: Float64Array;
  /**
   * The counts of this worker's earlier lives (a restarted worker; layout S): published counts and its local time
   * go on from them.
   */
  carry?: Float64Array;
  /** The compute loop may start its next step. */
  permit: () => void;
  /** Σ x² of the parameters, for the check of their health after every step and exchange (default: a plain loop). */
  sumSquares?: (x: Float32Array) => number;
  /**
   * The parameters were found ruined (why, in a sentence): they are back at their last good state and the worker
   * stops. Without a handler, the worker just stops.
   */
  onRuined?: (reason: string) => void;
  /** Called after every applied local step with the worker's step count (e.g. to count the global budget). */
  onStep?: (steps: number) => void;
  log?: (line: string) => void;
}

const now = () => performance.now();

export class WorkerAgent implements ExchangeParty {
  readonly id: WorkerId;
  readonly state: WorkerState;
  readonly rate: RateControl;
  readonly clock: LocalClock;
  readonly pairing: Pairing | null;
  readonly guard: ExchangeGuard;
  private readonly algorithm: Algorithm;
  private readonly health: ParameterHealth;
  /** Why the parameters were found ruined (null: they never were). */
  ruined: string | null = null;
  private readonly stats: Float64Array;
  /** The collective in flight while local steps go on (algorithms whose collectives overlap computation). */
  private inFlight: Promise<boolean> | null = null;
  /** The last step queued behind a collective. */
  private queue: Promise<boolean> = Promise.resolve(true);
  /** Collectives completed. */
  private collectives = 0;
  /** A sharded optimizer's rounds (null: the collectives are all-reduces). */
  private readonly sharded: ShardedRound | null;
  /** The mean of the last collective (one at a time). */
  private mean = new Float32Array(0);
  /** What this worker's contributions and pushes go through. */
  private readonly encoder: ContributionEncoder;
  private readonly codec: Codec;
  /** Payload bytes of this worker's exchanges and pushes (the collective counts its own). */
  private sentBytes = 0;
  private started = now();
  private stopping = false;
  /** When the compute loop started waiting for the permission of its next step (null: not waiting). */
  private waitingSince: number | null = null;
  private waitTimer: ReturnType<typeof setTimeout> | null = null;
  private lastLoss = NaN;
  /** When the compute loop was last allowed to start a step. */
  private permittedAt = now();
  /** When the gradient of the current step arrived. */
  private stepStarted = now();

  constructor(private readonly opts: AgentOptions) {
    this.id = opts.id;
    this.clock = opts.clock ?? new LocalClock();
    const algorithm = opts.built.algorithm;
    this.algorithm = algorithm;
    this.rate = new RateControl(algorithm.pairwise ? opts.rate : 0, opts.rateMode ?? 'poisson', opts.rng.fork('rate'));
    this.stats = opts.stats ?? new Float64Array(S.SIZE);
    this.guard = opts.guard ?? new ExchangeGuard(opts.id, { bounds: DEFAULT_BOUNDS, log: opts.log });
    const dim = opts.x.length;
    this.codec = opts.contributions?.codec ?? 'f32';
    this.encoder = new ContributionEncoder(this.codec === 'f32' ? null : messageCodec(this.codec), dim, opts.contributions?.errorFeedback ?? false);
    this.state = shareState(algorithm.createState(opts.x, 0), opts.x);
    this.health = new ParameterHealth(opts.x, { sumSquares: opts.sumSquares });
    if (algorithm.collective && !opts.collective) throw new Error(`${algorithm.name} takes part in collectives: it needs a collective`);
    const shardedCapability = algorithm.collective?.sharded;
    if (shardedCapability && (!opts.shard || !opts.collective?.sharded)) throw new Error(`${algorithm.name}'s optimizer is sharded: it needs its shard and a collective with sharded rounds`);
    this.sharded = shardedCapability && opts.shard ? new ShardedRound(opts.shard, dim, opts.optimizer) : null;
    if (algorithm.server && !opts.server) throw new Error(`${algorithm.name} pushes its rounds to a server: it needs a way to it`);
    if (!algorithm.pairwise) {
      this.pairing = null;
      return;
    }
    const length = algorithm.pairwise.messageLength();
    if (length !== dim) throw new Error(`the runtime exchanges whole models: message of ${length} values for ${dim} parameters`);
    if (!opts.pairing) throw new Error(`${algorithm.name} exchanges pairwise: it needs a transport`);
    this.pairing = new Pairing(opts.pairing.transport, this, {
      neighbours: opts.pairing.neighbours, weights: opts.pairing.weights, messageLength: dim, rng: opts.rng.fork('pairing'),
      timeoutMs: opts.pairing.timeoutMs, backoffMs: opts.pairing.backoffMs, register: opts.pairing.register, log: opts.log,
    });
  }

  get x(): Float32Array {
    return this.state.x as Float32Array;
  }

  get steps(): number {
    return this.rate.steps;
  }

  /** Exchanges completed (those given up by the rate control not counted), or collectives or pushes completed. */
  get exchanges(): number {
    return this.rate.exchanges - this.forgiven + this.collectives;
  }

  /** Exchanges owed to the rate control that were given up after a long wait. */
  forgiven = 0;

  /** Payload bytes this worker sent: its messages, its pushes and its part in the collectives. */
  get bytesSent(): number {
    return this.sentBytes + (this.opts.collective?.bytesSent ?? 0);
  }

  /** Collectives completed, or pushes answered by the server. */
  get outerSteps(): number {
    return this.collectives;
  }

  /** Takes a neighbour that came back as a partner again, unless it was banned. */
  readmit(peer: WorkerId): void {
    if (!this.guard.isBanned(peer)) this.pairing?.markLive(peer);
  }

  /**
   * The communication graph changed under the running worker (open membership): new neighbours and partner weights,
   * and the algorithm's constants when it has a `retune` (A2CiD2's η and α̃). A compute loop waiting for exchanges
   * with neighbours that are gone goes on.
   */
  retopologize(neighbours: readonly WorkerId[], weights: readonly number[], constants?: { eta: number; alphaTilde: number }): void {
    const a = this.algorithm as Algorithm & { retune?(eta: number, alphaTilde: number): void };
    if (constants) a.retune?.(constants.eta, constants.alphaTilde);
    this.pairing?.setNeighbours(neighbours.filter((j) => !this.guard.isBanned(j)), weights.filter((_, k) => !this.guard.isBanned(neighbours[k])));
    this.release();
  }

  /** Starts the communication loop; the compute loop may take its first step. */
  start(): void {
    this.started = now();
    this.pairing?.start();
    this.grant();
  }

  private grant(): void {
    this.permittedAt = now();
    this.opts.permit();
  }

  /** Resolves once the collective in flight (if any) has settled: completed, failed or given up. */
  settled(): Promise<unknown> {
    return this.inFlight ?? Promise.resolve();
  }

  /** Stops: no new exchange; resolves once the exchange under way (if any) has settled. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.release();
    await this.pairing?.stop();
    this.publish();
    this.stats[S.DONE] = 1;
  }

  // -----------------------------------------------------------------------------------------------------------------
  // Local steps

  /**
   * Applies the local step of a gradient computed by the compute loop at this worker's x (grad is read before this
   * returns) through the algorithm's localStep; then, if a collective is due, takes part in it — waiting for it, or
   * letting the compute loop go on while it is in flight when the algorithm's collectives overlap computation — or
   * pushes its round to the server and waits for the model to start the next one from. computeMs is how long the
   * gradient took. Resolves false when the worker stopped while waiting for a collective or the server (or its
   * parameters are ruined). Steps that may wait are applied one after the other, in the order their gradients came;
   * the others at once.
   */
  applyGradient(loss: number, grad: Float32Array, computeMs: number): Promise<boolean> {
    if (!this.algorithm.collective && !this.algorithm.server) return this.apply(loss, grad, computeMs);
    this.queue = this.queue.then(() => this.apply(loss, grad, computeMs));
    return this.queue;
  }

  private async apply(loss: number, grad: Float32Array, computeMs: number): Promise<boolean> {
    if (this.ruined) return false;
    let start = now();
    this.stepStarted = start;
    const step = this.scheduleStep();
    this.algorithm.localStep(this.state, this.clock.now(), (_x, g) => {
      (g as Float32Array).set(grad);
      return loss;
    }, this.opts.optimizer);
    if (!this.healthy(`its local step ${this.rate.steps + 1}`)) return false;
    let applyMs = now() - start;
    const c = this.algorithm.collective;
    if (c?.due(this.state)) {
      // One collective at a time: one still in flight is waited for first.
      if (this.inFlight && !(await this.idle(this.inFlight))) return false;
      start = now();
      const reduced = this.collect(c);
      if (c.overlaps) this.inFlight = reduced;
      else if (!(await this.idle(reduced))) return false;
      applyMs += now() - start;
    }
    // The algorithm may want the collective in flight applied before the next step (Streaming DiLoCo's τ).
    if (c?.overlaps && this.inFlight && c.waits?.(this.state) && !(await this.idle(this.inFlight))) return false;
    const server = this.algorithm.server;
    if (server?.due(this.state)) {
      const handled = await this.pushRound(server);
      if (handled === null) {
        // Stopped while waiting for the server: the step itself was taken; its round is taken back (pushRound).
        if (!this.ruined) this.stepDone(loss, step, computeMs, applyMs);
        return false;
      }
      applyMs += handled;
    }
    this.stepDone(loss, step, computeMs, applyMs);
    return true;
  }

  /**
   * Ends this worker's part in the collectives after its last local step: waits for the collective in flight, then
   * takes part in the algorithm's closing collective, if it has one (every worker does, after its last step).
   * Resolves false when the worker stopped meanwhile (or its parameters are ruined).
   */
  async close(): Promise<boolean> {
    if (this.ruined) return false;
    if (this.inFlight && !(await this.idle(this.inFlight))) return false;
    const closing = this.algorithm.collective?.closing;
    if (!closing || this.stopping) return true;
    return this.idle(this.collect(closing, true));
  }

  /**
   * Pushes the round's pseudo-gradient with this worker's speed (its steps per second) and starts the next round from
   * the server's answer. Resolves with the time spent in the handlers, ms (the wait is idle time), or null when the
   * worker stopped meanwhile (or its parameters are ruined).
   */
  private async pushRound(server: ServerCapability<WorkerState>): Promise<number | null> {
    const link = this.opts.server!;
    let start = now();
    const slot = link.pushSlot();
    // The state's counters before the push (the round's number), put back if the worker stops without an answer: a
    // resumed worker then pushes the round again under the same name — a duplicate if the server had applied it (its
    // answer lost), applied if not — rather than the next one with this round's steps in it a second time.
    const counters = { ...this.algorithm.saved(this.state).scalars };
    const { round, steps } = server.push(this.state, this.clock.now(), slot);
    this.encoder.encode(slot, [{ start: 0, end: slot.length }]);
    // The push, and the model that comes back in float32.
    this.sentBytes += payloadBytes(this.codec, slot.length, DEFAULT_BLOCK_SIZE) + 4 * slot.length;
    const speed = this.clock.stepMs > 0 ? 1000 / this.clock.stepMs : 0;
    let handled = now() - start;
    const answer = await this.idle(link.push({ round, steps, speed }, () => this.stopping));
    if (answer === null) {
      this.algorithm.restore(this.state, { vectors: {}, scalars: counters });
      return null;
    }
    start = now();
    server.pull(this.state, this.clock.now(), answer);
    this.collectives++;
    handled += now() - start;
    return this.healthy('a pull from the server') ? handled : null;
  }

  /** Waits for a collective or the server, counted as idle time of the compute loop. */
  private async idle<T>(communication: Promise<T>): Promise<T> {
    const waited = now();
    const result = await communication;
    this.stats[S.IDLE_MS] += now() - waited;
    return result;
  }

  /**
   * Begins the due collective with this worker's contribution; resolves once its mean is applied (false: stopped).
   * Contributions and their mean travel under the codec, but for the closing average of whole models.
   */
  private async collect(c: ClosingCollective<WorkerState>, closing = false): Promise<boolean> {
    const all = this.opts.collective!;
    const ranges = c.ranges(this.state);
    const length = contributionLength(c, this.state);
    const slot = all.nextSlot(length);
    c.begin(this.state, this.clock.now(), slot);
    if (!closing && this.sharded) {
      const done = await this.sharded.run((c as CollectiveCapability<WorkerState>).sharded!, all.sharded!, this.state, length, () => this.clock.now(), () => this.stopping);
      if (!done) {
        if (!this.stopping) this.opts.log?.(`worker ${this.id}: a sharded round failed (a worker holding a shard of the optimizer's state is gone, or gave the round up): stopping`);
        return false;
      }
      this.collectives++;
      return this.healthy('a collective');
    }
    const codec = closing ? 'f32' : this.codec;
    if (!closing) this.encoder.encode(slot, ranges);
    if (this.mean.length !== length) this.mean = new Float32Array(length);
    const mean = this.mean;
    const count = await all.reduce(mean, () => this.stopping, codec);
    if (count === 0) return false;
    if (!closing) this.encoder.roundMean(mean);
    c.complete(this.state, this.clock.now(), mean, this.opts.optimizer);
    this.collectives++;
    return this.healthy('a collective');
  }

  /**
   * Checks the parameters after `what` changed them: when they are ruined, puts back their last good state and stops
   * (false). Training on would only spread the garbage to the neighbours.
   */
  private healthy(what: string): boolean {
    if (this.ruined) return false;
    const why = this.health.check();
    if (why === null) return true;
    this.ruined = `worker ${this.id}: its parameters are ruined after ${what}: ${why}; back at its last good state, of ${this.health.sinceGood} steps and exchanges before`;
    this.x.set(this.health.lastGood);
    this.opts.log?.(this.ruined);
    this.opts.onRuined?.(this.ruined);
    void this.stop();
    return false;
  }

  private scheduleStep(): number {
    return this.opts.progress ? this.opts.progress() : this.rate.steps;
  }

  private stepDone(loss: number, step: number, computeMs: number, applyMs: number): void {
    this.rate.stepDone();
    this.lastLoss = loss;
    // One step's duration: from the permission to start it until it is applied, waits for communication excluded
    // (the handing over between the threads included: it is part of what a step costs).
    this.clock.stepTook(applyMs + Math.max(computeMs, this.stepStarted - this.permittedAt));
    const st = this.stats;
    st[S.COMPUTE_MS] += computeMs;
    st[S.APPLY_MS] += applyMs;
    st[S.LR] = this.opts.optimizer.lr(step);
    this.publish();
    this.opts.onStep?.(this.rate.steps);
    if (this.mayStep()) this.grant();
    else {
      this.waitingSince = now();
      const maxWait = this.opts.maxWaitMs ?? 5000;
      this.waitTimer = setTimeout(() => this.forgive(), maxWait);
    }
    // The step may have opened the exchanges of the next quota.
    this.pairing?.wake();
  }

  private mayStep(): boolean {
    if (this.stopping || this.rate.canStep()) return true;
    // Nobody left to exchange with: train alone.
    return this.pairing !== null && this.pairing.liveNeighbours().length === 0;
  }

  /** Lets the waiting compute loop go on when it may. */
  private release(): void {
    if (this.waitingSince === null || !this.mayStep()) return;
    this.stats[S.IDLE_MS] += now() - this.waitingSince;
    this.waitingSince = null;
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.waitTimer = null;
    this.publish();
    this.grant();
  }

  /** The owed exchanges did not come in time (neighbours too slow or unresponsive): go on without them. */
  private forgive(): void {
    this.waitTimer = null;
    if (this.waitingSince === null) return;
    const owed = this.rate.owed();
    for (let k = 0; k < owed; k++) this.rate.exchangeDone();
    this.forgiven += owed;
    this.publish();
    this.opts.log?.(`worker ${this.id}: went on without ${owed} exchange(s) owed to the rate control`);
    this.release();
  }

  private publish(): void {
    const st = this.stats;
    const c = this.opts.carry;
    const set = (k: number, v: number) => (st[k] = (c ? c[k] : 0) + v);
    set(S.STEPS, this.rate.steps);
    set(S.EXCHANGES, this.exchanges);
    st[S.LOSS] = this.lastLoss;
    set(S.TIME, this.clock.now());
    st[S.STEP_MS] = this.clock.stepMs;
    set(S.WALL_MS, now() - this.started);
    set(S.FORGIVEN, this.forgiven);
    set(S.REJECTED, this.guard.rejected);
    set(S.BYTES_SENT, this.bytesSent);
    const p = this.pairing?.stats;
    if (p) {
      set(S.PROPOSED, p.proposed);
      set(S.BUSY, p.busy);
      set(S.TIMEOUTS, p.timeouts);
      set(S.ABORTED, p.aborted);
    }
  }

  // -----------------------------------------------------------------------------------------------------------------
  // Exchanges (ExchangeParty)

  wants(): boolean {
    return !this.stopping && this.rate.canExchange();
  }

  /** Accepts a proposal by the rate control's rule (RateControl.accepts). */
  accepts(header: MessageHeader): boolean {
    return !this.stopping && this.rate.accepts(header.step, header.owed ?? 0);
  }

  header(): MessageHeader {
    return {
      version: HEADER_VERSION, algorithm: this.algorithm.name, step: this.rate.steps, layoutHash: this.opts.layoutHash, codec: 'f32',
      owed: this.waitingSince === null ? 0 : this.rate.owed(),
    };
  }

  message(out: Float32Array, _ex: ExchangeContext): void {
    const start = now();
    this.algorithm.pairwise!.message(this.state, this.clock.now(), out);
    this.stats[S.EXCHANGE_MS] += now() - start;
  }

  /**
   * Applies the peer's message, unless the guard refuses it: then the exchange is void on this side (parameters
   * untouched, not counted by the rate control), whatever the peer did with ours — one side applying and the other
   * not leaves both models whole. A peer banned by the refusal is no partner any more.
   */
  receive(message: Float32Array, header: MessageHeader, ex: ExchangeContext): void {
    const start = now();
    // Our own message of the exchange went the other way.
    this.sentBytes += payloadBytes(this.opts.pairing?.transport.codec ?? 'f32', message.length, DEFAULT_BLOCK_SIZE);
    if (!this.guard.admit(ex.peer, this.x, message, header.step)) {
      if (this.guard.isBanned(ex.peer)) this.pairing?.markGone(ex.peer);
      this.stats[S.EXCHANGE_MS] += now() - start;
      this.publish();
      this.release();
      return;
    }
    this.algorithm.pairwise!.receive(this.state, this.clock.now(), message);
    if (!this.healthy(`an exchange with worker ${ex.peer}`)) return;
    this.rate.exchangeDone();
    this.stats[S.LAST_PEER] = ex.peer + 1;
    this.stats[S.EXCHANGE_MS] += now() - start;
    this.publish();
    this.release();
  }

  failed(_ex: ExchangeContext, reason: string): void {
    if (reason === 'closed') this.release();
  }
}
