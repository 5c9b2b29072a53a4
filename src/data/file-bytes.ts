/**
 * Bytes left in their file and read where they are needed (a batch's rows), instead of loaded into memory: the
 * kernel's page cache holds the file once for every process of the machine that reads it, and it does not count in
 * any process's resident memory. A plain object, so that it crosses to worker threads as it is; each thread opens the
 * file once.
 */
import { openSync, readSync } from 'node:fs';

export interface FileBytes {
  readonly kind: 'file-bytes';
  /** Absolute path of the file. */
  readonly file: string;
  /** Where the bytes start in the file. */
  readonly offset: number;
  /** How many bytes. */
  readonly length: number;
}

/** The bytes [offset, offset + length) of a file, read on demand. */
export function fileBytes(file: string, offset: number, length: number): FileBytes {
  return { kind: 'file-bytes', file, offset, length };
}

export function isFileBytes(a: unknown): a is FileBytes {
  return typeof a === 'object' && a !== null && (a as FileBytes).kind === 'file-bytes';
}

/** The first `count` bytes. */
export function headBytes(a: FileBytes, count: number): FileBytes {
  return { ...a, length: Math.min(a.length, count) };
}

const open = new Map<string, number>();
let scratch = new Uint8Array(0);

/**
 * Bytes [from, from + count) of `a`, in a buffer owned by this module (valid until its next call in this thread).
 * Throws if the file has become shorter or unreadable.
 */
export function readBytes(a: FileBytes, from: number, count: number): Uint8Array {
  if (from < 0 || from + count > a.length) throw new RangeError(`bytes ${from}…${from + count} outside ${a.length} of ${a.file}`);
  let fd = open.get(a.file);
  if (fd === undefined) {
    fd = openSync(a.file, 'r');
    open.set(a.file, fd);
  }
  if (scratch.length < count) scratch = new Uint8Array(Math.max(count, 2 * scratch.length));
  for (let got = 0; got < count; ) {
    const n = readSync(fd, scratch, got, count - got, a.offset + from + got);
    if (n === 0) throw new Error(`${a.file} ended before byte ${a.offset + from + count}: was it changed during the run?`);
    got += n;
  }
  return scratch.subarray(0, count);
}
