/**
 * The network transport: the Transport interface over js-libp2p (TCP + noise + yamux, optionally a private network
 * keyed by a swarm key: swarm-protector.ts). This file holds a node's state, its lifecycle and joining; the protocols
 * are in membership.ts (hellos), exchange.ts (pairwise exchanges) and pull.ts (a late joiner's first parameters), on
 * the frames of wire.ts.
 */
import './polyfill.js';
import { EventEmitter } from 'node:events';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import type { Libp2p, Startable, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { plaintext } from '@libp2p/plaintext';
import { tcp } from '@libp2p/tcp';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { UsageError } from '../../core/errors.js';
import { DEFAULT_BLOCK_SIZE } from '../../core/codecs.js';
import type { ExchangeResult, MessageHeader, ProposalHandler, Transport, WorkerId } from '../transport.js';
import { PayloadPool } from './payload-pool.js';
import { listenFailure, stripPeerId } from './addresses.js';
import { onExchangeStream, propose } from './exchange.js';
import { Lanes } from './lane-table.js';
import { onHelloStream, sendHello } from './membership.js';
import type { NetHost } from './net-host.js';
import {
  DEFAULT_CHUNK_BYTES, DEFAULT_FRAME_BYTES, DEFAULT_LISTEN, DEFAULT_MAX_TIMEOUT_MS, DEFAULT_WINDOW_BYTES, EXCHANGE_PROTOCOL, MEMBER_PROTOCOL, PULL_PROTOCOL,
  stderrLogger, type NetLogger, type NetStats, type NetTransportEvents, type NetTransportOptions, type PeerRecord, type PullHandler,
} from './net-options.js';
import { DEFAULT_ANNOUNCEMENT_BYTES } from './announcement.js';
import { OpenMembership, type AnnouncementPubSub } from './open-membership.js';
import { announcementPubSub } from './open-pubsub.js';
import { OpenRecords } from './open-records.js';
import { onPullStream, pull } from './pull.js';
import { MISMATCHES, count, errorText } from './stream-io.js';
import { swarmKeyProtector } from './swarm-protector.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, type WireError } from './wire.js';
import { workerIdOf } from './worker-id.js';

export * from './net-options.js';
export { chunksOf, errorText, readAll, sendFrame } from './stream-io.js';

/**
 * A worker's endpoint on the network. Create with createNetTransport (it starts listening and joins through the
 * bootstrap addresses); close() leaves the network.
 */
export class NetTransport extends EventEmitter<NetTransportEvents> implements Transport, Startable, NetHost {
  readonly self: WorkerId;
  readonly workers: number;
  readonly stats: NetStats = {
    proposed: 0, accepted: 0, completed: 0, committed: 0, failed: {}, aborted: {}, rejected: {}, bytesSent: 0, bytesReceived: 0,
    lanePayloadsSent: 0, lanePayloadsReceived: 0,
  };
  /** @internal (the protocol handlers' view: net-host.ts) */
  readonly node: Libp2p;
  /** @internal */
  readonly opts: NetTransportOptions;
  /** @internal */
  readonly log: NetLogger;
  /** @internal */
  readonly chunkBytes: number;
  /** @internal */
  readonly blockSize: number;
  /** @internal */
  readonly maxPayloadBytes: number;
  /** @internal */
  readonly maxTimeoutMs: number;
  /** @internal */
  readonly byIndex = new Map<WorkerId, PeerRecord>();
  /** @internal */
  readonly byPeerId = new Map<string, WorkerId>();
  /** @internal */
  readonly connectedPeers = new Set<string>();
  /** @internal Cancels every exchange in flight (on close). */
  readonly live = new Set<(reason: string) => void>();
  /** @internal */
  readonly payloads = new PayloadPool();
  /** @internal */
  handler: ProposalHandler | null = null;
  /** @internal */
  pullHandler: PullHandler | null = null;
  /** Payload codec of outgoing messages (null: the header's). */
  codec: MessageHeader['codec'] | null;
  /** @internal */
  status: Record<string, unknown>;
  /** @internal */
  closed = false;
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
  /** Open mode: the membership of announcements (null: the fixed-index mode's hellos). */
  readonly membership: OpenMembership | null = null;
  private readonly records: OpenRecords | null = null;
  /** The bulk lanes to peers (lane-table.ts; null: off). */
  readonly lanes: Lanes | null;

  constructor(node: Libp2p, opts: NetTransportOptions) {
    super();
    this.node = node;
    this.opts = { ...opts };
    this.self = opts.open ? workerIdOf(node.peerId.toString()) : opts.self;
    this.workers = opts.open ? 0 : opts.workers;
    this.log = opts.log ?? stderrLogger;
    this.chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.maxPayloadBytes = opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    this.maxTimeoutMs = opts.maxTimeoutMs ?? DEFAULT_MAX_TIMEOUT_MS;
    this.status = opts.status ?? {};
    this.codec = opts.codec ?? null;
    this.lanes = opts.lane ? new Lanes(this, opts.lane, (conversation, peerId) => onExchangeStream(this, conversation, peerId)) : null;
    if (opts.open) {
      const pubsub = (node as unknown as { services: { pubsub: AnnouncementPubSub } }).services.pubsub;
      this.membership = new OpenMembership(node, pubsub, { ...opts.open, log: this.log });
      this.records = new OpenRecords(this, this.membership);
    }
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
    if (this.membership) return this.membership.setStatus(status as Parameters<OpenMembership['setStatus']>[0]);
    await Promise.all([...this.byIndex.values()].filter((p) => p.connected).map((p) => sendHello(this, p.peerId, false)));
  }

  /**
   * Open mode: what messages must be from now on (a joiner learns the run after it has joined the network): their
   * algorithm, model layout and element count.
   */
  expect(what: Pick<NetTransportOptions, 'algorithm' | 'layoutHash' | 'messageLength'>): void {
    Object.assign(this.opts, what);
  }

  onProposal(handler: ProposalHandler): void {
    this.handler = handler;
  }

  release(message: Float32Array): void {
    this.payloads.give(message);
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
      if (this.records) this.records.connection(id, true);
      else void sendHello(this, id, true);
    });
    node.addEventListener('peer:disconnect', (event) => {
      const id = event.detail.toString();
      this.connectedPeers.delete(id);
      if (this.records) return this.records.connection(id, false);
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
    await node.handle(EXCHANGE_PROTOCOL, (stream, connection) => onExchangeStream(this, stream, connection.remotePeer.toString()), { maxInboundStreams: 64, maxOutboundStreams: 64 });
    if (!this.membership) await node.handle(MEMBER_PROTOCOL, (stream, connection) => onHelloStream(this, stream, connection), { maxInboundStreams: 64, maxOutboundStreams: 64 });
    await node.handle(PULL_PROTOCOL, (stream, connection) => onPullStream(this, stream, connection), { maxInboundStreams: 16, maxOutboundStreams: 16 });
    await this.lanes?.start();
    await node.start();
    await this.membership?.start();
    this.startBootstrap();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.bootstrapTimer) clearTimeout(this.bootstrapTimer);
    for (const cancel of [...this.live]) cancel('closed');
    // Nothing left to do with a connection that fails as it closes: said at debug level, never thrown.
    const step = async (what: string, run: () => Promise<void> | void): Promise<void> => {
      try {
        await run();
      } catch (error) {
        this.log('debug', `${what}: ${errorText(error)}`);
      }
    };
    await step('stopping the membership', () => this.membership?.stop());
    await step('closing the lanes', () => this.lanes?.close());
    await step('stopping libp2p', () => this.node.stop());
  }

  /** Startable: the same as close(). */
  async stop(): Promise<void> {
    await this.close();
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
  // Exchanges and pulls (exchange.ts, pull.ts)

  /** Proposes an exchange of messages to worker `peer`; resolves with its message, or why there was none. */
  propose(peer: WorkerId, header: MessageHeader, message: Float32Array, timeoutMs: number): Promise<ExchangeResult> {
    return propose(this, peer, header, message, timeoutMs);
  }

  /**
   * Asks worker `peer` for its current parameters (`count` values; `header` is this node's, whose algorithm and layout
   * the answer must match). Resolves with them, or why there were none; never rejects.
   */
  pull(peer: WorkerId, header: MessageHeader, count: number, timeoutMs: number): Promise<ExchangeResult> {
    return pull(this, peer, header, count, timeoutMs);
  }

  /** @internal */
  rejectFrame(peer: WorkerId | string, error: WireError): void {
    count(this.stats.rejected, error.reason);
    this.log('warn', `rejected a message from worker ${peer}: ${error.reason}: ${error.detail}`, { peer, reason: error.reason });
    if (typeof peer === 'number' && !MISMATCHES.has(error.reason)) this.emit('rejected', peer, `${error.reason}: ${error.detail}`);
  }
}


/** Inbound connections a second from one address, and at once in their handshakes (the swarm key admits members). */
const INBOUND_CONNECTIONS_PER_SECOND = 256;

/** Creates a network transport, starts listening and begins joining through the bootstrap addresses. */
export async function createNetTransport(opts: NetTransportOptions): Promise<NetTransport> {
  if (!opts.open && (!Number.isInteger(opts.workers) || opts.workers < 1)) throw new Error(`invalid cluster size ${opts.workers}`);
  if (!opts.open && (!Number.isInteger(opts.self) || opts.self < 0 || opts.self >= opts.workers)) throw new Error(`invalid worker index ${opts.self} for ${opts.workers} workers`);
  const window = opts.windowBytes ?? DEFAULT_WINDOW_BYTES;
  const listen = opts.listen ?? DEFAULT_LISTEN;
  let transport: NetTransport | undefined; // (the protector reports to it, once it exists)
  const node = await createLibp2p({
    start: false,
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [opts.encryption === 'plaintext' ? plaintext() : noise()],
    streamMuxers: [
      yamux({
        maxMessageSize: opts.frameBytes ?? DEFAULT_FRAME_BYTES,
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
    // Every peer of one machine (or behind one NAT) dials from the same address: libp2p's defaults (5 inbound
    // connections a second per address, 10 pending) refused a joiner's bootstrap dial while the others dialled.
    connectionManager: { inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_SECOND, maxIncomingPendingConnections: INBOUND_CONNECTIONS_PER_SECOND },
    // Banned workers (peer scoring) stay out, whichever side dials.
    connectionGater: {
      denyDialPeer: (peer) => transport?.bannedPeers.has(peer.toString()) ?? false,
      denyInboundEncryptedConnection: (peer) => transport?.bannedPeers.has(peer.toString()) ?? false,
      denyOutboundEncryptedConnection: (peer) => transport?.bannedPeers.has(peer.toString()) ?? false,
    },
    // Open mode: signed announcements on a gossipsub topic (open-membership.ts); identify tells gossipsub who speaks it.
    ...(opts.open ? {
      services: {
        identify: identify(),
        pubsub: announcementPubSub({ maxBytes: opts.open.maxBytes ?? DEFAULT_ANNOUNCEMENT_BYTES }),
      },
    } : {}),
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
