/**
 * One run's directory, read for reports: run.json (command, version, status, configuration, summary) and
 * metrics.jsonl, from any command that writes them (`gossamer train` with one worker or a cluster, `gossamer sim`,
 * `gossamer peer`). A directory that is neither is a UsageError.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UsageError } from '../core/errors.js';
import type { MetricsRow } from './metrics.js';

/** What produced a run: the simulator, one training worker, a cluster of worker threads, or a network peer. */
export type RunKind = 'sim' | 'train' | 'cluster' | 'peer';

export interface RunData {
  /** The directory, absolute. */
  dir: string;
  /** A short name for legends: the directory's name. */
  name: string;
  kind: RunKind;
  command: string;
  version: string | null;
  status: string;
  config: Record<string, unknown>;
  summary: Record<string, unknown>;
  rows: MetricsRow[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The kind of a run from its record: the command, and for train the number of workers. */
export function runKind(command: string, config: Record<string, unknown>): RunKind {
  if (command === 'sim' || command === 'peer') return command;
  return typeof config.workers === 'number' && config.workers > 1 ? 'cluster' : 'train';
}

/**
 * The rows of a metrics file; the last line of a running run may be cut short (it is being written): it is left
 * out. A malformed line before it is a UsageError.
 */
function metricsRows(file: string): MetricsRow[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const rows: MetricsRow[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      if (lines.slice(i + 1).every((l) => l.trim() === '') && !line.endsWith('}')) return;
      throw new UsageError(`${file}:${i + 1}: not a JSON line`);
    }
    if (!isRecord(row)) throw new UsageError(`${file}:${i + 1}: not a metrics row (expected a JSON object)`);
    rows.push(row as MetricsRow);
  });
  return rows;
}

/** Reads the run held in `dir`; a directory holding no run (no run.json, no metrics.jsonl) is a UsageError. */
export function loadRun(dir: string): RunData {
  const path = resolve(dir);
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new UsageError(`${dir}: no such directory`);
  }
  if (!isDir) throw new UsageError(`${dir} is not a directory (give a run's directory, e.g. runs/train-mlp-mnist-…)`);
  const recordFile = join(path, 'run.json');
  const metricsFile = join(path, 'metrics.jsonl');
  if (!existsSync(recordFile) && !existsSync(metricsFile)) throw new UsageError(`${dir} holds no run (neither run.json nor metrics.jsonl)`);
  let record: Record<string, unknown> = {};
  if (existsSync(recordFile)) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(recordFile, 'utf8'));
      if (!isRecord(parsed)) throw new Error('not an object');
      record = parsed;
    } catch {
      throw new UsageError(`${recordFile}: not a run record (expected a JSON object)`);
    }
  }
  const config = isRecord(record.config) ? record.config : {};
  const summary = isRecord(record.summary) ? record.summary : {};
  const command = typeof record.command === 'string' ? record.command : 'train';
  const rows = existsSync(metricsFile) ? metricsRows(metricsFile) : [];
  return {
    dir: path, name: basename(path), kind: runKind(command, config), command,
    version: typeof record.version === 'string' ? record.version : null,
    status: typeof record.status === 'string' ? record.status : 'unknown',
    config, summary, rows,
  };
}

/** Reads several runs; two directories of the same name get their parent's name too, so that legends differ. */
export function loadRuns(dirs: readonly string[]): RunData[] {
  if (dirs.length === 0) throw new UsageError('give at least one run directory');
  const runs = dirs.map(loadRun);
  const seen = new Map<string, number>();
  for (const r of runs) seen.set(r.name, (seen.get(r.name) ?? 0) + 1);
  for (const r of runs) if ((seen.get(r.name) ?? 0) > 1) r.name = `${basename(resolve(r.dir, '..'))}/${r.name}`;
  const names = new Set<string>();
  runs.forEach((r, i) => {
    if (names.has(r.name)) r.name = `${r.name} (${i + 1})`;
    names.add(r.name);
  });
  return runs;
}
