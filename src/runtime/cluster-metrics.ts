/**
 * The metrics of a cluster run, in the simulator's format: rows of t (expected local steps), the consensus distance,
 * the test loss and accuracy of the average model, gradients, communications, the idle share and wall-clock seconds
 * — the first before the workers start, then every `every` steps of all workers (and every `everySeconds`), then a
 * final row on the whole held-out set. A resumed run keeps the rows of its metrics file up to its checkpoint. Also
 * the live progress display and the plot.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { LabeledData } from '../engine/models/model.js';
import { evaluationSet, type Evaluation, type TrainingData } from '../engine/training/data.js';
import { MetricsWriter, type LogFormat, type MetricsRow } from '../report/metrics.js';
import { writeRunPlot } from '../report/plot.js';
import type { ClusterProgress } from './cluster-config.js';
import type { ClusterMeasure, ClusterTotals } from './cluster-measure.js';
import { G, S } from './shared-memory.js';

export interface ClusterMetricsInit {
  /** Budget, in gradient steps of all workers together. */
  budget: number;
  /** Gradient steps of all workers done by the runs this one continues. @default 0 */
  startSteps?: number;
  /** Wall-clock seconds of the runs this one continues. @default 0 */
  priorSeconds?: number;
  /** metrics.jsonl. @default none (no file) */
  file?: string | null;
  /** A resumed run: the file's rows up to startSteps are kept. @default false */
  resumed?: boolean;
  /** Gradient steps of all workers between rows. @default a fortieth of the budget */
  every?: number;
  /** Also a row every this many wall-clock seconds. @default none */
  everySeconds?: number;
  /** Held-out examples (or text windows) behind each row during the run. @default 1000 (text: 200) */
  evalLimit?: number;
  onRow?: (row: MetricsRow) => void;
  /** Also write the metrics as CSV and/or TensorBoard events. @default [] */
  formats?: readonly LogFormat[];
  /** @default silent */
  log?: (line: string) => void;
}

export interface ClusterMetricsComponents {
  measure: ClusterMeasure;
  data: TrainingData;
  seq: number;
  /** Per worker its statistics (S), the cluster's control words (G). */
  stats: readonly Float64Array[];
  global: Int32Array;
  alive: (i: number) => boolean;
}

/** The end of a run: its final row and what it measured. */
export interface ClusterEnd {
  totals: ClusterTotals;
  consensus: number;
  evaluation: Evaluation;
  /** The workers averaged: the honest live ones (all when none is left). */
  survivors: number[];
  /** Wall-clock seconds of this run. */
  seconds: number;
}

/** Rows of an earlier metrics file up to a resumed point (its final row dropped); none when absent or unreadable. */
function earlierRows(file: string, steps: number, log: (line: string) => void): MetricsRow[] {
  if (!existsSync(file)) return [];
  const rows: MetricsRow[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    let row: MetricsRow;
    try {
      row = JSON.parse(line) as MetricsRow;
    } catch {
      log(`${file}: a line is not JSON; the earlier rows after it are dropped`);
      break;
    }
    if (row.final !== undefined || !(typeof row.gradients === 'number') || row.gradients > steps) continue;
    rows.push(row);
  }
  return rows;
}

export class ClusterMetrics {
  /** Every row of the run (a resumed run's earlier ones first). */
  private readonly rows: MetricsRow[];
  private readonly writer: MetricsWriter | null;
  /** Held-out data of the rows during the run, and of the final row. */
  private readonly evalRows: LabeledData;
  private readonly evalAll: LabeledData;
  private readonly every: number;
  private readonly everySeconds: number;
  private readonly priorSeconds: number;
  private readonly log: (line: string) => void;
  private nextRow: number;
  private nextTimedRow: number;
  private started = performance.now();
  private lastAccuracy: number | undefined;

  /** Held-out examples the rows (and the live display) evaluate on, and the final row on. */
  get heldOut(): { rows: number; final: number } {
    return { rows: this.evalRows.count, final: this.evalAll.count };
  }

  constructor(private readonly components: ClusterMetricsComponents, private readonly init: ClusterMetricsInit) {
    const { data, seq } = components;
    const file = init.file ?? null;
    const startSteps = init.startSteps ?? 0;
    this.log = init.log ?? (() => {});
    // Read before the writer truncates the file.
    const earlier = file && init.resumed ? earlierRows(file, startSteps, this.log) : [];
    this.writer = file ? new MetricsWriter(file, { formats: init.formats }) : null;
    for (const r of earlier) this.writer?.write(r);
    this.rows = [...earlier];
    this.evalRows = evaluationSet(data, seq, init.evalLimit ?? (data.kind === 'text' ? 200 : 1000));
    this.evalAll = evaluationSet(data, seq);
    this.every = Math.max(1, init.every ?? Math.round(init.budget / 40));
    this.nextRow = (Math.floor(startSteps / this.every) + 1) * this.every;
    this.everySeconds = init.everySeconds ?? Infinity;
    this.nextTimedRow = this.everySeconds;
    this.priorSeconds = init.priorSeconds ?? 0;
  }

  /** The metrics file, if any. */
  get path(): string | null {
    return this.writer ? this.writer.path : null;
  }

  /** Wall-clock seconds since the workers started. */
  private elapsed(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** The first row, measured before the workers start: the starting point, at the time the run starts. */
  first(): void {
    this.row(true);
    this.started = performance.now();
  }

  /** A row when the steps of all workers, or the clock, have reached the next one. */
  sampleIfDue(steps: number): void {
    if (steps < this.nextRow && this.elapsed() < this.nextTimedRow) return;
    this.row();
    while (this.nextRow <= steps) this.nextRow += this.every;
    while (this.nextTimedRow <= this.elapsed()) this.nextTimedRow += this.everySeconds;
  }

  /** Shows the workers' counts and the last accuracy on the live display. */
  show(display: ClusterProgress): void {
    const { stats, global, alive } = this.components;
    display.update(
      stats.map((s, i) => ({
        steps: s[S.STEPS], trainLoss: s[S.LOSS], exchanges: s[S.EXCHANGES], idle: s[S.WALL_MS] > 0 ? s[S.IDLE_MS] / s[S.WALL_MS] : 0, alive: alive(i),
        ...(s[S.LAST_PEER] > 0 ? { peer: s[S.LAST_PEER] - 1 } : {}),
      })),
      { steps: Atomics.load(global, G.STEPS), accuracy: this.lastAccuracy },
    );
  }

  /** The end: consensus of the final parameters, then their average evaluated on the whole held-out set. */
  finish(display: ClusterProgress): ClusterEnd {
    const { measure, stats } = this.components;
    const seconds = this.elapsed();
    const ids = measure.liveIds();
    const survivors = ids.length > 0 ? ids : stats.map((_, i) => i);
    const totals = measure.totals();
    const consensus = measure.average(survivors);
    const evaluation = measure.evaluateMean(this.evalAll);
    this.lastAccuracy = evaluation.testAccuracy;
    this.show(display);
    display.stop();
    this.record({
      t: totals.t, consensus, trainLoss: this.trainLoss(survivors), gradients: totals.steps, communications: totals.communications, bytes: totals.bytesSent, seconds: this.priorSeconds + seconds,
      ...evaluation, testLoss: evaluation.testLoss, testAccuracy: evaluation.testAccuracy, idleFraction: totals.idleFraction,
      lr: stats[survivors[0]][S.LR], final: 1,
    });
    return { totals, consensus, evaluation, survivors, seconds };
  }

  /** Flushes the metrics file. */
  async close(): Promise<void> {
    await this.writer?.close();
  }

  /** Draws the rows (but the final one) into an SVG; null, with a log line, when it cannot. */
  async plot(file: string, name: string, title: string): Promise<string | null> {
    try {
      await writeRunPlot(file, { name, kind: 'cluster', rows: this.rows.filter((r) => r.final === undefined), title });
      return file;
    } catch (err) {
      this.log(`cannot draw the plot: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    }
  }

  private row(initial = false): void {
    const { measure, stats } = this.components;
    // The time of the measurement is when the average is taken (its evaluation takes a while).
    const seconds = initial ? this.priorSeconds : this.priorSeconds + this.elapsed();
    const totals = measure.totals();
    const consensus = measure.average(measure.liveIds());
    const ev = measure.evaluateMean(this.evalRows);
    this.lastAccuracy = ev.testAccuracy;
    this.record({
      t: totals.t, consensus, trainLoss: initial ? undefined : this.trainLoss(measure.liveIds()), gradients: totals.steps, communications: totals.communications, bytes: totals.bytesSent,
      seconds, ...ev, idleFraction: totals.idleFraction,
      lr: initial ? undefined : stats[measure.liveIds()[0] ?? 0][S.LR],
    });
  }

  /** The mean loss of the given workers' last training steps (undefined before any). */
  private trainLoss(ids: readonly number[]): number | undefined {
    const losses = ids.map((i) => this.components.stats[i][S.LOSS]).filter(Number.isFinite);
    return losses.length > 0 ? losses.reduce((a, b) => a + b, 0) / losses.length : undefined;
  }

  private record(row: MetricsRow): void {
    this.rows.push(row);
    this.writer?.write(row);
    this.init.onRow?.(row);
  }
}
