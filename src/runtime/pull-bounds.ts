/**
 * Bounds on a late joiner's pull: the parameters it takes from live workers instead of starting from the initial
 * point. Unlike an exchange (bounds.ts) there is no statistic yet, and the joiner's own parameters — the initial point
 * or an old checkpoint — may rightly be far from the cluster's. What can be checked: the answer is finite and its norm
 * at most `growth` times the joiner's own (the rule of health.ts); and, when several workers answered, that they
 * agree. Honest workers' models are close to each other (relative distances well below 1), so of three or more answers
 * the one closest to the others is taken (one forged answer among three cannot be), of two the one closest to the
 * joiner's own parameters (a forged model is no nearer to a start of the same training than the trained one), and
 * every answer farther than `ceiling` from the one taken is refused.
 */
import { relativeDistance } from './bounds.js';
import type { WorkerId } from './transport.js';

export interface PulledAnswer {
  from: WorkerId;
  x: Float32Array;
}

export interface PullChoice {
  /** The answer to start from (null: none is acceptable). */
  chosen: PulledAnswer | null;
  refused: Array<{ from: WorkerId; reason: string }>;
}

const norm = (x: Float32Array): number => {
  let s = 0;
  for (let k = 0; k < x.length; k++) s += x[k] * x[k];
  return Math.sqrt(s);
};

export function choosePull(own: Float32Array, answers: readonly PulledAnswer[], settings = { growth: 100, ceiling: 1 }): PullChoice {
  const refused: PullChoice['refused'] = [];
  const limit = settings.growth * Math.max(1, norm(own));
  const sane = answers.filter((a) => {
    const n = norm(a.x);
    if (a.x.length === own.length && n <= limit) return true;
    refused.push({ from: a.from, reason: a.x.length !== own.length ? `${a.x.length} values for ${own.length}` : `its norm ${n.toPrecision(3)} is over ${limit.toPrecision(3)}` });
    return false;
  });
  if (sane.length === 0) return { chosen: null, refused };
  const d = sane.map((a) => sane.map((b) => (a === b ? 0 : relativeDistance(b.x, a.x))));
  // Three or more: the medoid (the smallest sum of distances to the other answers); fewer: the nearest to our own.
  const score = (i: number) => (sane.length >= 3 ? d[i].reduce((s, v) => s + v, 0) : relativeDistance(own, sane[i].x));
  let best = 0;
  for (let i = 1; i < sane.length; i++) if (score(i) < score(best)) best = i;
  sane.forEach((a, i) => {
    if (i !== best && !(d[i][best] <= settings.ceiling)) refused.push({ from: a.from, reason: `relative distance ${d[i][best].toPrecision(3)} to the answer of worker ${sane[best].from}, over ${settings.ceiling}` });
  });
  return { chosen: sane[best], refused };
}
