/**
 * Open membership: who is in the cluster, without fixed indices. Every node publishes an announcement on a gossipsub
 * topic every `announceMs` (and at once when its status changes): its peer id, addresses, status and the run's
 * config with its hash. In a large cluster the interval grows so that all members together send at most
 * `clusterRate` announcements a second (every member handles every announcement), and the time to expiry with it. Gossipsub signs each message with the sender's key (StrictSign); an announcement whose signer
 * is not the peer it names, that is too large or does not fit the schema, or that carries another run's config is
 * refused with a logged reason and not relayed. A member is live while its announcements keep coming: one silent for
 * `ttlMs` expires (a killed process, a lost link). A node dials the members it learns of, so that the cluster becomes
 * a full mesh from a single bootstrap address.
 *
 * A node started without a config (a late joiner) adopts the first valid config it hears; the caller checks it
 * (`config()` resolves with it).
 */
import { EventEmitter } from 'node:events';
import type { Libp2p, PeerId, Startable } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { configHash, DEFAULT_ANNOUNCEMENT_BYTES, readAnnouncement, type Announcement, type PubSubMessage } from './announcement.js';
import type { NetLogger } from './net-logger.js';
import { errorText } from './stream-io.js';

/** The pubsub service open mode needs from libp2p (@libp2p/gossipsub's). */
export interface AnnouncementPubSub {
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  publish(topic: string, data: Uint8Array): Promise<unknown>;
  topicValidators: Map<string, (peer: PeerId, message: PubSubMessage) => 'accept' | 'reject' | 'ignore'>;
  addEventListener(type: 'message', listener: (event: CustomEvent<PubSubMessage>) => void): void;
  removeEventListener(type: 'message', listener: (event: CustomEvent<PubSubMessage>) => void): void;
}

export interface OpenMembershipInit {
  /**
   * Pubsub topic of the announcements.
   * @default '/gossamer/members/1.0.0'
   */
  topic?: string;
  /**
   * Interval between two announcements of this node, ms.
   * @default 1000
   */
  announceMs?: number;
  /**
   * A member not heard from for this long is gone, ms (scaled as the interval is).
   * @default 5000
   */
  ttlMs?: number;
  /**
   * Announcements a second of the whole cluster, at most: with n live members each one announces every
   * max(announceMs, 1000 · n / clusterRate) ms.
   * @default 10
   */
  clusterRate?: number;
  /**
   * Largest announcement accepted, bytes.
   * @default 32768
   */
  maxBytes?: number;
  /**
   * Most members kept at once: announcements of further peers are refused (logged once each) until some expire.
   * @default 256
   */
  maxMembers?: number;
  /**
   * The run's config (any JSON value; null: learn it from the others).
   * @default null
   */
  config?: unknown;
  /** Where refusals (warn) and membership changes (info) are reported. */
  log: NetLogger;
}

export const DEFAULT_MEMBERS_TOPIC = '/gossamer/members/1.0.0';
export const DEFAULT_ANNOUNCE_MS = 1000;
export const DEFAULT_MEMBER_TTL_MS = 5000;
export const DEFAULT_MAX_MEMBERS = 256;
export const DEFAULT_CLUSTER_RATE = 10;

export interface Member {
  peerId: string;
  addrs: string[];
  status: Announcement['status'];
  /** When its last announcement arrived (performance.now()). */
  seen: number;
  seq: number;
}

export interface OpenMembershipEvents {
  /** A member was heard from for the first time (or again after it expired). */
  join: [peerId: string];
  /** A member expired. */
  leave: [peerId: string];
  /** Any accepted announcement (status updates included). */
  announce: [peerId: string, member: Member];
}

export class OpenMembership extends EventEmitter<OpenMembershipEvents> implements Startable {
  readonly topic: string;
  private readonly announceMs: number;
  private readonly ttlMs: number;
  private readonly clusterRate: number;
  private readonly maxBytes: number;
  private readonly maxMembers: number;
  private readonly log: NetLogger;
  private readonly members = new Map<string, Member>();
  /** Peers refused for another config or a full table, each reported once. */
  private readonly refused = new Set<string>();
  private runConfig: { value: unknown; hash: string } | null = null;
  private readonly configWaiters: Array<(config: unknown) => void> = [];
  private status: Announcement['status'] = {};
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly dialling = new Set<string>();
  private running = false;
  private readonly onMessage = (event: CustomEvent<PubSubMessage>): void => this.receive(event.detail);

  constructor(private readonly node: Libp2p, private readonly pubsub: AnnouncementPubSub, init: OpenMembershipInit) {
    super();
    this.topic = init.topic ?? DEFAULT_MEMBERS_TOPIC;
    this.announceMs = init.announceMs ?? DEFAULT_ANNOUNCE_MS;
    this.ttlMs = init.ttlMs ?? DEFAULT_MEMBER_TTL_MS;
    this.clusterRate = init.clusterRate ?? DEFAULT_CLUSTER_RATE;
    this.maxBytes = init.maxBytes ?? DEFAULT_ANNOUNCEMENT_BYTES;
    this.maxMembers = init.maxMembers ?? DEFAULT_MAX_MEMBERS;
    this.log = init.log;
    if (init.config !== undefined && init.config !== null) this.runConfig = { value: init.config, hash: configHash(init.config) };
  }

  get peerId(): string {
    return this.node.peerId.toString();
  }

  /** Live members, this node excluded, in peer-id order. */
  live(): Member[] {
    return [...this.members.values()].sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0));
  }

  member(peerId: string): Member | undefined {
    return this.members.get(peerId);
  }

  /** The run's config: at once when known, else the first valid one announced. */
  config(): Promise<unknown> {
    if (this.runConfig) return Promise.resolve(this.runConfig.value);
    return new Promise((resolve) => this.configWaiters.push(resolve));
  }

  /** Sets this node's status and announces it now. */
  async setStatus(status: Announcement['status']): Promise<void> {
    this.status = status;
    await this.announce();
  }

  async start(): Promise<void> {
    this.running = true;
    this.pubsub.topicValidators.set(this.topic, (_peer, message) => (this.check(message) ? 'accept' : 'reject'));
    this.pubsub.addEventListener('message', this.onMessage);
    this.pubsub.subscribe(this.topic);
    const tick = (): void => {
      if (!this.running) return;
      this.expire();
      void this.announce();
      this.timer = setTimeout(tick, this.interval());
    };
    tick();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pubsub.removeEventListener('message', this.onMessage);
    this.pubsub.topicValidators.delete(this.topic);
    try {
      this.pubsub.unsubscribe(this.topic);
    } catch {
      // (libp2p already stopped)
    }
  }

  private async announce(): Promise<void> {
    if (!this.running) return;
    const a: Announcement = {
      v: 1, peerId: this.peerId, addrs: this.node.getMultiaddrs().map(String).slice(0, 16), seq: this.seq++, status: this.status,
      configHash: this.runConfig?.hash ?? null, ...(this.runConfig ? { config: this.runConfig.value } : {}),
    };
    try {
      await this.pubsub.publish(this.topic, new TextEncoder().encode(JSON.stringify(a)));
    } catch (error) {
      // (nobody subscribed yet: the next tick tries again)
      this.log('debug', `announcement not sent: ${errorText(error)}`);
    }
  }

  /** Reads and checks an announcement; null (and a logged refusal) when it is not acceptable. */
  private parse(message: PubSubMessage): Announcement | null {
    if (message.topic !== this.topic) return null;
    const a = readAnnouncement(message, this.maxBytes);
    const from = message.type === 'signed' ? message.from.toString() : null;
    if (typeof a === 'string') {
      this.log('warn', `refused an announcement${from ? ` from ${from}` : ''}: ${a}`, { reason: a });
      return null;
    }
    if (this.runConfig && a.configHash !== null && a.configHash !== this.runConfig.hash) {
      if (!this.refused.has(a.peerId)) this.log('warn', `refused member ${a.peerId}: it runs another config`, { reason: 'config' });
      this.refused.add(a.peerId);
      return null;
    }
    if (!this.members.has(a.peerId) && a.peerId !== this.peerId && this.members.size >= this.maxMembers) {
      if (!this.refused.has(a.peerId)) this.log('warn', `refused member ${a.peerId}: already ${this.maxMembers} members`, { reason: 'full' });
      this.refused.add(a.peerId);
      return null;
    }
    return a;
  }

  /** The topic validator: only acceptable announcements are delivered and relayed. */
  private check(message: PubSubMessage): boolean {
    return this.parse(message) !== null;
  }

  private receive(message: PubSubMessage): void {
    if (!this.running || message.topic !== this.topic || message.type !== 'signed') return;
    // (validated already by the topic validator; parsed again for its value)
    const a = this.parse(message);
    if (!a || a.peerId === this.peerId) return;
    if (!this.runConfig && a.config !== undefined && a.configHash !== null) {
      this.runConfig = { value: a.config, hash: a.configHash };
      for (const w of this.configWaiters.splice(0)) w(a.config);
    }
    const old = this.members.get(a.peerId);
    if (old && a.seq <= old.seq) return;
    const m: Member = { peerId: a.peerId, addrs: a.addrs, status: a.status, seen: performance.now(), seq: a.seq };
    this.members.set(a.peerId, m);
    if (!old) {
      this.log('info', `member ${a.peerId} joined`);
      this.emit('join', a.peerId);
    }
    this.emit('announce', a.peerId, m);
    void this.connect(m);
  }

  /** This node's interval between announcements, ms: longer as the cluster grows (every member hears every one). */
  private interval(): number {
    return Math.max(this.announceMs, (1000 * (this.members.size + 1)) / this.clusterRate);
  }

  private expire(): void {
    const now = performance.now();
    const ttl = (this.ttlMs * this.interval()) / this.announceMs;
    for (const [peerId, m] of this.members) {
      if (now - m.seen <= ttl) continue;
      this.members.delete(peerId);
      this.log('info', `member ${peerId} expired (silent for ${Math.round(now - m.seen)} ms)`);
      this.emit('leave', peerId);
    }
  }

  private async connect(m: Member): Promise<void> {
    if (this.dialling.has(m.peerId) || this.node.getConnections().some((c) => c.remotePeer.toString() === m.peerId)) return;
    this.dialling.add(m.peerId);
    try {
      const id = peerIdFromString(m.peerId);
      const multiaddrs = m.addrs.flatMap((a) => {
        try {
          return [multiaddr(a)];
        } catch {
          return [];
        }
      });
      await this.node.peerStore.merge(id, { multiaddrs });
      await this.node.dial(id, { signal: AbortSignal.timeout(5000) });
    } catch (error) {
      this.log('debug', `dialling member ${m.peerId} failed: ${errorText(error)}`);
    } finally {
      this.dialling.delete(m.peerId);
    }
  }
}
