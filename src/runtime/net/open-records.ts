/**
 * Open mode's table of workers: the transport's records (index → peer id, status, connected) kept from the open
 * membership's announcements instead of hellos. A member's index is its id derived from its peer id (worker-id.ts);
 * it is greeted while its announcements keep coming and connected while a connection to it is open; the transport's
 * 'join' and 'leave' follow the two together, and every announcement is a 'status'.
 */
import type { WorkerId } from '../transport.js';
import type { NetHost } from './net-host.js';
import type { Member, OpenMembership } from './open-membership.js';
import type { PeerRecord } from './net-options.js';
import { workerIdOf } from './worker-id.js';

export class OpenRecords {
  constructor(private readonly t: NetHost, private readonly membership: OpenMembership) {
    membership.on('announce', (peerId, m) => this.announced(peerId, m));
    membership.on('leave', (peerId) => this.update(peerId, { greeted: false }));
  }

  /** A connection to a peer opened or closed. */
  connection(peerId: string, open: boolean): void {
    this.update(peerId, { connected: open });
  }

  private announced(peerId: string, m: Member): void {
    const t = this.t;
    const index = workerIdOf(peerId);
    const holder = t.byIndex.get(index);
    if (index === t.self || (holder && holder.peerId !== peerId)) {
      t.log('warn', `refused member ${peerId}: its id ${index} is taken by ${holder?.peerId ?? 'this node'}`);
      return;
    }
    if (t.bannedIndices.has(index)) return;
    if (!holder) {
      t.byIndex.set(index, { index, peerId, addrs: m.addrs, connected: false, greeted: false, status: {} });
      t.byPeerId.set(peerId, index);
    }
    const p = t.byIndex.get(index) as PeerRecord;
    p.addrs = m.addrs;
    p.status = m.status;
    this.update(peerId, { greeted: true });
    t.emit('status', index, m.status);
  }

  private update(peerId: string, change: { greeted?: boolean; connected?: boolean }): void {
    const t = this.t;
    const index: WorkerId | undefined = t.byPeerId.get(peerId);
    const p = index === undefined ? undefined : t.byIndex.get(index);
    if (!p || index === undefined) return;
    const before = p.greeted && p.connected;
    p.greeted = change.greeted ?? p.greeted;
    p.connected = change.connected ?? t.connectedPeers.has(peerId);
    const after = p.greeted && p.connected && this.membership.member(peerId) !== undefined;
    if (after && !before) {
      t.log('info', `worker ${index} (${peerId}) joined`, { peer: index });
      t.emit('join', index);
    } else if (before && !after) {
      t.log('info', `worker ${index} (${peerId}) left`, { peer: index });
      t.emit('leave', index);
    }
  }
}
