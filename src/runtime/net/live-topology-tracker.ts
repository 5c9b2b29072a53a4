/**
 * Keeps the live topology (live-topology.ts) of an open-mode worker: recomputed over the connected members whenever
 * one joins or leaves (an expired member leaves), and announced as a 'change' when the membership it spans changed.
 */
import { EventEmitter } from 'node:events';
import type { Startable } from '@libp2p/interface';
import type { LiveTopologyName } from '../../graph/circulant.js';
import type { WorkerId } from '../transport.js';
import { liveTopology, type LiveTopology } from './live-topology.js';

/** What the tracker reads of the transport. */
export interface TopologyMembership {
  readonly peerId: string;
  connected(): WorkerId[];
  peer(index: WorkerId): { peerId: string } | undefined;
  on(event: 'join' | 'leave', listener: (index: WorkerId) => void): unknown;
  off(event: 'join' | 'leave', listener: (index: WorkerId) => void): unknown;
}

export interface LiveTopologyTrackerInit {
  /**
   * The graph over the members in peer-id order.
   * @default 'ring'
   */
  topology?: LiveTopologyName;
  /**
   * Communication rate: expected exchanges per local step.
   * @default 1
   */
  rate?: number;
  /**
   * A2CiD2's momentum (false: the gossip baseline, η = α̃ = 0).
   * @default true
   */
  momentum?: boolean;
}

export class LiveTopologyTracker extends EventEmitter<{ change: [LiveTopology] }> implements Startable {
  private readonly name: LiveTopologyName;
  private readonly rate: number;
  private readonly momentum: boolean;
  private topology: LiveTopology;
  /** Topologies formed so far (the first included). */
  readonly history: LiveTopology[] = [];
  private readonly onMembership = (): void => this.update();

  constructor(private readonly membership: TopologyMembership, init: LiveTopologyTrackerInit = {}) {
    super();
    this.name = init.topology ?? 'ring';
    this.rate = init.rate ?? 1;
    this.momentum = init.momentum ?? true;
    this.topology = this.compute();
    this.history.push(this.topology);
  }

  current(): LiveTopology {
    return this.topology;
  }

  async start(): Promise<void> {
    this.membership.on('join', this.onMembership);
    this.membership.on('leave', this.onMembership);
    this.update();
  }

  async stop(): Promise<void> {
    this.membership.off('join', this.onMembership);
    this.membership.off('leave', this.onMembership);
  }

  private compute(): LiveTopology {
    const peers = this.membership.connected().flatMap((i) => {
      const p = this.membership.peer(i);
      return p ? [p.peerId] : [];
    });
    return liveTopology(this.name, peers, this.membership.peerId, this.rate, this.momentum);
  }

  private update(): void {
    const t = this.compute();
    if (t.members.join() === this.topology.members.join()) return;
    this.topology = t;
    this.history.push(t);
    this.emit('change', t);
  }
}
