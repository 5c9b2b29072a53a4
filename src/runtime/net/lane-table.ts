/**
 * A transport's bulk lanes (lane.ts): its server (lane-server.ts), the protocol that hands grants to peers, the
 * open lanes by peer and the routing of lane frames to the exchanges that await them.
 *
 * /gossamer/lane/2.0.0: the asking node opens a stream and reads one grant; the answering node sends it and closes.
 * Only a peer with a libp2p connection to this node — admitted by the swarm key, authenticated by noise — can ask, so
 * only such a peer can open a lane, and its lanes close with its last libp2p connection. Lanes open on demand: a
 * node asks when an exchange finds no lane to its peer (that exchange uses its stream), at most once per
 * LANE_RETRY_MS after a failure, and the peer then dials back, so that a pair that exchanges has two lanes, one
 * dialled by each; a node sends over the lane its peer dialled, which the peer reads into a buffer of its own
 * (connectLane), and over the other until that one is open. Peers that never exchange hold no lane. Without a
 * lane — the peer does not speak the protocol, its port cannot be reached, the option is off at either end —
 * exchanges travel over their own streams. Exchanges proposed over a lane (their control frames on it,
 * lane-conversation.ts) come in here and are served as if on a stream.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { DEFAULT_LANE_MIN_BYTES, Lane, MAX_LANE_ID, tagParts, type LaneInit, type LaneRouter, type LaneSink } from './lane.js';
import { LaneConversation } from './lane-conversation.js';
import { GRANT_BYTES, LANE_HANDSHAKE_MS, LaneServer, connectLane, decodeGrant, encodeGrant } from './lane-server.js';
import type { SealedChannel } from './sealed-channel.js';
import type { NetHost } from './net-host.js';
import { DEFAULT_LISTEN, LANE_PROTOCOL } from './net-options.js';
import { errorText, readAll } from './stream-io.js';
import { FRAME_KINDS, MAX_HEADER_BYTES } from './wire.js';

/** After a failed attempt, how long exchanges with that peer use streams before another. */
const LANE_RETRY_MS = 30_000;
/** Lanes per peer: the one each end dialled. */
const LANES_PER_PEER = 2;
/** Exchanges a peer may have proposed over lanes and not finished (as streams of the exchange protocol per connection). */
const INBOUND_EXCHANGES_PER_PEER = 64;
/** The kind byte (offset 5 of a wire frame) of a propose. */
const PROPOSE_KIND = FRAME_KINDS.indexOf('propose') + 1;

/** The IP address of a TCP multiaddr, or null. */
function ipOf(addr: Multiaddr): string | null {
  const [ip, tcp] = addr.getComponents();
  return (ip?.name === 'ip4' || ip?.name === 'ip6') && tcp?.name === 'tcp' && ip.value ? ip.value : null;
}

export class Lanes implements LaneRouter {
  readonly minBytes: number;
  private server: LaneServer | null = null;
  private readonly lanes = new Map<string, Lane[]>();
  /** The lanes this node dialled. */
  private readonly dialled = new WeakSet<Lane>();
  private readonly asking = new Set<string>();
  private readonly failedAt = new Map<string, number>();
  /** Awaited lane frames, by `${peer id}/${tag}`. */
  private readonly sinks = new Map<string, LaneSink>();
  /** Exchanges whose control frames travel on a lane, by `${peer id}/${tag of the peer's frames}`. */
  private readonly conversations = new Map<string, LaneConversation>();
  private lastId = 0;
  private readonly controller = new AbortController();
  private readonly onDisconnect = (event: CustomEvent<PeerId>): void => {
    const peerId = event.detail.toString();
    this.server?.forget(peerId);
    this.failedAt.delete(peerId);
    for (const lane of this.lanes.get(peerId) ?? []) lane.close();
  };

  constructor(
    private readonly t: NetHost,
    private readonly init: LaneInit,
    /** Serves an exchange a peer proposed on a lane (exchange.ts: onExchangeStream). */
    private readonly serve: (conversation: LaneConversation, peerId: string) => void,
  ) {
    this.minBytes = init.minBytes ?? DEFAULT_LANE_MIN_BYTES;
  }

  /** The lane's server port (0 before start). */
  get port(): number {
    return this.server?.port ?? 0;
  }

  /** Listens and serves the protocol; before libp2p starts, so that the first connections find it. */
  async start(): Promise<void> {
    const host = this.init.host ?? ipOf(multiaddr((this.t.opts.listen ?? DEFAULT_LISTEN)[0])) ?? '127.0.0.1';
    this.server = await LaneServer.listen(host, this.init.port ?? 0, this.t.log, (channel, peerId) => this.add(channel, peerId, 'accepted'));
    await this.t.node.handle(LANE_PROTOCOL, (stream, connection) => this.answer(stream, connection), { maxInboundStreams: 4, maxOutboundStreams: 4 });
    this.t.node.addEventListener('peer:disconnect', this.onDisconnect);
  }

  /** Closes every lane and the server. */
  async close(): Promise<void> {
    this.controller.abort();
    this.t.node.removeEventListener('peer:disconnect', this.onDisconnect);
    for (const lanes of this.lanes.values()) for (const lane of lanes) lane.close();
    await this.server?.close();
  }

  /** Lanes open to the peer (without asking for one). */
  openTo(peerId: string): number {
    return (this.lanes.get(peerId) ?? []).filter((lane) => !lane.closed).length;
  }

  /** The open lanes to the peer: whether this node dialled each, and the payloads each delivered. */
  lanesTo(peerId: string): Array<{ dialled: boolean; payloadsReceived: number }> {
    return (this.lanes.get(peerId) ?? []).filter((lane) => !lane.closed).map((lane) => ({ dialled: this.dialled.has(lane), payloadsReceived: lane.payloadsReceived }));
  }

  /** Asks for a lane to the peer if it has none; resolves once one is open, or false after timeoutMs. */
  async opened(peerId: string, timeoutMs: number): Promise<boolean> {
    for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((resolve) => setTimeout(resolve, 20))) {
      if (this.lane(peerId)) return true;
    }
    return false;
  }

  // -------------------------------------------------------------------------------------------------------------
  // What exchanges see (LaneRouter)

  lane(peerId: string): Lane | null {
    const open = (this.lanes.get(peerId) ?? []).find((lane) => !lane.closed);
    if (open) return open;
    const failed = this.failedAt.get(peerId);
    if (failed === undefined || Date.now() - failed > LANE_RETRY_MS) this.ask(peerId);
    return null;
  }

  newId(): number {
    this.lastId = (this.lastId % MAX_LANE_ID) + 1;
    return this.lastId;
  }

  converse(lane: Lane, id: number): LaneConversation {
    return this.track(new LaneConversation(lane, id, 'proposer', (c) => this.untrack(c)));
  }

  expect(peerId: string, tag: number, sink: LaneSink): boolean {
    const key = `${peerId}/${tag}`;
    if (this.sinks.has(key)) return false;
    this.sinks.set(key, sink);
    return true;
  }

  unexpect(peerId: string, tag: number): void {
    this.sinks.delete(`${peerId}/${tag}`);
  }

  count(direction: 'sent' | 'received'): void {
    if (direction === 'sent') this.t.stats.lanePayloadsSent++;
    else this.t.stats.lanePayloadsReceived++;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Opening and closing lanes

  private ask(peerId: string): void {
    if (this.controller.signal.aborted || this.asking.has(peerId)) return;
    this.asking.add(peerId);
    this.dial(peerId)
      .then((channel) => this.add(channel, peerId, 'dialled'), (error) => {
        if (this.controller.signal.aborted) return;
        this.t.log(this.failedAt.has(peerId) ? 'debug' : 'info', `no lane to ${peerId}: ${errorText(error)}; its exchanges use libp2p streams`);
        this.failedAt.set(peerId, Date.now());
      })
      .finally(() => this.asking.delete(peerId));
  }

  /** Asks the peer for a grant over its libp2p connection and opens a sealed channel to the address it is at. */
  private async dial(peerId: string): Promise<SealedChannel> {
    const connection = this.t.node.getConnections(peerIdFromString(peerId)).find((c) => c.status === 'open');
    const host = connection ? ipOf(connection.remoteAddr) : null;
    if (!connection || !host) throw new Error('no libp2p connection over TCP/IP to it');
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(LANE_HANDSHAKE_MS)]);
    const stream = await connection.newStream(LANE_PROTOCOL, { signal });
    // (the request is the stream itself: the asking side closes its end at once, as a pull does)
    const answer = readAll(stream, GRANT_BYTES, LANE_HANDSHAKE_MS);
    await stream.close({ signal });
    const grant = decodeGrant(await answer);
    if (!grant) throw new Error('it sent a malformed grant');
    return connectLane(host, grant, signal);
  }

  /** Answers a peer's request with a fresh grant. */
  private answer(stream: Stream, connection: Connection): void {
    if (!this.server || this.controller.signal.aborted) return stream.abort(new Error('no lane server'));
    try {
      stream.send(encodeGrant(this.server.issue(connection.remotePeer.toString())));
      void stream.close({ signal: AbortSignal.timeout(LANE_HANDSHAKE_MS) }).catch(() => stream.abort(new Error('close timed out')));
    } catch (error) {
      stream.abort(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Takes a new lane (either end's), unless the peer has left or already has its lanes. */
  private add(channel: SealedChannel, peerId: string, end: 'dialled' | 'accepted'): void {
    const lanes = this.lanes.get(peerId) ?? [];
    const connected = this.t.node.getConnections(peerIdFromString(peerId)).length > 0;
    if (this.controller.signal.aborted || !connected || lanes.length >= LANES_PER_PEER) {
      if (connected && !this.controller.signal.aborted) this.t.log('warn', `refused a lane from ${peerId}: it has ${lanes.length} already`);
      channel.close();
      return;
    }
    const route = (tag: number): LaneSink | undefined => {
      const key = `${peerId}/${tag}`;
      const sink = this.sinks.get(key);
      this.sinks.delete(key);
      return sink;
    };
    const lane = new Lane(channel, peerId, route, (l, tag, frame) => this.control(l, tag, frame), MAX_HEADER_BYTES + this.t.maxPayloadBytes, (bytes) => this.t.payloads.take(bytes), this.t.log, (l) => this.closed(l));
    // (lane() takes the first open one: the one the peer dialled and reads with a buffer of its own comes first)
    if (end === 'dialled') {
      lanes.push(lane);
      this.dialled.add(lane);
    } else {
      lanes.unshift(lane);
      // The peer opened one: dial back, so that it too sends on a lane read with a buffer of its own.
      if (!lanes.some((l) => this.dialled.has(l) && !l.closed)) this.ask(peerId);
    }
    this.lanes.set(peerId, lanes);
    this.failedAt.delete(peerId);
    this.t.log('debug', `lane to ${peerId} open`);
  }

  /**
   * A control frame from a peer: to its exchange, or — a propose under a new id — the start of one this node serves.
   * Other frames of no exchange (late ones of an exchange that ended) are skipped.
   */
  private control(lane: Lane, tag: number, frame: Uint8Array): void {
    const key = `${lane.peerId}/${tag}`;
    const known = this.conversations.get(key);
    if (known) return known.received(frame);
    const { id, from } = tagParts(tag);
    if (from === 'acceptor' || frame[5] !== PROPOSE_KIND || id === 0) {
      return this.t.log('debug', `lane from ${lane.peerId}: skipping a control frame of exchange ${id}, not under way`);
    }
    let inbound = 0;
    for (const c of this.conversations.values()) if (c.peerId === lane.peerId && c.role === 'acceptor') inbound++;
    if (inbound >= INBOUND_EXCHANGES_PER_PEER) {
      return this.t.log('warn', `lane from ${lane.peerId}: ignored a proposal, ${inbound} of its exchanges are under way`);
    }
    const c = this.track(new LaneConversation(lane, id, 'acceptor', (x) => this.untrack(x)));
    this.serve(c, lane.peerId);
    c.received(frame);
  }

  private track(c: LaneConversation): LaneConversation {
    this.conversations.set(`${c.peerId}/${c.inTag}`, c);
    return c;
  }

  private untrack(c: LaneConversation): void {
    const key = `${c.peerId}/${c.inTag}`;
    if (this.conversations.get(key) === c) this.conversations.delete(key);
  }

  /** A lane closed: its exchanges' control frames will not come; once the peer has none, nor the payloads awaited from it. */
  private closed(lane: Lane): void {
    for (const c of [...this.conversations.values()]) if (c.lane === lane) c.laneClosed();
    const rest = (this.lanes.get(lane.peerId) ?? []).filter((l) => l !== lane);
    if (rest.length > 0) return void this.lanes.set(lane.peerId, rest);
    this.lanes.delete(lane.peerId);
    for (const [key, sink] of this.sinks) {
      if (!key.startsWith(`${lane.peerId}/`)) continue;
      this.sinks.delete(key);
      sink.done('closed');
    }
  }
}
