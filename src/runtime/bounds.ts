/**
 * Bounds on what a neighbour may send. A peer holding the swarm key can send any finite values with a correct
 * checksum; the wire cannot tell them from a model. What can: this worker's own model. Honest neighbours train the
 * same model from the same start and average with each other all the time, so the distance of a neighbour's model to
 * ours, relative to the norm of ours, stays well below 1. A message is therefore measured against the worker's model
 * before anything applies it, and refused when its relative distance r = ‖x_peer − x‖ / ‖x‖ is not finite, exceeds
 * `ceiling`, or exceeds `factor` times the `quantile` of the recent accepted distances (but never less than
 * `floor`). Until `warmup` exchanges have been accepted there is no statistic, only the ceiling.
 *
 * The statistic that bounds a neighbour's message is taken over the messages of the OTHER neighbours: on a ring, a
 * worker has two neighbours, and one that sends half of its messages would otherwise set its own bound. Until the
 * others have had `warmup` messages accepted, only the ceiling bounds it — as when the other neighbour on a ring is
 * an adversary, refused every time: bounded by its own past distances, the honest one was refused (and banned) after
 * a long separation under load, which is legitimate, leaving its neighbour alone.
 *
 * Nor may a neighbour send the same model again after steps: an honest model changes with every step, while an
 * adversary replaying an old model drags the neighbours it averages with back towards it, so that their distance to
 * it stays under any bound (in the default run, one replaying its first model among 8 workers cost 20 points of
 * accuracy and was never refused). Identical messages are told by a fingerprint (a weighted sum). The same model
 * under the same step count is no replay: a neighbour that took no step and applied nothing since (we refused its
 * previous message, or it ours) sends what it has — refusing that would make one refusal breed the next. A replay
 * with noise added, or under a frozen step count, is not caught by this: only by the distance, once far enough.
 *
 * Why these choices, from the distances of the default run (MNIST MLP, 8 workers on a ring, 1,474 exchanges): they
 * are heavy-tailed — median 0.004, 99th percentile 0.21, largest 0.53, early and mid-run, and below 0.04 once the
 * learning rate has decayed. A neighbour not met for a while is legitimately far, and refusing it keeps it far, so a
 * refusal of an honest message tends to repeat (and to end in a ban): the bound must be generous. A bound of 8 × the
 * median refused 40 of those honest exchanges, 16 × the 90th percentile none. The ceiling holds whatever the
 * statistic says: a message slipping under the bound again and again could otherwise raise it without limit, and
 * with it no exchange moves x by more than half its norm (pairwise averaging moves x halfway to the peer). A sign
 * flip (r = 2), a random model of the same norm (r ≈ 1.4), huge or non-finite values are refused at any time; late in
 * training the statistic tightens the bound to `floor`.
 */

import type { WorkerId } from './transport.js';

export interface BoundsSettings {
  /** Refuse r above factor × the quantile of the recent accepted distances. */
  factor: number;
  /** Which quantile of them (0.5: the median). */
  quantile: number;
  /** The statistical bound is never below this relative distance. */
  floor: number;
  /** No message farther than this, ever. */
  ceiling: number;
  /** Accepted exchanges before the statistic is trusted. */
  warmup: number;
  /** Accepted distances the statistic is taken over. */
  window: number;
}

export const DEFAULT_BOUNDS: BoundsSettings = { factor: 16, quantile: 0.9, floor: 0.05, ceiling: 1, warmup: 8, window: 64 };

/** ‖peer − x‖ / ‖x‖ in float64 (NaN when the peer's message holds a non-finite value; ‖x‖ = 0 counts as 1). */
export function relativeDistance(x: Float32Array, peer: Float32Array): number {
  let d = 0;
  let n = 0;
  for (let k = 0; k < x.length; k++) {
    const a = x[k];
    const e = peer[k] - a;
    d += e * e;
    n += a * a;
  }
  // A non-finite value anywhere makes d Infinity or NaN; Infinity as well means "not a model".
  return Number.isFinite(d) ? Math.sqrt(d / (n > 0 ? n : 1)) : NaN;
}

/** A weighted sum of the values, in float64: equal for identical messages, different otherwise but by accident. */
export function fingerprint(x: Float32Array): number {
  let s = 0;
  for (let k = 0; k < x.length; k++) s += x[k] * (1 + (k % 7919));
  return s;
}

export class ExchangeBounds {
  /** The recent accepted distances and who sent them: a ring of `window` (typed arrays: checked at every exchange). */
  private readonly distances: Float64Array;
  private readonly senders: Float64Array;
  private readonly scratch: Float64Array;
  private filled = 0;
  private next = 0;
  private accepted = 0;
  /** The fingerprint and step count of each neighbour's last message. */
  private readonly last = new Map<WorkerId, { print: number; step: number }>();

  constructor(readonly settings: BoundsSettings = DEFAULT_BOUNDS) {
    this.distances = new Float64Array(settings.window);
    this.senders = new Float64Array(settings.window);
    this.scratch = new Float64Array(settings.window);
  }

  /** The largest relative distance accepted now from `from` (any neighbour when not given). */
  limit(from?: WorkerId): number {
    const s = this.settings;
    if (this.accepted < s.warmup) return s.ceiling;
    let n = 0;
    for (let k = 0; k < this.filled; k++) if (from === undefined || this.senders[k] !== from) this.scratch[n++] = this.distances[k];
    if (n < s.warmup) return s.ceiling;
    const sorted = this.scratch.subarray(0, n).sort();
    const q = sorted[Math.min(n - 1, Math.floor(s.quantile * n))];
    return Math.min(s.ceiling, Math.max(s.floor, s.factor * q));
  }

  /**
   * Measures a peer's message (sent at its step count `step`) against this worker's model x: null when it is within bounds (its distance then joins
   * the statistic), else why it is not, in a few words.
   */
  check(x: Float32Array, peer: Float32Array, from: WorkerId, step: number): string | null {
    if (peer.length !== x.length) return `${peer.length} values for a model of ${x.length}`;
    const r = relativeDistance(x, peer);
    if (Number.isNaN(r)) return 'non-finite values';
    const print = fingerprint(peer);
    const before = this.last.get(from);
    const replayed = before !== undefined && before.print === print && step > before.step;
    this.last.set(from, { print, step });
    const limit = this.limit(from);
    if (r > limit) return `relative distance ${r.toPrecision(3)} to this worker's model, over the bound ${limit.toPrecision(3)}`;
    if (replayed) return 'the same model as its previous message';
    this.remember(r, from);
    return null;
  }

  private remember(r: number, from: WorkerId): void {
    this.distances[this.next] = r;
    this.senders[this.next] = from;
    this.filled = Math.min(this.settings.window, this.filled + 1);
    this.next = (this.next + 1) % this.settings.window;
    this.accepted++;
  }
}
