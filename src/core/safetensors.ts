/**
 * The safetensors format (https://github.com/huggingface/safetensors), used for checkpoints:
 *
 *   8 bytes   N, the header length, unsigned little-endian 64-bit
 *   N bytes   UTF-8 JSON: { "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, ...,
 *             "__metadata__": { "<key>": "<string value>" } }   (may be padded with trailing spaces)
 *   rest      the data: each tensor's values, row-major, little-endian, at [begin, end) relative to this section
 *
 * Reading validates every field and that the tensors cover the data section exactly, without overlap or holes,
 * as the format requires. Writing is atomic: the file is written to `<file>.tmp-<pid>`, flushed, then renamed over
 * the target, so a crash leaves either the previous checkpoint or the new one, never a partial file.
 *
 * The format protects nothing against damage to the data: a flipped bit in a tensor reads back as a plausible
 * value. So every file written here also records a CRC-32 of each tensor's bytes, in the metadata under
 * `tensor_crc32` (JSON: tensor name → 8 hex digits; the checksum of zip and of Python's zlib.crc32, 3 GB/s through
 * node:zlib), and reading checks it: a tensor whose bytes do not match is refused, naming it. Files from other
 * writers, or from before checksums existed, have none and read as `checksummed: false`.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { endianness } from 'node:os';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { UsageError } from './errors.js';

export type SafetensorsDtype = 'F32' | 'F64' | 'I32' | 'I64' | 'U8';
export type TensorArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface Tensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: TensorArray;
}

/**
 * A tensor to write. The dtype defaults from the array type (Float32Array → F32, Float64Array → F64,
 * Int32Array → I32, BigInt64Array → I64, Uint8Array → U8). With dtype 'I64', data may also be plain numbers
 * (an array or typed array of safe integers); the shape defaults to [data.length].
 */
export interface TensorInput {
  dtype?: SafetensorsDtype;
  shape?: number[];
  data: TensorArray | ArrayLike<number>;
}

export interface Safetensors {
  /** Tensors in file order. */
  tensors: Map<string, Tensor>;
  /** The file's metadata, without the checksums. */
  metadata: Record<string, string>;
  /** Where the tensors came from, for error messages. */
  file: string;
  /** Whether the file carried checksums (all of which then matched); false for files of other or older writers. */
  checksummed: boolean;
}

export interface WriteOptions {
  /** Record a CRC-32 of every tensor in the metadata (default true). */
  checksums?: boolean;
}

export interface ArrayOf {
  F32: Float32Array;
  F64: Float64Array;
  I32: Int32Array;
  I64: BigInt64Array | Float64Array;
  U8: Uint8Array;
}

export interface ReadOptions {
  /**
   * How I64 tensors are returned: as BigInt64Array (default) or as a Float64Array of exact integers (a value
   * beyond ±2^53 is then an error). The tensor's dtype stays 'I64' either way.
   */
  int64?: 'bigint' | 'number';
}

const SIZES: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, I32: 4, I64: 8, U8: 1 };
const METADATA = '__metadata__';
/** The metadata key holding the tensors' checksums. */
export const CHECKSUMS = 'tensor_crc32';
/** Data is checksummed and written through a private copy of this many bytes at a time. */
const CHUNK = 1 << 22;
/** Same limit as the reference implementation. */
const MAX_HEADER = 100_000_000;

if (endianness() !== 'LE') throw new Error('safetensors support assumes a little-endian host');

function fail(file: string, problem: string): never {
  throw new UsageError(`safetensors file ${file}: ${problem}`);
}

function isDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(SIZES, s);
}

function dtypeOf(data: TensorInput['data']): SafetensorsDtype | undefined {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof Uint8Array) return 'U8';
  return undefined;
}

/** Converts an input tensor to its stored form, checking dtype, shape and length. */
function normalise(name: string, input: TensorInput): Tensor {
  const where = `tensor ${JSON.stringify(name)}`;
  if (name === '' || name === METADATA) throw new UsageError(`${where}: invalid tensor name`);
  const natural = dtypeOf(input.data);
  const dtype = input.dtype ?? natural;
  if (dtype === undefined) throw new UsageError(`${where}: give a dtype for data that is not a typed array`);
  if (!isDtype(dtype)) throw new UsageError(`${where}: unsupported dtype ${JSON.stringify(dtype)}`);
  const shape = input.shape ?? [input.data.length];
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new UsageError(`${where}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (input.data.length !== count) throw new UsageError(`${where}: ${input.data.length} values for shape [${shape.join(', ')}]`);
  let data: TensorArray;
  if (natural === dtype) data = input.data as TensorArray;
  else if (dtype === 'I64' && !(input.data instanceof BigInt64Array)) {
    const src = input.data as ArrayLike<number>;
    const out = new BigInt64Array(count);
    for (let k = 0; k < count; k++) {
      if (!Number.isSafeInteger(src[k])) throw new UsageError(`${where}: I64 value ${src[k]} at ${k} is not a safe integer`);
      out[k] = BigInt(src[k]);
    }
    data = out;
  } else throw new UsageError(`${where}: dtype ${dtype} does not match the data (${natural ?? 'plain numbers'})`);
  return { dtype, shape: [...shape], data };
}

interface Layout {
  order: [string, Tensor][];
  metadata: Record<string, string>;
  dataBytes: number;
}

/** Tensor order and checked metadata. Tensors are laid out by decreasing element size, so every tensor is aligned. */
function layout(tensors: Record<string, TensorInput> | Map<string, TensorInput>, metadata: Record<string, string>): Layout {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const order = entries.map(([name, t]): [string, Tensor] => [name, normalise(name, t)]);
  order.sort((a, b) => SIZES[b[1].dtype] - SIZES[a[1].dtype]); // stable: insertion order within a size
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new UsageError(`safetensors metadata ${JSON.stringify(k)} must be a string, got ${typeof v}`);
  }
  if (CHECKSUMS in metadata) throw new UsageError(`safetensors metadata ${JSON.stringify(CHECKSUMS)} is reserved for the tensors' checksums`);
  return { order, metadata, dataBytes: order.reduce((n, [, t]) => n + t.data.byteLength, 0) };
}

/**
 * The 8-byte length and the JSON header, padded with spaces to a multiple of 8 (so the data section is aligned).
 * `sums` holds each tensor's checksum in layout order, or null for none. Checksums have a fixed width, so the header
 * has the same length whatever their values: a writer can reserve its place, then fill it in once the data is out.
 */
function headerBytes({ order, metadata }: Layout, sums: number[] | null): Uint8Array {
  const header: Record<string, unknown> = {};
  const meta = sums ? { ...metadata, [CHECKSUMS]: JSON.stringify(Object.fromEntries(order.map(([name], k) => [name, hex(sums[k])]))) } : metadata;
  if (Object.keys(meta).length > 0) header[METADATA] = meta;
  let at = 0;
  for (const [name, t] of order) {
    const end = at + t.data.byteLength;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, end] };
    at = end;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const bytes = new Uint8Array(8 + padded).fill(0x20);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(json, 8);
  return bytes;
}

const hex = (sum: number) => sum.toString(16).padStart(8, '0');

function bytesOf(a: TensorArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Encodes tensors (and string metadata) as one safetensors buffer, with checksums unless told otherwise. */
export function encodeSafetensors(
  tensors: Record<string, TensorInput> | Map<string, TensorInput>,
  metadata: Record<string, string> = {},
  options: WriteOptions = {},
): Uint8Array {
  const plan = layout(tensors, metadata);
  const checksums = options.checksums ?? true;
  const length = headerBytes(plan, checksums ? plan.order.map(() => 0) : null).length;
  const out = new Uint8Array(length + plan.dataBytes);
  let at = length;
  const sums: number[] = [];
  for (const [, t] of plan.order) {
    out.set(bytesOf(t.data), at);
    // The checksum of the copy, not of the source, which a caller may still be writing to.
    sums.push(crc32(out.subarray(at, at + t.data.byteLength)));
    at += t.data.byteLength;
  }
  out.set(headerBytes(plan, checksums ? sums : null), 0);
  return out;
}

/**
 * A tensor's bytes as successive copies into `scratch` (each valid until the next is asked for). Writers sum and
 * write the copy, not the tensor: the bytes written are then exactly those summed even if the tensor changes
 * meanwhile, and each chunk is summed while it is in cache.
 */
function* copies(data: TensorArray, scratch: Uint8Array): Generator<Uint8Array> {
  const src = bytesOf(data);
  for (let off = 0; off < src.length; off += scratch.length) {
    const chunk = scratch.subarray(0, Math.min(scratch.length, src.length - off));
    chunk.set(src.subarray(off, off + chunk.length));
    yield chunk;
  }
}

/** Writes a safetensors file atomically (temporary file, fsync, rename), with checksums unless told otherwise. */
export function writeSafetensors(
  file: string,
  tensors: Record<string, TensorInput> | Map<string, TensorInput>,
  metadata: Record<string, string> = {},
  options: WriteOptions = {},
): void {
  const plan = layout(tensors, metadata);
  const checksums = options.checksums ?? true;
  const tmp = `${file}.tmp-${process.pid}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    const placeholder = headerBytes(plan, checksums ? plan.order.map(() => 0) : null);
    writeAll(fd, placeholder, 0);
    let at = placeholder.length;
    const scratch = new Uint8Array(Math.min(CHUNK, Math.max(1, plan.dataBytes)));
    const sums: number[] = [];
    for (const [, t] of plan.order) {
      let sum = 0;
      for (const chunk of copies(t.data, scratch)) {
        sum = crc32(chunk, sum);
        writeAll(fd, chunk, at);
        at += chunk.length;
      }
      sums.push(sum);
    }
    if (checksums) writeAll(fd, headerBytes(plan, sums), 0);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw ioError(file, 'write', err);
  }
  syncDirectory(file);
}

/** Best effort: flush the directory entry of a renamed file (not supported on every platform). */
function syncDirectory(file: string): void {
  try {
    const fd = openSync(dirname(file), 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Directories cannot be opened or flushed on some platforms; the rename itself is still atomic.
  }
}

/** Asynchronous writeSafetensors, for checkpointing without blocking the event loop. */
export async function writeSafetensorsAsync(
  file: string,
  tensors: Record<string, TensorInput> | Map<string, TensorInput>,
  metadata: Record<string, string> = {},
  options: WriteOptions = {},
): Promise<void> {
  const plan = layout(tensors, metadata);
  const checksums = options.checksums ?? true;
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const handle = await open(tmp, 'w');
    try {
      const write = async (b: Uint8Array, position: number) => {
        for (let off = 0; off < b.length; ) off += (await handle.write(b, off, b.length - off, position + off)).bytesWritten;
      };
      const placeholder = headerBytes(plan, checksums ? plan.order.map(() => 0) : null);
      await write(placeholder, 0);
      let at = placeholder.length;
      const scratch = new Uint8Array(Math.min(CHUNK, Math.max(1, plan.dataBytes)));
      const sums: number[] = [];
      for (const [, t] of plan.order) {
        let sum = 0;
        for (const chunk of copies(t.data, scratch)) {
          sum = crc32(chunk, sum);
          await write(chunk, at);
          at += chunk.length;
        }
        sums.push(sum);
      }
      if (checksums) await write(headerBytes(plan, sums), 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw ioError(file, 'write', err);
  }
  syncDirectory(file);
}

function writeAll(fd: number, b: Uint8Array, position: number): void {
  for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off, position + off);
}

function ioError(file: string, verb: string, err: unknown): Error {
  if (err instanceof UsageError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' && verb === 'read') return new UsageError(`safetensors file ${file}: not found`);
  return new UsageError(`safetensors file ${file}: cannot ${verb} (${code ?? (err as Error).message})`);
}

/** Reads and validates a safetensors file. */
export function readSafetensors(file: string, opts: ReadOptions = {}): Safetensors {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw ioError(file, 'read', err);
  }
  return decodeSafetensors(bytes, file, opts);
}

export async function readSafetensorsAsync(file: string, opts: ReadOptions = {}): Promise<Safetensors> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw ioError(file, 'read', err);
  }
  return decodeSafetensors(bytes, file, opts);
}

/**
 * Decodes and validates safetensors bytes; `file` names the source in errors. Each tensor's data is copied into
 * its own (aligned) buffer.
 */
export function decodeSafetensors(bytes: Uint8Array, file = '<buffer>', opts: ReadOptions = {}): Safetensors {
  if (bytes.length < 8) fail(file, `truncated: ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8)) fail(file, `header length ${n64} exceeds the ${bytes.length - 8} bytes after it`);
  const n = Number(n64);
  if (n > MAX_HEADER) fail(file, `header length ${n} exceeds the ${MAX_HEADER}-byte limit`);
  if (n < 2) fail(file, `header length ${n} is too short for a JSON object`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail(file, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(file, 'header does not start with a JSON object');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    fail(file, `header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(file, 'header is not a JSON object');
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;

  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(file, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(file, `metadata ${JSON.stringify(k)} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor ${JSON.stringify(name)}`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(file, `${where} is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (!isDtype(dtype)) fail(file, `${where} has unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(file, `${where} has invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(file, `${where} has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) fail(file, `${where} has data_offsets [${begin}, ${end}] that end before they begin`);
    if (end > dataLength) fail(file, `${where} has data_offsets [${begin}, ${end}] beyond the ${dataLength}-byte data section`);
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (count * SIZES[dtype] !== end - begin) {
      fail(file, `${where} is ${end - begin} bytes but ${dtype} [${shape.join(', ')}] needs ${count * SIZES[dtype]}`);
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }

  // The tensors must tile the data section: sorted by offset, each begins where the previous ended.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (let k = 0; k < sorted.length; k++) {
    const t = sorted[k];
    if (t.begin < at) fail(file, `tensors ${JSON.stringify(sorted[k - 1].name)} and ${JSON.stringify(t.name)} overlap`);
    if (t.begin > at) fail(file, `data section has a hole at bytes [${at}, ${t.begin})`);
    at = t.end;
  }
  if (at !== dataLength) fail(file, `data section has ${dataLength - at} bytes not covered by any tensor`);

  const sums = checksumsOf(file, metadata, entries.map((t) => t.name));
  const int64 = opts.int64 ?? 'bigint';
  const tensors = new Map<string, Tensor>();
  for (const t of sorted) {
    // An explicit copy: Buffer.prototype.slice would share memory instead of copying.
    const raw = new Uint8Array(t.end - t.begin);
    raw.set(bytes.subarray(dataStart + t.begin, dataStart + t.end));
    if (sums) {
      const sum = hex(crc32(raw));
      if (sum !== sums[t.name]) fail(file, `tensor ${JSON.stringify(t.name)} is damaged: its bytes have CRC-32 ${sum}, the file recorded ${sums[t.name]}`);
    }
    const count = (t.end - t.begin) / SIZES[t.dtype];
    let data: TensorArray;
    switch (t.dtype) {
      case 'F32':
        data = new Float32Array(raw.buffer, 0, count);
        break;
      case 'F64':
        data = new Float64Array(raw.buffer, 0, count);
        break;
      case 'I32':
        data = new Int32Array(raw.buffer, 0, count);
        break;
      case 'U8':
        data = raw;
        break;
      case 'I64': {
        const big = new BigInt64Array(raw.buffer, 0, count);
        if (int64 === 'bigint') {
          data = big;
          break;
        }
        const num = new Float64Array(count);
        for (let k = 0; k < count; k++) {
          const v = Number(big[k]);
          if (!Number.isSafeInteger(v)) fail(file, `tensor ${JSON.stringify(t.name)}: I64 value ${big[k]} at ${k} is not a safe integer`);
          num[k] = v;
        }
        data = num;
        break;
      }
    }
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data });
  }
  delete metadata[CHECKSUMS];
  return { tensors, metadata, file, checksummed: sums !== null };
}

/** The recorded checksums (null if the file has none), checked to name every tensor and nothing else. */
function checksumsOf(file: string, metadata: Record<string, string>, names: string[]): Record<string, string> | null {
  const text = metadata[CHECKSUMS];
  if (text === undefined) return null;
  let sums: unknown;
  try {
    sums = JSON.parse(text);
  } catch {
    fail(file, `metadata "${CHECKSUMS}" is not valid JSON`);
  }
  if (typeof sums !== 'object' || sums === null || Array.isArray(sums)) fail(file, `metadata "${CHECKSUMS}" is not an object`);
  const record = sums as Record<string, unknown>;
  const held = new Set(names);
  for (const name of names) {
    if (!Object.prototype.hasOwnProperty.call(record, name)) fail(file, `tensor ${JSON.stringify(name)} has no checksum`);
  }
  for (const [name, sum] of Object.entries(record)) {
    if (!held.has(name)) fail(file, `a checksum for tensor ${JSON.stringify(name)}, which the file does not hold`);
    if (typeof sum !== 'string' || !/^[0-9a-f]{8}$/.test(sum)) fail(file, `the checksum of tensor ${JSON.stringify(name)} is not 8 hex digits`);
  }
  return record as Record<string, string>;
}

/**
 * The data of a named tensor, checked to exist with the given dtype (and shape, if given); otherwise a UsageError
 * naming the file and the problem.
 */
export function getTensor<D extends SafetensorsDtype>(st: Safetensors, name: string, dtype: D, shape?: number[]): ArrayOf[D] {
  const t = st.tensors.get(name);
  if (t === undefined) fail(st.file, `no tensor ${JSON.stringify(name)}`);
  if (t.dtype !== dtype) fail(st.file, `tensor ${JSON.stringify(name)} is ${t.dtype}, expected ${dtype}`);
  if (shape !== undefined && (shape.length !== t.shape.length || shape.some((d, i) => d !== t.shape[i]))) {
    fail(st.file, `tensor ${JSON.stringify(name)} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  return t.data as ArrayOf[D];
}
