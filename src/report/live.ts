/**
 * What a live dashboard shows of one running run, as messages for its page: every metrics row adds points to the
 * curves (the same points as the report's), and every update of the workers' counts replaces the per-worker bars and
 * the topology, whose edges light up where an exchange happened since the update before. A page that connects late
 * first gets everything so far (snapshot).
 */
import { curveCharts, titledLoss, workerCharts, type BarChart, type CurveChart } from './charts.js';
import type { WrittenRow } from './metrics.js';
import type { PageChart } from './page.js';
import { rowPoints, type Metric, type Point, type WorkerPoint } from './points.js';
import type { RunKind } from './run-data.js';
import { edgeKey, graphItems, topologyChart } from './topology-chart.js';

/** A message to the page: points added to a chart, its data replaced, or the run's status. */
export interface LiveMessage {
  chart?: string;
  insert?: readonly object[];
  replace?: readonly object[];
  status?: string;
}

/** One worker's counts as the runs report them live. */
export interface LiveWorker {
  /** Its index (default: its place in the list). */
  id?: number;
  steps: number;
  exchanges: number;
  idle?: number;
  alive?: boolean;
  /** The partner of its last pairwise exchange. */
  peer?: number;
}

export interface LiveRunInit {
  name: string;
  kind: RunKind;
  workers: number;
  /** The graph's undirected edges. */
  edges: ReadonlyArray<readonly [number, number]>;
}

/** The curves a live run of this kind has: a peer counts its bytes but sees no consensus, a cluster the reverse. */
const LIVE_CURVES: Record<RunKind, readonly string[]> = {
  train: ['loss-steps', 'loss-seconds', 'accuracy-steps', 'accuracy-seconds'],
  cluster: ['loss-steps', 'loss-seconds', 'accuracy-steps', 'accuracy-seconds', 'consensus-steps', 'idle-steps'],
  peer: ['loss-steps', 'loss-seconds', 'loss-bytes', 'accuracy-steps'],
  sim: ['loss-steps', 'consensus-steps'],
};

/** The losses the rows of a run of this kind hold. */
const LIVE_LOSSES: Record<RunKind, readonly Metric[]> = {
  train: ['train loss', 'test loss'], cluster: ['train loss', 'test loss'], peer: ['train loss', 'test loss'], sim: ['objective', 'test loss'],
};

/** The per-worker bars a live run of this kind has. */
const LIVE_BARS: Record<RunKind, readonly string[]> = {
  train: ['steps'], cluster: ['steps', 'exchanges', 'idle'], peer: ['steps', 'exchanges'], sim: [],
};

export class LiveRun {
  private readonly curves: CurveChart[];
  private readonly bars: BarChart[];
  private readonly points = new Map<string, Point[]>();
  private workerPoints: WorkerPoint[] = [];
  private graph: object[];
  private readonly last = new Map<number, LiveWorker>();
  status = 'running';

  constructor(private readonly init: LiveRunInit) {
    const losses = LIVE_LOSSES[init.kind].map((metric) => ({ metric }) as Point);
    this.curves = curveCharts()
      .filter((c) => LIVE_CURVES[init.kind].includes(c.id))
      .map((c) => (c.id.startsWith('loss-') ? { ...c, spec: titledLoss(c.spec, losses) } : c));
    this.bars = workerCharts().filter((c) => LIVE_BARS[init.kind].includes(c.field));
    for (const c of this.curves) this.points.set(c.id, []);
    this.graph = graphItems(init.workers, init.edges, new Set());
  }

  /** The page's charts, with what they hold so far. */
  charts(): PageChart[] {
    return [
      ...this.curves.map((c) => ({ id: c.id, spec: c.spec, values: this.points.get(c.id)! })),
      ...this.bars.map((c) => ({ id: c.id, spec: c.spec, values: this.workerPoints })),
      { ...topologyChart(), values: this.graph },
    ];
  }

  /** A metrics row: points for the curves that take them. */
  row(row: WrittenRow): LiveMessage[] {
    const points = rowPoints(this.init.name, this.init.kind, row);
    const out: LiveMessage[] = [];
    for (const c of this.curves) {
      const mine = points.filter(c.takes);
      if (mine.length === 0) continue;
      this.points.get(c.id)!.push(...mine);
      out.push({ chart: c.id, insert: mine });
    }
    return out;
  }

  /** The workers' counts: the bars, and the topology with the edges of the exchanges since the last update lit. */
  workers(workers: readonly LiveWorker[]): LiveMessage[] {
    const lit = new Set<string>();
    const byId = workers.map((w, i) => ({ ...w, id: w.id ?? i }));
    for (const w of byId) {
      const before = this.last.get(w.id);
      if (w.peer !== undefined && w.peer !== w.id && w.exchanges > (before?.exchanges ?? 0)) lit.add(edgeKey(w.id, w.peer));
      this.last.set(w.id, w);
    }
    this.workerPoints = byId.map((w) => ({ run: this.init.name, worker: w.id, steps: w.steps, exchanges: w.exchanges, ...(w.idle === undefined ? {} : { idle: w.idle }) }));
    const nodes: Array<{ steps: number; alive: boolean } | undefined> = [];
    for (const w of byId) nodes[w.id] = { steps: w.steps, alive: w.alive ?? true };
    this.graph = graphItems(this.init.workers, this.init.edges, lit, nodes);
    return [
      ...this.bars.map((c) => ({ chart: c.id, replace: this.workerPoints })),
      { chart: 'topology', replace: this.graph },
    ];
  }

  /** Everything so far, for a page that connects now. */
  snapshot(): LiveMessage[] {
    return [{ status: this.status }, ...this.charts().map((c) => ({ chart: c.id, replace: c.values }))];
  }
}
