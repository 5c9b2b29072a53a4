import type { Vec } from '../core/vec.js';

export interface LocalStepOptions {
  lr: number;
  /** Heavy-ball momentum μ (0 = plain SGD). */
  momentum?: number;
  weightDecay?: number;
}

/**
 * The local optimizer's increment u for a gradient g at x (written into out):
 * SGD u = −lr (g + wd x); momentum SGD buf ← μ buf + (g + wd x), u = −lr buf (the authors' recipe, no Nesterov,
 * so that A2CiD2 adds the same increment to x and x̃).
 */
export function localIncrement(opts: LocalStepOptions, g: Vec, x: Vec, buf: Vec | null, out: Vec): void {
  const { lr } = opts;
  const mu = opts.momentum ?? 0;
  const wd = opts.weightDecay ?? 0;
  if (buf && mu !== 0) {
    for (let k = 0; k < g.length; k++) {
      const b = mu * buf[k] + g[k] + wd * x[k];
      buf[k] = b;
      out[k] = -lr * b;
    }
  } else {
    for (let k = 0; k < g.length; k++) out[k] = -lr * (g[k] + wd * x[k]);
  }
}
