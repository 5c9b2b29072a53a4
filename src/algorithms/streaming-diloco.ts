import type { Dtype, Vec } from '../core/vec.js';
import { allocVec } from '../core/vec.js';
import type { LayoutEntry } from '../engine/layout.js';
import { fragmentRanges } from './fragments.js';
import type { LocalOptimizer } from './local-optimizer.js';
import { DILOCO_DEFAULTS, outerLoop, outerStep, pseudoGradient, type OuterLoop, type OuterOptions } from './outer.js';
import { restoreFields, type Algorithm, type CollectiveCapability, type GradientSource, type ParamRange, type SavedState, type WorkerState } from './types.js';

/** Fragments, overlap and mixing by default: torchft's τ and α (no overlap; the synchronised fragment as it is). */
export const STREAMING_DEFAULTS = { fragments: 2, overlap: 0, mix: 0 };

export interface StreamingOptions {
  /** P: fragments of the model, synchronised in turn. @default 2 */
  fragments?: number;
  /** τ: local steps taken while a fragment's all-reduce is in flight, before its merge. @default 0 */
  overlap?: number;
  /** α: weight of the local parameters in the merge θ_p ← (1 − α) θ_p,global + α θ_p,local. @default 0 */
  mix?: number;
}

export interface StreamingDilocoOptions extends OuterOptions, StreamingOptions {
  dim: number;
  dtype: Dtype;
  /** The model's layout: fragments strided over its layers (without one, contiguous chunks). */
  layout?: readonly LayoutEntry[];
}

/**
 * The rules of Streaming DiLoCo, as torchft enforces them, with the defaults resolved: H % P = 0 (every fragment
 * once per H steps, one every H/P), τ < H/P (a fragment is merged before the next one begins), 0 ≤ α ≤ 1. A
 * RangeError names the first rule broken.
 */
export function streamingRules(opts: StreamingOptions & Pick<OuterOptions, 'innerSteps'>): { H: number; P: number; tau: number; alpha: number } {
  const H = opts.innerSteps ?? DILOCO_DEFAULTS.innerSteps;
  const P = opts.fragments ?? STREAMING_DEFAULTS.fragments;
  const tau = opts.overlap ?? STREAMING_DEFAULTS.overlap;
  const alpha = opts.mix ?? STREAMING_DEFAULTS.mix;
  if (!(Number.isInteger(P) && P >= 1)) throw new RangeError(`the number of fragments must be a positive integer (got ${P})`);
  if (!(Number.isInteger(H) && H >= 1)) throw new RangeError(`the inner steps per round must be a positive integer (got ${H})`);
  if (H % P !== 0) throw new RangeError(`the inner steps per round (${H}) must be a multiple of the number of fragments (${P})`);
  if (!(Number.isInteger(tau) && tau >= 0)) throw new RangeError(`the overlap must be a non-negative integer number of steps (got ${tau})`);
  if (tau >= H / P) throw new RangeError(`the overlap (${tau} steps) must be shorter than the steps between two fragments' synchronisations (H/P = ${H / P})`);
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`the mixing factor must be in [0, 1] (got ${alpha})`);
  return { H, P, tau, alpha };
}

export interface StreamingDilocoState extends WorkerState {
  readonly x: Vec;
  /** θ: every fragment's parameters of its last outer step, where its inner rounds start. */
  readonly outer: Vec;
  /** The outer optimizer's momentum; each fragment's lives in its own coordinates. */
  readonly momentum: Vec;
  /** Local steps taken. */
  steps: number;
  /** Fragment synchronisations begun: round r synchronises fragment r mod P. */
  rounds: number;
  /** The fragment whose synchronisation is in flight (−1: none). */
  flight: number;
  /** Local steps taken since it began. */
  since: number;
  /** 1 once its mean has arrived (its outer step is taken; its merge waits for τ steps). */
  arrived: number;
}

/**
 * Streaming DiLoCo (Douillard et al., *Streaming DiLoCo with overlapping communication: Towards a Distributed Free
 * Lunch*, 2025, arXiv 2501.18512), as torchft's local_sgd.py runs it. The model is split into P fragments
 * (fragments.ts). Every H/P local steps a worker begins round r = 1, 2, …, which synchronises fragment p = r mod P —
 * fragment p at the steps s with (s − p·H/P) mod H = 0, each once per H steps. The fragment follows from the round's
 * number, which every worker counts alike (the rounds are the collectives' own), so that they never disagree.
 * Round r of fragment p:
 *   begin:    Δ_p = θ_p − x_p (this worker's contribution: the fragment only, a P-th of the model)
 *   complete: θ_p ← OuterOpt_p(θ_p, mean Δ_p)  (outer.ts; the momentum of fragment p)
 *   τ local steps after begin (waiting for the mean if it is not there yet):
 *             x_p ← (1 − α) θ_p + α x_p       (α = 0: the synchronised fragment as it is)
 * θ_p stays the synchronised value (not the mixture): the next Δ_p is taken from it. With P = 1, τ = 0, α = 0 this is
 * DiLoCo, bit for bit. At the end of a run the workers average their whole models (the closing collective).
 */
export class StreamingDiloco implements Algorithm<StreamingDilocoState> {
  readonly name = 'streaming-diloco';
  readonly collective: CollectiveCapability<StreamingDilocoState>;
  /** The fragments' parameter ranges. */
  readonly fragments: ParamRange[][];
  /** Local steps between two rounds: H/P. */
  readonly stride: number;
  private readonly tau: number;
  private readonly alpha: number;
  private readonly loop: OuterLoop;
  private readonly grad: Vec;

  constructor(private readonly opts: StreamingDilocoOptions) {
    this.loop = outerLoop(opts, 'streaming-diloco');
    const { H, P, tau, alpha } = streamingRules(opts);
    this.tau = tau;
    this.alpha = alpha;
    this.stride = H / P;
    this.fragments = fragmentRanges(opts.dim, P, opts.layout);
    this.grad = allocVec(opts.dtype, opts.dim);
    const whole: readonly ParamRange[] = [{ start: 0, end: opts.dim }];
    this.collective = {
      overlaps: tau > 0,
      due: (s) => s.steps >= (s.rounds + 1) * this.stride,
      ranges: (s) => this.fragments[this.fragmentOf(s.rounds + 1)],
      begin: (s, _t, out) => {
        s.rounds++;
        s.flight = this.fragmentOf(s.rounds);
        s.since = 0;
        s.arrived = 0;
        pseudoGradient(s.outer, s.x, this.fragments[s.flight], out);
      },
      complete: (s, _t, mean) => {
        outerStep(this.loop, s.outer, s.momentum, mean, this.fragments[s.flight]);
        s.arrived = 1;
        if (s.since >= this.tau) this.merge(s);
      },
      waits: (s) => s.flight >= 0 && s.arrived === 0 && s.since >= this.tau,
      closing: {
        ranges: () => whole,
        begin: (s, _t, out) => {
          if (s.flight >= 0 && s.arrived === 1) this.merge(s);
          out.set(s.x);
        },
        complete: (s, _t, mean) => {
          s.x.set(mean);
          s.outer.set(mean);
        },
      },
    };
  }

  /** The fragment that round r synchronises. */
  fragmentOf(round: number): number {
    return round % this.fragments.length;
  }

  createState(x0: Vec): StreamingDilocoState {
    const { dtype, dim } = this.opts;
    const x = allocVec(dtype, dim);
    x.set(x0);
    const outer = allocVec(dtype, dim);
    outer.set(x0);
    return { x, outer, momentum: allocVec(dtype, dim), steps: 0, rounds: 0, flight: -1, since: 0, arrived: 0 };
  }

  advance(): void {}

  localStep(s: StreamingDilocoState, _t: number, gradient: GradientSource, optimizer: LocalOptimizer): number {
    const loss = gradient(s.x, this.grad);
    optimizer.update(s.x, this.grad);
    s.steps++;
    if (s.flight >= 0) {
      s.since++;
      if (s.arrived === 1 && s.since >= this.tau) this.merge(s);
    }
    return loss;
  }

  /** x_p ← (1 − α) θ_p + α x_p for the fragment in flight, whose synchronisation is then over. */
  private merge(s: StreamingDilocoState): void {
    const { x, outer } = s;
    const a = this.alpha;
    for (const r of this.fragments[s.flight]) {
      if (a === 0) for (let k = r.start; k < r.end; k++) x[k] = outer[k];
      else for (let k = r.start; k < r.end; k++) x[k] = (1 - a) * outer[k] + a * x[k];
    }
    s.flight = -1;
  }

  saved(s: StreamingDilocoState): SavedState {
    return {
      vectors: { outer: s.outer, momentum: s.momentum },
      scalars: { steps: s.steps, rounds: s.rounds, flight: s.flight, since: s.since, arrived: s.arrived },
    };
  }

  /** A synchronisation whose mean had not arrived is not resumed: that fragment goes on from its local values. */
  restore(s: StreamingDilocoState, saved: SavedState): void {
    restoreFields(s, saved);
    if (s.flight >= 0 && s.arrived === 0) s.flight = -1;
  }
}
