/**
 * The bulk lane: one direct sealed channel between two peers (sealed-channel.ts: ChaCha20-Poly1305 records of up to
 * 1 MiB over TCP, keys from a PSK) that carries their large exchanges in both directions: the payloads, and the
 * control frames of the exchange (lane-conversation.ts), which would otherwise each open a libp2p stream. Each MiB
 * costs one call into OpenSSL and no JavaScript object per chunk: the libp2p path costs several times the CPU per MB
 * (docs/network.md). Lanes are set up and authorised over libp2p (lane-table.ts, lane-server.ts).
 *
 * Lane frames, little-endian:
 *
 *   offset  size    field
 *   0       4       tag: the exchange's lane id (bits 0–29, chosen by the proposer and announced in its propose
 *                   frame), bit 30 set on control frames, bit 31 on the acceptor's frames
 *   4       4       length N of what follows
 *   8       N       one whole frame of wire.ts: under a control tag a frame without payload (propose, accept, busy,
 *                   abort, done: at most MAX_HEADER_BYTES), handed to its exchange as a stream's bytes would be;
 *                   otherwise a payload frame (header + payload), validated as on a stream — except its payload
 *                   checksum, 0 on the lane: the channel's records authenticate every byte
 *
 * A payload frame whose tag no exchange awaits (one that has ended) is skipped; one that is not a payload, fails its
 * header checks or whose size differs from N fails its exchange only (the lane stays in step, as it framed N bytes);
 * a length N out of bounds closes the lane.
 */
import { firstNonFinite, nonFiniteDetail } from '../../core/codecs.js';
import { nativeFirstNonFinite } from '../../engine/backends/native/index.js';
import type { NetLogger } from './net-logger.js';
import type { SealedChannel } from './sealed-channel.js';
import type { ExchangeStream } from './stream-io.js';
import { FIXED_HEADER_BYTES, MAX_HEADER_BYTES, decodeHeader, isWireError, peekHeaderLength, wireError, type EncodedFrame, type Expectation, type Frame, type FrameHeader, type WireError } from './wire.js';

/**
 * The addon's check of f32 payloads when it is built (a vectorised pass: 25–35 GB/s against 9–11 for the JavaScript
 * loop), else that loop.
 */
let findNonFinite: ((values: Float32Array) => number) | null = null;

/** Frames from this size (wire header + payload) go over the lane: below it, the libp2p stream costs little. */
export const DEFAULT_LANE_MIN_BYTES = 1 << 20;
/** Bit 31 of a tag: the frame is the acceptor's. */
const ACCEPTOR_BIT = 0x80000000;
/** Bit 30 of a tag: a control frame. */
const CONTROL_BIT = 0x40000000;
const LANE_HEADER_BYTES = 8;
/** Smallest wire frame: a header with one-byte names. */
const MIN_WIRE_FRAME_BYTES = FIXED_HEADER_BYTES + 6;

/** The tag of an exchange's payload or control frame on the lane, sent by its proposer or its acceptor. */
export function laneTag(id: number, from: 'proposer' | 'acceptor', kind: 'payload' | 'control' = 'payload'): number {
  return ((from === 'acceptor' ? id | ACCEPTOR_BIT : id) | (kind === 'control' ? CONTROL_BIT : 0)) >>> 0;
}

/** A tag's lane id, and whose frame it is. */
export function tagParts(tag: number): { id: number; from: 'proposer' | 'acceptor' } {
  return { id: tag & (CONTROL_BIT - 1), from: tag & ACCEPTOR_BIT ? 'acceptor' : 'proposer' };
}

/** The largest lane id. */
export const MAX_LANE_ID = CONTROL_BIT - 1;

/** A lane id a proposer may announce (0: its exchange does not use a lane). */
export function isLaneId(id: number): boolean {
  return Number.isInteger(id) && id > 0 && id <= MAX_LANE_ID;
}

export interface LaneInit {
  /**
   * Address the lane's server listens on.
   * @default the host of the first libp2p listen address
   */
  host?: string;
  /**
   * Port of the lane's server (0: any free one).
   * @default 0
   */
  port?: number;
  /**
   * Frames of at least this many bytes (wire header + payload) travel over a lane.
   * @default DEFAULT_LANE_MIN_BYTES (1 MiB)
   */
  minBytes?: number;
}

/** Where an awaited lane frame goes: what it must match, and who hears of its frame, its refusal or the lane's end. */
export interface LaneSink {
  expect: Expectation;
  done(result: Frame | WireError | 'closed'): void;
}

/** What exchanges see of a transport's lanes (lane-table.ts). */
export interface LaneRouter {
  readonly minBytes: number;
  /** An open lane to the peer, or null (then one is set up in the background for later exchanges). */
  lane(peerId: string): Lane | null;
  /** The control frames of exchange `id`, proposed by this node, on the lane. */
  converse(lane: Lane, id: number): ExchangeStream;
  /** A fresh lane id for an exchange this node proposes. */
  newId(): number;
  /** Routes the lane frame `tag` from the peer to `sink`, once; false if that tag is already awaited. */
  expect(peerId: string, tag: number, sink: LaneSink): boolean;
  /** Drops a routing (the exchange ended). */
  unexpect(peerId: string, tag: number): void;
  /** Counts a payload moved over a lane. */
  count(direction: 'sent' | 'received'): void;
}

/** One open lane to a peer: sends tagged frames, and parses the peer's into the sinks that await them. */
export class Lane {
  closed = false;
  /** Payloads delivered whole (which lane carries what: the one its receiver dialled reads straight into them). */
  payloadsReceived = 0;
  private readonly head = Buffer.alloc(LANE_HEADER_BYTES);
  private headFill = 0;
  /** Bytes of the current lane frame still to come (0: between frames). */
  private left = 0;
  private length = 0;
  private sink: LaneSink | null = null;
  /** The tag of the control frame being read, and its bytes so far. */
  private controlTag: number | null = null;
  private readonly control = new Uint8Array(MAX_HEADER_BYTES);
  private controlFill = 0;
  private readonly wireHead = new Uint8Array(MAX_HEADER_BYTES);
  private wireFill = 0;
  private frame: FrameHeader | null = null;
  private payload: Uint8Array | null = null;
  private payloadFill = 0;
  /** Bytes of an f32 payload whose values are checked finite: each record's, as it lands (still in cache). */
  private checked = 0;
  /** Sends queue here, so that frames of concurrent exchanges never interleave. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly channel: SealedChannel,
    readonly peerId: string,
    private readonly route: (tag: number) => LaneSink | undefined,
    /** Where a control frame goes (its tag, its bytes: a copy). */
    private readonly onControl: (lane: Lane, tag: number, frame: Uint8Array) => void,
    private readonly maxFrameBytes: number,
    /** Memory for a received payload of that many bytes (a transport's pool: payload-pool.ts). */
    private readonly allocate: (bytes: number) => Uint8Array,
    private readonly log: NetLogger,
    onClose: (lane: Lane) => void,
  ) {
    channel.attach({
      data: (chunk) => this.onData(chunk),
      target: (length) => this.target(length),
      close: (why) => {
        log(why === 'the connection closed' ? 'debug' : 'warn', `lane to ${peerId} closed: ${why}`);
        this.closed = true;
        this.fail('closed');
        onClose(this);
      },
    });
  }

  /**
   * Sends one exchange's payload frame; resolves once the socket has taken all of it. A frame whose exchange ends
   * (`signal`) while it waits for its turn is not sent; one under way is finished, to keep the lane in step.
   */
  send(tag: number, frame: EncodedFrame, signal: AbortSignal): Promise<void> {
    return this.enqueue(async () => {
      signal.throwIfAborted();
      await this.channel.send(this.framed(tag, frame.header, frame.payload.length));
      await this.channel.send(frame.payload);
    });
  }

  /** Sends one control frame (a wire frame without payload), after the frames queued before it. */
  sendControl(tag: number, frame: Uint8Array): Promise<void> {
    return this.enqueue(() => this.channel.send(this.framed(tag, frame, 0)));
  }

  /** Runs a send after those queued before it. */
  private enqueue(run: () => Promise<void>): Promise<void> {
    const sent = this.queue.then(run);
    this.queue = sent.catch(() => {});
    return sent;
  }

  /** A lane frame's 8-byte head followed by the wire header (`rest`: the payload bytes that follow it). */
  private framed(tag: number, header: Uint8Array, rest: number): Buffer {
    const bytes = Buffer.alloc(LANE_HEADER_BYTES + header.length);
    bytes.writeUInt32LE(tag, 0);
    bytes.writeUInt32LE(header.length + rest, 4);
    bytes.set(header, LANE_HEADER_BYTES);
    return bytes;
  }

  close(): void {
    this.channel.close();
  }

  private onData(chunk: Uint8Array): void {
    let pos = 0;
    while (pos < chunk.length && !this.closed) {
      if (this.left === 0) {
        const take = Math.min(LANE_HEADER_BYTES - this.headFill, chunk.length - pos);
        this.head.set(chunk.subarray(pos, pos + take), this.headFill);
        this.headFill += take;
        pos += take;
        if (this.headFill < LANE_HEADER_BYTES) return;
        this.headFill = 0;
        const tag = this.head.readUInt32LE(0);
        this.length = this.head.readUInt32LE(4);
        if (this.length < MIN_WIRE_FRAME_BYTES || this.length > this.maxFrameBytes) {
          this.log('warn', `closed the lane from ${this.peerId}: a frame of ${this.length} bytes (limit ${this.maxFrameBytes})`);
          return this.close();
        }
        this.left = this.length;
        if (tag & CONTROL_BIT) {
          if (this.length > MAX_HEADER_BYTES) {
            this.log('warn', `closed the lane from ${this.peerId}: a control frame of ${this.length} bytes`);
            return this.close();
          }
          this.controlTag = tag;
          this.controlFill = 0;
          this.sink = null;
          continue;
        }
        this.sink = this.route(tag) ?? null;
        this.wireFill = 0;
        this.frame = null;
        this.payload = null;
        if (!this.sink) this.log('debug', `lane from ${this.peerId}: skipping ${this.length} bytes of exchange ${tag}, not awaited`);
        continue;
      }
      const take = Math.min(this.left, chunk.length - pos);
      if (this.controlTag !== null) {
        this.control.set(chunk.subarray(pos, pos + take), this.controlFill);
        this.controlFill += take;
        pos += take;
        this.left -= take;
        if (this.left === 0) {
          const tag = this.controlTag;
          this.controlTag = null;
          this.onControl(this, tag, this.control.slice(0, this.controlFill));
        }
        continue;
      }
      if (this.sink) this.feed(chunk.subarray(pos, pos + take));
      pos += take;
      this.left -= take;
      if (this.left === 0 && this.sink && this.frame && this.payload) {
        const [sink, frame, payload] = [this.sink, this.frame, this.payload];
        // (the lane keeps no hold on a delivered payload: a model-sized buffer per lane otherwise)
        this.sink = null;
        this.frame = null;
        this.payload = null;
        this.payloadsReceived++;
        sink.done({ ...frame, payload, authenticated: true, checkedFinite: frame.header.codec === 'f32' });
      }
    }
  }

  /** Feeds bytes of the current lane frame: the wire header (checked as soon as it is whole), then the payload. */
  private feed(part: Uint8Array): void {
    let pos = 0;
    if (!this.frame) {
      const need = this.wireFill < 8 ? 8 : (peekHeaderLength(this.wireHead) as number);
      const take = Math.min(need - this.wireFill, part.length);
      this.wireHead.set(part.subarray(0, take), this.wireFill);
      this.wireFill += take;
      pos = take;
      if (this.wireFill < need) return;
      if (need === 8) {
        const length = peekHeaderLength(this.wireHead);
        if (typeof length !== 'number') return this.fail(length);
        if (length > this.length) return this.fail(wireError('length', `header of ${length} bytes in a lane frame of ${this.length}`));
        return this.feed(part.subarray(pos));
      }
      const h = decodeHeader(this.wireHead.subarray(0, need), (this.sink as LaneSink).expect);
      if (isWireError(h)) return this.fail(h);
      if (h.kind !== 'payload') return this.fail(wireError('unexpected', `a ${h.kind} frame on the lane`));
      if (h.headerLength + h.payloadLength !== this.length) {
        return this.fail(wireError('length', `lane frame of ${this.length} bytes for a payload frame of ${h.headerLength + h.payloadLength}`));
      }
      this.frame = h;
      this.payload = this.allocate(h.payloadLength);
      this.payloadFill = 0;
      this.checked = 0;
    }
    const payload = this.payload as Uint8Array;
    const rest = part.subarray(pos);
    // (bytes the channel decrypted straight into the payload: target())
    if (rest.buffer !== payload.buffer || rest.byteOffset !== payload.byteOffset + this.payloadFill) payload.set(rest, this.payloadFill);
    this.payloadFill += rest.length;
    if (this.frame.header.codec === 'f32') this.checkFinite(payload);
  }

  /** Checks the f32 values completed since the last call; a non-finite one fails the frame. */
  private checkFinite(payload: Uint8Array): void {
    const upTo = this.payloadFill & ~3;
    if (upTo <= this.checked) return;
    const values = new Float32Array(payload.buffer, payload.byteOffset + this.checked, (upTo - this.checked) / 4);
    const bad = (findNonFinite ??= nativeFirstNonFinite() ?? firstNonFinite)(values);
    if (bad >= 0) return this.fail(wireError('non-finite', nonFiniteDetail(this.checked / 4 + bad, values[bad])));
    this.checked = upTo;
  }

  /** The payload's next `length` bytes, when a record of that length falls wholly inside the payload being read. */
  private target(length: number): Uint8Array | null {
    if (!this.sink || !this.frame || !this.payload || length > this.left) return null;
    return this.payload.subarray(this.payloadFill, this.payloadFill + length);
  }

  /** Ends the frame in progress without a result: its sink hears why, the rest of its bytes are skipped. */
  private fail(reason: WireError | 'closed'): void {
    const sink = this.sink;
    this.sink = null;
    this.payload = null;
    sink?.done(reason);
  }
}
