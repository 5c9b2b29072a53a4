import { aggregate, AGGREGATES } from '../src/runtime/aggregate.js';

/**
 * The cost of the collectives' aggregation rules: milliseconds to combine 8 contributions of the default MLP's
 * 669,706 parameters (best of three), and each as a ratio to the mean.
 */
export async function runAggregateBench(): Promise<Record<string, unknown>> {
  const dim = 669_706;
  const n = 8;
  const contributions = Array.from({ length: n }, (_, i) => Float32Array.from({ length: dim }, (_, k) => Math.sin(k + i)));
  const out = new Float32Array(dim);
  const ms: Record<string, number> = {};
  for (const rule of AGGREGATES) {
    aggregate(rule, contributions, out);
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const start = performance.now();
      aggregate(rule, contributions, out);
      best = Math.min(best, performance.now() - start);
    }
    ms[rule] = +best.toFixed(2);
  }
  const ratio = Object.fromEntries(AGGREGATES.map((r) => [r, +(ms[r] / ms.mean).toFixed(2)]));
  return { workers: n, parameters: dim, ms, ratioToMean: ratio };
}
