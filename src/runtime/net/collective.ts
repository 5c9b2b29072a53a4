/**
 * Collectives among network peers (/gossamer/collective/1.0.0): the mean of one vector per worker per round, by
 * reduce and broadcast through a coordinator — the live worker of the lowest index, in each worker's own view.
 *
 *   member                                      coordinator
 *   payload (header: step = round, codec)  →    (waits for every live worker's contribution to the round)
 *                                          ←    payload (the mean, f32)  |  abort
 *
 * Every frame has the versioned, checksummed header of the pairwise protocol (wire.ts) and is checked the same way
 * (algorithm, layout, checksum, finite values). Failures:
 * - a worker that dies is dropped from the round as soon as its connection closes; one that hangs, at the round's
 *   deadline (`timeoutMs` after the coordinator's own contribution): the round completes among the others, and a
 *   late contribution gets the mean already computed (kept for a few rounds);
 * - a member whose coordinator vanishes (or answers abort) asks the next live worker of lowest index. The
 *   coordinator answers its members in index order, each answer sent in full before the next, so that the next
 *   coordinator, if anyone got the mean, got it too and hands the very same mean to the others;
 * - a worker asked while it is itself a member of another coordinator's round answers with the mean it gets there.
 * - a worker that starts a few rounds behind the others (a late joiner) gets the means they applied, kept for the
 *   last rounds, and so catches up with them exactly; one further behind is told so and stops.
 * A mean is always over whole contributions: nobody applies a partial sum. Left alone, a worker's mean is its own
 * contribution.
 */
import type { Stream } from '@libp2p/interface';
import type { Collective, MessageHeader, WorkerId } from '../transport.js';
import { errorText, readAll, sendFrame, type NetLogger, type NetTransport } from './libp2p-transport.js';
import { onFirstFrame } from './first-frame.js';
import {
  ABORT_REASONS, DEFAULT_MAX_PAYLOAD_BYTES, FrameReader, MAX_HEADER_BYTES, WIRE_VERSION, decodeFrame, decodeMessage, encodeControl,
  encodeMessage, isWireError,
} from './wire.js';
import type { Codec } from '../../core/codecs.js';
import { aggregate, type Aggregate } from '../aggregate.js';

export const COLLECTIVE_PROTOCOL = '/gossamer/collective/1.0.0';

export interface NetCollectiveInit {
  /** Algorithm and layout hash that every contribution carries and must match. */
  algorithm: string;
  layoutHash: string;
  /** Length of the longest contribution (the model's size). */
  maxLength: number;
  /** How long a coordinator waits for a round's contributions after its own, and a member for the mean, in ms. @default 30000 */
  timeoutMs?: number;
  /** How the coordinator combines the contributions (aggregate.ts). @default 'mean' */
  aggregate?: Aggregate;
  /** Bytes per send call. @default 256 KiB */
  chunkBytes?: number;
  log?: NetLogger;
}

/** Rounds whose means are kept for late contributions. */
const KEPT_ROUNDS = 8;

interface Round {
  /** Contributions received by this worker as the round's coordinator (its own included). */
  readonly contributions: Map<WorkerId, Float32Array>;
  /** Members waiting for the round's mean, by index. */
  readonly waiting: Map<WorkerId, (mean: Float32Array | null) => Promise<void>>;
  /** This worker coordinates the round (it computes the mean from the contributions above). */
  coordinating: boolean;
  deadline: NodeJS.Timeout | null;
  /** Settles the round's mean (once). */
  settle: ((mean: Float32Array | null) => void) | null;
}

export class NetCollective implements Collective {
  private round = 0;
  /** Payloads of the frames this worker sent: its contributions, and the means it answered as a coordinator. */
  bytesSent = 0;
  private slot = new Float32Array(0);
  private readonly rounds = new Map<number, Round>();
  private readonly means = new Map<number, Float32Array>();
  /** Contributions behind each recent mean this worker computed (1 where it received the mean from another). */
  private readonly contributors = new Map<number, number>();
  private readonly timeoutMs: number;
  private readonly log: NetLogger;
  private readonly onLeave = (): void => this.checkAll();

  constructor(private readonly transport: NetTransport, private readonly init: NetCollectiveInit) {
    this.timeoutMs = init.timeoutMs ?? 30_000;
    this.log = init.log ?? (() => {});
  }

  /** Serves the protocol; call once before the first round. */
  async start(): Promise<void> {
    await this.transport.serve(COLLECTIVE_PROTOCOL, (stream, peer) => this.onStream(stream, peer));
    this.transport.on('leave', this.onLeave);
  }

  stop(): void {
    this.transport.off('leave', this.onLeave);
    for (const r of this.rounds.values()) this.finish(r, null);
  }

  nextSlot(length: number): Float32Array {
    if (this.slot.length !== length) this.slot = new Float32Array(length);
    return this.slot;
  }

  async reduce(out: Float32Array, cancelled: () => boolean = () => false, codec: Codec = 'f32'): Promise<number> {
    const r = ++this.round;
    const own = Float32Array.from(this.slot.subarray(0, out.length));
    const tried = new Set<WorkerId>();
    for (;;) {
      if (cancelled()) return 0;
      const coordinator = this.coordinator(tried);
      let mean: Float32Array | null;
      if (coordinator === this.transport.self) mean = await this.coordinate(r, own);
      else {
        const asked = await this.ask(coordinator, r, own, codec);
        if (asked === 'behind') {
          this.log('warn', `round ${r} is long over at worker ${coordinator}: this worker is too far behind the others to take part`);
          return 0;
        }
        if (asked === null) {
          tried.add(coordinator);
          continue;
        }
        mean = asked;
        this.settleAsMember(r, mean);
      }
      if (mean === null) return 0;
      out.set(mean);
      return this.contributors.get(r) ?? 1;
    }
  }

  /** The live worker of lowest index, this one included, among those not tried yet this round. */
  private coordinator(tried: Set<WorkerId>): WorkerId {
    const live = this.transport.connected().filter((j) => !tried.has(j));
    return Math.min(this.transport.self, ...live);
  }

  private roundOf(r: number): Round {
    let round = this.rounds.get(r);
    if (!round) {
      round = { contributions: new Map(), waiting: new Map(), coordinating: false, deadline: null, settle: null };
      this.rounds.set(r, round);
    }
    return round;
  }

  /** Coordinates round r: resolves with the mean of the contributions received once every live worker's is in. */
  private coordinate(r: number, own: Float32Array): Promise<Float32Array | null> {
    const round = this.roundOf(r);
    round.coordinating = true;
    round.contributions.set(this.transport.self, own);
    return new Promise((resolve) => {
      round.settle = resolve;
      round.deadline = setTimeout(() => this.complete(r, round), this.timeoutMs);
      this.check(r, round);
    });
  }

  /** Completes a coordinated round once every live worker has contributed. */
  private check(r: number, round: Round): void {
    if (!round.coordinating || !round.settle) return;
    const missing = this.transport.connected().filter((j) => !round.contributions.has(j));
    if (missing.length === 0) this.complete(r, round);
  }

  private checkAll(): void {
    for (const [r, round] of this.rounds) this.check(r, round);
  }

  /** The aggregate (by default the mean) of whole contributions of the coordinator's length, in index order. */
  private complete(r: number, round: Round): void {
    const own = round.contributions.get(this.transport.self)!;
    const whole: Float32Array[] = [];
    for (const j of [...round.contributions.keys()].sort((a, b) => a - b)) {
      const c = round.contributions.get(j)!;
      if (c.length === own.length) whole.push(c);
      else this.log('warn', `worker ${j}'s contribution to round ${r} has ${c.length} values, not ${own.length}: left out`);
    }
    const count = whole.length;
    const result = new Float32Array(own.length);
    aggregate(this.init.aggregate ?? 'mean', whole, result);
    const missing = this.transport.connected().filter((j) => !round.contributions.has(j));
    if (missing.length > 0) this.log('warn', `round ${r} completed without worker(s) ${missing.join(', ')} (no contribution within ${this.timeoutMs} ms)`);
    this.contributors.set(r, count);
    this.finish(round, result, r);
  }

  /** The mean of round r as a member received it: it answers whoever asked this worker meanwhile. */
  private settleAsMember(r: number, mean: Float32Array): void {
    const round = this.rounds.get(r);
    this.contributors.set(r, this.contributors.get(r) ?? 1);
    if (round) this.finish(round, mean, r);
    else this.keep(r, mean);
  }

  private finish(round: Round, mean: Float32Array | null, r?: number): void {
    if (round.deadline) clearTimeout(round.deadline);
    round.deadline = null;
    const settle = round.settle;
    round.settle = null;
    if (r !== undefined) {
      this.rounds.delete(r);
      if (mean) this.keep(r, mean);
    }
    settle?.(mean);
    // Answers in index order, each in full before the next (see the header comment).
    const waiting = [...round.waiting.entries()].sort((a, b) => a[0] - b[0]);
    round.waiting.clear();
    void (async () => {
      for (const [, answer] of waiting) await answer(mean);
    })();
  }

  private keep(r: number, mean: Float32Array): void {
    this.means.set(r, mean);
    for (const old of this.means.keys()) if (old <= r - KEPT_ROUNDS) this.means.delete(old);
    for (const old of this.contributors.keys()) if (old <= r - KEPT_ROUNDS) this.contributors.delete(old);
  }

  private header(r: number, codec: Codec): MessageHeader {
    return { version: WIRE_VERSION, algorithm: this.init.algorithm, step: r, layoutHash: this.init.layoutHash, codec };
  }

  /**
   * Sends this worker's contribution to round r to a coordinator and waits for the mean (null: failed; 'behind': the
   * round is over there and its mean no longer kept).
   */
  private async ask(coordinator: WorkerId, r: number, own: Float32Array, codec: Codec): Promise<Float32Array | 'behind' | null> {
    const deadline = 2 * this.timeoutMs;
    let stream: Stream;
    try {
      stream = await this.transport.dial(coordinator, COLLECTIVE_PROTOCOL, AbortSignal.timeout(deadline));
    } catch (error) {
      this.log('info', `cannot reach worker ${coordinator} for round ${r}: ${errorText(error)}`);
      return null;
    }
    const answer = readAll(stream, 4 * this.init.maxLength + MAX_HEADER_BYTES, deadline);
    answer.catch(() => {});
    try {
      const signal = AbortSignal.timeout(deadline);
      const sent = encodeMessage(this.header(r, codec), own);
      await sendFrame(stream, sent, this.init.chunkBytes ?? 256 << 10, signal);
      this.bytesSent += sent.payload.length;
      await stream.close({ signal });
      const frame = decodeFrame(await answer, { algorithm: this.init.algorithm, layoutHash: this.init.layoutHash, count: own.length });
      if (isWireError(frame)) throw new Error(frame.detail);
      if (frame.kind === 'abort' && ABORT_REASONS[frame.aux] === 'refused') return 'behind';
      if (frame.kind !== 'payload' || frame.header.step !== r) throw new Error(`answered ${frame.kind} for round ${frame.header.step}`);
      const mean = decodeMessage(frame);
      if (isWireError(mean)) throw new Error(mean.detail);
      return mean;
    } catch (error) {
      stream.abort(new Error('collective abandoned'));
      this.log('info', `round ${r} through worker ${coordinator} failed: ${errorText(error)}`);
      return null;
    }
  }

  /** A member's contribution: kept for the round, answered with its mean (or abort) once there is one. */
  private onStream(stream: Stream, peer: WorkerId | undefined): void {
    const reader = new FrameReader({
      algorithm: this.init.algorithm, layoutHash: this.init.layoutHash, maxPayloadBytes: Math.min(DEFAULT_MAX_PAYLOAD_BYTES, 4 * this.init.maxLength),
    });
    const answer = async (r: number, codec: Codec, mean: Float32Array | null, why: 'closed' | 'refused' = 'closed'): Promise<void> => {
      const frame = mean
        ? encodeMessage(this.header(r, codec), mean)
        : { header: encodeControl('abort', this.header(r, codec), { aux: ABORT_REASONS.indexOf(why) }), payload: new Uint8Array(0) };
      try {
        const signal = AbortSignal.timeout(2 * this.timeoutMs);
        await sendFrame(stream, frame, this.init.chunkBytes ?? 256 << 10, signal);
        this.bytesSent += frame.payload.length;
        await stream.close({ signal });
      } catch (error) {
        this.log('info', `answering worker ${peer}'s contribution failed: ${errorText(error)}`);
        stream.abort(new Error('collective abandoned'));
      }
    };
    onFirstFrame(stream, reader, {
      timeoutMs: this.timeoutMs, silence: 'no contribution', dropped: (why) => this.log('info', `collective stream from worker ${peer ?? '?'} dropped: ${why}`),
    }, (f) => {
      const contribution = f.kind === 'payload' ? decodeMessage(f) : null;
      if (peer === undefined || contribution === null || isWireError(contribution) || contribution.length > this.init.maxLength) {
        this.log('warn', `refused a contribution from ${peer === undefined ? 'an unknown peer' : `worker ${peer}`}: ${contribution && isWireError(contribution) ? contribution.detail : 'not a contribution'}`);
        void answer(f.header.step, f.header.codec, null);
        return;
      }
      this.receive(peer, f.header.step, contribution, (mean, why) => answer(f.header.step, f.header.codec, mean, why));
    });
  }

  private receive(peer: WorkerId, r: number, contribution: Float32Array, answer: (mean: Float32Array | null, why?: 'refused') => Promise<void>): void {
    const kept = this.means.get(r);
    if (kept) {
      void answer(kept);
      return;
    }
    if (r <= this.round - KEPT_ROUNDS) {
      void answer(null, 'refused');
      return;
    }
    const round = this.roundOf(r);
    round.contributions.set(peer, contribution);
    round.waiting.set(peer, answer);
    this.check(r, round);
  }
}
