/**
 * How a collective combines the workers' contributions: their mean, or a rule from the Byzantine-robust literature
 * that a few forged contributions cannot drag far. Every worker of a round computes it from the same contributions
 * in the same (worker) order, so all get the same result.
 *
 * - mean: (1/n) Σ c_i.
 * - trimmed-mean: per coordinate, the mean of the values left once the ⌈n/10⌉ largest and as many smallest are
 *   dropped (Yin, Chen, Ramchandran, Bartlett, ICML 2018).
 * - median: per coordinate (ibid.; the mean of the two middle values for an even n).
 * - centered-clip: from the coordinate-wise median v, three steps v ← v + (1/n) Σ (c_i − v) · min(1, τ/‖c_i − v‖)
 *   with τ the median of the distances ‖c_i − v‖ (Karimireddy, He, Jaggi, ICML 2021, started from the median rather
 *   than the previous round's aggregate, so that a round needs nothing from the last).
 */
export const AGGREGATES = ['mean', 'trimmed-mean', 'median', 'centered-clip'] as const;
export type Aggregate = (typeof AGGREGATES)[number];

/** Writes the aggregate of the contributions (all of out's length) into out. */
export function aggregate(rule: Aggregate, contributions: readonly Float32Array[], out: Float32Array): void {
  const n = contributions.length;
  if (n === 0) throw new Error('no contribution to aggregate');
  if (rule === 'mean') {
    const sum = new Float64Array(out.length);
    for (const c of contributions) for (let k = 0; k < out.length; k++) sum[k] += c[k];
    for (let k = 0; k < out.length; k++) out[k] = sum[k] / n;
    return;
  }
  if (rule === 'centered-clip') return centeredClip(contributions, out);
  const trim = rule === 'trimmed-mean' ? Math.min(Math.ceil(n / 10), Math.floor((n - 1) / 2)) : 0;
  const column = new Float64Array(n);
  for (let k = 0; k < out.length; k++) {
    for (let i = 0; i < n; i++) column[i] = contributions[i][k];
    column.sort();
    if (rule === 'median') {
      out[k] = n % 2 === 1 ? column[(n - 1) / 2] : 0.5 * (column[n / 2 - 1] + column[n / 2]);
      continue;
    }
    let s = 0;
    for (let i = trim; i < n - trim; i++) s += column[i];
    out[k] = s / (n - 2 * trim);
  }
}

function centeredClip(contributions: readonly Float32Array[], out: Float32Array): void {
  const n = contributions.length;
  aggregate('median', contributions, out);
  const v = Float64Array.from(out);
  const distances = new Float64Array(n);
  for (let iteration = 0; iteration < 3; iteration++) {
    for (let i = 0; i < n; i++) {
      let d = 0;
      const c = contributions[i];
      for (let k = 0; k < v.length; k++) d += (c[k] - v[k]) ** 2;
      distances[i] = Math.sqrt(d);
    }
    const tau = Float64Array.from(distances).sort()[Math.floor((n - 1) / 2)];
    const step = new Float64Array(v.length);
    for (let i = 0; i < n; i++) {
      const w = distances[i] > tau && distances[i] > 0 ? tau / distances[i] : 1;
      const c = contributions[i];
      for (let k = 0; k < v.length; k++) step[k] += w * (c[k] - v[k]);
    }
    for (let k = 0; k < v.length; k++) v[k] += step[k] / n;
  }
  for (let k = 0; k < out.length; k++) out[k] = v[k];
}
