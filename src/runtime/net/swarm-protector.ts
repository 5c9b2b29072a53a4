/**
 * Private networks: a libp2p connection protector keyed by the swarm key. It runs on the raw TCP connection before
 * anything else (noise, yamux), so a node without the key cannot even start a libp2p handshake.
 *
 *   1. Both sides send 24 random bytes (their nonce).
 *   2. Both sides send proof = HMAC-SHA256(secret, "gossamer-swarm/1 proof" ‖ own nonce ‖ peer's nonce) and check
 *      the peer's, so that a node with another key (or none) is turned away with a clear error, never half-connected.
 *   3. Everything after is encrypted with AES-256-CTR under a key and IV per direction, derived by HKDF-SHA256 from
 *      the secret and both nonces (as libp2p's pnet does with XSalsa20). Noise then authenticates and encrypts the
 *      libp2p session inside.
 *
 * Why not @libp2p/pnet: its XSalsa20 runs in WebAssembly on whole send queues and fails ("Memory.grow(): Maximum
 * memory size exceeded") on the tens of megabytes a model exchange queues, and is several times slower than
 * OpenSSL's ciphers. The key file format is the same as libp2p's (see swarm-key.ts).
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual, type Cipher, type Decipher } from 'node:crypto';
import type { AbortOptions, ConnectionProtector, MessageStream, MultiaddrConnection } from '@libp2p/interface';
import { AbstractMultiaddrConnection, byteStream, type SendResult } from '@libp2p/utils';
import { swarmSecret } from './swarm-key.js';

const TAG = 'gossamer-swarm/1';
const NONCE_BYTES = 24;
const PROOF_BYTES = 32;
const HANDSHAKE_TIMEOUT_MS = 5000;

/** The remote node does not hold this swarm key. */
export class SwarmKeyMismatchError extends Error {
  override name = 'SwarmKeyMismatchError';
}

function proof(secret: Uint8Array, from: Uint8Array, to: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${TAG} proof`).update(from).update(to).digest();
}

/** Key (32 bytes) and IV (16 bytes) of the direction from → to. */
function directionKey(secret: Uint8Array, from: Uint8Array, to: Uint8Array): { key: Buffer; iv: Buffer } {
  const salt = Buffer.concat([from, to]);
  const okm = Buffer.from(hkdfSync('sha256', secret, salt, `${TAG} stream`, 48));
  return { key: okm.subarray(0, 32), iv: okm.subarray(32, 48) };
}

interface Chunks {
  byteLength: number;
  [Symbol.iterator](): Iterator<Uint8Array>;
}

/** The connection after the handshake: encrypts what is sent, decrypts what arrives. */
class SwarmStream extends AbstractMultiaddrConnection {
  private readonly maConn: MessageStream;
  private readonly out: Cipher;
  private readonly in: Decipher;

  constructor(maConn: MessageStream, out: Cipher, inbound: Decipher) {
    super({
      log: maConn.log.newScope('swarm'),
      remoteAddr: (maConn as MultiaddrConnection).remoteAddr,
      direction: maConn.direction,
    });
    this.maConn = maConn;
    this.out = out;
    this.in = inbound;
    maConn.addEventListener('message', (event) => {
      const data = event.data;
      if (data instanceof Uint8Array) this.onData(this.in.update(data));
      else for (const buf of data) this.onData(this.in.update(buf));
    });
    maConn.addEventListener('drain', () => this.onMuxerDrain());
    maConn.addEventListener('close', (event) => {
      if (event.error != null) {
        if (event.local) this.abort(event.error);
        else this.onRemoteReset();
      } else {
        this.onTransportClosed();
      }
    });
  }

  async sendClose(options?: AbortOptions): Promise<void> {
    await this.maConn.close(options);
  }

  /** Encrypts the whole send queue as one buffer: one socket write instead of one per queued piece (noise queues a
   * 2-byte length and a ciphertext per 64 KB). */
  sendData(data: Chunks): SendResult {
    const parts = [...data];
    const plain = parts.length === 1 ? parts[0] : Buffer.concat(parts, data.byteLength);
    return { sentBytes: data.byteLength, canSendMore: this.maConn.send(this.out.update(plain)) };
  }

  sendReset(err: Error): void {
    this.maConn.abort(err);
  }

  sendPause(): void {
    this.maConn.pause();
  }

  sendResume(): void {
    this.maConn.resume();
  }
}

/** Told of every connection refused for another swarm key: the remote address, and who dialled whom. */
export type MismatchListener = (remote: string, direction: 'inbound' | 'outbound') => void;

class SwarmKeyProtector implements ConnectionProtector {
  readonly [Symbol.toStringTag] = 'gossamer-swarm-key';
  private readonly secret: Uint8Array;

  constructor(key: Uint8Array, private readonly timeoutMs: number, private readonly onMismatch?: MismatchListener) {
    this.secret = swarmSecret(key);
  }

  async protect(connection: MessageStream, options?: AbortOptions): Promise<MessageStream> {
    const signal = options?.signal ?? AbortSignal.timeout(this.timeoutMs);
    const bytes = byteStream(connection);
    const local = randomBytes(NONCE_BYTES);
    const [remoteNonce] = await Promise.all([bytes.read({ bytes: NONCE_BYTES, signal }), bytes.write(local, { signal })]);
    const remote = Buffer.from(remoteNonce.subarray());
    const [theirs] = await Promise.all([bytes.read({ bytes: PROOF_BYTES, signal }), bytes.write(proof(this.secret, local, remote), { signal })]);
    if (!timingSafeEqual(Buffer.from(theirs.subarray()), proof(this.secret, remote, local))) {
      // libp2p keeps a failed upgrade to itself (an accepted connection's failure is not reported at all): say it here.
      this.onMismatch?.(String((connection as MultiaddrConnection).remoteAddr ?? 'an unknown address'), connection.direction);
      throw new SwarmKeyMismatchError('the remote node does not hold this swarm key');
    }
    const o = directionKey(this.secret, local, remote);
    const i = directionKey(this.secret, remote, local);
    return new SwarmStream(bytes.unwrap(), createCipheriv('aes-256-ctr', o.key, o.iv), createDecipheriv('aes-256-ctr', i.key, i.iv));
  }
}

/** A connection protector for libp2p's `connectionProtector` option, from a swarm key file's contents. */
export function swarmKeyProtector(key: Uint8Array, opts: { timeoutMs?: number; onMismatch?: MismatchListener } = {}): () => ConnectionProtector {
  return () => new SwarmKeyProtector(key, opts.timeoutMs ?? HANDSHAKE_TIMEOUT_MS, opts.onMismatch);
}
