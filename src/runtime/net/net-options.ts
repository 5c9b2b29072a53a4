/**
 * The network transport's protocols, options, records and events.
 */
import type { MessageHeader, WorkerId } from '../transport.js';
import type { LaneInit } from './lane.js';
import type { NetLogger } from './net-logger.js';
import type { OpenMembershipInit } from './open-membership.js';

export const EXCHANGE_PROTOCOL = '/gossamer/exchange/1.0.0';
export const MEMBER_PROTOCOL = '/gossamer/member/1.0.0';
export const PULL_PROTOCOL = '/gossamer/pull/1.0.0';
export const LANE_PROTOCOL = '/gossamer/lane/2.0.0';

/** Answers a pull: this worker's current parameters (a snapshot the transport may keep) and header, or null (busy). */
export type PullHandler = (peer: WorkerId) => { header: MessageHeader; message: Float32Array } | null;

export { stderrLogger, type LogLevel, type NetLogger } from './net-logger.js';

/** Bytes handed to a stream per send call: the best of 64 KiB – 4 MiB in bench/transport.ts --sweep. */
export const DEFAULT_CHUNK_BYTES = 256 << 10;
/** Yamux receive window per stream. */
export const DEFAULT_WINDOW_BYTES = 16 << 20;
/** Largest yamux data frame. */
export const DEFAULT_FRAME_BYTES = 64 << 10;
/** Where a node listens unless told. */
export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0'];
/** Longest deadline an acceptor grants a proposer. */
export const DEFAULT_MAX_TIMEOUT_MS = 10 * 60_000;

export interface NetTransportOptions {
  /** This worker's index (open mode: ignored, the id derived from the peer id is used: worker-id.ts). */
  self: WorkerId;
  /** Cluster size: indices are 0 … workers − 1 (open mode: ignored). */
  workers: number;
  /**
   * Open mode: no fixed indices; members announce themselves on a gossipsub topic (open-membership.ts) instead of the
   * hello protocol, and a worker's id is derived from its peer id. Unset: the fixed-index mode.
   * @default undefined
   */
  open?: Omit<OpenMembershipInit, 'log'>;
  /**
   * Multiaddrs to listen on.
   * @default DEFAULT_LISTEN (['/ip4/127.0.0.1/tcp/0'])
   */
  listen?: string[];
  /**
   * Multiaddrs of nodes to join through (with or without /p2p/<peer id>); retried until they answer.
   * @default []
   */
  bootstrap?: string[];
  /**
   * Swarm key file contents (see swarm-key.ts): only nodes with the same key can connect. null: an open network.
   * @default null
   */
  swarmKey?: Uint8Array | null;
  /**
   * A bulk lane to each peer (lane.ts): payloads of large exchanges over a direct sealed channel authorised through
   * libp2p, instead of the exchange's stream. Unset: every payload travels over libp2p streams.
   * @default undefined
   */
  lane?: LaneInit;
  /**
   * Connection encryption: noise, or plaintext for reference measurements only.
   * @default 'noise'
   */
  encryption?: 'noise' | 'plaintext';
  /**
   * Refuse peers and messages of another algorithm. Unset: any.
   * @default undefined
   */
  algorithm?: string;
  /**
   * Refuse peers and messages of another model layout (hash). Unset: any.
   * @default undefined
   */
  layoutHash?: string;
  /**
   * Refuse messages of another element count. Unset: any.
   * @default undefined
   */
  messageLength?: number;
  /**
   * Largest payload accepted, in bytes.
   * @default DEFAULT_MAX_PAYLOAD_BYTES (1 GiB, wire.ts)
   */
  maxPayloadBytes?: number;
  /**
   * Bytes handed to the stream per send call.
   * @default DEFAULT_CHUNK_BYTES (256 KiB)
   */
  chunkBytes?: number;
  /**
   * Yamux receive window per stream, in bytes.
   * @default DEFAULT_WINDOW_BYTES (16 MiB)
   */
  windowBytes?: number;
  /**
   * Largest yamux data frame, in bytes.
   * @default DEFAULT_FRAME_BYTES (64 KiB)
   */
  frameBytes?: number;
  /**
   * Elements per block of the i8 codec.
   * @default DEFAULT_BLOCK_SIZE (core/codecs.ts)
   */
  blockSize?: number;
  /**
   * Payload codec of this node's messages, whatever their header says. Unset: the header's.
   * @default undefined
   */
  codec?: MessageHeader['codec'];
  /**
   * Longest deadline an acceptor grants a proposer, in ms.
   * @default DEFAULT_MAX_TIMEOUT_MS (10 minutes)
   */
  maxTimeoutMs?: number;
  /**
   * Free-form status announced with the hello (e.g. the training phase).
   * @default {}
   */
  status?: Record<string, unknown>;
  /**
   * Where dropped frames, refused peers and failures are reported.
   * @default stderrLogger (warnings on stderr)
   */
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
  /** Exchange payloads sent and received over bulk lanes (lane.ts) rather than streams. */
  lanePayloadsSent: number;
  lanePayloadsReceived: number;
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
