/**
 * Measurements of a cluster as it trains: the average of its honest live workers' parameters, their consensus
 * distance, the evaluation of that average on held-out data, and what the workers' counters add up to. An adversary
 * trains its own model well but shows the others garbage, so the cluster's model is the honest workers' only. An
 * algorithm with a server has the server's model as the cluster's (the consensus distance stays the workers').
 */
import type { LabeledData, Model } from '../engine/models/model.js';
import { evaluate, type Evaluation, type TrainingData } from '../engine/training/data.js';
import type { ClusterResume } from './cluster-config.js';
import { S } from './shared-memory.js';

export interface ClusterMeasureInit {
  /** Workers exchange pairwise (both count an exchange) rather than in collectives (each counts one). */
  pairwise: boolean;
  /** Workers push to a server: each push (with its answer) is one communication. @default false */
  pushes?: boolean;
  /** Gradient steps of all workers done by the runs this one continues. @default 0 */
  startSteps?: number;
  /** Local time and communications of the runs this one continues. @default none */
  resume?: Pick<ClusterResume, 't' | 'communications'> | null;
}

export interface ClusterMeasureComponents {
  /** The supervisor's model: the average is loaded into it for evaluation. */
  model: Model;
  data: TrainingData;
  /** Per worker: parameters, normalisation state, statistics (S). */
  xs: readonly Float32Array[];
  states: readonly Float32Array[];
  stats: readonly Float64Array[];
  alive: (i: number) => boolean;
  honest: (i: number) => boolean;
  /** Copies the cluster's model into out when it is not the workers' average (the server's); false otherwise. */
  globalModel?: (out: Float32Array) => boolean;
}

/** The cluster's counts now. */
export interface ClusterTotals {
  /** Gradient steps of all workers, those of the runs this one continues included, and of this run alone. */
  steps: number;
  stepsNow: number;
  communications: number;
  /** Share of the compute loops' time spent waiting for communication. */
  idleFraction: number;
  /** Payload bytes all workers sent in this run (agent.ts counts them). */
  bytesSent: number;
  /** Collective rounds completed, or pushes applied by the server (0 for pairwise algorithms). */
  outerSteps: number;
  /** Mean local time of the live workers (expected local steps). */
  t: number;
}

/**
 * Averages the parameters of the workers `ids` into `mean` and returns their consensus distance (1/n) Σ ‖x_i − x̄‖²,
 * accumulated in float64 so that identical workers have a distance of exactly 0.
 */
export function averageOf(xs: readonly Float32Array[], ids: readonly number[], mean: Float32Array, mean64: Float64Array = new Float64Array(mean.length)): number {
  const dim = mean.length;
  mean64.fill(0);
  for (const i of ids) {
    const x = xs[i];
    for (let k = 0; k < dim; k++) mean64[k] += x[k];
  }
  for (let k = 0; k < dim; k++) mean64[k] /= ids.length;
  let c = 0;
  for (const i of ids) {
    const x = xs[i];
    for (let k = 0; k < dim; k++) {
      const d = x[k] - mean64[k];
      c += d * d;
    }
  }
  mean.set(mean64);
  return c / Math.max(1, ids.length);
}

export class ClusterMeasure {
  /** The average of the last measurement. */
  readonly mean: Float32Array;
  private readonly mean64: Float64Array;

  constructor(private readonly components: ClusterMeasureComponents, private readonly init: ClusterMeasureInit) {
    this.mean = new Float32Array(components.model.size);
    this.mean64 = new Float64Array(components.model.size);
  }

  /** The honest workers alive now. */
  liveIds(): number[] {
    const { alive, honest } = this.components;
    return this.components.xs.map((_, i) => (alive(i) && honest(i) ? i : -1)).filter((i) => i >= 0);
  }

  /** Averages the workers `ids` (into `mean`, unless the cluster's model is the server's); returns their consensus distance. */
  average(ids: readonly number[]): number {
    const consensus = averageOf(this.components.xs, ids, this.mean, this.mean64);
    this.components.globalModel?.(this.mean);
    return consensus;
  }

  /** Evaluates the last average, with the normalisation state of the first honest live worker. */
  evaluateMean(set: LabeledData): Evaluation {
    const { model, states, data } = this.components;
    model.params.set(this.mean);
    model.state.set(states[this.liveIds()[0] ?? 0]);
    return evaluate(model, data, set);
  }

  totals(): ClusterTotals {
    const { pairwise, resume } = this.init;
    const { stats, alive } = this.components;
    const n = stats.length;
    let steps = 0;
    let exchanges = 0;
    let mostExchanges = 0;
    let bytesSent = 0;
    let idle = 0;
    let wall = 0;
    let t = 0;
    let live = 0;
    for (let i = 0; i < n; i++) {
      const s = stats[i];
      steps += s[S.STEPS];
      exchanges += s[S.EXCHANGES];
      mostExchanges = Math.max(mostExchanges, s[S.EXCHANGES]);
      bytesSent += s[S.BYTES_SENT];
      idle += s[S.IDLE_MS];
      wall += s[S.WALL_MS];
      if (alive(i)) {
        t += s[S.TIME];
        live++;
      }
    }
    // An exchange is counted by both its workers; a collective among n workers by each of them, as n − 1 messages; a
    // push by its worker.
    const own = pairwise ? Math.round(exchanges / 2) : this.init.pushes ? exchanges : (exchanges / n) * (n - 1);
    const communications = own + (resume?.communications ?? 0);
    const outerSteps = pairwise ? 0 : this.init.pushes ? exchanges : mostExchanges;
    return {
      steps: (this.init.startSteps ?? 0) + steps, stepsNow: steps, communications, idleFraction: wall > 0 ? idle / wall : 0,
      bytesSent: Math.round(bytesSent), outerSteps,
      t: (resume?.t ?? 0) + (live > 0 ? t / live : 0),
    };
  }
}
