import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { nativeAead } from '../../../src/engine/backends/native/index.js';
import { nodeCryptoCipher, recordCipher, type RecordCipher } from '../../../src/runtime/net/record-cipher.js';
import { RECORD_BYTES, SealedChannel, nextNonce } from '../../../src/runtime/net/sealed-channel.js';

const native = nativeAead();
const ciphers: RecordCipher[] = [nodeCryptoCipher, ...(native ? [recordCipher()] : [])];

// RFC 8439, section 2.8.2: the AEAD_CHACHA20_POLY1305 test vector.
const RFC = {
  key: Buffer.from(Array.from({ length: 32 }, (_, i) => 0x80 + i)),
  nonce: Buffer.from('070000004041424344454647', 'hex'),
  aad: Buffer.from('50515253c0c1c2c3c4c5c6c7', 'hex'),
  plain: Buffer.from("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."),
  cipherStart: 'd31a8d34648e60db7b86afbc53ef7ec2',
  cipherEnd: '6116',
  tag: '1ae10b594f09e26a7e902ecbd0600691',
};

describe('record cipher: ChaCha20-Poly1305 in place', () => {
  it('the native cipher is the one used when the addon is built', { skip: native ? false : 'the native addon is not built' }, () => {
    assert.equal(recordCipher().name, 'native');
  });

  for (const cipher of ciphers) {
    it(`${cipher.name}: RFC 8439's test vector, opened back, and a flipped bit refused`, () => {
      const data = Buffer.from(RFC.plain);
      const tag = Buffer.alloc(16);
      cipher.seal(RFC.key, RFC.nonce, RFC.aad, data, data, tag);
      assert.equal(data.subarray(0, 16).toString('hex'), RFC.cipherStart);
      assert.equal(data.subarray(-2).toString('hex'), RFC.cipherEnd);
      assert.equal(tag.toString('hex'), RFC.tag);
      const sealed = Buffer.from(data);
      assert.equal(cipher.open(RFC.key, RFC.nonce, RFC.aad, data, data, tag), true);
      assert.ok(data.equals(RFC.plain));
      for (const [what, flip] of [['ciphertext', (d: Buffer) => (d[7] ^= 1)], ['associated data', () => (RFC.aad[0] ^= 1)]] as const) {
        const copy = Buffer.from(sealed);
        flip(copy);
        assert.equal(cipher.open(RFC.key, RFC.nonce, RFC.aad, copy, copy, tag), false, what);
        if (what === 'associated data') RFC.aad[0] ^= 1;
      }
    });
  }

  it('record i\'s nonce is the IV with its last 8 bytes XOR i (u64 little-endian), past 2³² too', () => {
    const iv = Buffer.from('0102030405f6f7f8f9fafbfc', 'hex');
    for (const i of [0, 1, 255, 2 ** 31, 2 ** 32 - 1, 2 ** 32 + 5, 2 ** 40 + 3]) {
      const d = { key: Buffer.alloc(32), iv, records: i, nonce: Buffer.from(iv) };
      const expected = Buffer.from(iv);
      expected.writeBigUInt64LE(iv.readBigUInt64LE(4) ^ BigInt(i), 4);
      assert.deepEqual(nextNonce(d), expected, `record ${i}`);
      assert.equal(d.records, i + 1);
    }
  });

  it('the two implementations open each other\'s records (1 MiB, odd offsets), in place and apart', { skip: native ? false : 'the native addon is not built' }, () => {
    const [a, b] = ciphers;
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const aad = Buffer.from([1, 2, 3, 4]);
    const plain = randomBytes(RECORD_BYTES + 3).subarray(3);
    for (const [from, to] of [[a, b], [b, a]]) {
      const data = Buffer.from(plain);
      const tag = Buffer.alloc(16);
      from.seal(key, nonce, aad, data, data, tag);
      assert.ok(!data.equals(plain));
      const apart = Buffer.alloc(data.length + 5).subarray(5);
      assert.equal(to.open(key, nonce, aad, data, apart, tag), true);
      assert.ok(apart.equals(plain), 'opened apart');
      assert.equal(to.open(key, nonce, aad, data, data, tag), true);
      assert.ok(data.equals(plain), 'opened in place');
      const sealed = Buffer.alloc(plain.length);
      to.seal(key, nonce, aad, plain, sealed, tag);
      assert.ok(!sealed.equals(plain));
      assert.equal(from.open(key, nonce, aad, sealed, sealed, tag), true);
      assert.ok(sealed.equals(plain), 'sealed apart, the input untouched');
    }
  });

  it('native: a wrong call throws a TypeError, never touches memory', { skip: native ? false : 'the native addon is not built' }, () => {
    const cipher = recordCipher();
    const data = Buffer.alloc(64);
    assert.throws(() => cipher.seal(Buffer.alloc(16), Buffer.alloc(12), Buffer.alloc(0), data, data, Buffer.alloc(16)), TypeError);
    assert.throws(() => cipher.open(Buffer.alloc(32), Buffer.alloc(12), Buffer.alloc(0), data, data, Buffer.alloc(15)), TypeError);
    const floats = new Float32Array(2) as unknown as Uint8Array;
    assert.throws(() => cipher.seal(Buffer.alloc(32), Buffer.alloc(12), Buffer.alloc(0), floats, floats, Buffer.alloc(16)), TypeError);
    assert.throws(() => cipher.seal(Buffer.alloc(32), Buffer.alloc(12), Buffer.alloc(0), data.subarray(0, 32), data.subarray(8, 40), Buffer.alloc(16)), TypeError, 'overlapping');
    assert.throws(() => cipher.seal(Buffer.alloc(32), Buffer.alloc(12), Buffer.alloc(0), data.subarray(0, 32), data.subarray(32, 63), Buffer.alloc(16)), TypeError, 'shorter output');
  });
});

/** A sealed-channel server on 127.0.0.1 that knows one grant; its channels and what they received. */
class Harness {
  readonly identity = randomBytes(16);
  readonly psk = randomBytes(32);
  readonly channels: SealedChannel[] = [];
  readonly received: Buffer[][] = [];
  readonly closed: string[] = [];
  readonly refused: string[] = [];
  private server!: Server;
  port = 0;

  /** attachAfterMs: how long an opened channel goes without handlers (bytes may arrive meanwhile). */
  constructor(private readonly cipher: RecordCipher, private readonly attachAfterMs = 0) {}

  async start(): Promise<void> {
    this.server = createServer((socket) => {
      const channel = SealedChannel.server(socket, (identity) => (identity.equals(this.identity) ? this.psk : null), this.cipher);
      const got: Buffer[] = [];
      channel.opened.then(
        () => {
          this.channels.push(channel);
          this.received.push(got);
          const attach = (): void => channel.attach({ data: (bytes) => got.push(Buffer.from(bytes)), close: (why) => this.closed.push(why) });
          if (this.attachAfterMs > 0) setTimeout(attach, this.attachAfterMs);
          else attach();
        },
        (error: Error) => this.refused.push(error.message),
      );
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    for (const c of this.channels) c.close();
    await new Promise((resolve) => this.server.close(resolve));
  }

  async client(cipher: RecordCipher, psk: Buffer = this.psk): Promise<{ channel: SealedChannel; socket: Socket }> {
    const socket = connect(this.port, '127.0.0.1');
    await once(socket, 'connect');
    return { channel: SealedChannel.client(socket, this.identity, psk, cipher), socket };
  }
}

const until = async (what: () => boolean, label: string): Promise<void> => {
  for (let k = 0; k < 500 && !what(); k++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(what(), label);
};

describe('sealed channel', { timeout: 60_000 }, () => {
  const server = new Harness(nodeCryptoCipher);
  before(() => server.start());
  after(() => server.stop());

  it('carries bytes both ways, byte for byte, across records and between the two ciphers', async () => {
    const { channel } = await client();
    await channel.opened;
    await until(() => server.channels.length === 1, 'the server opened its end');
    const mine: Buffer[] = [];
    channel.attach({ data: (bytes) => mine.push(Buffer.from(bytes)), close: () => {} });
    const big = randomBytes(2 * RECORD_BYTES + 12_345);
    const small = Buffer.from('hello');
    await Promise.all([channel.send(big).then(() => channel.send(small)), server.channels[0].send(big)]);
    await until(() => Buffer.concat(server.received[0]).length === big.length + small.length, 'the server got everything');
    await until(() => Buffer.concat(mine).length === big.length, 'the client got everything');
    assert.ok(Buffer.concat(server.received[0]).equals(Buffer.concat([big, small])));
    assert.ok(Buffer.concat(mine).equals(big));
    channel.close();
    await until(() => server.closed.length === 1, 'the server saw the close');
  });

  it('a long send keeps a few records in flight, however fast the socket takes them (each holds a 1 MiB buffer)', async () => {
    const before = server.channels.length;
    const { channel, socket } = await client();
    await channel.opened;
    await until(() => server.channels.length === before + 1, 'the server opened its end');
    const target = server.received[before];
    let outstanding = 0;
    let most = 0;
    const write = socket.write.bind(socket) as (data: Uint8Array, cb: (error?: Error | null) => void) => boolean;
    (socket as unknown as { write: typeof write }).write = (data, cb) => {
      most = Math.max(most, ++outstanding);
      return write(data, (error) => (outstanding--, cb(error)));
    };
    const big = randomBytes(24 * RECORD_BYTES);
    await channel.send(big);
    await until(() => Buffer.concat(target).length === big.length, 'the server got everything');
    assert.ok(Buffer.concat(target).equals(big));
    assert.ok(most <= 4, `${most} records were in flight at once`);
    channel.close();
  });

  it('a byte changed in flight closes the channel and hands nothing of its record on', async () => {
    const before = server.channels.length;
    const { channel, socket } = await client();
    await channel.opened;
    await until(() => server.channels.length === before + 1, 'the server opened its end');
    // A forged record under the right length: its tag cannot match.
    const forged = Buffer.alloc(4 + 100 + 16, 7);
    forged.writeUInt32LE(100, 0);
    socket.write(forged);
    await until(() => server.closed.length === before + 1, 'the server closed the channel');
    assert.match(server.closed.at(-1) as string, /failed its authentication/);
    assert.equal(server.received[before].length, 0);
  });

  it('a record longer than the limit closes the channel', async () => {
    const before = server.channels.length;
    const { channel, socket } = await client();
    await channel.opened;
    await until(() => server.channels.length === before + 1, 'the server opened its end');
    const head = Buffer.alloc(4);
    head.writeUInt32LE(RECORD_BYTES + 1, 0);
    socket.write(head);
    await until(() => server.closed.length === before + 1, 'the server closed the channel');
    assert.match(server.closed.at(-1) as string, /a record of 1048577 bytes/);
  });

  it('a wrong PSK, a replayed hello, an unknown identity and another version are refused in the handshake', async () => {
    const wrong = await client(randomBytes(32));
    await assert.rejects(wrong.channel.opened, /does not hold the grant's key/);
    // Replay a genuine client's opening bytes (its hello and confirmation) to the server: its fresh nonce gives other keys.
    const recorded: Buffer[] = [];
    const socket = connect(server.port, '127.0.0.1');
    await once(socket, 'connect');
    const write = socket.write.bind(socket);
    socket.write = ((bytes: Uint8Array, ...rest: never[]) => {
      recorded.push(Buffer.from(bytes));
      return write(bytes, ...rest);
    }) as typeof socket.write;
    const genuine = SealedChannel.client(socket, server.identity, server.psk, ciphers[0]);
    await genuine.opened;
    await until(() => recorded.length >= 2, 'the hello and the confirmation were sent');
    const replay = connect(server.port, '127.0.0.1');
    replay.on('error', () => {});
    await once(replay, 'connect');
    const refusals = server.refused.length;
    replay.write(Buffer.concat(recorded));
    await until(() => server.refused.length === refusals + 1, 'the replay was refused');
    assert.match(server.refused.at(-1) as string, /does not hold the grant's key/);
    for (const [what, hello] of [
      ['an unknown identity', Buffer.concat([Buffer.from([2]), randomBytes(48)])],
      ['another version', Buffer.concat([Buffer.from([9]), server.identity, randomBytes(32)])],
    ] as const) {
      const socket = connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      await once(socket, 'connect');
      const n = server.refused.length;
      socket.write(hello);
      await once(socket, 'close');
      await until(() => server.refused.length === n + 1, what);
      assert.match(server.refused.at(-1) as string, what === 'another version' ? /version 9/ : /unknown or used grant/);
    }
  });

  function client(psk?: Buffer<ArrayBufferLike>): Promise<{ channel: SealedChannel; socket: Socket }> {
    return server.client(ciphers[ciphers.length - 1], psk);
  }
});

describe('sealed channel: bytes that come before the receiving end is attached', { timeout: 30_000 }, () => {
  const server = new Harness(nodeCryptoCipher, 200);
  before(() => server.start());
  after(() => server.stop());

  it('are kept and handed on first, in order, when it attaches', async () => {
    const { channel } = await server.client(ciphers[ciphers.length - 1]);
    await channel.opened;
    const parts = [randomBytes(100), randomBytes(RECORD_BYTES + 7), Buffer.from('last')];
    for (const p of parts) await channel.send(p);
    await until(() => server.received.length === 1 && Buffer.concat(server.received[0]).length === 100 + RECORD_BYTES + 7 + 4, 'everything arrived');
    assert.ok(Buffer.concat(server.received[0]).equals(Buffer.concat(parts)));
    channel.close();
  });
});

describe('sealed channel: a dialling end that reads records straight into the consumer\'s views', { timeout: 60_000 }, () => {
  const server = new Harness(ciphers[ciphers.length - 1]);
  before(() => server.start());
  after(() => server.stop());

  /** A client socket reading as connectLane does (onread: the channel's readInto, else a staging buffer). */
  async function readingClient(target: (length: number) => Uint8Array | null): Promise<{ channel: SealedChannel; got: Uint8Array[]; closed: string[]; direct: () => number }> {
    let channel: SealedChannel | null = null;
    let direct = 0;
    const staging = Buffer.alloc(64 << 10);
    const onread = {
      buffer: (): Uint8Array => channel?.readInto() ?? staging,
      callback: (n: number, into: Uint8Array): boolean => {
        if (into === staging) channel?.push(staging.subarray(0, n));
        else (direct += n), channel?.received(n);
        return true;
      },
    };
    const socket = connect({ host: '127.0.0.1', port: server.port, onread });
    await once(socket, 'connect');
    channel = SealedChannel.client(socket, server.identity, server.psk);
    await channel.opened;
    const got: Uint8Array[] = [];
    const closed: string[] = [];
    channel.attach({ data: (bytes) => got.push(bytes), target, close: (why) => closed.push(why) });
    return { channel, got, closed, direct: () => direct };
  }

  it('records land in the views target gives, opened in place, byte for byte; most bytes never pass the staging buffer', async () => {
    const before = server.channels.length;
    const into = Buffer.alloc(3 * RECORD_BYTES);
    let used = 0;
    const { channel, got, direct } = await readingClient((length) => (used + length <= into.length ? into.subarray(used, (used += length)) : null));
    await until(() => server.channels.length === before + 1, 'the server opened its end');
    const big = randomBytes(3 * RECORD_BYTES);
    await server.channels[before].send(big);
    await until(() => got.reduce((n, b) => n + b.length, 0) === big.length, 'everything arrived');
    assert.ok(into.equals(big));
    assert.equal(got.length, 3);
    for (const [k, view] of got.entries()) assert.equal(view.byteOffset, into.byteOffset + k * RECORD_BYTES, 'data hands on the view itself');
    assert.ok(direct() > 2 * RECORD_BYTES, `${direct()} bytes read straight into the views`);
    channel.close();
  });

  it('a record that fails its tag closes the channel; its view is never handed on', async () => {
    const before = server.channels.length;
    const into = Buffer.alloc(2 * RECORD_BYTES);
    let used = 0;
    const { got, closed } = await readingClient((length) => (used + length <= into.length ? into.subarray(used, (used += length)) : null));
    await until(() => server.channels.length === before + 1, 'the server opened its end');
    const sender = server.channels[before] as unknown as { socket: Socket };
    const write = sender.socket.write.bind(sender.socket) as (data: Uint8Array, cb?: (error?: Error | null) => void) => boolean;
    let records = 0;
    (sender.socket as unknown as { write: typeof write }).write = (data, cb) => {
      if (++records === 2) data[data.length >> 1] ^= 1; // the second record, in its ciphertext
      return write(data, cb);
    };
    void server.channels[before].send(randomBytes(2 * RECORD_BYTES)).catch(() => {});
    await until(() => closed.length === 1, 'the client closed the channel');
    assert.match(closed[0], /failed its authentication/);
    assert.equal(got.length, 1, 'only the first record was handed on');
  });
});
