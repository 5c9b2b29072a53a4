/**
 * Rate control, as the authors' runtime does it (docs/algorithms.md §2); the runtime's agents and the simulator's paced
 * mode pace their workers with it.
 *
 * A worker takes part in an expected `rate` pairwise exchanges per local gradient step. The two loops are not free
 * running; they meet:
 * - rate ≥ 1: after step m the compute loop may start step m+1 only once the worker has done Q(m) exchanges in all,
 *   where Q(m) − Q(m−1) ~ Poisson(rate) (or exactly `rate` on average, deterministically); meanwhile the
 *   communication loop may exchange while it has done fewer than Q(m+1) — so the exchanges of step m+1 overlap its
 *   computation, and the compute loop only waits when communication is behind.
 * - rate < 1: exchange e may start once the worker has taken G(e−1) steps, and step m+1 may start only once every
 *   exchange e with G(e) ≤ m is done, where G(e) − G(e−1) ~ Poisson(1/rate) (or exactly 1/rate on average): one
 *   exchange per 1/rate steps, each overlapping the computation of the steps before its deadline.
 * - rate = 0: no exchanges; the compute loop never waits.
 */
import type { Rng } from '../core/rng.js';

export type RateMode = 'poisson' | 'exact';

/** A proposer this many steps ahead of a worker is accepted beyond its rate quota. */
const AHEAD = 1;
/** Exchanges of later quotas that a worker accepts in advance. */
const BORROW = 1;

export class RateControl {
  /** Gradient steps applied. */
  steps = 0;
  /** Exchanges completed. */
  exchanges = 0;
  /** Cumulative thresholds: Q(0), Q(1), … (rate ≥ 1) or G(0), G(1), … (rate < 1), drawn on demand. */
  private readonly marks: number[] = [0];
  /** Exact mode: the running fractional sum. */
  private acc = 0;

  constructor(readonly rate: number, readonly mode: RateMode, private readonly rng: Rng) {
    if (!(rate >= 0) || !Number.isFinite(rate)) throw new RangeError(`rate must be a finite non-negative number, got ${rate}`);
  }

  /** Threshold k (k ≥ 0). */
  private mark(k: number): number {
    const perMark = this.rate >= 1 ? this.rate : 1 / this.rate;
    while (this.marks.length <= k) {
      let next: number;
      if (this.mode === 'exact') {
        this.acc += perMark;
        next = Math.floor(this.acc + 1e-9);
      } else {
        next = this.marks[this.marks.length - 1] + this.rng.poisson(perMark);
      }
      this.marks.push(next);
    }
    return this.marks[k];
  }

  /** May the compute loop start its next step? */
  canStep(): boolean {
    if (this.rate === 0) return true;
    if (this.rate >= 1) return this.exchanges >= this.mark(this.steps);
    // Exchanges due by now: the number of e ≥ 1 with G(e) ≤ steps.
    return this.exchanges >= this.dueBy(this.steps);
  }

  /**
   * May the communication loop start (or accept) an exchange now? With `ahead` = k > 0: may it, taking up to k
   * exchanges of the quotas of later steps in advance? (They count towards those quotas, so the long-run rate is
   * unchanged; only when exchanges happen moves.)
   */
  canExchange(ahead = 0): boolean {
    if (this.rate === 0) return false;
    if (this.rate >= 1) return this.exchanges < this.mark(this.steps + 1) + ahead;
    return this.steps >= this.mark(Math.max(0, this.exchanges - ahead));
  }

  /**
   * Whether to accept a neighbour's proposal: within the quota, taking up to BORROW exchanges of later quotas in
   * advance (a neighbour that still needs exchanges for its own quota then gets them while it computes, instead of
   * waiting until our quota opens; the advance counts towards our later quotas, so the rate is unchanged), and beyond
   * that from a neighbour whose compute loop is waiting for an exchange (peerOwed > 0) or that is ahead by more than
   * a step: a slower worker, or a neighbour shared by several others (the middle of a path), then never holds the
   * others back, while workers of equal speed keep close to the rate.
   */
  accepts(peerSteps: number, peerOwed: number): boolean {
    if (this.rate === 0) return false;
    return this.canExchange(BORROW) || peerSteps > this.steps + AHEAD || peerOwed > 0;
  }

  /** Exchanges still owed before the compute loop may go on (0 when it may). */
  owed(): number {
    if (this.rate === 0) return 0;
    const due = this.rate >= 1 ? this.mark(this.steps) : this.dueBy(this.steps);
    return Math.max(0, due - this.exchanges);
  }

  stepDone(): void {
    this.steps++;
  }

  exchangeDone(): void {
    this.exchanges++;
  }

  private dueBy(steps: number): number {
    let e = this.exchanges;
    while (this.mark(e + 1) <= steps) e++;
    return e;
  }
}
