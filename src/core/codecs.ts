/**
 * How exchanged vectors travel: float32, IEEE half floats, or blockwise 8-bit codes with a minimum and a scale per
 * block. One definition for the network's wire format (runtime/net/wire.ts), the in-process transport and link
 * emulator (which round and size messages as the network would) and the simulator's message codecs.
 *
 * Payloads: f32 raw little-endian floats; f16 IEEE half floats (round to nearest even, saturating at ±65504); i8
 * blockwise min–max quantisation: ⌈n/B⌉ pairs (min, scale) as float32, then n codes q ∈ [0, 255], decoded in
 * float32 as min + q·scale; i4 the same with 16 levels, q ∈ [0, 15], two codes per byte (element 2k in the low
 * nibble of byte k, 2k + 1 in the high one).
 */
import { endianness } from 'node:os';

export const CODECS = ['f32', 'f16', 'i8', 'i4'] as const;
export type Codec = (typeof CODECS)[number];

/** The codecs that quantise by blocks (their payloads start with a (min, scale) pair per block). */
export function blockwise(codec: Codec): codec is 'i8' | 'i4' {
  return codec === 'i8' || codec === 'i4';
}

/** Quantisation levels − 1 of a blockwise codec. */
const TOP: Record<'i8' | 'i4', number> = { i8: 255, i4: 15 };
export const DEFAULT_BLOCK_SIZE = 256;
export const MAX_BLOCK_SIZE = 1 << 20;

const LITTLE_ENDIAN = endianness() === 'LE';

/** A payload that does not decode (the wire format counts these as rejected frames). */
export interface CodecError {
  ok: false;
  reason: 'length' | 'field' | 'non-finite';
  detail: string;
}

function codecError(reason: CodecError['reason'], detail: string): CodecError {
  return { ok: false, reason, detail };
}

/** Bytes of the payload of `count` floats under a codec. */
export function payloadBytes(codec: Codec, count: number, blockSize: number): number {
  switch (codec) {
    case 'f32':
      return 4 * count;
    case 'f16':
      return 2 * count;
    case 'i8':
      return 8 * Math.ceil(count / blockSize) + count;
    case 'i4':
      return 8 * Math.ceil(count / blockSize) + Math.ceil(count / 2);
  }
}

/**
 * Rounds x in place to what a peer decodes from it under a codec (identity for f32): how a transport that moves
 * floats without encoding them (the in-process one) gives a lossy codec its effect.
 */
export function quantize(codec: Codec, x: Float32Array, blockSize = DEFAULT_BLOCK_SIZE): void {
  if (codec === 'f32') return;
  const back = decodePayload(codec, encodePayload(codec, x, blockSize), x.length, blockSize);
  if (!(back instanceof Float32Array)) throw new Error(`quantize: ${back.detail}`);
  x.set(back);
}

/**
 * A codec as the simulator's message codec (structurally its MessageCodec): rounds a message in place (float64
 * messages through float32) and sizes it in floats on the link. Non-finite values (a diverged run) are left as
 * they are.
 */
export function messageCodec(codec: Codec): { name: Codec; round(message: Float32Array | Float64Array): void; floats(count: number): number } {
  return {
    name: codec,
    round(message) {
      const f32 = message instanceof Float32Array ? message : Float32Array.from(message);
      try {
        quantize(codec, f32);
      } catch {
        return;
      }
      if (f32 !== message) message.set(f32);
    },
    floats: (count) => payloadBytes(codec, count, DEFAULT_BLOCK_SIZE) / 4,
  };
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half-float bits of v, rounded to nearest even, saturating at ±65504 (NaN stays NaN). */
export function toHalf(v: number): number {
  f32Scratch[0] = v;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const e = (x >>> 23) & 0xff;
  let m = x & 0x7fffff;
  if (e === 0xff) return m !== 0 ? sign | 0x7e00 : sign | 0x7bff;
  const exp = e - 112; // e − 127 + 15
  if (exp >= 0x1f) return sign | 0x7bff;
  if (exp <= 0) {
    if (exp < -10) return sign;
    m |= 0x800000;
    const shift = 14 - exp;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && h & 1)) h++;
    return sign | h;
  }
  let h = (exp << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  if (h >= 0x7c00) h = 0x7bff; // rounding overflowed into infinity: saturate
  return sign | h;
}

let halfTable: Float32Array | null = null;

/** float32 value of every half-float bit pattern. */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = sign * m * 2 ** -24;
    else if (e === 0x1f) t[h] = m ? NaN : sign * Infinity;
    else t[h] = sign * (1 + m / 1024) * 2 ** (e - 15);
  }
  halfTable = t;
  return t;
}

export function fromHalf(h: number): number {
  return halfToFloatTable()[h & 0xffff];
}

/** Index of the first non-finite value, or −1. (A branch-free pass first: v·0 is 0 for finite v, NaN otherwise.) */
export function firstNonFinite(x: Float32Array): number {
  const n4 = x.length & ~3;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let k = 0; k < n4; k += 4) {
    s0 += x[k] * 0;
    s1 += x[k + 1] * 0;
    s2 += x[k + 2] * 0;
    s3 += x[k + 3] * 0;
  }
  let s = s0 + s1 + s2 + s3;
  for (let k = n4; k < x.length; k++) s += x[k] * 0;
  if (s === 0) return -1;
  for (let k = 0; k < x.length; k++) {
    const v = x[k];
    if (v - v !== 0) return k;
  }
  return -1;
}

/**
 * Encodes a message. f32 on a little-endian machine is a view of the message's own bytes (no copy: the message must
 * stay unchanged until it is sent), except for messages in shared memory, which are copied. Throws on non-finite values for the lossy codecs (a sender bug).
 */
export function encodePayload(codec: Codec, x: Float32Array, blockSize = DEFAULT_BLOCK_SIZE): Uint8Array {
  const n = x.length;
  switch (codec) {
    case 'f32': {
      if (LITTLE_ENDIAN) {
        // A message in shared memory may be written by another thread while it is sent: send a snapshot.
        if (typeof SharedArrayBuffer !== 'undefined' && x.buffer instanceof SharedArrayBuffer) return new Uint8Array(Float32Array.from(x).buffer);
        return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
      }
      const out = new Uint8Array(4 * n);
      const view = new DataView(out.buffer);
      for (let k = 0; k < n; k++) view.setFloat32(4 * k, x[k], true);
      return out;
    }
    case 'f16': {
      const out = new Uint8Array(2 * n);
      const view = new DataView(out.buffer);
      for (let k = 0; k < n; k++) {
        const v = x[k];
        if (v - v !== 0) throw new Error(`cannot encode a non-finite value (element ${k})`);
        view.setUint16(2 * k, toHalf(v), true);
      }
      return out;
    }
    case 'i8':
    case 'i4': {
      if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > MAX_BLOCK_SIZE) throw new Error(`invalid block size ${blockSize}`);
      const top = TOP[codec];
      const blocks = Math.ceil(n / blockSize);
      const out = new Uint8Array(payloadBytes(codec, n, blockSize));
      const meta = new DataView(out.buffer, 0, 8 * blocks);
      const codes = out.subarray(8 * blocks);
      for (let b = 0; b < blocks; b++) {
        const start = b * blockSize;
        const end = Math.min(n, start + blockSize);
        let lo = Infinity;
        let hi = -Infinity;
        for (let k = start; k < end; k++) {
          const v = x[k];
          if (v - v !== 0) throw new Error(`cannot encode a non-finite value (element ${k})`);
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        const min = Math.fround(lo);
        const scale = Math.fround((hi - lo) / top);
        meta.setFloat32(8 * b, min, true);
        meta.setFloat32(8 * b + 4, scale, true);
        if (scale > 0) {
          const inv = 1 / scale;
          for (let k = start; k < end; k++) {
            const r = Math.round((x[k] - min) * inv);
            const q = r < 0 ? 0 : r > top ? top : r;
            if (codec === 'i8') codes[k] = q;
            else codes[k >> 1] |= k & 1 ? q << 4 : q;
          }
        }
      }
      return out;
    }
  }
}

/** How a non-finite element is reported. */
export function nonFiniteDetail(index: number, value: number): string {
  return `element ${index} of the message is ${value}`;
}

/**
 * Decodes a payload into a fresh Float32Array (f32: a view on the payload when aligned), rejecting non-finite values
 * — unless `checkedFinite` says the caller has checked an f32 payload's values already (as they arrived).
 */
export function decodePayload(codec: Codec, payload: Uint8Array, count: number, blockSize: number, checkedFinite = false): Float32Array | CodecError {
  const expected = payloadBytes(codec, count, blockSize);
  if (payload.length !== expected) return codecError('length', `${codec} payload of ${count} elements needs ${expected} bytes, got ${payload.length}`);
  let out: Float32Array;
  switch (codec) {
    case 'f32': {
      if (LITTLE_ENDIAN && payload.byteOffset % 4 === 0) {
        out = new Float32Array(payload.buffer, payload.byteOffset, count);
      } else {
        out = new Float32Array(count);
        const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
        for (let k = 0; k < count; k++) out[k] = view.getFloat32(4 * k, true);
      }
      break;
    }
    case 'f16': {
      const table = halfToFloatTable();
      out = new Float32Array(count);
      const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      for (let k = 0; k < count; k++) out[k] = table[view.getUint16(2 * k, true)];
      break;
    }
    case 'i8':
    case 'i4': {
      const blocks = Math.ceil(count / blockSize);
      const meta = new DataView(payload.buffer, payload.byteOffset, 8 * blocks);
      const codes = payload.subarray(8 * blocks);
      out = new Float32Array(count);
      for (let b = 0; b < blocks; b++) {
        const min = meta.getFloat32(8 * b, true);
        const scale = meta.getFloat32(8 * b + 4, true);
        if (!Number.isFinite(min) || !Number.isFinite(scale) || scale < 0) return codecError('field', `${codec} block ${b} has min ${min} and scale ${scale}`);
        const end = Math.min(count, (b + 1) * blockSize);
        if (codec === 'i8') for (let k = b * blockSize; k < end; k++) out[k] = min + codes[k] * scale;
        else for (let k = b * blockSize; k < end; k++) out[k] = min + ((codes[k >> 1] >> (4 * (k & 1))) & 15) * scale;
      }
      break;
    }
  }
  if (checkedFinite && codec === 'f32') return out;
  const bad = firstNonFinite(out);
  if (bad >= 0) return codecError('non-finite', nonFiniteDetail(bad, out[bad]));
  return out;
}
