import type { AlgorithmName } from '../../src/algorithms/index.js';
import { Quadratic } from '../../src/objectives/quadratic.js';
import { messageCodec, type Codec } from '../../src/core/codecs.js';
import { mean, runSpec, sci, table } from './common.js';

/**
 * Lossy wire codecs in the simulator: what rounding every exchanged model to half floats or to blockwise 8-bit
 * codes costs in precision when exchanges are free, and what their smaller size buys when the link is the
 * bottleneck (faithful mode: an exchange lasts latency + size / bandwidth, and a busy worker skips exchanges).
 * Ring of 32, heterogeneous quadratics of dimension 256 (full 8-bit blocks), step size 0.05, rate 1.
 */
export function codecs(opts: { seeds?: number; quick?: boolean } = {}) {
  const seeds = opts.seeds ?? 3;
  const n = opts.quick ? 16 : 32;
  const dim = 256;
  const time = opts.quick ? 200 : 600;
  // Bandwidth-bound: a float32 model takes one time unit (one expected gradient step) to cross the link.
  const links = [
    { label: 'instant exchanges', link: undefined },
    { label: `link: latency 0.05, ${dim} floats per time unit`, link: { latency: 0.05, bandwidth: dim } },
  ];
  const results: Array<Record<string, unknown>> = [];
  const rows: Array<Array<string | number>> = [];
  for (const { label, link } of links) {
    for (const algo of ['gossip', 'acid'] as AlgorithmName[]) {
      const cells: Array<string | number> = [label, algo];
      let reference = NaN;
      for (const codec of ['f32', 'f16', 'i8'] as Codec[]) {
        const steady: number[] = [];
        const comms: number[] = [];
        for (let seed = 1; seed <= seeds; seed++) {
          const objective = new Quadratic({ workers: n, dim, seed, spread: 1 });
          const { summary } = runSpec({ algo, topology: 'ring', n, rate: 1, objective, time, seed, lr: 0.05 }, {
            link, codec: codec === 'f32' ? undefined : messageCodec(codec),
          });
          steady.push(summary.steadyOptimality!);
          comms.push(summary.communications);
        }
        if (codec === 'f32') reference = mean(steady);
        cells.push(`${sci(mean(steady))} (${(mean(steady) / reference).toFixed(2)}×), ${Math.round(mean(comms))} exch.`);
        results.push({ link: label, algo, codec, n, dim, time, seeds, steadyOptimality: mean(steady), communications: mean(comms) });
      }
      rows.push(cells);
    }
  }
  const markdown = table(['exchanges', 'algorithm', 'f32', 'f16', 'i8'], rows);
  return { name: 'codecs', results, markdown };
}
