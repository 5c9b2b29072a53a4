/**
 * Output directories, checked before a command does any work, and written to without losing state when they fail.
 *
 * Every command that writes (metrics, plots, checkpoints) calls prepareOutputDir on its --out first: a directory
 * that cannot be created or written to is a one-line UsageError at once, not after hours of training. The
 * directories are made one level at a time, never with mkdirSync's `recursive`: on a pseudo file system such as
 * /proc, Node 20's recursive mkdir retries forever. Whether a directory is writable is decided by creating a file in
 * it — permissions alone do not tell (root ignores them; /proc and read-only mounts refuse files whatever they say).
 *
 * writeOrFallback writes a file that must not be lost (a checkpoint at the end of a run or at Ctrl-C): if its
 * directory has become unwritable meanwhile, the file goes to a new directory under os.tmpdir() and one line on
 * stderr says where.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from './errors.js';

/** "ENOENT: no such file or directory" from a Node file-system error. */
function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? (e.message.split(',')[0] ?? e.code) : String(err);
}

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Makes `dir` and any missing parents, and checks that files can be created in it; returns its absolute path.
 * `what` names the directory in errors (e.g. "--out"). Throws a one-line UsageError otherwise.
 */
export function prepareOutputDir(dir: string, what: string): string {
  const target = resolve(dir);
  const fail = (problem: string): never => {
    throw new UsageError(`${what} ${dir}: ${problem}`);
  };
  // Walk up to the nearest path that exists: it must be a directory.
  const missing: string[] = [];
  for (let at = target; ; at = dirname(at)) {
    let isDir: boolean;
    try {
      isDir = statSync(at).isDirectory();
    } catch (err) {
      const absent = code(err) === 'ENOENT' || code(err) === 'ENOTDIR';
      if (absent && dirname(at) !== at) {
        missing.push(at);
        continue;
      }
      fail(`cannot look at ${at} (${reason(err)})`);
    }
    if (!isDir!) fail(at === target ? 'exists and is not a directory' : `${at} is not a directory`);
    break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (err) {
      // Made meanwhile by someone else is as good.
      if (code(err) !== 'EEXIST' || !isDirectory(d)) fail(`cannot create directory ${d} (${reason(err)})`);
    }
  }
  const probe = join(target, `.gossamer-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    closeSync(openSync(probe, 'wx'));
  } catch (err) {
    fail(`cannot write in this directory (${reason(err)})`);
  }
  rmSync(probe, { force: true });
  return target;
}

/**
 * Runs `write(file)` after making the file's directory; if that fails, writes to a new directory under os.tmpdir()
 * instead and says so on stderr. Returns the file written. `what` names the file in the message ("checkpoint").
 * If the fallback fails too, the first error is thrown.
 */
export function writeOrFallback(file: string, what: string, write: (file: string) => void): string {
  try {
    prepareOutputDir(dirname(file), 'directory');
    write(file);
    return file;
  } catch (first) {
    let fallback: string;
    let made: string | undefined;
    try {
      made = mkdtempSync(join(tmpdir(), 'gossamer-'));
      fallback = join(made, basename(file));
      write(fallback);
    } catch {
      if (made !== undefined) rmSync(made, { recursive: true, force: true });
      throw first;
    }
    const why = first instanceof Error ? first.message : String(first);
    process.stderr.write(`gossamer: cannot write the ${what} to ${file} (${why}); it is in ${fallback} instead\n`);
    return fallback;
  }
}
