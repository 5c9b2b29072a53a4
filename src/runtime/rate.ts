/** A2CiD2's local time in the runtime (docs/algorithms.md §2). The rate control is in ../algorithms/rate-control.ts. */

/**
 * A2CiD2's clock: wall-clock time divided by a moving average (factor ½) of the duration of one local step, so
 * that one unit is one expected local step. The time is integrated (t += dt / average), so it never goes back
 * when the average changes; it stands still until the first step has been measured.
 */
export class LocalClock {
  private t = 0;
  private last: number;
  private average = 0;

  /** t0: the local time to start from (a resumed worker's). */
  constructor(private readonly wall: () => number = () => performance.now(), t0 = 0) {
    this.last = wall();
    this.t = t0;
  }

  /** Current local time, in expected local steps. */
  now(): number {
    const w = this.wall();
    if (this.average > 0) this.t += (w - this.last) / this.average;
    this.last = w;
    return this.t;
  }

  /** Records the duration of one local step (ms). */
  stepTook(ms: number): void {
    this.now();
    if (!(ms > 0)) return;
    this.average = this.average > 0 ? 0.5 * this.average + 0.5 * ms : ms;
  }

  /** The moving average of a step's duration, ms (0 before the first step). */
  get stepMs(): number {
    return this.average;
  }
}
