/** Locating data shipped inside npm packages, and reading files with one-line errors. */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { UsageError } from '../core/errors.js';

const requireHere = createRequire(import.meta.url);

/** The directory of an installed package, or a UsageError saying how to install it. */
export function packageDir(name: string): string {
  try {
    return dirname(requireHere.resolve(`${name}/package.json`));
  } catch {
    throw new UsageError(`package ${name} is not installed (run: npm install ${name})`);
  }
}

/** Reads a whole file; a missing or unreadable file is a UsageError naming it. */
export function readFileOrThrow(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`${what} not found: ${file}`);
    throw new UsageError(`cannot read ${what} ${file}: ${code ?? (err as Error).message}`);
  }
}

/** Reads a whole file into shared memory (a SharedArrayBuffer, which threads read without a copy); errors as readFileOrThrow's. */
export function readFileShared(file: string, what: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    readFileOrThrow(file, what);
    throw new UsageError(`cannot read ${what} ${file}`);
  }
  try {
    const out = new Uint8Array(new SharedArrayBuffer(fstatSync(fd).size));
    for (let at = 0; at < out.length; ) {
      const got = readSync(fd, out, at, out.length - at, at);
      if (got === 0) throw new UsageError(`cannot read ${what} ${file}: it ended at byte ${at} of ${out.length}`);
      at += got;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
