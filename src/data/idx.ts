/**
 * The IDX format of MNIST-style files: two zero bytes, a type code, the number of dimensions, then each dimension
 * as a big-endian uint32, then the values in row-major order, big-endian. Files may be gzip-compressed.
 */
import { existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { UsageError } from '../core/errors.js';
import { readFileOrThrow, readFileShared } from './files.js';

export type IdxType = 'u8' | 'i8' | 'i16' | 'i32' | 'f32' | 'f64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  type: IdxType;
  dims: number[];
  /** Values in row-major order (host byte order). For u8 files this is a view into the file's bytes. */
  data: IdxData;
}

const TYPES: Record<number, { type: IdxType; size: number }> = {
  0x08: { type: 'u8', size: 1 },
  0x09: { type: 'i8', size: 1 },
  0x0b: { type: 'i16', size: 2 },
  0x0c: { type: 'i32', size: 4 },
  0x0d: { type: 'f32', size: 4 },
  0x0e: { type: 'f64', size: 8 },
};

/**
 * Parses IDX bytes (gunzipping them first if they are gzip-compressed); `file` names the source in errors. With
 * `headerOnly`, the bytes are the header alone: its type and dimensions come back, with no data.
 */
export function parseIdx(bytes: Uint8Array, file: string, opts: { headerOnly?: boolean } = {}): IdxArray {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new UsageError(`IDX file ${file}: corrupt gzip data (${(err as Error).message})`);
    }
  }
  if (bytes.length < 4) throw new UsageError(`IDX file ${file}: truncated header (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const code = bytes[2];
  const info = TYPES[code];
  if (bytes[0] !== 0 || bytes[1] !== 0 || info === undefined || bytes[3] === 0) {
    throw new UsageError(`IDX file ${file}: bad magic number 0x${magic.toString(16).padStart(8, '0')}`);
  }
  const ndims = bytes[3];
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) throw new UsageError(`IDX file ${file}: truncated header (${bytes.length} bytes, ${ndims} dimensions)`);
  const dims: number[] = [];
  let count = 1;
  for (let d = 0; d < ndims; d++) {
    const v = view.getUint32(4 + 4 * d, false);
    dims.push(v);
    count *= v;
  }
  if (opts.headerOnly) return { type: info.type, dims, data: new Uint8Array(0) };
  const expected = count * info.size;
  const actual = bytes.length - headerBytes;
  if (actual < expected) {
    throw new UsageError(`IDX file ${file}: truncated data (${actual} bytes, expected ${expected} for shape ${shapeText(dims)})`);
  }
  if (actual > expected) {
    throw new UsageError(`IDX file ${file}: ${actual - expected} unexpected bytes after the data for shape ${shapeText(dims)}`);
  }
  return { type: info.type, dims, data: decodeValues(bytes, view, headerBytes, count, info.type) };
}

function decodeValues(bytes: Uint8Array, view: DataView, at: number, count: number, type: IdxType): IdxData {
  switch (type) {
    case 'u8':
      return bytes.subarray(at, at + count);
    case 'i8':
      return new Int8Array(bytes.buffer, bytes.byteOffset + at, count);
    case 'i16': {
      const out = new Int16Array(count);
      for (let k = 0; k < count; k++) out[k] = view.getInt16(at + 2 * k, false);
      return out;
    }
    case 'i32': {
      const out = new Int32Array(count);
      for (let k = 0; k < count; k++) out[k] = view.getInt32(at + 4 * k, false);
      return out;
    }
    case 'f32': {
      const out = new Float32Array(count);
      for (let k = 0; k < count; k++) out[k] = view.getFloat32(at + 4 * k, false);
      return out;
    }
    case 'f64': {
      const out = new Float64Array(count);
      for (let k = 0; k < count; k++) out[k] = view.getFloat64(at + 8 * k, false);
      return out;
    }
  }
}

function shapeText(dims: number[]): string {
  return dims.length <= 8 ? `[${dims.join(', ')}]` : `[${dims.slice(0, 8).join(', ')}, … (${dims.length} dimensions)]`;
}

/**
 * Reads an IDX file. If `file` does not exist but `file.gz` does, reads that instead. An uncompressed file is read
 * into shared memory (its u8 data is a view of it). Missing, unreadable or malformed files are UsageErrors naming the
 * file.
 */
export function readIdx(file: string): IdxArray {
  const path = !existsSync(file) && existsSync(`${file}.gz`) ? `${file}.gz` : file;
  return parseIdx(path.endsWith('.gz') ? readFileOrThrow(path, 'IDX file') : readFileShared(path, 'IDX file'), path);
}

/** Encodes an array as IDX bytes (uncompressed); the inverse of parseIdx. */
export function encodeIdx(type: IdxType, dims: number[], data: ArrayLike<number>): Uint8Array {
  const info = Object.values(TYPES).find((t) => t.type === type)!;
  const code = Number(Object.keys(TYPES).find((k) => TYPES[Number(k)].type === type));
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new UsageError(`encodeIdx: ${data.length} values for shape ${shapeText(dims)}`);
  const at = 4 + 4 * dims.length;
  const out = new Uint8Array(at + count * info.size);
  const view = new DataView(out.buffer);
  out[2] = code;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  if (type === 'u8' || type === 'i8') {
    (type === 'u8' ? out : new Int8Array(out.buffer)).set(data, at);
    return out;
  }
  for (let k = 0; k < count; k++) {
    const o = at + k * info.size;
    if (type === 'i16') view.setInt16(o, data[k], false);
    else if (type === 'i32') view.setInt32(o, data[k], false);
    else if (type === 'f32') view.setFloat32(o, data[k], false);
    else view.setFloat64(o, data[k], false);
  }
  return out;
}
