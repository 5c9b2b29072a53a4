/**
 * What the transport's protocol handlers (membership.ts, exchange.ts, pull.ts) see of the transport that runs them:
 * its libp2p node, settings, counters and the table of known workers. NetTransport is the one implementation.
 */
import type { EventEmitter } from 'node:events';
import type { Libp2p } from '@libp2p/interface';
import type { MessageHeader, ProposalHandler, WorkerId } from '../transport.js';
import type { LaneRouter } from './lane.js';
import type { PayloadPool } from './payload-pool.js';
import type { NetLogger, NetStats, NetTransportEvents, NetTransportOptions, PeerRecord, PullHandler } from './net-options.js';
import type { WireError } from './wire.js';

export interface NetHost extends Pick<EventEmitter<NetTransportEvents>, 'emit'> {
  readonly self: WorkerId;
  readonly workers: number;
  readonly node: Libp2p;
  readonly opts: NetTransportOptions;
  readonly log: NetLogger;
  readonly stats: NetStats;
  readonly chunkBytes: number;
  readonly blockSize: number;
  readonly maxPayloadBytes: number;
  readonly maxTimeoutMs: number;
  /** Known workers by index, and their indices by peer id. */
  readonly byIndex: Map<WorkerId, PeerRecord>;
  readonly byPeerId: Map<string, WorkerId>;
  /** Peer ids with an open connection. */
  readonly connectedPeers: Set<string>;
  /** Cancels every exchange in flight (on close). */
  readonly live: Set<(reason: string) => void>;
  readonly bannedIndices: Set<WorkerId>;
  /** The bulk lanes to peers (null: off). */
  readonly lanes: LaneRouter | null;
  /** Memory for received payloads, back through release(). */
  readonly payloads: PayloadPool;
  readonly handler: ProposalHandler | null;
  readonly pullHandler: PullHandler | null;
  /** Payload codec of outgoing messages (null: the header's). */
  readonly codec: MessageHeader['codec'] | null;
  readonly status: Record<string, unknown>;
  readonly closed: boolean;
  readonly peerId: string;
  addresses(): string[];
  /** Counts and logs a rejected frame (and reports it as the peer's fault unless it is a mismatch). */
  rejectFrame(peer: WorkerId | string, error: WireError): void;
}
