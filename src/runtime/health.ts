/**
 * A worker's check of its own parameters. Bounds on exchanges (bounds.ts) keep a neighbour's garbage out; this is the
 * last line behind them — a diverging learning rate, an exchange applied without bounds, a bug — so that a worker
 * whose model is ruined stops with a clear reason instead of training on garbage and passing it on. It costs one sum
 * of squares (the backend's kernel) per check: the model is ruined when its norm is not finite, or when it grew more
 * than `growth`-fold since the last sound state kept. A copy of the parameters is kept every `keepEvery` sound
 * checks, so that a ruined worker can hand back its last good state.
 */

export interface HealthOptions {
  /** Σ x² of a vector (default: a plain loop). */
  sumSquares?: (x: Float32Array) => number;
  /** The norm may grow at most this much over the last kept state (default 100). */
  growth?: number;
  /** Sound checks between two kept states (default 50). */
  keepEvery?: number;
}

const plainSumSquares = (x: Float32Array): number => {
  let s = 0;
  for (let k = 0; k < x.length; k++) s += x[k] * x[k];
  return s;
};

export class ParameterHealth {
  /** The last sound parameters kept. */
  readonly lastGood: Float32Array;
  private lastGoodAt = 0;
  private checks = 0;
  private keptNorm: number;
  private readonly sumSquares: (x: Float32Array) => number;

  constructor(private readonly x: Float32Array, private readonly opts: HealthOptions = {}) {
    this.sumSquares = opts.sumSquares ?? plainSumSquares;
    this.lastGood = Float32Array.from(x);
    this.keptNorm = Math.sqrt(this.sumSquares(x));
  }

  /** Sound checks since the last good state was kept. */
  get sinceGood(): number {
    return this.checks - this.lastGoodAt;
  }

  /** null while x is sound; otherwise why it is not (x is left as it is). */
  check(): string | null {
    const norm = Math.sqrt(this.sumSquares(this.x));
    if (!Number.isFinite(norm)) return `its norm is ${norm}`;
    const growth = this.opts.growth ?? 100;
    // (the unit floor: a model kept at norm 0, e.g. all zeros, may grow to a norm of `growth`)
    if (norm > growth * Math.max(1, this.keptNorm)) return `its norm is ${norm.toPrecision(3)}, ${(norm / this.keptNorm).toPrecision(3)} times that of its last good state`;
    this.checks++;
    if (this.checks % (this.opts.keepEvery ?? 50) === 0) {
      this.lastGood.set(this.x);
      this.lastGoodAt = this.checks;
      this.keptNorm = norm;
    }
    return null;
  }
}
