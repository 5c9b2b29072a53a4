/**
 * Where a run writes, so that runs never overwrite each other. By default every run gets its own directory under
 * runs/, named after the command and a short hash of its resolved configuration: changing any setting (a learning
 * rate, a seed) gives another directory. Each run directory holds run.json — the command, the full resolved
 * configuration, the status (running, finished, interrupted, failed) and, at the end, the summary. A directory that
 * already holds a run is refused unless the new run continues it (--resume) or --overwrite says to replace it. run.json
 * also records the version of Gossamer that ran it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { UsageError } from '../core/errors.js';
import { prepareOutputDir } from '../core/output-dir.js';
import { VERSION } from './version.js';

/** The files whose presence says that a directory holds a run (run.json, or the outputs of an older version). */
const RUN_FILES = ['run.json', 'checkpoint.safetensors', 'metrics.jsonl'];

export type RunStatus = 'running' | 'finished' | 'interrupted' | 'failed';

export interface RunDirInit {
  /** The command, e.g. "train" or "sim". */
  command: string;
  /** --out as given, if given. */
  out?: string;
  /** The directory of the checkpoint a resumed run continues (it may write there again). */
  resumes?: string;
  /** The default directory's name before its hash, e.g. "train-mlp-mnist". */
  name: string;
  /** The resolved configuration: hashed into the default name and saved in run.json. */
  config: object;
  /** Replace a run already in the directory. @default false */
  overwrite?: boolean;
  /**
   * An unfinished run in the directory may be taken over without --overwrite (a network worker started again after
   * a crash rejoins its cluster). @default false
   */
  restartable?: boolean;
}

/** A short, stable hash of a configuration (keys sorted at every level). */
export function configHash(config: object): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
    return v;
  };
  return createHash('sha256').update(JSON.stringify(canonical(config))).digest('hex').slice(0, 8);
}

/**
 * The status of the run a directory holds ('finished' for the outputs of an older version), or null. A run still
 * marked running whose process is gone (killed by a signal it could not answer, or by the machine) has failed.
 */
function heldRun(dir: string): RunStatus | null {
  const record = join(dir, 'run.json');
  if (existsSync(record)) {
    try {
      const run = JSON.parse(readFileSync(record, 'utf8')) as { status?: RunStatus; pid?: number; host?: string };
      if (run.status === 'running' && run.host === hostname() && typeof run.pid === 'number' && !alive(run.pid)) return 'failed';
      return run.status ?? 'finished';
    } catch {
      return 'finished';
    }
  }
  return RUN_FILES.some((f) => existsSync(join(dir, f))) ? 'finished' : null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a directory's run must be kept: a failed run (bad input found late, a crash) has nothing worth keeping. */
const worthKeeping = (status: RunStatus | null): status is RunStatus => status !== null && status !== 'failed';

/**
 * A run's directory: claimed for it (checked and made, before any work), begun (run.json written, once the run's
 * settings have passed their checks: a run refused for bad input leaves nothing behind), and closed with its status
 * and summary.
 */
export class RunDir {
  readonly path: string;
  private readonly record: Record<string, unknown>;

  private constructor(path: string, record: Record<string, unknown>) {
    this.path = path;
    this.record = record;
  }

  /** Claims the run's directory; a directory holding another run is a UsageError (exit code 2). */
  static claim(init: RunDirInit): RunDir {
    const chosen = init.out ?? init.resumes ?? join('runs', `${init.name}-${configHash(init.config)}`);
    const path = resolve(chosen);
    const continues = init.resumes !== undefined && resolve(init.resumes) === path;
    const held = existsSync(path) ? heldRun(path) : null;
    if (worthKeeping(held) && !continues && !init.overwrite && !(init.restartable && held !== 'finished')) {
      const checkpoint = join(chosen, 'checkpoint.safetensors');
      const how = held === 'finished' ? 'a finished run' : `an unfinished run${existsSync(checkpoint) ? ` (continue it with --resume ${checkpoint})` : ''}`;
      throw new UsageError(`${chosen} already holds ${how}; give --overwrite to replace it, or another --out`);
    }
    // A given --out is checked at once; a default directory is made only when the run begins.
    if (init.out !== undefined) prepareOutputDir(path, '--out');
    return new RunDir(path, { command: init.command, version: VERSION, status: 'running', config: init.config });
  }

  /** A process that ends before the run is closed (an error, a second Ctrl-C) leaves it failed, not running. */
  private readonly onExit = (): void => this.close('failed');

  /** The run starts: run.json says so, with the configuration. */
  begin(): void {
    prepareOutputDir(this.path, '--out');
    Object.assign(this.record, { startedAt: new Date().toISOString(), host: hostname(), pid: process.pid });
    this.write();
    process.once('exit', this.onExit);
  }

  /**
   * Records how the run ended and its summary. Best effort: a directory that has become unwritable does not stop
   * a run that is saving its results elsewhere.
   */
  close(status: Exclude<RunStatus, 'running'>, summary?: object): void {
    process.off('exit', this.onExit);
    Object.assign(this.record, { status, endedAt: new Date().toISOString() }, summary ? { summary } : {});
    try {
      this.write();
    } catch {
      // The checkpoint's own fallback says where the results went.
    }
  }

  private write(): void {
    const file = join(this.path, 'run.json');
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(this.record, null, 2)}\n`);
    renameSync(temporary, file);
  }
}
