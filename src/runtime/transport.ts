/**
 * How a worker exchanges parameters with its neighbours. The runtime's pairing protocol and the algorithms sit on
 * top; transports only move messages. Two implementations: in-process (worker threads of one process, parameters
 * moved by shared-memory copies) and network (js-libp2p). A link emulator can wrap either.
 */
import type { Codec } from '../core/codecs.js';

/** Identifies a worker: its index in the cluster (0 … n−1). */
export type WorkerId = number;

/** What travels with every message and is checked on receipt. */
export interface MessageHeader {
  /** Wire-format version. */
  version: number;
  /** Algorithm name (e.g. 'acid'); peers running different algorithms refuse each other. */
  algorithm: string;
  /** Sender's local step counter. */
  step: number;
  /** Hash of the model's parameter layout; peers training different models refuse each other. */
  layoutHash: string;
  /** Payload codec. */
  codec: Codec;
  /**
   * Exchanges the sender's compute loop is waiting for (its rate control holds its next local step back), when the
   * transport carries it: a free peer may then accept beyond its own quota. Optional; absent means unknown.
   */
  owed?: number;
}

/** The outcome of a proposed exchange. */
export type ExchangeResult =
  | { ok: true; peer: WorkerId; message: Float32Array; header: MessageHeader }
  | { ok: false; peer: WorkerId; reason: 'busy' | 'refused' | 'timeout' | 'closed' | 'invalid' };

/**
 * One worker's endpoint. A free worker proposes an exchange to a neighbour with its own message; a free neighbour
 * accepts by answering with its message; a busy one answers 'busy'. Each side applies the peer's message only
 * once it holds all of it, so that a vanished peer leaves local parameters untouched.
 */
export interface Transport {
  readonly self: WorkerId;
  /**
   * Codec of this endpoint's outgoing messages, whatever their header says (null or absent: float32). Lossy codecs
   * round the message as the peer will decode it; the link emulator charges the encoded size.
   */
  readonly codec?: MessageHeader['codec'] | null;
  /**
   * Proposes an exchange; resolves with the peer's message, or why there was none (never rejects). The message is
   * not copied (a network transport streams it from this very buffer): the caller must leave it unchanged until the
   * returned promise settles.
   */
  propose(peer: WorkerId, header: MessageHeader, message: Float32Array, timeoutMs: number): Promise<ExchangeResult>;
  /**
   * Installs the handler of incoming proposals. It returns this worker's message to accept (and then receives the
   * proposer's message through `commit`), or null to answer 'busy'.
   */
  onProposal(handler: ProposalHandler): void;
  /**
   * Hands back a received message — a proposal's result or a commit's — once the caller has applied it and no longer
   * reads it: the transport may then reuse its memory for a later message. Optional on both sides: a message never
   * released is collected as usual, and a transport without it keeps nothing.
   */
  release?(message: Float32Array): void;
  close(): Promise<void>;
}

export interface ProposalHandler {
  /**
   * A neighbour proposes; answer with our header and message to accept, or null if busy. The answer's message is
   * not copied either: it must stay unchanged until commit or abort.
   */
  accept(peer: WorkerId, header: MessageHeader): { header: MessageHeader; message: Float32Array } | null;
  /** The proposer's message has fully arrived: apply it (the exchange is complete on this side). */
  commit(peer: WorkerId, header: MessageHeader, message: Float32Array): void;
  /** The exchange was abandoned after accept (peer vanished, timeout, bad message): leave parameters as they were. */
  abort(peer: WorkerId, reason: string): void;
}

/**
 * The mean of one vector per live worker, once per round (an all-reduce). Implementations: shared memory among the
 * threads of a process (collective.ts), reduce and broadcast among network peers (net/collective.ts). A worker that
 * dies does not hang the others, and a mean is always over whole contributions.
 */
export interface Collective {
  /** Where to write this worker's contribution to its next round (`length` values). */
  nextSlot(length: number): Float32Array;
  /**
   * Publishes the contribution written into nextSlot() and writes the round's mean into out (of the contribution's
   * length). Resolves with the number of contributions behind it (at least 1), or 0 when `cancelled()` became true.
   * The contribution and the mean travel under `codec` (the caller rounds them: core/contribution.ts).
   */
  reduce(out: Float32Array, cancelled?: () => boolean, codec?: Codec): Promise<number>;
  /** Payload bytes this worker has sent in the rounds so far, encoded. */
  readonly bytesSent: number;
  /** A sharded round's two halves (ZeRO-1; a collective that has them runs --shard-optimizer). */
  readonly sharded?: ShardedRounds;
}

/**
 * A round of a sharded optimizer: a reduce-scatter, then — once this worker has stepped on its shard — an
 * all-gather. Every live worker must take part in both halves: a worker gone, or one that gave the round up, fails
 * the round for all (0), and nobody has applied anything of it by then but its own shard's step.
 */
export interface ShardedRounds {
  /**
   * Publishes the contribution written into nextSlot() (`length` values) and writes the mean of the contributions'
   * values in `parts` (concatenated) into out. Resolves with the number of contributions, or 0 (cancelled, or a worker
   * gone).
   */
  reduceScatter(out: Float32Array, parts: ReadonlyArray<{ start: number; end: number }>, length: number, cancelled?: () => boolean): Promise<number>;
  /** Publishes this worker's part of the round's vector (at offset `at`) and writes the whole vector into out; 0: failed. */
  allGather(part: Float32Array, at: number, out: Float32Array): Promise<number>;
}

/** What a push says besides its pseudo-gradient (written into pushSlot()). */
export interface PushMeta {
  /** The worker's round, from 1. */
  round: number;
  /** Inner steps of the round. */
  steps: number;
  /** The worker's measured speed, local steps per second (0: unknown). */
  speed: number;
}

/** A worker's way to the server of its cluster (asynchronous Local-SGD), wherever the server lives. */
export interface ServerLink {
  /** Where to write this worker's next pseudo-gradient (the model's length). */
  pushSlot(): Float32Array;
  /**
   * Pushes the pseudo-gradient written into pushSlot() and resolves with the server's answer — its model (valid until
   * the next push) and the next round's inner steps — or null when `cancelled()` became true while waiting.
   */
  push(meta: PushMeta, cancelled?: () => boolean): Promise<{ model: Float32Array; innerSteps: number } | null>;
}
