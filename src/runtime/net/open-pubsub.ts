/**
 * The gossipsub service of open mode (@libp2p/gossipsub), set for a private cluster of trainers that announce
 * themselves every second: every member hears every announcement, several times over (flood publishing, then the
 * mesh's relays).
 */
import { createHash } from 'node:crypto';
import { gossipsub } from '@libp2p/gossipsub';

export interface AnnouncementPubSubInit {
  /** Largest announcement accepted, bytes (an RPC frame may carry two). */
  maxBytes: number;
}

export function announcementPubSub(init: AnnouncementPubSubInit): ReturnType<typeof gossipsub> {
  return gossipsub({
    allowPublishToZeroTopicPeers: true,
    maxInboundDataLength: 2 * init.maxBytes,
    // No penalty for peers sharing an IP address: the swarm key, not the address, admits a member, and the peers of
    // one machine or behind one NAT share theirs. (The default graylists every peer of an address once more than 14
    // are seen there, and remembers dead ones for an hour: a cluster of 16 on one machine split.)
    scoreParams: { IPColocationFactorWeight: 0 },
    // Copies of a message already seen are dropped before its signature is checked again: without this id, every copy
    // relayed by every mesh peer cost an ed25519 verification, a sixth of a peer's main thread at 16 members. It is
    // taken into the cache only once the signature is verified, so a forged copy cannot shadow the genuine message.
    fastMsgIdFn: (msg) => createHash('sha1').update(msg.signature ?? new Uint8Array()).update(msg.seqno ?? new Uint8Array()).update(msg.data ?? new Uint8Array()).digest('base64'),
  });
}
