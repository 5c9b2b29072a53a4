/**
 * Wire format of the network transport. Every frame is a versioned binary header followed by its payload:
 *
 *   offset  size  field
 *   0       4     magic "GSMR"
 *   4       1     version (WIRE_VERSION)
 *   5       1     kind: 1 propose, 2 accept, 3 busy, 4 payload, 5 abort, 6 done
 *   6       2     header length in bytes (including the header checksum)
 *   8       1     codec: 0 f32, 1 f16, 2 i8, 3 i4
 *   9       1     algorithm name length A (1…64, [A-Za-z0-9_.-])
 *   10      1     layout hash length L (1…128, [A-Za-z0-9_.:-])
 *   11      1     reserved (0)
 *   12      8     sender's step (u32 low, u32 high; a safe integer)
 *   20      4     element count (floats of the message)
 *   24      4     block size (i8, i4: elements per min–max block; otherwise 0)
 *   28      4     payload length in bytes (0 for frames without payload)
 *   32      4     payload frames: payload CRC32 (0 on a lane, whose records authenticate it); propose, accept: the
 *                 exchange's lane id (lane.ts; 0: none)
 *   36      4     aux: propose → the proposer's exchange timeout in ms; abort → reason code; otherwise 0
 *   40      A     algorithm (ASCII)
 *   40+A    L     layout hash (ASCII)
 *   40+A+L  4     CRC32 of the header bytes before it
 *
 * All integers little-endian. Payloads: f32 raw little-endian floats; f16 IEEE half floats (round to nearest even,
 * saturating at ±65504); i8 blockwise min–max quantisation: ⌈n/B⌉ pairs (min, scale) as float32, then n codes
 * q ∈ [0, 255], decoded in float32 as min + q·scale; i4 the same with q ∈ [0, 15], two codes per byte (core/codecs.ts).
 *
 * Decoding never throws: every function returns either a value or a WireError (reason code + detail), so that a
 * malformed, truncated, mismatched or corrupted frame can be dropped and logged.
 */
import * as zlib from 'node:zlib';
import { CODECS, DEFAULT_BLOCK_SIZE, blockwise, MAX_BLOCK_SIZE, decodePayload, encodePayload, payloadBytes } from '../../core/codecs.js';
import type { MessageHeader } from '../transport.js';


export const WIRE_MAGIC = 0x524d5347; // "GSMR" read as a little-endian u32
export const WIRE_VERSION = 1;
export const FIXED_HEADER_BYTES = 40;
export const MAX_HEADER_BYTES = FIXED_HEADER_BYTES + 64 + 128 + 4;
/** Default limit on one payload (a 256 M-parameter float32 model). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1 << 30;

export const FRAME_KINDS = ['propose', 'accept', 'busy', 'payload', 'abort', 'done'] as const;
export type FrameKind = (typeof FRAME_KINDS)[number];

/** Why an exchange was abandoned, as carried in an abort frame's aux field. */
export const ABORT_REASONS = ['unknown', 'refused', 'invalid', 'timeout', 'closed', 'busy'] as const;
export type AbortReason = (typeof ABORT_REASONS)[number];

export type WireErrorReason =
  | 'truncated'
  | 'magic'
  | 'version'
  | 'kind'
  | 'header-length'
  | 'header-checksum'
  | 'codec'
  | 'field'
  | 'length'
  | 'too-large'
  | 'algorithm'
  | 'layout'
  | 'count'
  | 'checksum'
  | 'non-finite'
  | 'unexpected';

/** A rejected frame: a reason code (for counting and tests) and a one-line detail (for the log). */
export interface WireError {
  ok: false;
  reason: WireErrorReason;
  detail: string;
}

export function wireError(reason: WireErrorReason, detail: string): WireError {
  return { ok: false, reason, detail };
}

/** A decoded frame header. */
export interface FrameHeader {
  kind: FrameKind;
  header: MessageHeader;
  count: number;
  blockSize: number;
  payloadLength: number;
  payloadCrc: number;
  aux: number;
  /** Bytes taken by the header itself. */
  headerLength: number;
}

/** What a receiver insists on: frames that differ are rejected as mismatched. */
export interface Expectation {
  algorithm?: string;
  layoutHash?: string;
  /** Element count of messages. */
  count?: number;
  maxPayloadBytes?: number;
}

const ALGORITHM_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const LAYOUT_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

// ---------------------------------------------------------------------------------------------------------------
// CRC32

let crcTable: Uint32Array | null = null;

function crc32Fallback(data: Uint8Array, value: number): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[i] = c >>> 0;
    }
  }
  let c = ~value >>> 0;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC32 (IEEE) of data, continuing from a previous value (node:zlib's when available). */
export function crc32(data: Uint8Array, value = 0): number {
  return zlibCrc32 ? zlibCrc32(data, value) >>> 0 : crc32Fallback(data, value);
}

// ---------------------------------------------------------------------------------------------------------------
// Headers

export interface EncodeHeaderOptions {
  kind: FrameKind;
  header: MessageHeader;
  count?: number;
  blockSize?: number;
  payloadLength?: number;
  payloadCrc?: number;
  aux?: number;
}

const textEncoder = new TextEncoder();

/** Encodes a frame header. Throws on fields that cannot be represented (a sender bug, not wire input). */
export function encodeHeader(o: EncodeHeaderOptions): Uint8Array {
  const { header } = o;
  if (!ALGORITHM_RE.test(header.algorithm)) throw new Error(`algorithm name ${JSON.stringify(header.algorithm)} cannot be sent`);
  if (!LAYOUT_RE.test(header.layoutHash)) throw new Error(`layout hash ${JSON.stringify(header.layoutHash)} cannot be sent`);
  if (!Number.isSafeInteger(header.step) || header.step < 0) throw new Error(`step ${header.step} cannot be sent`);
  const codec = CODECS.indexOf(header.codec);
  if (codec < 0) throw new Error(`unknown codec ${String(header.codec)}`);
  const kind = FRAME_KINDS.indexOf(o.kind);
  const alg = textEncoder.encode(header.algorithm);
  const lay = textEncoder.encode(header.layoutHash);
  const length = FIXED_HEADER_BYTES + alg.length + lay.length + 4;
  const out = new Uint8Array(length);
  const v = new DataView(out.buffer);
  v.setUint32(0, WIRE_MAGIC, true);
  v.setUint8(4, header.version);
  v.setUint8(5, kind + 1);
  v.setUint16(6, length, true);
  v.setUint8(8, codec);
  v.setUint8(9, alg.length);
  v.setUint8(10, lay.length);
  v.setUint32(12, header.step % 2 ** 32, true);
  v.setUint32(16, Math.floor(header.step / 2 ** 32), true);
  v.setUint32(20, o.count ?? 0, true);
  v.setUint32(24, o.blockSize ?? 0, true);
  v.setUint32(28, o.payloadLength ?? 0, true);
  v.setUint32(32, o.payloadCrc ?? 0, true);
  v.setUint32(36, o.aux ?? 0, true);
  out.set(alg, FIXED_HEADER_BYTES);
  out.set(lay, FIXED_HEADER_BYTES + alg.length);
  v.setUint32(length - 4, crc32(out.subarray(0, length - 4)), true);
  return out;
}

/** Reads the header length from a frame's first 8 bytes, or an error if these cannot start a frame. */
export function peekHeaderLength(bytes: Uint8Array): number | WireError {
  if (bytes.length < 8) return wireError('truncated', `need 8 bytes to start a frame, have ${bytes.length}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, true) !== WIRE_MAGIC) return wireError('magic', `bad magic 0x${v.getUint32(0, false).toString(16).padStart(8, '0')}`);
  const version = v.getUint8(4);
  if (version !== WIRE_VERSION) return wireError('version', `wire version ${version}, this node speaks ${WIRE_VERSION}`);
  const length = v.getUint16(6, true);
  if (length < FIXED_HEADER_BYTES + 6 || length > MAX_HEADER_BYTES) return wireError('header-length', `header length ${length}`);
  return length;
}

const textDecoder = new TextDecoder('utf-8', { fatal: false });

/** Decodes and validates a frame header (the first bytes of `bytes`), checking it against an expectation. */
export function decodeHeader(bytes: Uint8Array, expect: Expectation = {}): FrameHeader | WireError {
  const length = peekHeaderLength(bytes);
  if (typeof length !== 'number') return length;
  if (bytes.length < length) return wireError('truncated', `header of ${length} bytes, have ${bytes.length}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, length);
  const crc = v.getUint32(length - 4, true);
  if (crc32(bytes.subarray(0, length - 4)) !== crc) return wireError('header-checksum', 'header checksum mismatch');
  const kindCode = v.getUint8(5);
  if (kindCode < 1 || kindCode > FRAME_KINDS.length) return wireError('kind', `unknown frame kind ${kindCode}`);
  const kind = FRAME_KINDS[kindCode - 1];
  const codecCode = v.getUint8(8);
  if (codecCode >= CODECS.length) return wireError('codec', `unknown codec ${codecCode}`);
  const codec = CODECS[codecCode];
  const algLength = v.getUint8(9);
  const layLength = v.getUint8(10);
  if (FIXED_HEADER_BYTES + algLength + layLength + 4 !== length) return wireError('header-length', `header length ${length} does not fit names of ${algLength} + ${layLength} bytes`);
  if (v.getUint8(11) !== 0) return wireError('field', 'reserved byte is not zero');
  const step = v.getUint32(12, true) + v.getUint32(16, true) * 2 ** 32;
  if (!Number.isSafeInteger(step)) return wireError('field', `step ${step} is not a safe integer`);
  const count = v.getUint32(20, true);
  const blockSize = v.getUint32(24, true);
  const payloadLength = v.getUint32(28, true);
  const payloadCrc = v.getUint32(32, true);
  const aux = v.getUint32(36, true);
  const algorithm = textDecoder.decode(bytes.subarray(FIXED_HEADER_BYTES, FIXED_HEADER_BYTES + algLength));
  const layoutHash = textDecoder.decode(bytes.subarray(FIXED_HEADER_BYTES + algLength, FIXED_HEADER_BYTES + algLength + layLength));
  if (!ALGORITHM_RE.test(algorithm)) return wireError('field', `algorithm name ${JSON.stringify(algorithm)} is not allowed`);
  if (!LAYOUT_RE.test(layoutHash)) return wireError('field', `layout hash ${JSON.stringify(layoutHash)} is not allowed`);
  if (blockwise(codec)) {
    if (blockSize < 1 || blockSize > MAX_BLOCK_SIZE) return wireError('field', `${codec} block size ${blockSize}`);
  } else if (blockSize !== 0) return wireError('field', `block size ${blockSize} for codec ${codec}`);
  if (kind === 'payload') {
    const expected = payloadBytes(codec, count, blockwise(codec) ? blockSize : 1);
    if (payloadLength !== expected) return wireError('length', `${codec} payload of ${count} elements needs ${expected} bytes, header says ${payloadLength}`);
  } else if (payloadLength !== 0) return wireError('length', `${kind} frame with a payload of ${payloadLength} bytes`);
  if (kind === 'abort' && aux >= ABORT_REASONS.length) return wireError('field', `unknown abort reason ${aux}`);
  const max = expect.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (payloadLength > max) return wireError('too-large', `payload of ${payloadLength} bytes exceeds the limit of ${max}`);
  if (expect.algorithm !== undefined && algorithm !== expect.algorithm) return wireError('algorithm', `peer runs ${algorithm}, this node ${expect.algorithm}`);
  if (expect.layoutHash !== undefined && layoutHash !== expect.layoutHash) return wireError('layout', `peer's model layout ${layoutHash.slice(0, 16)} differs from ${expect.layoutHash.slice(0, 16)}`);
  if (expect.count !== undefined && (kind === 'payload' || kind === 'propose' || kind === 'accept') && count !== expect.count) {
    return wireError('count', `message of ${count} elements, expected ${expect.count}`);
  }
  const header: MessageHeader = { version: WIRE_VERSION, algorithm, step, layoutHash, codec };
  return { kind, header, count, blockSize, payloadLength, payloadCrc, aux, headerLength: length };
}

export function isWireError(x: unknown): x is WireError {
  return typeof x === 'object' && x !== null && (x as { ok?: unknown }).ok === false && typeof (x as { reason?: unknown }).reason === 'string';
}

// ---------------------------------------------------------------------------------------------------------------
// Whole frames

/** An encoded frame: its header and payload (kept apart so that a large payload is never copied to be framed). */
export interface EncodedFrame {
  header: Uint8Array;
  payload: Uint8Array;
}

/**
 * A message frame: header + encoded payload with its checksum, or 0 in its place when `checksum` is false — for a
 * path that authenticates the payload itself (a lane's sealed records), where a CRC would only cost time.
 */
export function encodeMessage(header: MessageHeader, message: Float32Array, blockSize = DEFAULT_BLOCK_SIZE, checksum = true): EncodedFrame {
  const bs = blockwise(header.codec) ? blockSize : 0;
  const payload = encodePayload(header.codec, message, blockSize);
  const bytes = encodeHeader({ kind: 'payload', header, count: message.length, blockSize: bs, payloadLength: payload.length, payloadCrc: checksum ? crc32(payload) : 0 });
  return { header: bytes, payload };
}

/** A frame encoded without its payload checksum, with it (it takes a stream after all). */
export function withChecksum(frame: EncodedFrame): EncodedFrame {
  const header = frame.header.slice();
  const v = new DataView(header.buffer);
  v.setUint32(32, crc32(frame.payload), true);
  v.setUint32(header.length - 4, crc32(header.subarray(0, header.length - 4)), true);
  return { header, payload: frame.payload };
}

/** A control frame (no payload); `lane`: a propose's or accept's lane id, in the CRC field its lack of payload frees. */
export function encodeControl(kind: Exclude<FrameKind, 'payload'>, header: MessageHeader, opts: { count?: number; aux?: number; lane?: number } = {}): Uint8Array {
  return encodeHeader({ kind, header, count: opts.count ?? 0, blockSize: blockwise(header.codec) ? DEFAULT_BLOCK_SIZE : 0, aux: opts.aux ?? 0, payloadCrc: opts.lane ?? 0 });
}

/** The lane id a propose or accept frame announces (0: its exchange's payloads travel on the stream). */
export function laneIdOf(frame: FrameHeader): number {
  return frame.kind === 'propose' || frame.kind === 'accept' ? frame.payloadCrc : 0;
}

/** A complete received frame. */
export interface Frame extends FrameHeader {
  payload: Uint8Array;
  /** The frame came over a channel that authenticated it (a lane): its payload checksum field is not used. */
  authenticated?: boolean;
  /** An f32 payload whose values were checked finite as they arrived (a lane): decoding skips that pass. */
  checkedFinite?: boolean;
}

/** Checks a received payload frame's checksum and decodes its message. */
export function decodeMessage(frame: Frame): Float32Array | WireError {
  if (frame.kind !== 'payload') return wireError('unexpected', `expected a payload frame, got ${frame.kind}`);
  if (!frame.authenticated && crc32(frame.payload) !== frame.payloadCrc) return wireError('checksum', 'payload checksum mismatch');
  return decodePayload(frame.header.codec, frame.payload, frame.count, frame.blockSize, frame.checkedFinite === true);
}

/** Decodes one whole frame held in one buffer (header + payload, nothing after). */
export function decodeFrame(bytes: Uint8Array, expect: Expectation = {}): Frame | WireError {
  const h = decodeHeader(bytes, expect);
  if (isWireError(h)) return h;
  const total = h.headerLength + h.payloadLength;
  if (bytes.length < total) return wireError('truncated', `frame of ${total} bytes, have ${bytes.length}`);
  if (bytes.length > total) return wireError('length', `${bytes.length - total} bytes after the frame`);
  // Copy the payload into its own aligned buffer so that f32 payloads decode without a second copy.
  const payload = new Uint8Array(h.payloadLength);
  payload.set(bytes.subarray(h.headerLength, total));
  return { ...h, payload };
}

/**
 * Incremental frame parser for a byte stream: push chunks as they arrive; complete frames come out of `push`.
 * A payload is copied once, into a buffer of its announced length allocated after its header was validated. After
 * an error the reader is dead (the stream should be abandoned).
 */
export class FrameReader {
  private head = new Uint8Array(MAX_HEADER_BYTES);
  private headFill = 0;
  private current: FrameHeader | null = null;
  private payload: Uint8Array | null = null;
  private payloadFill = 0;
  private error: WireError | null = null;
  /** Payload bytes received so far for the frame in progress. */
  get pending(): number {
    return this.payloadFill;
  }

  constructor(private readonly expect: Expectation = {}) {}

  /** Feeds bytes; returns the frames completed by them, or the error that killed the stream. */
  push(chunk: Uint8Array): Frame[] | WireError {
    if (this.error) return this.error;
    const frames: Frame[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (!this.current) {
        // Fill the header: first its fixed 8 bytes (to learn its length), then the rest.
        const need = this.headFill < 8 ? 8 : (peekHeaderLength(this.head.subarray(0, 8)) as number);
        const take = Math.min(need - this.headFill, chunk.length - pos);
        this.head.set(chunk.subarray(pos, pos + take), this.headFill);
        this.headFill += take;
        pos += take;
        if (this.headFill < need) continue;
        if (need === 8) {
          const length = peekHeaderLength(this.head.subarray(0, 8));
          if (typeof length !== 'number') return (this.error = length);
          continue;
        }
        const h = decodeHeader(this.head.subarray(0, need), this.expect);
        if (isWireError(h)) return (this.error = h);
        this.headFill = 0;
        if (h.payloadLength === 0) {
          frames.push({ ...h, payload: new Uint8Array(0) });
          continue;
        }
        this.current = h;
        this.payload = new Uint8Array(h.payloadLength);
        this.payloadFill = 0;
      } else {
        const payload = this.payload as Uint8Array;
        const take = Math.min(payload.length - this.payloadFill, chunk.length - pos);
        payload.set(chunk.subarray(pos, pos + take), this.payloadFill);
        this.payloadFill += take;
        pos += take;
        if (this.payloadFill === payload.length) {
          frames.push({ ...this.current, payload });
          this.current = null;
          this.payload = null;
          this.payloadFill = 0;
        }
      }
    }
    return frames;
  }

  /** True between frames (nothing partial buffered). */
  get idle(): boolean {
    return !this.current && this.headFill === 0;
  }
}
