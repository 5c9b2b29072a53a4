/**
 * A worker's id in open mode: a number every node derives alike from the worker's libp2p peer id (the first 31 bits of
 * its SHA-256), so that the runtime's integer worker ids — and the order the pairing breaks ties by — agree across the
 * cluster without anyone handing out indices.
 */
import { createHash } from 'node:crypto';
import type { WorkerId } from '../transport.js';

export function workerIdOf(peerId: string): WorkerId {
  return createHash('sha256').update(peerId).digest().readUInt32BE(0) >>> 1;
}
