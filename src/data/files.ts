/** Locating data shipped inside npm packages, and reading files with one-line errors. */
import { readFileSync } from 'node:fs';
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
