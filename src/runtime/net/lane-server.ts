/**
 * The lane's TLS server and client (lane.ts). A server admits only PSKs it has issued: each grant — a random identity
 * and a random 32-byte key — goes to one peer over a libp2p stream (noise-encrypted, peer-authenticated, behind the
 * swarm key: lane-table.ts), admits one TLS connection, which becomes that peer's lane, and is forgotten once used or
 * when that peer's libp2p connection closes. No certificates: both ends prove the PSK in the TLS 1.3 handshake.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { LANE_TLS } from './lane.js';
import type { NetLogger } from './net-logger.js';

/** What a peer needs to open a lane to this node. */
export interface LaneGrant {
  port: number;
  /** PSK identity: 16 random bytes, hex. */
  identity: string;
  psk: Buffer;
}

const GRANT_VERSION = 1;
const IDENTITY_BYTES = 16;
const PSK_BYTES = 32;
/** A grant on the wire: version, port (u16 little-endian), identity, PSK. */
export const GRANT_BYTES = 1 + 2 + IDENTITY_BYTES + PSK_BYTES;
/** Longest TLS handshake either end waits for. */
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

/** A node's lane server: issues grants and hands each admitted TLS connection over with the peer it was issued to. */
export class LaneServer {
  private readonly grants = new Map<string, { peerId: string; psk: Buffer }>();
  /** Every TCP connection of the server (handshakes in progress and lanes), closed with it. */
  private readonly sockets = new Set<Socket>();
  private readonly reported = new Set<string>();

  private constructor(private readonly server: ReturnType<typeof createServer>, readonly port: number) {}

  static async listen(host: string, port: number, log: NetLogger, onLane: (socket: TLSSocket, peerId: string) => void): Promise<LaneServer> {
    const identities = new WeakMap<TLSSocket, string>();
    let self: LaneServer | null = null;
    const refuse = (address: string | undefined, why: string): void => {
      const host = address ?? 'an unknown address';
      const first = self !== null && !self.reported.has(host) && self.reported.size < REPORTED_HOSTS;
      if (first) self?.reported.add(host);
      log(first ? 'warn' : 'debug', `lane: refused a TLS client at ${host}: ${why}`);
    };
    const server = createServer({
      ...LANE_TLS,
      handshakeTimeout: LANE_HANDSHAKE_MS,
      pskCallback: (socket, identity) => {
        const grant = self?.grants.get(identity);
        if (grant) identities.set(socket, identity);
        return grant?.psk ?? null;
      },
    });
    server.on('connection', (raw: Socket) => {
      self?.sockets.add(raw);
      raw.once('close', () => self?.sockets.delete(raw));
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      const identity = identities.get(socket);
      const grant = identity === undefined ? undefined : self?.grants.get(identity);
      // (two handshakes under one grant may both pass its PSK check: the second to finish finds it used)
      if (!grant || !identity || !self) {
        refuse(socket.remoteAddress, 'its PSK was already used');
        return socket.destroy();
      }
      self.grants.delete(identity);
      // (node:tls keeps the handshake timeout as the socket's idle timeout: a lane may idle between exchanges)
      socket.setTimeout(0);
      onLane(socket, grant.peerId);
    });
    server.on('tlsClientError', (error, socket) => refuse(socket.remoteAddress, error.message.split('\n')[0]));
    server.listen(port, host);
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    const address = server.address();
    self = new LaneServer(server, typeof address === 'object' && address ? address.port : port);
    return self;
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
export function connectLane(host: string, grant: LaneGrant, signal: AbortSignal): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ ...LANE_TLS, host, port: grant.port, pskCallback: () => ({ psk: grant.psk, identity: grant.identity }) });
    const fail = (error: Error): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(error);
    };
    const onAbort = (): void => fail(new Error('no TLS handshake in time'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}
