/**
 * The in-process transport: workers are threads of one process (or agents of one thread, in tests), each pair of
 * neighbours is linked by a MessageChannel for the small control messages, and parameters move by shared-memory
 * copies: every endpoint owns two mailboxes on a SharedArrayBuffer (the message it proposes with and the one it
 * answers with), and the peer copies them out itself. No parameter byte goes through postMessage.
 *
 * An exchange, from the proposer P's and the acceptor A's side:
 *
 *   P: copies its message into its propose mailbox            → propose(id, header, length, timeout)
 *   A: handler.accept(); copies P's propose mailbox (A now holds all of P's message); writes its own message into
 *      its answer mailbox                                      → accept(id, header, length)
 *   P: copies A's answer mailbox (P now holds all of A's message) → ack(id); the exchange is complete for P
 *   A: on ack, handler.commit(); the exchange is complete for A
 *
 * A side applies nothing before it holds the whole of the peer's message, in a private buffer; a busy / refused
 * answer, a timeout, a cancel or a closed channel leave it untouched (the acceptor gets handler.abort()). A
 * proposer that gives up (timeout) sends cancel(id), and answers any late accept of an old proposal with cancel,
 * so that the acceptor never commits an exchange its proposer abandoned. Mailboxes are rewritten only by their
 * owner at the start of its next exchange, so a copy can be torn only when the owner has already given the
 * exchange up — and such an exchange is never committed by anyone.
 *
 * Each endpoint has at most one outgoing proposal and at most one accepted incoming exchange at a time (one
 * mailbox each); the pairing protocol on top (pairing.ts) keeps a worker in one exchange at a time.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { CODECS, quantize } from '../core/codecs.js';
import type { ExchangeResult, MessageHeader, ProposalHandler, Transport, WorkerId } from './transport.js';

/** Version of the in-process control messages. */
export const IN_PROCESS_VERSION = 1;

/** The two shared-memory mailboxes of an endpoint. */
export interface Mailbox {
  /** The message this endpoint proposes with. */
  propose: Float32Array;
  /** The message this endpoint accepts with. */
  answer: Float32Array;
}

/** Everything an endpoint needs; structured-cloneable (ports go in the transfer list) so that threads get theirs. */
export interface InProcessEndpoint {
  self: WorkerId;
  /** Floats per message. */
  messageLength: number;
  mailbox: Mailbox;
  peers: Array<{ id: WorkerId; port: MessagePort; mailbox: Mailbox }>;
}

/** Allocates a mailbox of `length` floats per message on shared memory. */
export function sharedMailbox(length: number): Mailbox {
  return {
    propose: new Float32Array(new SharedArrayBuffer(4 * length)),
    answer: new Float32Array(new SharedArrayBuffer(4 * length)),
  };
}

/**
 * The endpoints of n workers linked along the given undirected edges (one MessageChannel per edge). Ports of
 * endpoint i must be transferred to the thread that runs worker i (see endpointTransferList).
 */
export function inProcessNetwork(n: number, edges: ReadonlyArray<readonly [number, number]>, messageLength: number): InProcessEndpoint[] {
  const endpoints: InProcessEndpoint[] = [];
  for (let i = 0; i < n; i++) endpoints.push({ self: i, messageLength, mailbox: sharedMailbox(messageLength), peers: [] });
  const seen = new Set<string>();
  for (const [a, b] of edges) {
    const i = Math.min(a, b);
    const j = Math.max(a, b);
    const key = `${i}-${j}`;
    if (i === j || seen.has(key)) continue;
    if (!(i >= 0 && j < n)) throw new RangeError(`edge ${a}-${b} outside 0…${n - 1}`);
    seen.add(key);
    const { port1, port2 } = new MessageChannel();
    endpoints[i].peers.push({ id: j, port: port1, mailbox: endpoints[j].mailbox });
    endpoints[j].peers.push({ id: i, port: port2, mailbox: endpoints[i].mailbox });
  }
  return endpoints;
}

/**
 * A fresh endpoint for worker i, which comes back after its threads died: a new channel to each of the given live
 * neighbours, over the same mailboxes. `links[k]` is what neighbour k's transport must add (InProcessTransport.link).
 */
export function relinkEndpoint(endpoints: readonly InProcessEndpoint[], i: number, neighbours: readonly number[]): {
  endpoint: InProcessEndpoint; links: Array<{ to: number; peer: { id: number; port: MessagePort; mailbox: Mailbox } }>;
} {
  const own = endpoints[i];
  const endpoint: InProcessEndpoint = { self: i, messageLength: own.messageLength, mailbox: own.mailbox, peers: [] };
  const links = neighbours.map((j) => {
    const { port1, port2 } = new MessageChannel();
    endpoint.peers.push({ id: j, port: port1, mailbox: endpoints[j].mailbox });
    return { to: j, peer: { id: i, port: port2, mailbox: own.mailbox } };
  });
  return { endpoint, links };
}

/** The ports of an endpoint, to list in postMessage / workerData transfer lists. */
export function endpointTransferList(e: InProcessEndpoint): MessagePort[] {
  return e.peers.map((p) => p.port);
}

/** Control messages on a channel. */
type Wire =
  | { v: number; k: 'propose'; id: number; header: MessageHeader; length: number; timeoutMs: number }
  | { v: number; k: 'accept'; id: number; header: MessageHeader; length: number }
  | { v: number; k: 'busy'; id: number }
  | { v: number; k: 'refused'; id: number; reason: 'refused' | 'invalid' }
  | { v: number; k: 'ack'; id: number }
  | { v: number; k: 'cancel'; id: number };

/**
 * How long an acceptor waits for the proposer's ack or cancel: far longer than the proposal's own timeout, so that
 * a slow but live proposer never completes an exchange that its acceptor abandoned.
 */
export function acceptorWaitMs(proposalTimeoutMs: number): number {
  return Math.max(4 * proposalTimeoutMs, 2000);
}

const KINDS = new Set(['propose', 'accept', 'busy', 'refused', 'ack', 'cancel']);

function isHeader(h: unknown): h is MessageHeader {
  if (typeof h !== 'object' || h === null) return false;
  const o = h as Record<string, unknown>;
  return typeof o.version === 'number' && typeof o.algorithm === 'string' && typeof o.step === 'number' &&
    typeof o.layoutHash === 'string' && (CODECS as readonly unknown[]).includes(o.codec);
}

/** Checks a control message's shape; returns a reason to drop it, or null. */
function malformed(m: unknown): string | null {
  if (typeof m !== 'object' || m === null) return 'not an object';
  const o = m as Record<string, unknown>;
  if (o.v !== IN_PROCESS_VERSION) return `version ${String(o.v)}`;
  if (typeof o.k !== 'string' || !KINDS.has(o.k)) return `kind ${String(o.k)}`;
  if (!Number.isSafeInteger(o.id)) return 'id';
  if (o.k === 'propose' || o.k === 'accept') {
    if (!isHeader(o.header)) return 'header';
    if (!Number.isSafeInteger(o.length) || (o.length as number) < 0) return 'length';
    if (o.k === 'propose' && !(typeof o.timeoutMs === 'number' && (o.timeoutMs as number) > 0)) return 'timeout';
  }
  return null;
}

export interface InProcessOptions {
  /** Proposals whose header names another algorithm or layout are refused. */
  expect?: { algorithm?: string; layoutHash?: string };
  /** Receives one line per dropped or refused message (default: nothing). */
  log?: (line: string) => void;
  /** Codec of outgoing messages: a lossy one rounds each message as a network peer would decode it (default f32). */
  codec?: MessageHeader['codec'];
}

interface PeerLink {
  id: WorkerId;
  port: MessagePort;
  mailbox: Mailbox;
  closed: boolean;
}

interface Outgoing {
  peer: WorkerId;
  id: number;
  timer: ReturnType<typeof setTimeout>;
  resolve: (r: ExchangeResult) => void;
}

interface Incoming {
  peer: WorkerId;
  id: number;
  header: MessageHeader;
  timer: ReturnType<typeof setTimeout>;
}

export class InProcessTransport implements Transport {
  readonly self: WorkerId;
  readonly messageLength: number;
  private readonly mailbox: Mailbox;
  private readonly peers = new Map<WorkerId, PeerLink>();
  private handler: ProposalHandler | null = null;
  private outgoing: Outgoing | null = null;
  private incoming: Incoming | null = null;
  private nextId = 1;
  private closed = false;
  /** Private copies of the peer's message: as proposer (its answer) and as acceptor (its proposal). */
  private readonly fromAnswer: Float32Array;
  private readonly fromProposal: Float32Array;
  private readonly expect: InProcessOptions['expect'];
  private readonly log: (line: string) => void;
  readonly codec: MessageHeader['codec'] | null;

  constructor(endpoint: InProcessEndpoint, options: InProcessOptions = {}) {
    this.self = endpoint.self;
    this.messageLength = endpoint.messageLength;
    this.mailbox = endpoint.mailbox;
    this.fromAnswer = new Float32Array(endpoint.messageLength);
    this.fromProposal = new Float32Array(endpoint.messageLength);
    this.expect = options.expect;
    this.log = options.log ?? (() => {});
    this.codec = options.codec && options.codec !== 'f32' ? options.codec : null;
    for (const p of endpoint.peers) this.link(p);
  }

  /** Adds the channel to a neighbour, or replaces a closed one (a neighbour that came back). */
  link(p: { id: WorkerId; port: MessagePort; mailbox: Mailbox }): void {
    const old = this.peers.get(p.id);
    if (old && !old.closed) old.port.close();
    const link: PeerLink = { id: p.id, port: p.port, mailbox: p.mailbox, closed: false };
    this.peers.set(p.id, link);
    p.port.on('message', (m: unknown) => this.onWire(link, m));
    p.port.on('close', () => this.onClose(link));
  }

  /** Neighbours whose channel is still open. */
  openPeers(): WorkerId[] {
    return [...this.peers.values()].filter((p) => !p.closed).map((p) => p.id);
  }

  onProposal(handler: ProposalHandler): void {
    this.handler = handler;
  }

  propose(peer: WorkerId, header: MessageHeader, message: Float32Array, timeoutMs: number): Promise<ExchangeResult> {
    const link = this.peers.get(peer);
    if (this.closed || !link || link.closed) return Promise.resolve({ ok: false, peer, reason: 'closed' });
    if (this.outgoing) return Promise.resolve({ ok: false, peer, reason: 'busy' });
    if (message.length !== this.messageLength) return Promise.resolve({ ok: false, peer, reason: 'invalid' });
    this.mailbox.propose.set(message);
    if (this.codec) {
      quantize(this.codec, this.mailbox.propose);
      header = { ...header, codec: this.codec };
    }
    const id = this.nextId++;
    return new Promise<ExchangeResult>((resolve) => {
      const timer = setTimeout(() => {
        if (this.outgoing?.id !== id) return;
        this.outgoing = null;
        this.send(link, { v: IN_PROCESS_VERSION, k: 'cancel', id });
        resolve({ ok: false, peer, reason: 'timeout' });
      }, timeoutMs);
      this.outgoing = { peer, id, timer, resolve };
      this.send(link, { v: IN_PROCESS_VERSION, k: 'propose', id, header, length: message.length, timeoutMs });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.finishOutgoing('closed');
    if (this.incoming) this.abortIncoming('closed');
    for (const link of this.peers.values()) {
      link.closed = true;
      link.port.close();
    }
  }

  private send(link: PeerLink, m: Wire): void {
    if (link.closed) return;
    try {
      link.port.postMessage(m);
    } catch (err) {
      this.log(`worker ${this.self}: cannot send to ${link.id}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private finishOutgoing(reason: 'busy' | 'refused' | 'timeout' | 'closed' | 'invalid', peer?: WorkerId): void {
    const out = this.outgoing;
    if (!out || (peer !== undefined && out.peer !== peer)) return;
    clearTimeout(out.timer);
    this.outgoing = null;
    out.resolve({ ok: false, peer: out.peer, reason });
  }

  private abortIncoming(reason: string): void {
    const inc = this.incoming;
    if (!inc) return;
    clearTimeout(inc.timer);
    this.incoming = null;
    this.handler?.abort(inc.peer, reason);
  }

  private onClose(link: PeerLink): void {
    link.closed = true;
    this.finishOutgoing('closed', link.id);
    if (this.incoming?.peer === link.id) this.abortIncoming('closed');
  }

  private onWire(link: PeerLink, raw: unknown): void {
    if (this.closed) return;
    const bad = malformed(raw);
    if (bad) {
      this.log(`worker ${this.self}: dropped a malformed message from ${link.id} (${bad})`);
      return;
    }
    const m = raw as Wire;
    switch (m.k) {
      case 'propose': return this.onPropose(link, m);
      case 'accept': return this.onAccept(link, m);
      case 'busy': if (this.outgoing?.peer === link.id && this.outgoing.id === m.id) this.finishOutgoing('busy'); return;
      case 'refused': if (this.outgoing?.peer === link.id && this.outgoing.id === m.id) this.finishOutgoing(m.reason); return;
      case 'ack': {
        const inc = this.incoming;
        if (!inc || inc.peer !== link.id || inc.id !== m.id) return;
        clearTimeout(inc.timer);
        this.incoming = null;
        this.handler?.commit(inc.peer, inc.header, this.fromProposal);
        return;
      }
      case 'cancel': if (this.incoming?.peer === link.id && this.incoming.id === m.id) this.abortIncoming('cancelled'); return;
    }
  }

  private onPropose(link: PeerLink, m: Extract<Wire, { k: 'propose' }>): void {
    const reply = (w: Wire) => this.send(link, w);
    if (m.length !== this.messageLength) {
      this.log(`worker ${this.self}: refused a proposal from ${link.id}: message of ${m.length} values, expected ${this.messageLength}`);
      return reply({ v: IN_PROCESS_VERSION, k: 'refused', id: m.id, reason: 'invalid' });
    }
    const expect = this.expect;
    if (expect && ((expect.algorithm !== undefined && expect.algorithm !== m.header.algorithm) ||
        (expect.layoutHash !== undefined && expect.layoutHash !== m.header.layoutHash))) {
      this.log(`worker ${this.self}: refused a proposal from ${link.id}: it runs ${m.header.algorithm} on layout ${m.header.layoutHash.slice(0, 12)}`);
      return reply({ v: IN_PROCESS_VERSION, k: 'refused', id: m.id, reason: 'refused' });
    }
    if (this.incoming || !this.handler) return reply({ v: IN_PROCESS_VERSION, k: 'busy', id: m.id });
    const answer = this.handler.accept(link.id, m.header);
    if (!answer) return reply({ v: IN_PROCESS_VERSION, k: 'busy', id: m.id });
    if (answer.message.length !== this.messageLength) throw new Error(`accept returned ${answer.message.length} values, expected ${this.messageLength}`);
    // The proposer waits for our answer, so its mailbox holds its whole message now (unless it gave up: then it
    // cancels, and this copy is never committed).
    this.fromProposal.set(link.mailbox.propose);
    this.mailbox.answer.set(answer.message);
    if (this.codec) quantize(this.codec, this.mailbox.answer);
    // The proposer answers our accept at once, with ack (it holds our message) or cancel (it gave up): a closed
    // channel or a long silence (a hung peer) is the only reason to stop waiting on our own.
    const timer = setTimeout(() => {
      if (this.incoming?.id === m.id && this.incoming.peer === link.id) this.abortIncoming('timeout');
    }, acceptorWaitMs(m.timeoutMs));
    this.incoming = { peer: link.id, id: m.id, header: m.header, timer };
    reply({ v: IN_PROCESS_VERSION, k: 'accept', id: m.id, header: this.codec ? { ...answer.header, codec: this.codec } : answer.header, length: answer.message.length });
  }

  private onAccept(link: PeerLink, m: Extract<Wire, { k: 'accept' }>): void {
    const out = this.outgoing;
    if (!out || out.peer !== link.id || out.id !== m.id) {
      // An accept of a proposal we gave up: make sure the peer does not commit it.
      this.send(link, { v: IN_PROCESS_VERSION, k: 'cancel', id: m.id });
      return;
    }
    if (m.length !== this.messageLength) {
      this.send(link, { v: IN_PROCESS_VERSION, k: 'cancel', id: m.id });
      this.finishOutgoing('invalid');
      return;
    }
    this.fromAnswer.set(link.mailbox.answer);
    clearTimeout(out.timer);
    this.outgoing = null;
    this.send(link, { v: IN_PROCESS_VERSION, k: 'ack', id: m.id });
    out.resolve({ ok: true, peer: link.id, message: this.fromAnswer, header: m.header });
  }
}
