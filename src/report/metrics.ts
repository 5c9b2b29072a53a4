import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from '../core/errors.js';
import { prepareOutputDir } from '../core/output-dir.js';
import { CsvLog } from './csv-log.js';
import { TensorBoardLog } from './tensorboard-log.js';

/**
 * One line of a metrics file: the same format from the simulator (virtual time) and the runtime (time in expected
 * local steps, plus wall-clock seconds), so that runs can be laid side by side.
 */
export interface MetricsRow {
  /** Time in units of one expected local gradient step. */
  t: number;
  /** (1/n) Σ ‖x_i − x̄‖². */
  consensus: number;
  /** (1/n) Σ ‖x_i − x*‖², when the optimum is known. */
  optimality?: number;
  /**
   * The losses, each under its own name. trainLoss: the mean loss of the training mini-batches (one worker, a peer:
   * its own; a cluster: the mean over its live workers' last steps). testLoss: the loss of the (average) model on
   * the held-out set. objective: the simulator's objective at the average x̄ on convex problems (f(x̄) − f*).
   */
  trainLoss?: number;
  testLoss?: number;
  objective?: number;
  /** Gradient steps and pairwise exchanges so far, over all workers. */
  gradients: number;
  communications: number;
  events?: number;
  /** Wall-clock seconds since the start (runtime only). */
  seconds?: number;
  [extra: string]: number | string | undefined;
}

/** A row as written: a network peer, which does not see the others' parameters, leaves the consensus out. */
export type WrittenRow = { [K in keyof MetricsRow as K extends 'consensus' ? never : K]: MetricsRow[K] } & { consensus?: number };

/** Formats the metrics can be written in besides metrics.jsonl (which runs always write: reports and resumes read it). */
export const LOG_FORMATS = ['csv', 'tensorboard'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface MetricsWriterInit {
  /** Sees every row written (a live dashboard). */
  onRow?: (row: WrittenRow) => void;
  /** Also write metrics.csv and/or TensorBoard events under tensorboard/, next to the JSON lines. @default [] */
  formats?: readonly LogFormat[];
}

export class MetricsWriter {
  private readonly stream: WriteStream;
  private readonly exports: Array<CsvLog | TensorBoardLog>;
  private closing: Promise<void> | null = null;

  constructor(readonly path: string, private readonly init: MetricsWriterInit = {}) {
    const dir = dirname(path);
    prepareOutputDir(dir, 'metrics directory');
    this.stream = createWriteStream(path);
    const formats = new Set(init.formats ?? []);
    this.exports = [
      ...(formats.has('csv') ? [new CsvLog(join(dir, 'metrics.csv'))] : []),
      ...(formats.has('tensorboard') ? [new TensorBoardLog(join(dir, 'tensorboard'))] : []),
    ];
  }

  /** Writes a row; one that comes once closing has begun (a step ending during shutdown) is dropped. */
  write(row: WrittenRow): void {
    if (this.closing) return;
    this.stream.write(`${JSON.stringify(row)}\n`);
    for (const e of this.exports) e.write(row);
    this.init.onRow?.(row);
  }

  /** Flushes and closes the files; again, the same promise (a command's cleanup may run twice). */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    for (const e of this.exports) e.close();
    this.closing = new Promise((resolve, reject) => this.stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
    return this.closing;
  }
}

export function readMetrics(path: string): MetricsRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UsageError(`cannot read metrics file ${path}`);
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line) as MetricsRow;
      } catch {
        throw new UsageError(`${path}:${i + 1}: not a JSON line`);
      }
    });
}
