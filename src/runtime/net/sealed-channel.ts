/**
 * A sealed channel: a TCP connection whose bytes travel in ChaCha20-Poly1305 records (the AEAD of noise) under keys
 * derived from a pre-shared key, with records of up to 1 MiB, each sealed from the caller's bytes into a pooled buffer,
 * and read into a pooled buffer or straight where the consumer wants the bytes (`target`), there opened in place, by
 * one call into OpenSSL (record-cipher.ts). It carries the bulk lane (lane.ts); the PSK is granted over the
 * noise-authenticated libp2p connection (lane-server.ts).
 *
 * Handshake (both ends prove the PSK before any data; a replayed hello yields other keys):
 *
 *   client → server   u8 version, identity (16 bytes: which grant), client nonce (32 random bytes)
 *   server → client   u8 version, server nonce (32 random bytes)
 *   keys              HKDF-SHA256(PSK, salt = client nonce ‖ server nonce, info = "gossamer lane " + direction +
 *                     identity), 32 bytes of key and 12 of IV per direction
 *   both              a first record whose plaintext is CONFIRMATION: the channel is open once the peer's decrypts
 *
 * Records, each direction: u32 plaintext length L (little-endian, ≤ RECORD_BYTES; the record's associated data),
 * L bytes of ciphertext, a 16-byte tag. The nonce of record i is the direction's IV XOR i (TLS 1.3's construction),
 * so no nonce repeats under a key. A record that fails its tag, or a length out of bounds, closes the channel: its
 * plaintext is handed on only once verified.
 */
import { hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES, recordCipher, type RecordCipher } from './record-cipher.js';

export const SEALED_VERSION = 2;
export const IDENTITY_BYTES = 16;
const NONCE_BYTES = 32;
const LENGTH_BYTES = 4;
/** Largest plaintext of one record. */
export const RECORD_BYTES = 1 << 20;
/** A whole record of RECORD_BYTES: length, ciphertext, tag. */
const RECORD_BUFFER_BYTES = LENGTH_BYTES + RECORD_BYTES + AEAD_TAG_BYTES;
/** Records up to this size get a buffer of their own; larger ones one of the pool's. */
const SMALL_RECORD_BYTES = 64 << 10;
/**
 * Pooled record buffers kept for reuse across the process's channels: enough for one channel's records in flight and
 * another's being read, with room for a second sender (a fresh 1 MiB buffer per record costs more than its cipher).
 */
const POOL_KEEP = 8;
const CLIENT_HELLO_BYTES = 1 + IDENTITY_BYTES + NONCE_BYTES;
const SERVER_HELLO_BYTES = 1 + NONCE_BYTES;
const CONFIRMATION = Buffer.from('gossamer lane open');
/**
 * Records handed to the socket and not yet written, beyond which a send waits before it seals more. Counted by write
 * callbacks, not by the socket's queue: loopback takes megabytes at once, and a record's buffer goes back to the pool
 * only when its callback comes.
 */
const RECORDS_IN_FLIGHT = 4;

/** Record buffers of RECORD_BUFFER_BYTES: every large record is sealed into or read into one, then handed back. */
const pool: Buffer[] = [];

function recordBuffer(plainBytes: number): Buffer {
  if (plainBytes > SMALL_RECORD_BYTES) return pool.pop() ?? Buffer.allocUnsafeSlow(RECORD_BUFFER_BYTES);
  return Buffer.allocUnsafe(LENGTH_BYTES + plainBytes + AEAD_TAG_BYTES);
}

function release(buffer: Buffer): void {
  if (buffer.length === RECORD_BUFFER_BYTES && pool.length < POOL_KEEP) pool.push(buffer);
}

export interface Direction {
  key: Buffer;
  iv: Buffer;
  /** Records so far (a safe integer: 2⁵³ records outlast any connection). */
  records: number;
  /** The current record's nonce, rewritten for each (the cipher reads it before returning). */
  nonce: Buffer;
}

/**
 * The nonce of a direction's next record, which it then counts: the IV with its last 8 bytes XOR the record number
 * (u64 little-endian), as two 32-bit halves — no allocation per record.
 */
export function nextNonce(d: Direction): Buffer {
  const at = AEAD_NONCE_BYTES - 8;
  d.nonce.writeUInt32LE((d.iv.readUInt32LE(at) ^ d.records % 2 ** 32) >>> 0, at);
  d.nonce.writeUInt32LE((d.iv.readUInt32LE(at + 4) ^ Math.floor(d.records / 2 ** 32)) >>> 0, at + 4);
  d.records++;
  return d.nonce;
}

function direction(psk: Buffer, salt: Buffer, label: string, identity: Buffer): Direction {
  const okm = Buffer.from(hkdfSync('sha256', psk, salt, Buffer.concat([Buffer.from(`gossamer lane ${label} `), identity]), AEAD_KEY_BYTES + AEAD_NONCE_BYTES));
  return { key: okm.subarray(0, AEAD_KEY_BYTES), iv: okm.subarray(AEAD_KEY_BYTES), records: 0, nonce: Buffer.from(okm.subarray(AEAD_KEY_BYTES)) };
}

export interface SealedHandlers {
  /**
   * Verified plaintext, in order; the bytes are valid during the call only (their buffer is reused) — unless they
   * are the view `target` gave.
   */
  data(bytes: Uint8Array): void;
  /**
   * Where the next `length` bytes of plaintext may go (a view of exactly that length), or null: asked when a record's
   * length arrives, its ciphertext is read into the view and opened in place, then handed to `data` once verified;
   * should the record fail, the channel closes and the view holds garbage, never handed on.
   */
  target?(length: number): Uint8Array | null;
  /** The channel closed (either end, a failed record, the socket's end); called once. */
  close(why: string): void;
}

/** Why a handshake did not open a channel. */
export class HandshakeError extends Error {}

/**
 * One end of a sealed channel. Construct it on a connected socket with the role; `opened` settles when the peer has
 * proven the PSK (or the handshake failed: the socket is then destroyed). Sends must not overlap (lane.ts queues them).
 */
export class SealedChannel {
  closed = false;
  /** The grant's identity (the client's, or the one the server looked up). */
  identity: Buffer | null = null;
  readonly opened: Promise<void>;
  private send_: Direction | null = null;
  private receive: Direction | null = null;
  private confirmed = false;
  private handlers: SealedHandlers | null = null;
  /** Plaintext verified before `attach` (the peer may send as soon as it is open), copied. */
  private early: Buffer[] = [];
  private closedWhy = '';
  private resolveOpened!: () => void;
  private rejectOpened!: (error: Error) => void;
  /** Bytes of a hello, a record's length or its tag being read. */
  private small = Buffer.alloc(CLIENT_HELLO_BYTES);
  private smallFill = 0;
  /** The length field of the record being read, as it came (the record's associated data). */
  private readonly lengthField = Buffer.alloc(LENGTH_BYTES);
  /**
   * Where the ciphertext of the record being read goes and is opened in place (a view `target` gave, or the start of
   * `bodyHolder`, a pooled buffer), null between records; how much of it has come; whether its tag is being read.
   */
  private body: Uint8Array | null = null;
  private bodyHolder: Buffer | null = null;
  private bodyFill = 0;
  private readingTag = false;
  /** Records written to the socket whose callback has not come yet, and the send waiting for one to come. */
  private inFlight = 0;
  private written: (() => void) | null = null;
  private readonly ownNonce = randomBytes(NONCE_BYTES);

  private constructor(
    private readonly socket: Socket,
    private readonly role: 'client' | 'server',
    private readonly psk: Buffer | null,
    private readonly lookup: ((identity: Buffer) => Buffer | null) | null,
    private readonly cipher: RecordCipher,
  ) {
    this.opened = new Promise((resolve, reject) => {
      this.resolveOpened = resolve;
      this.rejectOpened = reject;
    });
    this.opened.catch(() => {});
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.end('the connection closed'));
  }

  /** The connecting end: sends its hello under the grant's identity. */
  static client(socket: Socket, identity: Buffer, psk: Buffer, cipher = recordCipher()): SealedChannel {
    const channel = new SealedChannel(socket, 'client', psk, null, cipher);
    channel.identity = identity;
    socket.write(Buffer.concat([Buffer.from([SEALED_VERSION]), identity, channel.ownNonce]));
    return channel;
  }

  /** The listening end: `lookup` gives the PSK of a grant's identity, or null to refuse it. */
  static server(socket: Socket, lookup: (identity: Buffer) => Buffer | null, cipher = recordCipher()): SealedChannel {
    return new SealedChannel(socket, 'server', null, lookup, cipher);
  }

  /** Where verified plaintext goes from now on; what came between the opening and this call comes first. */
  attach(handlers: SealedHandlers): void {
    this.handlers = handlers;
    const early = this.early;
    this.early = [];
    for (const bytes of early) if (!this.closed) handlers.data(bytes);
    if (this.closed) handlers.close(this.closedWhy);
  }

  /**
   * Seals and writes bytes; resolves once the socket has taken them, rejects if the channel closes first. One send at
   * a time (the lane queues them).
   */
  async send(bytes: Uint8Array): Promise<void> {
    let last: Promise<void> = Promise.resolve();
    for (let o = 0; o < bytes.length; o += RECORD_BYTES) {
      if (this.closed || !this.send_) throw new Error('lane closed');
      last = this.writeRecord(bytes.subarray(o, Math.min(bytes.length, o + RECORD_BYTES)));
      if (this.inFlight >= RECORDS_IN_FLIGHT) await new Promise<void>((resolve) => (this.written = resolve));
    }
    return last;
  }

  close(): void {
    this.socket.destroy();
  }

  /** Seals `plain` into a record buffer and writes it; the buffer goes back to the pool once written. */
  private writeRecord(plain: Uint8Array): Promise<void> {
    const d = this.send_ as Direction;
    const record = recordBuffer(plain.length);
    const end = LENGTH_BYTES + plain.length;
    record.writeUInt32LE(plain.length, 0);
    this.cipher.seal(d.key, nextNonce(d), record.subarray(0, LENGTH_BYTES), plain, record.subarray(LENGTH_BYTES, end), record.subarray(end, end + AEAD_TAG_BYTES));
    this.inFlight++;
    return new Promise((resolve, reject) => {
      this.socket.write(record.subarray(0, end + AEAD_TAG_BYTES), (error) => {
        release(record);
        this.inFlight--;
        const waiting = this.written;
        this.written = null;
        waiting?.();
        if (error) reject(error);
        else resolve();
      });
    });
  }

  /**
   * Where the socket may put its next bytes itself (node:net's `onread` with a buffer function: see connectLane): the
   * rest of the ciphertext of the record being read, or null, when they must come through `push`.
   */
  readInto(): Uint8Array | null {
    return this.body && !this.readingTag && !this.closed ? this.body.subarray(this.bodyFill) : null;
  }

  /** `n` bytes were put where `readInto` said (ignored once the channel has closed). */
  received(n: number): void {
    if (!this.body) return;
    this.bodyFill += n;
    if (this.bodyFill === this.body.length) this.readingTag = true;
  }

  /** Bytes read from the socket. */
  push(chunk: Uint8Array): void {
    let pos = 0;
    while (pos < chunk.length && !this.closed) {
      const into = this.readInto();
      if (into) {
        const take = Math.min(into.length, chunk.length - pos);
        into.set(chunk.subarray(pos, pos + take));
        pos += take;
        this.received(take);
        continue;
      }
      const need = !this.receive ? (this.role === 'server' ? CLIENT_HELLO_BYTES : SERVER_HELLO_BYTES) : this.readingTag ? AEAD_TAG_BYTES : LENGTH_BYTES;
      const take = Math.min(need - this.smallFill, chunk.length - pos);
      this.small.set(chunk.subarray(pos, pos + take), this.smallFill);
      this.smallFill += take;
      pos += take;
      if (this.smallFill < need) return;
      this.smallFill = 0;
      if (!this.receive) this.hello();
      else if (this.readingTag) this.open();
      else this.startRecord();
    }
  }

  /** A record's length has come (in `small`): its ciphertext goes to `target`'s view when there is one. */
  private startRecord(): void {
    const length = this.small.readUInt32LE(0);
    if (length > RECORD_BYTES) return this.fail(`a record of ${length} bytes (limit ${RECORD_BYTES})`);
    this.small.copy(this.lengthField, 0, 0, LENGTH_BYTES);
    const target = this.confirmed && length > 0 ? this.handlers?.target?.(length) : null;
    this.bodyHolder = target ? null : recordBuffer(length);
    this.body = target ?? (this.bodyHolder as Buffer).subarray(0, length);
    this.bodyFill = 0;
    this.readingTag = length === 0;
  }

  /** A whole hello: derives both directions' keys and sends the confirmation. */
  private hello(): void {
    if (this.small[0] !== SEALED_VERSION) return this.fail(`version ${this.small[0]}, not ${SEALED_VERSION}`);
    let salt: Buffer;
    let psk: Buffer | null = this.psk;
    if (this.role === 'server') {
      this.identity = Buffer.from(this.small.subarray(1, 1 + IDENTITY_BYTES));
      psk = (this.lookup as (identity: Buffer) => Buffer | null)(this.identity);
      if (!psk) return this.fail('an unknown or used grant');
      salt = Buffer.concat([this.small.subarray(1 + IDENTITY_BYTES, CLIENT_HELLO_BYTES), this.ownNonce]);
      this.socket.write(Buffer.concat([Buffer.from([SEALED_VERSION]), this.ownNonce]));
    } else {
      salt = Buffer.concat([this.ownNonce, this.small.subarray(1, SERVER_HELLO_BYTES)]);
    }
    const identity = this.identity as Buffer;
    const fromClient = direction(psk as Buffer, salt, 'client', identity);
    const fromServer = direction(psk as Buffer, salt, 'server', identity);
    [this.send_, this.receive] = this.role === 'client' ? [fromClient, fromServer] : [fromServer, fromClient];
    void this.writeRecord(CONFIRMATION).catch(() => {});
  }

  /**
   * A whole record (its tag in `small`): verifies and decrypts it in place, then hands the plaintext on (the first is
   * the confirmation).
   */
  private open(): void {
    const plain = this.body as Uint8Array;
    const holder = this.bodyHolder;
    this.body = null;
    this.bodyHolder = null;
    this.readingTag = false;
    const receive = this.receive as Direction;
    if (!this.cipher.open(receive.key, nextNonce(receive), this.lengthField, plain, plain, this.small.subarray(0, AEAD_TAG_BYTES))) {
      return this.fail(this.confirmed ? 'a record failed its authentication' : 'the peer does not hold the grant\'s key');
    }
    if (!this.confirmed) {
      const confirmed = plain.length === CONFIRMATION.length && timingSafeEqual(plain, CONFIRMATION);
      if (!confirmed) return this.fail('no confirmation');
      this.confirmed = true;
      return this.resolveOpened();
    }
    if (plain.length > 0 && this.handlers) this.handlers.data(plain);
    else if (plain.length > 0) this.early.push(Buffer.from(plain));
    if (holder) release(holder);
  }

  private fail(why: string): void {
    this.end(why);
    this.socket.destroy();
  }

  private end(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closedWhy = why;
    this.body = null;
    this.bodyHolder = null;
    if (!this.confirmed) this.rejectOpened(new HandshakeError(why));
    else this.handlers?.close(why);
  }
}
