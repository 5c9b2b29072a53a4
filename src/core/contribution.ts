/**
 * How a worker's contributions to collectives (gradients, pseudo-gradients) and its pushes to a server travel under
 * a lossy codec: each is rounded by its sender to what its receivers decode, the receivers sum the decoded values in
 * float32 (float64 for the simulator's convex objectives), and the mean is rounded once more on its way back, the
 * same for every worker (a ring all-reduce that re-encodes the reduced chunks for its all-gather, as INTELLECT-1's
 * int8 all-reduce does). Averages of whole models (the closing collectives) and models pulled from a server stay
 * float32: rounding a model is not rounding an update.
 *
 * Error feedback (Seide et al. 2014; Karimireddy et al. 2019, EF-SGD): the sender keeps, per parameter, what the
 * rounding of its last contribution over that parameter dropped, and adds it to its next one: nothing is lost for
 * good, only delayed by a round. The mean's own rounding, shared by all, is not fed back.
 */
import { UsageError } from './errors.js';
import type { Vec } from './vec.js';

/** A contiguous part [start, end) of the flat parameter vector, as a contribution covers it. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

/** A codec's effect: rounds a vector in place to what its receiver decodes (codecs.ts messageCodec). */
export interface Rounding {
  round(v: Vec): void;
}

export class ContributionEncoder {
  /** Per parameter, what the rounding of this worker's contributions dropped (null: no error feedback). */
  readonly residual: Float32Array | null;
  private scratch: Vec | null = null;

  /** codec: null for exact contributions (then error feedback has nothing to do). */
  constructor(private readonly codec: Rounding | null, dim: number, errorFeedback: boolean) {
    this.residual = errorFeedback && codec ? new Float32Array(dim) : null;
  }

  /** Rounds a contribution in place to what its receivers decode; it covers the given spans of the model, in order. */
  encode(contribution: Vec, spans: readonly Span[]): void {
    if (!this.codec) return;
    const r = this.residual;
    if (!r) {
      this.codec.round(contribution);
      return;
    }
    // The contribution plus the residual is what is wanted; what is sent is that, rounded.
    forEachIndex(spans, (k, p) => (contribution[k] += r[p]));
    const wanted = this.copy(contribution);
    this.codec.round(contribution);
    forEachIndex(spans, (k, p) => (r[p] = wanted[k] - contribution[k]));
  }

  /** A copy of v in a buffer kept between rounds. */
  private copy(v: Vec): Vec {
    if (this.scratch?.length !== v.length || this.scratch.constructor !== v.constructor) this.scratch = v.slice();
    else this.scratch.set(v);
    return this.scratch;
  }

  /** Rounds the mean of encoded contributions in place as it travels back (every worker alike). */
  roundMean(mean: Vec): void {
    this.codec?.round(mean);
  }
}

/** Calls f(k, p) for the k-th value of a contribution and the parameter p it stands for. */
function forEachIndex(spans: readonly Span[], f: (k: number, p: number) => void): void {
  let k = 0;
  for (const { start, end } of spans) for (let p = start; p < end; p++) f(k++, p);
}

/**
 * Why error feedback cannot apply to a run (null: it can): it needs a lossy codec, and contributions or pushes to
 * feed back into (an algorithm with collectives or a server). Errors name the configuration fields.
 */
export function errorFeedbackProblem(codec: string | undefined, algorithm: { name: string; collective?: unknown; server?: unknown }): string | null {
  if ((codec ?? 'f32') === 'f32') return 'errorFeedback applies to a lossy codec (f16, i8 or i4): float32 contributions lose nothing';
  if (!algorithm.collective && !algorithm.server) return `errorFeedback applies to contributions to collectives and pushes to a server: ${algorithm.name} sends neither`;
  return null;
}

/**
 * Why a lossy codec cannot carry an algorithm's contributions (null: it can): scalars that travel after the model in
 * them (ACCO's and DPU's micro-batch counts) must arrive exact. Errors name the configuration field.
 */
export function codecProblem(codec: string | undefined, algorithm: { name: string; collective?: { extra?: number } }): string | null {
  if ((codec ?? 'f32') === 'f32' || (algorithm.collective?.extra ?? 0) === 0) return null;
  return `${algorithm.name}'s contributions carry their micro-batch counts, which must arrive exact: its codec is f32, not ${codec}`;
}

/** Refuses a codec or error feedback an algorithm's contributions cannot take (UsageErrors naming the field). */
export function checkContributionCodec(codec: string | undefined, errorFeedback: boolean | undefined, algorithm: { name: string; collective?: { extra?: number }; server?: unknown }): void {
  const feedback = errorFeedback ? errorFeedbackProblem(codec, algorithm) : null;
  if (feedback) throw new UsageError(feedback, { field: 'errorFeedback' });
  const lossy = codecProblem(codec, algorithm);
  if (lossy) throw new UsageError(lossy, { field: 'codec' });
}
