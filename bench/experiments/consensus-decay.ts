import { spectral } from '../../src/graph/spectral.js';
import { makeTopology } from '../../src/graph/topology.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { mean, runSpec, slope, table } from './common.js';

/** Exponential decay rate of the consensus error, fitted on log(consensus) over its middle range. */
export function decayRate(rows: Array<{ t: number; consensus: number }>): number {
  const c0 = rows[0].consensus;
  const pts = rows.filter((r) => r.consensus < 1e-1 * c0 && r.consensus > 1e-22 * c0);
  if (pts.length < 5) return NaN;
  return -slope(pts.map((r) => r.t), pts.map((r) => Math.log(r.consensus)));
}

/**
 * Pure gossip (no gradients): the consensus error decays like exp(−t/χ1) for the baseline and, with A2CiD2,
 * like exp(−c t/√(χ1 χ2)) — the paper's acceleration. Measured rates against both theoretical rates, and the rate of
 * A2CiD2 with the authors' exchange rule (the sender's x as of its last update), which keeps less of it.
 */
export function consensusDecay(opts: { seeds?: number; quick?: boolean } = {}) {
  const seeds = opts.seeds ?? 3;
  const cases = opts.quick ? [['ring', 16]] : [['ring', 16], ['ring', 32], ['ring', 64], ['exponential', 32], ['torus', 64]];
  const results: Array<Record<string, unknown>> = [];
  const rows: Array<Array<string | number>> = [];
  for (const [topology, n] of cases as Array<[string, number]>) {
    const s = spectral(makeTopology(topology, n), 1);
    const rates: Record<string, number> = {};
    for (const variant of ['gossip', 'acid', 'acid-official'] as const) {
      const algo = variant === 'gossip' ? 'gossip' : 'acid';
      const exchange = variant === 'acid-official' ? 'official' : 'ideal';
      const theory = algo === 'gossip' ? 1 / s.chi1 : 1 / Math.sqrt(s.chi1 * s.chi2);
      // The authors' rule decays more slowly: over the baseline's time scale.
      const time = 30 / (variant === 'acid' ? theory : 1 / s.chi1);
      const measured: number[] = [];
      for (let seed = 1; seed <= seeds; seed++) {
        const objective = new Quadratic({ workers: n, dim: 4, seed });
        const { rows: metrics } = runSpec({ algo, topology, n, rate: 1, objective, time, seed, gradients: false, every: time / 300, exchange });
        measured.push(decayRate(metrics));
      }
      rates[variant] = mean(measured);
      results.push({ topology, n, algo, exchange, chi1: s.chi1, chi2: s.chi2, measuredRate: mean(measured), theoryRate: theory, ratio: mean(measured) / theory });
    }
    rows.push([
      topology, n, s.chi1.toPrecision(4), s.chi2.toPrecision(4),
      rates.gossip.toPrecision(3), (1 / s.chi1).toPrecision(3), (rates.gossip * s.chi1).toFixed(2),
      rates.acid.toPrecision(3), (1 / Math.sqrt(s.chi1 * s.chi2)).toPrecision(3), (rates.acid * Math.sqrt(s.chi1 * s.chi2)).toFixed(2),
      (rates.acid / rates.gossip).toFixed(2), Math.sqrt(s.chi1 / s.chi2).toFixed(2),
      rates['acid-official'].toPrecision(3), (rates['acid-official'] / rates.gossip).toFixed(2),
    ]);
  }
  const markdown = table(
    ['graph', 'n', 'χ1', 'χ2', 'baseline rate', '1/χ1', 'rate·χ1', 'A2CiD2 rate', '1/√(χ1χ2)', 'rate·√(χ1χ2)', 'measured speed-up', '√(χ1/χ2)', 'official rule rate', 'its speed-up'],
    rows,
  );
  return { name: 'consensus-decay', results, markdown };
}
