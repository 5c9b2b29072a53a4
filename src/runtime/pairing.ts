/**
 * Pairing without a coordinator. Every worker runs the same small protocol over its Transport:
 *
 * - A worker that wants an exchange (its rate control allows one) and is free proposes to its live neighbours one
 *   at a time, in a freshly shuffled order; the first that accepts is its partner. If every neighbour answered
 *   'busy', it waits a random back-off (staying free, so that it can be picked meanwhile) and tries again.
 * - When its neighbours carry unequal weights (a neighbour listed twice, an irregular graph: the edge rates of
 *   docs/algorithms.md §1.2), it instead draws the partner of its next proposal in proportion to the weights and
 *   proposes only to that one until it accepts (or is found gone or suspect, or has answered 'busy' through
 *   REDRAW_AFTER rounds: a neighbour that has finished never accepts again): its exchanges then go to each partner
 *   with the right frequency. Proposing to the first that accepts in a weighted order would under-serve
 *   the heavier neighbours, whose own weight is in the denominator of every draw they win.
 * - A free worker that wants an exchange accepts a proposal. A worker that is already in an exchange, or is waiting
 *   for the answer to its own proposal, answers 'busy'. Two workers that propose to each other at the same moment
 *   thus both get 'busy'; each noticed the other's proposal, and the lower id proposes again to the same peer at
 *   once while the higher id stays free to be picked for a moment. (Letting one of them accept the crossing
 *   proposal directly would save a round trip, but is only sound over channels that keep the order of messages,
 *   which a link emulator or a network transport need not.)
 *
 * Why this holds together:
 * - never two exchanges at once: a worker has at most one outstanding proposal, accepts nothing while it waits for
 *   its answer, and accepts nothing while an accepted exchange is open;
 * - no deadlock: nobody ever blocks waiting for another proposal — every proposal is answered at once (accept or
 *   busy) or times out, and a vanished peer's channel closes or times out;
 * - no starvation: proposal orders are reshuffled every round and back-offs are random, so two free neighbours
 *   that both want an exchange meet with probability one (symmetric collisions repeat with geometrically
 *   vanishing probability), whatever the others do;
 * - crashed peers never block: a closed channel removes the peer from the live neighbours (until it comes back:
 *   markLive); a silent one costs a timeout, after which it is skipped for a back-off that doubles with every
 *   further timeout (up to maxSuspectMs) and is forgotten as soon as the peer shows a sign of life.
 */
import type { Rng } from '../core/rng.js';
import { drawWeighted, partnersOf } from '../graph/partners.js';
import type { Graph } from '../graph/topology.js';
import type { ExchangeResult, MessageHeader, Transport, WorkerId } from './transport.js';

/** One exchange as seen from one side (the same object is passed to message() and then receive() / failed()). */
export interface ExchangeContext {
  readonly peer: WorkerId;
  readonly role: 'proposer' | 'acceptor';
}

/** What the pairing protocol needs from the worker it pairs. */
export interface ExchangeParty {
  /** Whether the worker wants an exchange now (rate control). */
  wants(): boolean;
  /** Whether to accept a proposal with this header now (default: wants()). */
  accepts?(header: MessageHeader): boolean;
  /** The header sent with this worker's messages. */
  header(): MessageHeader;
  /** Writes this worker's message as an exchange starts. */
  message(out: Float32Array, ex: ExchangeContext): void;
  /** The peer's whole message has arrived: apply it (the exchange is complete on this side). */
  receive(message: Float32Array, header: MessageHeader, ex: ExchangeContext): void;
  /** The exchange ended without effect (busy, refused, timeout, closed, cancelled). */
  failed?(ex: ExchangeContext, reason: string): void;
}

export interface PairingOptions {
  /** The neighbours; one listed several times weighs that many times (without `weights`). */
  neighbours: readonly WorkerId[];
  /** The relative weight of each entry of `neighbours` as a partner (default 1 each; entries of a repeated one add up). */
  weights?: readonly number[];
  messageLength: number;
  rng: Rng;
  /** How long a proposal (and an accepted exchange) may take before it is abandoned, ms. */
  timeoutMs: number;
  /**
   * After a round in which no neighbour accepted, wait a uniform time in [0, w) before the next one, with w the
   * larger of backoffMs (default 1 ms) and the measured duration of a proposal, doubled after every further
   * fruitless round (up to 16×): the binary exponential back-off of shared media.
   */
  backoffMs?: number;
  /**
   * Most proposals in one round (default: every live neighbour). On a dense graph a full round keeps the worker
   * proposing, hence busy to every other proposer, for as long as its neighbours take to answer; with a few per round
   * the workers spend their back-offs free to be picked, and pairs form.
   */
  proposalsPerRound?: number;
  /** Polls wants() at least this often while nothing else wakes the protocol, ms (default 50). */
  pollMs?: number;
  /** Longest time a peer that keeps timing out is skipped, ms (default 20 × timeoutMs). */
  maxSuspectMs?: number;
  /**
   * Central pairing instead (the authors' orchestrator, orchestrator.ts): called when this worker wants an exchange;
   * the orchestrator answers through assigned(peer). The higher rank of a pair proposes; the lower one accepts only
   * its assigned partner.
   */
  register?: () => void;
  log?: (line: string) => void;
}

export interface PairingStats {
  /** Exchanges completed (as proposer + as acceptor). */
  exchanges: number;
  proposed: number;
  accepted: number;
  busy: number;
  timeouts: number;
  refused: number;
  /** Accepted exchanges abandoned before completion (peer vanished, cancelled, timed out). */
  aborted: number;
  /** Neighbours found gone. */
  lost: number;
}

/**
 * Worker i's rate control and pairing settings on a graph at communication rate r: its own rate r_i and its
 * neighbours weighted by their edge rates (partners.ts), so that the exchanges follow the rate-weighted Laplacian the
 * constants are computed from; restricted to the neighbours it is linked to, when given.
 */
export function graphPairing(graph: Graph, rate: number, i: number, linked?: readonly WorkerId[]): { rate: number; neighbours: WorkerId[]; weights: number[] } {
  const p = partnersOf(graph, rate, i);
  const keep = p.ids.map((j) => !linked || linked.includes(j));
  return { rate: p.rate, neighbours: p.ids.filter((_, k) => keep[k]), weights: p.weights.filter((_, k) => keep[k]) };
}

/** Counts of a pairing that took no part in anything yet. */
export function emptyPairingStats(): PairingStats {
  return { exchanges: 0, proposed: 0, accepted: 0, busy: 0, timeouts: 0, refused: 0, aborted: 0, lost: 0 };
}

type State =
  | { kind: 'idle' }
  | { kind: 'proposing'; peer: WorkerId; ex: ExchangeContext }
  | { kind: 'exchanging'; peer: WorkerId; ex: ExchangeContext };

const IDLE: State = { kind: 'idle' };
/** Fruitless rounds after which the weighted pairing draws another partner. */
const REDRAW_AFTER = 5;

export class Pairing {
  readonly stats: PairingStats = emptyPairingStats();
  private live: Set<WorkerId>;
  private neighbours: WorkerId[];
  /** Each neighbour's weight as a partner, when they are not all equal (null: uniform). */
  private weights: Map<WorkerId, number> | null;
  /** The partner drawn for the next proposal (weighted pairing). */
  private drawn: WorkerId | null = null;
  private state: State = IDLE;
  private stopped = false;
  private running: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private readonly proposeBuf: Float32Array;
  private readonly answerBuf: Float32Array;
  private readonly backoffMs: number;
  private readonly pollMs: number;
  private settled: (() => void) | null = null;
  /** The peer whose proposal crossed ours (it proposed to us while we proposed to it), if any. */
  private crossed: WorkerId | null = null;
  /** Central pairing: registered and not yet assigned. */
  private registered = false;
  /** Central pairing: the partner to propose to. */
  private assignment: WorkerId | null = null;
  /** Central pairing: the partner whose proposal to accept, until when. */
  private expecting: { peer: WorkerId; until: number } | null = null;
  /** Moving average of the duration of a proposal, ms. */
  private proposalMs = 0;
  /** Consecutive fruitless rounds. */
  private fruitless = 0;
  /** Peers that timed out: skipped until `until`; `strikes` consecutive timeouts. */
  private readonly suspects = new Map<WorkerId, { until: number; strikes: number }>();

  constructor(
    private readonly transport: Transport,
    private readonly party: ExchangeParty,
    private readonly opts: PairingOptions,
  ) {
    this.neighbours = [];
    this.weights = null;
    this.live = new Set();
    this.setNeighbours(opts.neighbours, opts.weights);
    this.proposeBuf = new Float32Array(opts.messageLength);
    this.answerBuf = new Float32Array(opts.messageLength);
    this.backoffMs = opts.backoffMs ?? 1;
    this.pollMs = opts.pollMs ?? 50;
  }

  get self(): WorkerId {
    return this.transport.self;
  }

  /** Neighbours not known to be gone. */
  liveNeighbours(): WorkerId[] {
    return this.neighbours.filter((j) => this.live.has(j));
  }

  /** Whether an exchange (or a proposal) is under way. */
  get inExchange(): boolean {
    return this.state.kind !== 'idle';
  }

  private suspect(peer: WorkerId): void {
    const strikes = (this.suspects.get(peer)?.strikes ?? 0) + 1;
    const max = this.opts.maxSuspectMs ?? 20 * this.opts.timeoutMs;
    const ms = Math.min(max, this.opts.timeoutMs * 2 ** (strikes - 1));
    this.suspects.set(peer, { until: performance.now() + ms * (0.5 + this.opts.rng.uniform()), strikes });
  }

  /** The peer answered or proposed: it is alive. */
  private alive(peer: WorkerId): void {
    this.suspects.delete(peer);
  }

  /** Live neighbours not currently suspected, and how long until the next suspicion ends (ms). */
  private candidates(): { peers: WorkerId[]; wait: number } {
    const now = performance.now();
    const peers: WorkerId[] = [];
    let wait = Infinity;
    for (const j of this.liveNeighbours()) {
      const s = this.suspects.get(j);
      if (s && s.until > now) wait = Math.min(wait, s.until - now);
      else peers.push(j);
    }
    return { peers, wait };
  }

  /**
   * Replaces the neighbours (a topology re-formed over a new membership): the new ones are live, those that stay keep
   * their state; an exchange under way with a former neighbour still completes.
   */
  setNeighbours(neighbours: readonly WorkerId[], weights?: readonly number[]): void {
    const w = new Map<WorkerId, number>();
    neighbours.forEach((j, k) => {
      if (j !== this.transport.self) w.set(j, (w.get(j) ?? 0) + (weights?.[k] ?? 1));
    });
    const previous = new Set(this.neighbours);
    this.neighbours = [...w.keys()];
    const first = w.get(this.neighbours[0]);
    this.weights = [...w.values()].every((v) => v === first) ? null : w;
    this.live = new Set(this.neighbours.filter((j) => !previous.has(j) || this.live.has(j)));
    if (this.drawn !== null && !w.has(this.drawn)) this.drawn = null;
    this.wake();
  }

  /** Marks a neighbour as gone (e.g. told by a supervisor); proposals stop going to it. */
  markGone(peer: WorkerId): void {
    if (this.live.delete(peer)) this.stats.lost++;
  }

  /**
   * Readmits a neighbour found gone that came back (it reconnected, or restarted and announced itself): proposals
   * go to it again and its proposals are accepted. Non-neighbours are ignored.
   */
  markLive(peer: WorkerId): void {
    if (!this.neighbours.includes(peer) || this.live.has(peer)) return;
    this.live.add(peer);
    this.suspects.delete(peer);
    this.wake();
  }

  start(): void {
    if (this.running) return;
    this.transport.onProposal({
      accept: (peer, header) => this.accept(peer, header),
      commit: (peer, header, message) => this.commit(peer, header, message),
      abort: (peer, reason) => this.abort(peer, reason),
    });
    this.running = this.loop();
  }

  /** Tells the protocol that wants() may have changed. */
  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  /** Stops proposing and accepting; resolves once the exchange under way (if any) has settled. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.running;
    if (this.state.kind !== 'idle') await new Promise<void>((resolve) => (this.settled = resolve));
  }

  private setIdle(): void {
    this.state = IDLE;
    const s = this.settled;
    this.settled = null;
    s?.();
  }

  private signal(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (this.wakeUp === done) this.wakeUp = null;
        resolve();
      }, ms);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.wakeUp = done;
    });
  }

  /** Central pairing: the orchestrator paired this worker with `peer`. */
  assigned(peer: WorkerId): void {
    this.registered = false;
    if (this.self > peer) this.assignment = peer;
    else this.expecting = { peer, until: performance.now() + this.opts.timeoutMs };
    this.wake();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (this.state.kind !== 'idle' || this.live.size === 0 || !this.party.wants()) {
        await this.signal(this.pollMs);
        continue;
      }
      if (this.opts.register) {
        await this.coordinated(this.opts.register);
        continue;
      }
      const { peers, wait } = this.candidates();
      if (peers.length === 0) {
        await this.signal(Math.min(wait, this.pollMs));
        continue;
      }
      const paired = await this.round(this.weights ? [this.partner(peers, this.weights)] : peers);
      if (paired) this.fruitless = 0;
      else if (!this.stopped) {
        const window = Math.max(this.backoffMs, this.proposalMs) * 2 ** Math.min(this.fruitless++, 4);
        await this.signal(this.opts.rng.uniform() * window);
      }
    }
  }

  /** The drawn partner of the next proposal if it is still a candidate, else a new draw among the candidates. */
  private partner(peers: WorkerId[], weights: Map<WorkerId, number>): WorkerId {
    if (this.drawn === null || !peers.includes(this.drawn) || this.fruitless >= REDRAW_AFTER) {
      this.drawn = peers[drawWeighted(peers.map((j) => weights.get(j)!), this.opts.rng)];
    }
    return this.drawn;
  }

  /** One turn of central pairing: propose to the assigned partner, or register, or wait for the partner. */
  private async coordinated(register: () => void): Promise<void> {
    if (this.assignment !== null) {
      const peer = this.assignment;
      this.assignment = null;
      // The partner learns of the pair at the same time as we do: 'busy' may only mean it has not yet.
      const deadline = performance.now() + this.opts.timeoutMs;
      while (!this.stopped && this.live.has(peer)) {
        const r = await this.proposeTo(peer);
        if (r.ok || r.reason !== 'busy' || performance.now() >= deadline) break;
        await this.signal(Math.max(this.backoffMs, this.proposalMs));
      }
      return;
    }
    if (this.expecting && performance.now() > this.expecting.until) this.expecting = null; // the partner never came
    if (!this.registered && !this.expecting) {
      this.registered = true;
      register();
    }
    await this.signal(this.expecting ? Math.max(1, this.expecting.until - performance.now()) : this.pollMs);
  }

  /** One proposal, with its bookkeeping; the exchange is applied when it succeeds. */
  private async proposeTo(peer: WorkerId): Promise<ExchangeResult> {
    const ex: ExchangeContext = { peer, role: 'proposer' };
    this.state = { kind: 'proposing', peer, ex };
    this.stats.proposed++;
    this.crossed = null;
    this.party.message(this.proposeBuf, ex);
    const sent = performance.now();
    const r = await this.transport.propose(peer, this.party.header(), this.proposeBuf, this.opts.timeoutMs);
    if (r.ok || r.reason === 'busy') {
      const ms = performance.now() - sent;
      this.proposalMs = this.proposalMs === 0 ? ms : 0.8 * this.proposalMs + 0.2 * ms;
    }
    // Nothing is accepted while we propose, so the state is still ours.
    this.setIdle();
    if (r.ok) {
      if (peer === this.drawn) this.drawn = null;
      this.alive(peer);
      this.stats.exchanges++;
      this.party.receive(r.message, r.header, ex);
      this.transport.release?.(r.message);
      return r;
    }
    if (r.reason === 'timeout') this.suspect(peer);
    else if (r.reason === 'closed') this.markGone(peer);
    else this.alive(peer);
    this.party.failed?.(ex, r.reason);
    if (r.reason === 'busy') this.stats.busy++;
    else if (r.reason === 'timeout') this.stats.timeouts++;
    else if (r.reason !== 'closed') this.stats.refused++;
    return r;
  }

  /** Proposes to the live neighbours in a random order until one accepts; true when an exchange happened. */
  private async round(peers: WorkerId[]): Promise<boolean> {
    const order = this.opts.rng.shuffle(peers).slice(0, this.opts.proposalsPerRound ?? peers.length);
    let retried = false;
    for (let k = 0; k < order.length; k++) {
      const peer = order[k];
      if (this.stopped || this.state.kind !== 'idle' || !this.party.wants()) return this.state.kind !== 'idle';
      if (!this.live.has(peer)) continue;
      const r = await this.proposeTo(peer);
      if (r.ok) return true;
      if (r.reason === 'busy' && this.crossed === peer) {
        // A crossing: the lower id asks again right away, the higher one waits to be asked.
        this.crossed = null;
        if (this.self > peer) return false;
        if (!retried) {
          retried = true;
          k--;
        }
      }
    }
    return false;
  }

  private accept(peer: WorkerId, header: MessageHeader): { header: MessageHeader; message: Float32Array } | null {
    if (this.stopped || !this.live.has(peer)) return null;
    this.alive(peer);
    const s = this.state;
    if (s.kind === 'proposing' && s.peer === peer) this.crossed = peer;
    if (s.kind !== 'idle') return null;
    if (this.opts.register) {
      // Central pairing: only the assigned partner.
      if (this.expecting?.peer !== peer) return null;
      this.expecting = null;
    } else if (!(this.party.accepts ? this.party.accepts(header) : this.party.wants())) return null;
    const ex: ExchangeContext = { peer, role: 'acceptor' };
    this.state = { kind: 'exchanging', peer, ex };
    this.stats.accepted++;
    this.party.message(this.answerBuf, ex);
    return { header: this.party.header(), message: this.answerBuf };
  }

  private commit(peer: WorkerId, header: MessageHeader, message: Float32Array): void {
    const s = this.state;
    if (s.kind !== 'exchanging' || s.peer !== peer) {
      this.opts.log?.(`worker ${this.self}: ignored a commit from ${peer} outside an exchange with it`);
      return this.transport.release?.(message);
    }
    this.setIdle();
    this.stats.exchanges++;
    this.party.receive(message, header, s.ex);
    this.transport.release?.(message);
    this.wake();
  }

  private abort(peer: WorkerId, reason: string): void {
    const s = this.state;
    if (s.kind !== 'exchanging' || s.peer !== peer) return;
    this.setIdle();
    this.stats.aborted++;
    if (reason === 'closed') this.markGone(peer);
    this.party.failed?.(s.ex, reason);
    this.wake();
  }
}
