/**
 * The lane's server and client (lane.ts). A server admits only PSKs it has issued: each grant — a random identity
 * and a random 32-byte key — goes to one peer over a libp2p stream (noise-encrypted, peer-authenticated, behind the
 * swarm key: lane-table.ts), admits one sealed channel (sealed-channel.ts), which becomes that peer's lane, and is
 * forgotten once used or when that peer's libp2p connection closes. Both ends prove the PSK in the channel's handshake.
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { NetLogger } from './net-logger.js';
import { IDENTITY_BYTES, SealedChannel } from './sealed-channel.js';

/** What a peer needs to open a lane to this node. */
export interface LaneGrant {
  port: number;
  /** PSK identity: 16 random bytes, hex. */
  identity: string;
  psk: Buffer;
}

const GRANT_VERSION = 2;
const PSK_BYTES = 32;
/** A grant on the wire: version, port (u16 little-endian), identity, PSK. */
export const GRANT_BYTES = 1 + 2 + IDENTITY_BYTES + PSK_BYTES;
/** The dialling end's read buffer. */
const READ_BUFFER_BYTES = 64 << 10;
/** Longest handshake either end waits for. */
export const LANE_HANDSHAKE_MS = 10_000;
/** Unused grants kept per peer: a further request drops the oldest. */
const GRANTS_PER_PEER = 2;
/** Remote addresses whose first refusal was a warning (later ones are debug lines), at most. */
const REPORTED_HOSTS = 256;

export function encodeGrant(grant: LaneGrant): Uint8Array {
  const out = Buffer.alloc(GRANT_BYTES);
  out.writeUInt8(GRANT_VERSION, 0);
  out.writeUInt16LE(grant.port, 1);
  Buffer.from(grant.identity, 'hex').copy(out, 3);
  grant.psk.copy(out, 3 + IDENTITY_BYTES);
  return out;
}

export function decodeGrant(bytes: Uint8Array): LaneGrant | null {
  if (bytes.length !== GRANT_BYTES || bytes[0] !== GRANT_VERSION) return null;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const port = b.readUInt16LE(1);
  if (port === 0) return null;
  return { port, identity: b.toString('hex', 3, 3 + IDENTITY_BYTES), psk: Buffer.from(b.subarray(3 + IDENTITY_BYTES)) };
}

/** A node's lane server: issues grants and hands each admitted channel over with the peer it was issued to. */
export class LaneServer {
  private readonly grants = new Map<string, { peerId: string; psk: Buffer }>();
  /** Every TCP connection of the server (handshakes in progress and lanes), closed with it. */
  private readonly sockets = new Set<Socket>();
  private readonly reported = new Set<string>();

  private constructor(private readonly server: Server, readonly port: number, private readonly log: NetLogger) {}

  static async listen(host: string, port: number, log: NetLogger, onLane: (channel: SealedChannel, peerId: string) => void): Promise<LaneServer> {
    let self: LaneServer | null = null;
    const server = createServer((socket) => self?.admit(socket, onLane));
    server.listen(port, host);
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    const address = server.address();
    self = new LaneServer(server, typeof address === 'object' && address ? address.port : port, log);
    return self;
  }

  /** Runs a client's handshake; a grant is used up by the first channel it opens. */
  private admit(socket: Socket, onLane: (channel: SealedChannel, peerId: string) => void): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const address = socket.remoteAddress;
    const channel = SealedChannel.server(socket, (identity) => this.grants.get(identity.toString('hex'))?.psk ?? null);
    const timer = setTimeout(() => channel.close(), LANE_HANDSHAKE_MS);
    channel.opened.then(
      () => {
        clearTimeout(timer);
        const identity = (channel.identity as Buffer).toString('hex');
        const grant = this.grants.get(identity);
        // (two handshakes under one grant may both prove its PSK: the second to finish finds it used)
        if (!grant) {
          this.refuse(address, 'its grant was already used');
          return channel.close();
        }
        this.grants.delete(identity);
        onLane(channel, grant.peerId);
      },
      (error: Error) => {
        clearTimeout(timer);
        this.refuse(address, error.message);
      },
    );
  }

  private refuse(address: string | undefined, why: string): void {
    const host = address ?? 'an unknown address';
    const first = !this.reported.has(host) && this.reported.size < REPORTED_HOSTS;
    if (first) this.reported.add(host);
    this.log(first ? 'warn' : 'debug', `lane: refused a client at ${host}: ${why}`);
  }

  /** A fresh grant for the peer. */
  issue(peerId: string): LaneGrant {
    const own = [...this.grants].filter(([, g]) => g.peerId === peerId);
    for (const [identity] of own.slice(0, Math.max(0, own.length - GRANTS_PER_PEER + 1))) this.grants.delete(identity);
    const grant = { port: this.port, identity: randomBytes(IDENTITY_BYTES).toString('hex'), psk: randomBytes(PSK_BYTES) };
    this.grants.set(grant.identity, { peerId, psk: grant.psk });
    return grant;
  }

  /** Forgets the peer's grants (its libp2p connection closed). */
  forget(peerId: string): void {
    for (const [identity, g] of this.grants) if (g.peerId === peerId) this.grants.delete(identity);
  }

  /** Stops listening and closes its connections. */
  async close(): Promise<void> {
    this.grants.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

/** Opens a lane to host:port under a grant; rejects when the handshake fails or the signal aborts first. */
export async function connectLane(host: string, grant: LaneGrant, signal: AbortSignal): Promise<SealedChannel> {
  signal.throwIfAborted();
  // The dialling end reads the bulk of each record straight where it goes (the channel's readInto: often the
  // payload itself), the rest into one buffer of its own that the channel copies from before the next read — never a
  // fresh buffer per read (node:net offers this to dialled sockets only).
  let channel: SealedChannel | null = null;
  const staging = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  const onread = {
    buffer: (): Uint8Array => channel?.readInto() ?? staging,
    callback: (n: number, into: Uint8Array): boolean => {
      if (into === staging) channel?.push(staging.subarray(0, n));
      else channel?.received(n);
      return true;
    },
  };
  const socket = connect({ host, port: grant.port, onread });
  const onAbort = (): void => void socket.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(signal.aborted ? 'no handshake in time' : 'the connection closed')));
    });
    const opening = SealedChannel.client(socket, Buffer.from(grant.identity, 'hex'), grant.psk);
    channel = opening;
    await opening.opened.catch((error: Error) => {
      throw signal.aborted ? new Error('no handshake in time') : error;
    });
    return opening;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
