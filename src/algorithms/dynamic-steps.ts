/**
 * Dynamic Local Updates (Liu et al. 2024, docs/algorithms.md §5.6): a slower worker takes fewer inner steps per round,
 * so that all rounds last about as long and the pushes of slow workers are not staler than the others'.
 *
 *   H_w = max(1, ⌊v_w / v_ref · H⌋),   v_ref = the REFERENCE_PERCENTILE-th percentile of the active workers' speeds
 *
 * v is a worker's measured speed (local steps per unit of time, whatever the unit: only ratios count); the active
 * workers are those with a known speed (> 0). The percentile is the nearest rank: of k speeds in ascending order,
 * the ⌈p·k⌉-th, so with up to 10 workers v_ref is the fastest one's, and with more a few outliers faster than the
 * rest do not shrink everyone's rounds (those few take more than H steps, in rounds of the same length). A worker of
 * unknown speed takes H.
 */

/** The percentile of the active workers' speeds that takes the full H steps. */
export const REFERENCE_PERCENTILE = 0.9;

/** The nearest-rank p-quantile of the positive values (0 when there is none). */
export function referenceSpeed(speeds: ArrayLike<number>, p = REFERENCE_PERCENTILE): number {
  const known: number[] = [];
  for (let i = 0; i < speeds.length; i++) if (speeds[i] > 0) known.push(speeds[i]);
  if (known.length === 0) return 0;
  known.sort((a, b) => a - b);
  return known[Math.max(0, Math.ceil(p * known.length) - 1)];
}

/** H_w of worker w's next round, from everyone's speeds. */
export function dynamicInnerSteps(H: number, speeds: ArrayLike<number>, worker: number): number {
  const v = speeds[worker];
  const ref = referenceSpeed(speeds);
  if (!(v > 0) || !(ref > 0)) return H;
  return Math.max(1, Math.floor((v / ref) * H));
}
