/**
 * The network transport: the Transport interface over js-libp2p (TCP + noise + yamux, optionally a private network
 * keyed by a swarm key: swarm-protector.ts).
 *
 * Membership (/gossamer/member/1.0.0). Every new connection starts with a hello each way: the sender's worker index,
 * cluster size, peer id, listen addresses, algorithm and layout hash, its table of known workers (index → peer id,
 * addresses) and a free-form status object. A node dials the workers it learns of, so that from bootstrap addresses
 * every node comes to know every other. A hello that claims another cluster size, algorithm or model, or an index
 * held by a connected peer that still answers, is refused with a logged reason; if that peer does not answer within
 * a few seconds (a restarted worker whose old connection has not timed out yet), it is hung up on and the newcomer
 * takes its index.
 *
 * Exchanges (/gossamer/exchange/1.0.0), one stream each, frames of wire.ts:
 *
 *   proposer                                  acceptor
 *   propose (header, count, timeout)    →
 *                                       ←     busy | abort(refused)       (end)
 *                                       ←     accept (header) + payload   (its message)
 *   payload (its message)               →
 *                                             all received and valid: commit, then
 *                                       ←     done
 *   all received + done: resolves ok
 *
 * The two payloads travel at the same time. Each side applies the peer's message only once all of it has arrived
 * and been validated (checksum, algorithm, layout, size, finite values); any failure before that — a bad frame, a
 * closed stream, a deadline (the proposer's timeout, which it sends to the acceptor) — resolves the proposal with a
 * reason or calls the handler's abort, and parameters stay as they were. Nothing here throws into the caller:
 * errors from the network or from peers are logged and counted.
 *
 * Pulls (/gossamer/pull/1.0.0), how a late joiner gets the cluster's current parameters before its first step, one
 * stream each: the requester sends a propose frame (its header, count, timeout) and closes its side; the worker asked
 * answers with one payload frame of its current parameters (f32), or busy / abort(refused), and closes. The answer
 * is checked like an exchange's message (version, algorithm, layout, count, checksum, finite values); nothing is
 * modified on the answering side.
 */
import './polyfill.js';
import { EventEmitter } from 'node:events';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { plaintext } from '@libp2p/plaintext';
import { tcp } from '@libp2p/tcp';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { z } from 'zod';
import { UsageError } from '../../core/errors.js';
import type { ExchangeResult, MessageHeader, ProposalHandler, Transport, WorkerId } from '../transport.js';
import { listenFailure } from './addresses.js';
import { DEFAULT_BLOCK_SIZE } from '../../core/codecs.js';
import { swarmKeyProtector } from './swarm-protector.js';
import {
  ABORT_REASONS, DEFAULT_MAX_PAYLOAD_BYTES, FrameReader, MAX_HEADER_BYTES, WIRE_VERSION, decodeFrame, decodeMessage,
  encodeControl, encodeMessage, isWireError, type AbortReason, type EncodedFrame, type Frame, type WireError,
} from './wire.js';

export const EXCHANGE_PROTOCOL = '/gossamer/exchange/1.0.0';
export const MEMBER_PROTOCOL = '/gossamer/member/1.0.0';
export const PULL_PROTOCOL = '/gossamer/pull/1.0.0';

/** Answers a pull: this worker's current parameters (a snapshot the transport may keep) and header, or null (busy). */
export type PullHandler = (peer: WorkerId) => { header: MessageHeader; message: Float32Array } | null;

export type LogLevel = 'debug' | 'info' | 'warn';
/** Where the transport reports what it drops and why. */
export type NetLogger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** Default logger: warnings as one line on stderr. */
export const stderrLogger: NetLogger = (level, message) => {
  if (level === 'warn') process.stderr.write(`gossamer net: ${message}\n`);
};

export interface NetTransportOptions {
  /** This worker's index. */
  self: WorkerId;
  /** Cluster size: indices are 0 … workers − 1. */
  workers: number;
  /** Multiaddrs to listen on (default /ip4/127.0.0.1/tcp/0). */
  listen?: string[];
  /** Multiaddrs of nodes to join through (with or without /p2p/<peer id>); retried until they answer. */
  bootstrap?: string[];
  /** Swarm key file contents (see swarm-key.ts): only nodes with the same key can connect. null: an open network. */
  swarmKey?: Uint8Array | null;
  /** Connection encryption: noise (default), or plaintext for reference measurements only. */
  encryption?: 'noise' | 'plaintext';
  /** Refuse peers and messages of another algorithm / model / message size. */
  algorithm?: string;
  layoutHash?: string;
  messageLength?: number;
  /** Largest payload accepted, in bytes. */
  maxPayloadBytes?: number;
  /** Bytes handed to the stream per send call (default 256 KiB: the best of 64 KiB – 4 MiB in bench/transport.ts --sweep). */
  chunkBytes?: number;
  /** Yamux receive window per stream, in bytes. */
  windowBytes?: number;
  /** Largest yamux data frame, in bytes. */
  frameBytes?: number;
  /** Elements per block of the i8 codec. */
  blockSize?: number;
  /** Payload codec of this node's messages, whatever their header says (default: the header's). */
  codec?: MessageHeader['codec'];
  /** Longest deadline an acceptor grants a proposer, in ms. */
  maxTimeoutMs?: number;
  /** Free-form status announced with the hello (e.g. the training phase). */
  status?: Record<string, unknown>;
  log?: NetLogger;
}

export interface PeerRecord {
  index: WorkerId;
  peerId: string;
  addrs: string[];
  connected: boolean;
  /** A hello has been received from it on its current connection. */
  greeted: boolean;
  status: Record<string, unknown>;
}

export interface NetStats {
  proposed: number;
  accepted: number;
  completed: number;
  committed: number;
  failed: Record<string, number>;
  aborted: Record<string, number>;
  rejected: Record<string, number>;
  bytesSent: number;
  bytesReceived: number;
}

export interface NetTransportEvents {
  /** A worker connected (or reconnected) and greeted. */
  join: [index: WorkerId];
  /** A worker's last connection closed. */
  leave: [index: WorkerId];
  /** A worker announced a new status. */
  status: [index: WorkerId, status: Record<string, unknown>];
  /** A frame from a worker was rejected (malformed, non-finite, mismatched). */
  rejected: [index: WorkerId, reason: string];
}

const PeerEntry = z.object({
  index: z.number().int().min(0),
  peerId: z.string().min(1).max(128),
  addrs: z.array(z.string().max(512)).max(32),
});

const Hello = z.object({
  v: z.literal(1),
  index: z.number().int().min(0),
  workers: z.number().int().min(1),
  peerId: z.string().min(1).max(128),
  addrs: z.array(z.string().max(512)).max(32),
  algorithm: z.string().max(64).optional(),
  layoutHash: z.string().max(128).optional(),
  peers: z.array(PeerEntry).max(100_000),
  status: z.record(z.string(), z.unknown()),
  reply: z.boolean(),
});
type Hello = z.infer<typeof Hello>;

const MAX_HELLO_BYTES = 4 << 20;
const HELLO_TIMEOUT_MS = 10_000;
/** How long the holder of an index claimed by a newcomer has to answer before it is considered gone. */
const PROBE_TIMEOUT_MS = 3_000;
/** How long an acceptor waits for the propose frame of a new stream. */
const PROPOSE_WAIT_MS = 10_000;
/** Extra time an acceptor grants over the proposer's timeout. */
const ACCEPT_GRACE_MS = 1_000;

function stripPeerId(addr: string): string {
  return addr.replace(/\/p2p\/[^/]+$/, '');
}

export function chunksOf(data: Uint8Array | Iterable<Uint8Array>): Iterable<Uint8Array> {
  return data instanceof Uint8Array ? [data] : data;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** A mismatch (another algorithm, model, size or wire version) is a refusal; anything else an invalid message. */
function tellFor(error: WireError): 'refused' | 'invalid' {
  return MISMATCHES.has(error.reason) ? 'refused' : 'invalid';
}
const MISMATCHES = new Set<WireError['reason']>(['version', 'algorithm', 'layout', 'count']);

function count(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

/** Sends a frame on a stream in chunks, waiting for the stream to drain whenever it asks to. */
export async function sendFrame(stream: Stream, frame: EncodedFrame, chunkBytes: number, signal: AbortSignal): Promise<void> {
  if (!stream.send(frame.header)) await stream.onDrain({ signal });
  const p = frame.payload;
  for (let o = 0; o < p.length; o += chunkBytes) {
    if (!stream.send(p.subarray(o, Math.min(p.length, o + chunkBytes)))) await stream.onDrain({ signal });
  }
}

/** Reads a whole (small) stream up to maxBytes. */
export function readAll(stream: Stream, maxBytes: number, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const parts: Uint8Array[] = [];
    let size = 0;
    const timer = setTimeout(() => done(new Error('timed out')), timeoutMs);
    const done = (error?: Error): void => {
      clearTimeout(timer);
      stream.removeEventListener('message', onMessage);
      stream.removeEventListener('end', onEnd);
      stream.removeEventListener('close', onClose);
      if (error) {
        stream.abort(error);
        reject(error);
        return;
      }
      void stream.close().catch(() => {});
      const out = new Uint8Array(size);
      let o = 0;
      for (const p of parts) {
        out.set(p, o);
        o += p.length;
      }
      resolve(out);
    };
    const onMessage = (event: { data: Uint8Array | Iterable<Uint8Array> }): void => {
      for (const chunk of chunksOf(event.data)) {
        size += chunk.length;
        if (size > maxBytes) return done(new Error(`message over ${maxBytes} bytes`));
        parts.push(chunk.slice());
      }
    };
    const onEnd = (): void => done();
    const onClose = (event: { error?: Error }): void => done(event.error);
    stream.addEventListener('message', onMessage);
    stream.addEventListener('end', onEnd);
    stream.addEventListener('close', onClose);
  });
}

/**
 * A worker's endpoint on the network. Create with createNetTransport (it starts listening and joins through the
 * bootstrap addresses); close() leaves the network.
 */
export class NetTransport extends EventEmitter<NetTransportEvents> implements Transport {
  readonly self: WorkerId;
  readonly workers: number;
  readonly stats: NetStats = {
    proposed: 0, accepted: 0, completed: 0, committed: 0, failed: {}, aborted: {}, rejected: {}, bytesSent: 0, bytesReceived: 0,
  };
  private readonly node: Libp2p;
  private readonly opts: NetTransportOptions;
  private readonly log: NetLogger;
  private readonly chunkBytes: number;
  private readonly blockSize: number;
  private readonly maxPayloadBytes: number;
  private readonly maxTimeoutMs: number;
  private readonly byIndex = new Map<WorkerId, PeerRecord>();
  private readonly byPeerId = new Map<string, WorkerId>();
  private readonly connectedPeers = new Set<string>();
  /** Cancels every exchange in flight (on close). */
  private readonly live = new Set<(reason: string) => void>();
  private handler: ProposalHandler | null = null;
  private pullHandler: PullHandler | null = null;
  /** Payload codec of outgoing messages (null: the header's). */
  codec: MessageHeader['codec'] | null;
  private status: Record<string, unknown>;
  private closed = false;
  private bootstrapTimer: NodeJS.Timeout | null = null;
  /** The last reason each bootstrap address not yet reached did not answer. */
  private readonly bootstrapFailures = new Map<string, string>();
  /**
   * Nodes refused for another swarm key, each reported once at warn level: by address for those this node dialled,
   * by host for those that dialled it (from a new port each time).
   */
  private readonly foreignKeys = new Map<string, string>();
  /** Banned workers (by index, whatever identity they come back with) and their peer ids, refused by the gater. */
  readonly bannedIndices = new Set<WorkerId>();
  readonly bannedPeers = new Set<string>();

  constructor(node: Libp2p, opts: NetTransportOptions) {
    super();
    this.node = node;
    this.opts = opts;
    this.self = opts.self;
    this.workers = opts.workers;
    this.log = opts.log ?? stderrLogger;
    this.chunkBytes = opts.chunkBytes ?? 256 << 10;
    this.blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.maxPayloadBytes = opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    this.maxTimeoutMs = opts.maxTimeoutMs ?? 10 * 60_000;
    this.status = opts.status ?? {};
    this.codec = opts.codec ?? null;
  }

  /** This node's libp2p peer id. */
  get peerId(): string {
    return this.node.peerId.toString();
  }

  /** Addresses others can reach this node at (with /p2p/<peer id>). */
  addresses(): string[] {
    return this.node.getMultiaddrs().map(String);
  }

  /** Known workers (not this one). */
  peers(): PeerRecord[] {
    return [...this.byIndex.values()].sort((a, b) => a.index - b.index);
  }

  peer(index: WorkerId): PeerRecord | undefined {
    return this.byIndex.get(index);
  }

  /** Workers currently connected and greeted. */
  connected(): WorkerId[] {
    return this.peers().filter((p) => p.connected && p.greeted).map((p) => p.index);
  }

  /** Resolves true once the given workers (default: all others) are connected and greeted; false at the timeout. */
  waitForPeers(timeoutMs: number, indices?: WorkerId[]): Promise<boolean> {
    const wanted = indices ?? Array.from({ length: this.workers }, (_, i) => i).filter((i) => i !== this.self);
    const ready = (): boolean => wanted.every((i) => {
      const p = this.byIndex.get(i);
      return p !== undefined && p.connected && p.greeted;
    });
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!ready()) return;
        finish(true);
      };
      const timer = setTimeout(() => finish(ready()), timeoutMs);
      const finish = (value: boolean): void => {
        clearTimeout(timer);
        this.off('join', check);
        resolve(value);
      };
      this.on('join', check);
    });
  }

  /** Announces a new status to every connected worker; resolves once the announcements are sent. */
  async setStatus(status: Record<string, unknown>): Promise<void> {
    this.status = status;
    await Promise.all([...this.byIndex.values()].filter((p) => p.connected).map((p) => this.sendHello(p.peerId, false)));
  }

  onProposal(handler: ProposalHandler): void {
    this.handler = handler;
  }

  /** Installs the handler of pulls (without one, pulls are answered busy). */
  onPull(handler: PullHandler | null): void {
    this.pullHandler = handler;
  }

  /** Serves one more protocol (e.g. collectives): the handler gets every inbound stream and its sender's index, if known. */
  async serve(protocol: string, handler: (stream: Stream, peer: WorkerId | undefined) => void): Promise<void> {
    await this.node.handle(protocol, (stream, connection) => handler(stream, this.byPeerId.get(connection.remotePeer.toString())), { maxInboundStreams: 64, maxOutboundStreams: 64 });
  }

  /** Opens a stream of `protocol` to a known worker. */
  async dial(peer: WorkerId, protocol: string, signal: AbortSignal): Promise<Stream> {
    const info = this.byIndex.get(peer);
    if (this.closed || !info) throw new Error(`worker ${peer} is not known`);
    return this.node.dialProtocol(peerIdFromString(info.peerId), protocol, { signal });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Lifecycle

  /** Registers the protocols and starts joining. Called by createNetTransport. */
  async start(): Promise<void> {
    const node = this.node;
    node.addEventListener('peer:connect', (event) => {
      const id = event.detail.toString();
      this.connectedPeers.add(id);
      void this.sendHello(id, true);
    });
    node.addEventListener('peer:disconnect', (event) => {
      const id = event.detail.toString();
      this.connectedPeers.delete(id);
      const index = this.byPeerId.get(id);
      if (index === undefined) return;
      const p = this.byIndex.get(index);
      if (p && p.peerId === id && p.connected) {
        p.connected = false;
        p.greeted = false;
        this.log('info', `worker ${index} disconnected`, { peer: index });
        this.emit('leave', index);
      }
    });
    await node.handle(EXCHANGE_PROTOCOL, (stream, connection) => this.onExchangeStream(stream, connection), { maxInboundStreams: 64, maxOutboundStreams: 64 });
    await node.handle(MEMBER_PROTOCOL, (stream, connection) => this.onHelloStream(stream, connection), { maxInboundStreams: 64, maxOutboundStreams: 64 });
    await node.handle(PULL_PROTOCOL, (stream, connection) => this.onPullStream(stream, connection), { maxInboundStreams: 16, maxOutboundStreams: 16 });
    await node.start();
    this.startBootstrap();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.bootstrapTimer) clearTimeout(this.bootstrapTimer);
    for (const cancel of [...this.live]) cancel('closed');
    try {
      await this.node.stop();
    } catch (error) {
      this.log('debug', `stopping libp2p: ${errorText(error)}`);
    }
  }

  private startBootstrap(): void {
    const own = new Set(this.addresses().map(stripPeerId));
    const pending = new Set((this.opts.bootstrap ?? []).filter((a) => !own.has(stripPeerId(a))));
    let delay = 200;
    const attempt = async (): Promise<void> => {
      this.bootstrapTimer = null;
      if (this.closed || pending.size === 0) return;
      await Promise.all([...pending].map(async (addr) => {
        let ma: Multiaddr;
        try {
          ma = multiaddr(addr);
        } catch (error) {
          this.log('warn', `ignoring bootstrap address ${addr}: ${errorText(error)}`);
          pending.delete(addr);
          return;
        }
        try {
          await this.node.dial(ma, { signal: AbortSignal.timeout(5000) });
          pending.delete(addr);
          this.bootstrapFailures.delete(addr);
        } catch (error) {
          this.bootstrapFailures.set(addr, error instanceof Error ? error.message : String(error));
          this.log('debug', `bootstrap ${addr} not reachable yet: ${errorText(error)}`);
        }
      }));
      if (this.closed || pending.size === 0) return;
      delay = Math.min(2000, delay * 1.5);
      this.bootstrapTimer = setTimeout(() => void attempt(), delay);
    };
    void attempt();
  }

  /** Reports a connection refused for another swarm key: the first from each host as a warning, later ones quietly. */
  noteForeignKey(remote: string, direction: 'inbound' | 'outbound'): void {
    const addr = stripPeerId(remote);
    const node = direction === 'inbound' ? addr.replace(/\/tcp\/\d+$/, '') : addr;
    const message = direction === 'inbound'
      ? `refused a connection from ${addr}: it does not hold this swarm key`
      : `the node at ${addr} does not hold this swarm key: cannot connect to it`;
    this.log(this.foreignKeys.has(node) ? 'debug' : 'warn', message);
    this.foreignKeys.set(node, addr);
  }

  /** Why this node has reached no other worker, in a few words, for a worker that gives up. */
  isolation(): string {
    const reasons: string[] = [];
    if (this.foreignKeys.size > 0) reasons.push(`${[...this.foreignKeys.values()].join(', ')} ${this.foreignKeys.size === 1 ? 'holds' : 'hold'} another swarm key`);
    // (a bootstrap address that held another key at some point is explained by that, whatever it answers since)
    for (const [addr, why] of this.bootstrapFailures) if (!this.foreignKeys.has(stripPeerId(addr))) reasons.push(`nobody answered at ${addr} (${why})`);
    if (reasons.length > 0) return reasons.join('; ');
    return (this.opts.bootstrap ?? []).length > 0
      ? 'its bootstrap addresses answered but no worker of this cluster introduced itself'
      : 'no worker connected to it (it has no bootstrap address: start the others with this worker\'s address)';
  }

  /**
   * Bans a worker for the rest of the run (peer scoring decided it): its connections are closed, and the connection
   * gater refuses its peer id from now on; a hello claiming its index under another identity is refused too.
   */
  ban(index: WorkerId, reason: string): void {
    if (this.bannedIndices.has(index)) return;
    this.bannedIndices.add(index);
    const p = this.byIndex.get(index);
    this.log('warn', `banned worker ${index}${p ? ` (${p.peerId})` : ''}: ${reason}`, { peer: index });
    if (!p) return;
    this.bannedPeers.add(p.peerId);
    void this.node.hangUp(peerIdFromString(p.peerId)).catch((error) => this.log('debug', `hanging up on ${p.peerId}: ${errorText(error)}`));
  }

  // -------------------------------------------------------------------------------------------------------------
  // Membership

  private helloMessage(reply: boolean): Hello {
    const peers = [...this.byIndex.values()].map((p) => ({ index: p.index, peerId: p.peerId, addrs: p.addrs }));
    return {
      v: 1,
      index: this.self,
      workers: this.workers,
      peerId: this.peerId,
      addrs: this.addresses().map(stripPeerId),
      algorithm: this.opts.algorithm,
      layoutHash: this.opts.layoutHash,
      peers,
      status: this.status,
      reply,
    };
  }

  /** Sends a hello; resolves whether the peer took it (within timeoutMs). */
  private async sendHello(peerId: string, reply: boolean, timeoutMs = HELLO_TIMEOUT_MS): Promise<boolean> {
    if (this.closed) return false;
    try {
      const stream = await this.node.dialProtocol(peerIdFromString(peerId), MEMBER_PROTOCOL, { signal: AbortSignal.timeout(timeoutMs) });
      const bytes = new TextEncoder().encode(JSON.stringify(this.helloMessage(reply)));
      if (!stream.send(bytes)) await stream.onDrain({ signal: AbortSignal.timeout(timeoutMs) });
      await stream.close({ signal: AbortSignal.timeout(timeoutMs) });
      return true;
    } catch (error) {
      if (!this.closed) this.log('debug', `hello to ${peerId} failed: ${errorText(error)}`);
      return false;
    }
  }

  private refuse(peerId: string, reason: string): void {
    count(this.stats.rejected, 'hello');
    this.log('warn', `refusing peer ${peerId}: ${reason}`, { reason });
  }

  private async onHelloStream(stream: Stream, connection: Connection): Promise<void> {
    const remote = connection.remotePeer.toString();
    let hello: Hello;
    try {
      const bytes = await readAll(stream, MAX_HELLO_BYTES, HELLO_TIMEOUT_MS);
      const parsed = Hello.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
      if (!parsed.success) return this.refuse(remote, `malformed hello (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`);
      hello = parsed.data;
    } catch (error) {
      return this.refuse(remote, `unreadable hello: ${errorText(error)}`);
    }
    if (this.closed) return;
    if (hello.peerId !== remote) return this.refuse(remote, `hello claims peer id ${hello.peerId}`);
    if (hello.workers !== this.workers) return this.refuse(remote, `cluster of ${hello.workers} workers, this one has ${this.workers}`);
    if (hello.index >= this.workers) return this.refuse(remote, `worker index ${hello.index} out of range`);
    if (hello.index === this.self) return this.refuse(remote, `claims this node's index ${this.self}`);
    if (this.bannedIndices.has(hello.index)) return this.refuse(remote, `claims the index of banned worker ${hello.index}`);
    if (this.opts.algorithm && hello.algorithm && hello.algorithm !== this.opts.algorithm) return this.refuse(remote, `runs ${hello.algorithm}, this node ${this.opts.algorithm}`);
    if (this.opts.layoutHash && hello.layoutHash && hello.layoutHash !== this.opts.layoutHash) return this.refuse(remote, 'trains a model of another layout');
    const existing = this.byIndex.get(hello.index);
    if (existing && existing.peerId !== remote && existing.connected) {
      // A worker restarted under a new identity while its old connection still looks open (a crashed host's TCP
      // connection lingers until it times out): the old holder keeps the index only if it still answers.
      if (await this.sendHello(existing.peerId, false, PROBE_TIMEOUT_MS)) return this.refuse(remote, `index ${hello.index} is held by connected peer ${existing.peerId}`);
      if (this.closed) return;
      this.log('info', `worker ${hello.index} on ${existing.peerId} does not answer: replaced by ${remote}`, { peer: hello.index });
      await this.node.hangUp(peerIdFromString(existing.peerId)).catch(() => {});
    }
    const learned = this.learn(hello.index, remote, hello.addrs);
    const p = this.byIndex.get(hello.index) as PeerRecord;
    p.status = hello.status;
    const joined = !p.greeted || !p.connected;
    p.connected = this.connectedPeers.has(remote);
    p.greeted = p.connected;
    for (const entry of hello.peers) {
      if (entry.index === this.self || entry.index >= this.workers || entry.peerId === this.peerId) continue;
      if (!this.byIndex.has(entry.index)) {
        this.learn(entry.index, entry.peerId, entry.addrs);
        void this.connect(entry.peerId);
      }
    }
    if (hello.reply) void this.sendHello(remote, false);
    else if (learned || hello.peers.length < this.byIndex.size - 1) void this.sendHello(remote, false);
    if (joined && p.greeted) {
      this.log('info', `worker ${hello.index} joined`, { peer: hello.index });
      this.emit('join', hello.index);
    }
    this.emit('status', hello.index, hello.status);
  }

  /** Records a worker's peer id and addresses; returns true if it was not known like this. */
  private learn(index: WorkerId, peerId: string, addrs: string[]): boolean {
    const old = this.byIndex.get(index);
    if (old && old.peerId === peerId && old.addrs.join() === addrs.join()) return false;
    if (old && old.peerId !== peerId) this.byPeerId.delete(old.peerId);
    this.byIndex.set(index, { index, peerId, addrs, connected: this.connectedPeers.has(peerId), greeted: false, status: old?.peerId === peerId ? old.status : {} });
    this.byPeerId.set(peerId, index);
    try {
      const id = peerIdFromString(peerId);
      const multiaddrs = addrs.flatMap((a) => {
        try {
          return [multiaddr(a)];
        } catch {
          return [];
        }
      });
      void this.node.peerStore.merge(id, { multiaddrs }).catch((error) => this.log('debug', `peer store: ${errorText(error)}`));
    } catch (error) {
      this.log('warn', `worker ${index} has an invalid peer id ${peerId}: ${errorText(error)}`);
    }
    return true;
  }

  private async connect(peerId: string): Promise<void> {
    if (this.closed || this.connectedPeers.has(peerId)) return;
    try {
      await this.node.dial(peerIdFromString(peerId), { signal: AbortSignal.timeout(HELLO_TIMEOUT_MS) });
    } catch (error) {
      this.log('debug', `dialling ${peerId} failed: ${errorText(error)}`);
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Pulls

  /**
   * Asks worker `peer` for its current parameters (`count` values; `header` is this node's, whose algorithm and layout
   * the answer must match). Resolves with them, or why there were none; never rejects.
   */
  async pull(peer: WorkerId, header: MessageHeader, count: number, timeoutMs: number): Promise<ExchangeResult> {
    timeoutMs = Math.max(1, Math.round(timeoutMs)); // timers take whole milliseconds
    const fail = (reason: 'busy' | 'refused' | 'timeout' | 'closed' | 'invalid'): ExchangeResult => ({ ok: false, peer, reason });
    const info = this.byIndex.get(peer);
    if (this.closed || !info || peer === this.self) return fail('closed');
    let stream: Stream;
    try {
      stream = await this.node.dialProtocol(peerIdFromString(info.peerId), PULL_PROTOCOL, { signal: AbortSignal.timeout(Math.max(1, timeoutMs)) });
    } catch (error) {
      this.log('debug', `cannot pull from worker ${peer}: ${errorText(error)}`);
      return fail('closed');
    }
    // Listen before asking: the whole answer arrives before the answering side closes.
    const answer = readAll(stream, this.maxPayloadBytes + MAX_HEADER_BYTES, Math.max(1, timeoutMs));
    try {
      stream.send(encodeControl('propose', { ...header, codec: 'f32' }, { count, aux: Math.min(0xffffffff, Math.max(1, Math.round(timeoutMs))) }));
      await stream.close({ signal: AbortSignal.timeout(Math.max(1, timeoutMs)) });
    } catch (error) {
      stream.abort(new Error('pull abandoned'));
      answer.catch(() => {});
      this.log('debug', `pulling from worker ${peer} failed: ${errorText(error)}`);
      return fail('closed');
    }
    let bytes: Uint8Array;
    try {
      bytes = await answer;
    } catch (error) {
      this.log('debug', `pulling from worker ${peer} failed: ${errorText(error)}`);
      return fail(/timed out/.test(errorText(error)) ? 'timeout' : 'closed');
    }
    const frame = decodeFrame(bytes, { algorithm: header.algorithm, layoutHash: header.layoutHash, count, maxPayloadBytes: this.maxPayloadBytes });
    if (isWireError(frame)) {
      this.rejectFrame(peer, frame);
      return fail(tellFor(frame));
    }
    if (frame.kind === 'busy') return fail('busy');
    if (frame.kind === 'abort') return fail(ABORT_REASONS[frame.aux] === 'refused' ? 'refused' : 'invalid');
    const message = decodeMessage(frame);
    if (isWireError(message)) {
      this.rejectFrame(peer, message);
      return fail('invalid');
    }
    this.stats.bytesReceived += bytes.length;
    return { ok: true, peer, message, header: frame.header };
  }

  private onPullStream(stream: Stream, connection: Connection): void {
    const remote = connection.remotePeer.toString();
    const peer = this.byPeerId.get(remote);
    const reader = new FrameReader({ algorithm: this.opts.algorithm, layoutHash: this.opts.layoutHash, count: this.opts.messageLength, maxPayloadBytes: 0 });
    const own: MessageHeader = { version: WIRE_VERSION, algorithm: this.opts.algorithm ?? 'none', step: 0, layoutHash: this.opts.layoutHash ?? 'none', codec: 'f32' };
    let finished = false;
    const timer = setTimeout(() => finish(null), PROPOSE_WAIT_MS);
    /** Sends the answer (nothing: abandon the stream) and closes. */
    const finish = (answer: EncodedFrame | Uint8Array | null): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      stream.removeEventListener('message', onMessage);
      if (answer === null) return stream.abort(new Error('pull abandoned'));
      const frame = answer instanceof Uint8Array ? { header: answer, payload: new Uint8Array(0) } : answer;
      const signal = AbortSignal.timeout(this.maxTimeoutMs);
      sendFrame(stream, frame, this.chunkBytes, signal)
        .then(() => {
          this.stats.bytesSent += frame.header.length + frame.payload.length;
          return stream.close({ signal });
        })
        .catch((error) => {
          this.log('debug', `answering worker ${peer ?? remote}'s pull failed: ${errorText(error)}`);
          stream.abort(new Error('pull abandoned'));
        });
    };
    const answer = (f: Frame): void => {
      if (f.kind !== 'propose') {
        this.rejectFrame(peer ?? remote, { ok: false, reason: 'unexpected', detail: `unexpected ${f.kind} frame in a pull` });
        return finish(encodeControl('abort', own, { aux: ABORT_REASONS.indexOf('invalid') }));
      }
      let reply: { header: MessageHeader; message: Float32Array } | null = null;
      try {
        reply = peer === undefined || this.closed ? null : (this.pullHandler?.(peer) ?? null);
      } catch (error) {
        this.log('warn', `pull handler failed: ${errorText(error)}`);
      }
      if (!reply) return finish(encodeControl('busy', f.header));
      try {
        finish(encodeMessage({ ...reply.header, codec: 'f32' }, reply.message, this.blockSize));
      } catch (error) {
        this.log('warn', `cannot send this node's parameters: ${errorText(error)}`);
        finish(encodeControl('abort', f.header, { aux: ABORT_REASONS.indexOf('invalid') }));
      }
    };
    const onMessage = (event: { data: Uint8Array | Iterable<Uint8Array> }): void => {
      for (const chunk of chunksOf(event.data)) {
        if (finished) return;
        const frames = reader.push(chunk);
        if (isWireError(frames)) {
          this.rejectFrame(peer ?? remote, frames);
          return finish(encodeControl('abort', own, { aux: ABORT_REASONS.indexOf(tellFor(frames)) }));
        }
        if (frames.length > 0) return answer(frames[0]);
      }
    };
    stream.addEventListener('message', onMessage);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Exchanges: proposer side

  async propose(peer: WorkerId, header: MessageHeader, message: Float32Array, timeoutMs: number): Promise<ExchangeResult> {
    this.stats.proposed++;
    let result: ExchangeResult;
    try {
      result = await this.proposeInner(peer, header, message, timeoutMs);
    } catch (error) {
      this.log('warn', `exchange with worker ${peer} failed: ${errorText(error)}`, { peer });
      result = { ok: false, peer, reason: 'closed' };
    }
    if (result.ok) this.stats.completed++;
    else count(this.stats.failed, result.reason);
    return result;
  }

  private rejectFrame(peer: WorkerId | string, error: WireError): void {
    count(this.stats.rejected, error.reason);
    this.log('warn', `rejected a message from worker ${peer}: ${error.reason}: ${error.detail}`, { peer, reason: error.reason });
    if (typeof peer === 'number' && !MISMATCHES.has(error.reason)) this.emit('rejected', peer, `${error.reason}: ${error.detail}`);
  }

  private proposeInner(peer: WorkerId, header: MessageHeader, message: Float32Array, timeoutMs: number): Promise<ExchangeResult> {
    const fail = (reason: 'busy' | 'refused' | 'timeout' | 'closed' | 'invalid'): ExchangeResult => ({ ok: false, peer, reason });
    const info = this.byIndex.get(peer);
    if (this.closed || !info || peer === this.self) return Promise.resolve(fail('closed'));
    if (this.codec) header = { ...header, codec: this.codec };
    let frame: EncodedFrame;
    try {
      frame = encodeMessage(header, message, this.blockSize);
    } catch (error) {
      this.log('warn', `cannot send this node's message: ${errorText(error)}`);
      return Promise.resolve(fail('invalid'));
    }
    const controller = new AbortController();
    const signal = controller.signal;
    return new Promise<ExchangeResult>((resolve) => {
      let stream: Stream | null = null;
      let settled = false;
      let received: { header: MessageHeader; message: Float32Array } | null = null;
      let accepted = false;
      const timer = setTimeout(() => finish(fail('timeout')), Math.max(1, timeoutMs));
      const cancel = (reason: string): void => finish(fail(reason === 'timeout' ? 'timeout' : 'closed'));
      this.live.add(cancel);
      const finish = (result: ExchangeResult, tell?: AbortReason): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.live.delete(cancel);
        controller.abort();
        if (stream) {
          stream.removeEventListener('message', onMessage);
          stream.removeEventListener('close', onClose);
          stream.removeEventListener('end', onClose);
          if (result.ok) {
            void stream.close({ signal: AbortSignal.timeout(5000) }).catch(() => stream?.abort(new Error('close timed out')));
          } else if (tell) {
            try {
              stream.send(encodeControl('abort', header, { aux: ABORT_REASONS.indexOf(tell) }));
              void stream.close({ signal: AbortSignal.timeout(1000) }).catch(() => stream?.abort(new Error('aborted')));
            } catch {
              stream.abort(new Error(`exchange abandoned: ${tell}`));
            }
          } else {
            stream.abort(new Error(`exchange abandoned: ${result.ok ? '' : result.reason}`));
          }
        }
        resolve(result);
      };
      const reader = new FrameReader({ algorithm: header.algorithm, layoutHash: header.layoutHash, count: message.length, maxPayloadBytes: this.maxPayloadBytes });
      const onFrame = (f: Frame): void => {
        switch (f.kind) {
          case 'busy':
            return finish(fail('busy'));
          case 'abort': {
            const why = ABORT_REASONS[f.aux];
            return finish(fail(why === 'refused' ? 'refused' : why === 'invalid' ? 'invalid' : why === 'busy' ? 'busy' : 'closed'));
          }
          case 'accept':
            if (accepted) break;
            accepted = true;
            void sendFrame(stream as Stream, frame, this.chunkBytes, signal).then(
              () => (this.stats.bytesSent += frame.header.length + frame.payload.length),
              (error) => {
                if (!settled) this.log('debug', `sending to worker ${peer} failed: ${errorText(error)}`);
                finish(fail('closed'));
              },
            );
            return;
          case 'payload': {
            if (!accepted || received) break;
            const m = decodeMessage(f);
            if (isWireError(m)) {
              this.rejectFrame(peer, m);
              return finish(fail('invalid'), 'invalid');
            }
            this.stats.bytesReceived += f.headerLength + f.payloadLength;
            received = { header: f.header, message: m };
            return;
          }
          case 'done':
            if (!received) break;
            return finish({ ok: true, peer, message: received.message, header: received.header });
          default:
            break;
        }
        this.rejectFrame(peer, { ok: false, reason: 'unexpected', detail: `unexpected ${f.kind} frame` });
        finish(fail('invalid'), 'invalid');
      };
      const onMessage = (event: { data: Uint8Array | Iterable<Uint8Array> }): void => {
        for (const chunk of chunksOf(event.data)) {
          if (settled) return;
          const frames = reader.push(chunk);
          if (isWireError(frames)) {
            this.rejectFrame(peer, frames);
            const tell = tellFor(frames);
            return finish(fail(tell), tell);
          }
          for (const f of frames) if (!settled) onFrame(f);
        }
      };
      const onClose = (): void => finish(fail('closed'));
      this.node
        .dialProtocol(peerIdFromString(info.peerId), EXCHANGE_PROTOCOL, { signal })
        .then((s) => {
          if (settled) {
            s.abort(new Error('exchange abandoned'));
            return;
          }
          stream = s;
          s.addEventListener('message', onMessage);
          s.addEventListener('close', onClose);
          s.addEventListener('end', onClose);
          s.send(encodeControl('propose', header, { count: message.length, aux: Math.min(0xffffffff, Math.max(1, Math.round(timeoutMs))) }));
        })
        .catch((error) => {
          if (!settled) this.log('debug', `cannot reach worker ${peer}: ${errorText(error)}`);
          finish(fail('closed'));
        });
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Exchanges: acceptor side

  private onExchangeStream(stream: Stream, connection: Connection): void {
    const remote = connection.remotePeer.toString();
    const peer = this.byPeerId.get(remote);
    const expect = { algorithm: this.opts.algorithm, layoutHash: this.opts.layoutHash, count: this.opts.messageLength, maxPayloadBytes: this.maxPayloadBytes };
    const reader = new FrameReader(expect);
    const controller = new AbortController();
    let phase: 'waiting' | 'accepted' | 'finished' = 'waiting';
    const isFinished = (): boolean => phase === 'finished';
    let proposal: Frame | null = null;
    let received: { header: MessageHeader; message: Float32Array } | null = null;
    let sent = false;
    let timer = setTimeout(() => end('timeout'), PROPOSE_WAIT_MS);
    const cancel = (reason: string): void => end(reason);
    this.live.add(cancel);

    /** Ends the exchange without a commit: tells the proposer (when a reason is given) and aborts if accepted. */
    const end = (reason: string, tell?: AbortReason | 'busy'): void => {
      if (phase === 'finished') return;
      const wasAccepted = phase === 'accepted';
      phase = 'finished';
      cleanup();
      if (tell) {
        try {
          const h = proposal?.header ?? { version: 1, algorithm: 'none', step: 0, layoutHash: 'none', codec: 'f32' as const };
          stream.send(tell === 'busy' ? encodeControl('busy', h) : encodeControl('abort', h, { aux: ABORT_REASONS.indexOf(tell) }));
          void stream.close({ signal: AbortSignal.timeout(1000) }).catch(() => stream.abort(new Error('aborted')));
        } catch {
          stream.abort(new Error(reason));
        }
      } else {
        stream.abort(new Error(reason));
      }
      if (wasAccepted && peer !== undefined) {
        count(this.stats.aborted, reason.split(':')[0]);
        try {
          this.handler?.abort(peer, reason);
        } catch (error) {
          this.log('warn', `abort handler failed: ${errorText(error)}`);
        }
      }
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      this.live.delete(cancel);
      controller.abort();
      stream.removeEventListener('message', onMessage);
      stream.removeEventListener('close', onClose);
      stream.removeEventListener('end', onClose);
    };
    const maybeCommit = (): void => {
      if (phase !== 'accepted' || !received || !sent || peer === undefined) return;
      phase = 'finished';
      cleanup();
      this.stats.committed++;
      try {
        this.handler?.commit(peer, received.header, received.message);
      } catch (error) {
        this.log('warn', `commit handler failed: ${errorText(error)}`);
      }
      try {
        stream.send(encodeControl('done', received.header));
        void stream.close({ signal: AbortSignal.timeout(5000) }).catch(() => stream.abort(new Error('close timed out')));
      } catch {
        stream.abort(new Error('closed'));
      }
    };
    const onPropose = (f: Frame): void => {
      proposal = f;
      if (peer === undefined) {
        this.log('debug', `proposal from unknown peer ${remote}: busy`);
        return end('unknown peer', 'busy');
      }
      const handler = this.handler;
      if (!handler || this.closed) return end('no handler', 'busy');
      let reply: { header: MessageHeader; message: Float32Array } | null = null;
      try {
        reply = handler.accept(peer, f.header);
      } catch (error) {
        this.log('warn', `accept handler failed: ${errorText(error)}`);
        reply = null;
      }
      if (!reply) return end('busy', 'busy');
      if (this.codec) reply = { header: { ...reply.header, codec: this.codec }, message: reply.message };
      phase = 'accepted';
      this.stats.accepted++;
      if (reply.header.algorithm !== f.header.algorithm || reply.header.layoutHash !== f.header.layoutHash || reply.message.length !== f.count) {
        this.log('warn', `refusing worker ${peer}'s proposal: it sends ${f.header.algorithm}/${f.count} elements, this node ${reply.header.algorithm}/${reply.message.length}`);
        return end('refused: mismatch', 'refused');
      }
      let frame: EncodedFrame;
      try {
        frame = encodeMessage(reply.header, reply.message, this.blockSize);
      } catch (error) {
        this.log('warn', `cannot send this node's message: ${errorText(error)}`);
        return end('invalid: local message', 'invalid');
      }
      clearTimeout(timer);
      const deadline = Math.min(this.maxTimeoutMs, Math.max(1, f.aux)) + ACCEPT_GRACE_MS;
      timer = setTimeout(() => end('timeout'), deadline);
      try {
        stream.send(encodeControl('accept', reply.header, { count: reply.message.length }));
      } catch {
        return end('closed');
      }
      sendFrame(stream, frame, this.chunkBytes, controller.signal).then(
        () => {
          this.stats.bytesSent += frame.header.length + frame.payload.length;
          sent = true;
          maybeCommit();
        },
        (error) => {
          if (phase === 'accepted') this.log('debug', `sending to worker ${peer} failed: ${errorText(error)}`);
          end('closed');
        },
      );
    };
    const onFrame = (f: Frame): void => {
      if (phase === 'waiting' && f.kind === 'propose') return onPropose(f);
      if (phase === 'accepted' && f.kind === 'payload' && !received) {
        const m = decodeMessage(f);
        if (isWireError(m)) {
          this.rejectFrame(peer ?? remote, m);
          return end(`invalid: ${m.reason}`, 'invalid');
        }
        this.stats.bytesReceived += f.headerLength + f.payloadLength;
        received = { header: f.header, message: m };
        return maybeCommit();
      }
      if (f.kind === 'abort') return end(`peer abandoned: ${ABORT_REASONS[f.aux]}`);
      this.rejectFrame(peer ?? remote, { ok: false, reason: 'unexpected', detail: `unexpected ${f.kind} frame` });
      end('invalid: unexpected frame', 'invalid');
    };
    const onMessage = (event: { data: Uint8Array | Iterable<Uint8Array> }): void => {
      for (const chunk of chunksOf(event.data)) {
        if (phase === 'finished') return;
        const frames = reader.push(chunk);
        if (isWireError(frames)) {
          this.rejectFrame(peer ?? remote, frames);
          return end(`${tellFor(frames)}: ${frames.reason}`, tellFor(frames));
        }
        for (const f of frames) if (!isFinished()) onFrame(f);
      }
    };
    const onClose = (): void => end('closed');
    stream.addEventListener('message', onMessage);
    stream.addEventListener('close', onClose);
    stream.addEventListener('end', onClose);
  }
}

/** Creates a network transport, starts listening and begins joining through the bootstrap addresses. */
export async function createNetTransport(opts: NetTransportOptions): Promise<NetTransport> {
  if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new Error(`invalid cluster size ${opts.workers}`);
  if (!Number.isInteger(opts.self) || opts.self < 0 || opts.self >= opts.workers) throw new Error(`invalid worker index ${opts.self} for ${opts.workers} workers`);
  const window = opts.windowBytes ?? 16 << 20;
  const listen = opts.listen ?? ['/ip4/127.0.0.1/tcp/0'];
  let transport: NetTransport | undefined; // (the protector reports to it, once it exists)
  const node = await createLibp2p({
    start: false,
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [opts.encryption === 'plaintext' ? plaintext() : noise()],
    streamMuxers: [
      yamux({
        maxMessageSize: opts.frameBytes ?? 64 << 10,
        streamOptions: {
          initialStreamWindowSize: window,
          maxStreamWindowSize: window,
          maxReadBufferLength: 4 * window,
        },
      }),
    ],
    ...(opts.swarmKey ? { connectionProtector: swarmKeyProtector(opts.swarmKey, { onMismatch: (remote, direction) => transport?.noteForeignKey(remote, direction) }) } : {}),
    // Liveness is judged by the exchanges' own deadlines; pings could starve behind long compute steps.
    connectionMonitor: { enabled: false },
    // Banned workers (peer scoring) stay out, whichever side dials.
    connectionGater: {
      denyDialPeer: (peer) => transport?.bannedPeers.has(peer.toString()) ?? false,
      denyInboundEncryptedConnection: (peer) => transport?.bannedPeers.has(peer.toString()) ?? false,
      denyOutboundEncryptedConnection: (peer) => transport?.bannedPeers.has(peer.toString()) ?? false,
    },
  });
  transport = new NetTransport(node as unknown as Libp2p, opts);
  try {
    await transport.start();
  } catch (error) {
    await transport.close();
    // An address of another machine, a port in use or a privileged one: the caller's input, said in one line.
    if (error instanceof Error && error.name === 'UnsupportedListenAddressesError') throw new UsageError(listenFailure(error, listen));
    throw error;
  }
  return transport;
}
