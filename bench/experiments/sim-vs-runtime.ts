import { buildAlgorithm } from '../../src/algorithms/index.js';
import { makeTopology } from '../../src/graph/topology.js';
import { loadMnist } from '../../src/data/mnist.js';
import { createModel } from '../../src/engine/models/index.js';
import { NeuralObjective } from '../../src/objectives/neural.js';
import type { MetricsRow } from '../../src/report/metrics.js';
import { runCluster } from '../../src/runtime/cluster.js';
import { type ClusterSummary } from '../../src/runtime/cluster-config.js';
import type { LinkTable } from '../../src/runtime/emulator.js';
import { simulate, type LinkModel } from '../../src/sim/simulator.js';
import { mean, sci, table } from './common.js';

/**
 * Does the simulator predict the runtime? One configuration, run both ways: 8 workers on a ring, rate 1, workers 3
 * and 6 three times slower (speeds 1/3 in the simulator, compute slow-down 3 in the runtime), A2CiD2 and the gossip
 * baseline, the MLP of `gossamer train` on MNIST (784-512-512-10, batch 128, every worker over the whole training
 * set in its own order), plain SGD at a constant learning rate 0.1 (no momentum, weight decay, clipping or
 * schedule, so that the simulator's local step and the engine's optimizer are the same update). Both record the
 * loss of the averaged model on the MNIST test set and the consensus distance (1/n) sum |x_i - xbar|^2;
 * the curves are compared at common numbers of gradient steps per worker (the simulator's virtual time counts
 * expected local steps of a speed-1 worker, the runtime's wall-clock time depends on the machine: gradient steps
 * are the unit both share).
 *
 * Variants: 'instant' runs the runtime's in-process exchanges (well under a step) against the simulator's
 * instantaneous exchanges; 'faithful' (full version only) runs the runtime over emulated links of 10 Gbit/s and
 * 2 ms latency against the simulator's faithful mode (a worker in one exchange at a time, an exchange lasting
 * latency + size / bandwidth), its latency and bandwidth converted into units of one gradient step with the step
 * time the runtime measured (an emulated exchange is two one-way trips, the proposal then the answer); 'slow-links'
 * (full version only) does the same with the time-to-97 experiment's links, 100 Mbit/s and 20 ms. The simulator has
 * no rate control: its gradient clocks never wait for exchanges (a busy worker skips an exchange instead), while the
 * runtime's compute loops wait for their quota; over slow links the two therefore differ in exchanges per gradient.
 *
 * Agreement: the ratio runtime / simulator of the loss (and of the consensus) at each common point; reported as their
 * geometric mean and the largest deviation factor over the points (1 is perfect agreement).
 */
/** DiLoCo's outer loop in this experiment: the recipe's (H 10, outer Nesterov lr 0.7, momentum 0.5). */
const DILOCO = { innerSteps: 10, outerLr: 0.7, outerMomentum: 0.5 };

type Compared = 'acid' | 'gossip' | 'diloco';

/**
 * With `algorithms: ['diloco']`, DiLoCo: the simulator runs its collectives with every worker on its own clock
 * (`--rounds events`, pacing 'events' in the tables), the runtime with its threads, the same outer loop in both (DILOCO).
 */
export async function simVsRuntime(opts: { quick?: boolean; seeds?: number; log?: (line: string) => void; budget?: number; variants?: string[]; algorithms?: Compared[] } = {}) {
  const quick = opts.quick ?? false;
  const seeds = opts.seeds ?? 1;
  const n = 8;
  const speeds = Float64Array.from({ length: n }, (_, i) => (i === 3 || i === 6 ? 1 / 3 : 1));
  const slowdown = { 3: 3, 6: 3 };
  const lr = 0.1;
  const batchSize = 128;
  // The whole test set, in both (the runtime's final row is always on the whole test set).
  const train = loadMnist('train');
  const test = loadMnist('test');
  const evalLimit = test.n;
  // Gradient steps of all workers: a quick smoke test, or 3 epochs.
  const budget = opts.budget ?? (quick ? 160 : Math.ceil((3 * 60000) / batchSize));
  const points = quick ? 4 : 12;
  const algorithms: Compared[] = opts.algorithms ?? ['acid', 'gossip'];
  const pacings = (algorithm: Compared) => (algorithm === 'diloco' ? ['events'] as const : ['free', 'quota'] as const);
  const all: Array<{ name: string; links?: LinkTable }> = [
    { name: 'instant' },
    { name: 'faithful', links: { default: { latencyMs: 2, bandwidth: 1.25e9 } } },
    // The links of the time-to-97 experiment: an exchange of the 2.7 MB model lasts about 40 gradient steps.
    { name: 'slow-links', links: { default: { latencyMs: 20, bandwidth: 12.5e6 } } },
  ];
  const variants = all.filter((v) => (opts.variants ? opts.variants.includes(v.name) : !quick || v.name === 'instant'));

  const results: Array<Record<string, unknown>> = [];
  for (const variant of variants) {
    for (const algorithm of algorithms) {
      for (let seed = 1; seed <= seeds; seed++) {
        opts.log?.(`sim-vs-runtime: ${variant.name}, ${algorithm}, seed ${seed}: runtime`);
        const runtimeRows: MetricsRow[] = [];
        const s: ClusterSummary = await runCluster({
          workers: n, topology: 'ring', algorithm, rate: 1, model: 'mlp', dataset: 'mnist', batchSize, steps: budget,
          optimizer: 'sgd', lr, momentum: 0, weightDecay: 0, schedule: 'constant', warmup: 0, clip: null, seed, slowdown,
          links: variant.links, evalLimit, metricsEvery: Math.max(1, Math.round(budget / (3 * points))), onRow: (r) => runtimeRows.push(r),
          ...(algorithm === 'diloco' ? DILOCO : {}),
        });
        // One gradient step of a speed-1 worker in the runtime (computation and update, waits excluded), ms.
        const fast = s.perWorker.filter((w) => !(w.id in slowdown));
        const stepMs = mean(fast.map((w) => w.computeMs + w.applyMs));
        let link: LinkModel | undefined;
        if (variant.links) {
          const l = variant.links.default!;
          // Floats per ms, then per time unit; two one-way trips per exchange.
          const floatsPerMs = l.bandwidth! / 4 / 1000;
          link = { latency: (2 * l.latencyMs!) / stepMs, bandwidth: (floatsPerMs * stepMs) / 2 };
        }

        // The same model as the runtime's (the MLP of `gossamer sim --problem mlp-mnist`, evaluated on the whole test
        // set), in both of the simulator's modes: free-running clocks, and paced by the runtime's rate control.
        for (const pacing of pacings(algorithm)) {
          opts.log?.(`sim-vs-runtime: ${variant.name}, ${algorithm}, seed ${seed}: simulator (${pacing})`);
          const model = createModel('mlp', { inputSize: 784, classes: 10, seed });
          const objective = new NeuralObjective({ model, train, test, workers: n, seed, batchSize, evalLimit });
          const graph = makeTopology('ring', n, { seed });
          const built = buildAlgorithm({ name: algorithm, graph, rate: 1, dim: objective.dim, dtype: objective.dtype, backend: objective.backend, layout: objective.layout, diloco: DILOCO });
          const speedSum = speeds.reduce((a, b) => a + b, 0);
          // The free mode takes budget gradients in about budget / speedSum time units; the paced one may take longer
          // (its steps wait for exchanges): it runs until it has taken as many steps as the runtime.
          // (DiLoCo's rounds wait for the slowest worker: its steps take longer still.)
          const time = pacing === 'free' ? budget / speedSum : budget / speedSum * (pacing === 'events' ? 3 : 1 + (link ? (link.latency + objective.dim / link.bandwidth) : 0));
          const sim = simulate({
            objective, graph, built, optimizer: { lr }, rate: 1, time, seed, speeds, link, every: time / (6 * points), gradients: true, init: 'shared',
            ...(pacing === 'events' ? { rounds: 'events' as const } : { pacing }),
          });

          // Common points: gradient steps per worker.
          const perWorker = (r: MetricsRow) => r.gradients / n;
          const runtimeCurve = runtimeRows;
          const simCurve = sim.rows.filter((r, k) => k === 0 || sim.rows[k - 1].gradients < budget);
          const top = Math.min(perWorker(runtimeCurve[runtimeCurve.length - 1]), perWorker(simCurve[simCurve.length - 1]));
          const curve = Array.from({ length: points + 1 }, (_, k) => (k * top) / points).map((g) => ({
            gradientsPerWorker: +g.toFixed(2),
            sim: { loss: at(simCurve, g * n, 'testLoss'), consensus: at(simCurve, g * n, 'consensus') },
            runtime: { loss: at(runtimeCurve, g * n, 'testLoss'), consensus: at(runtimeCurve, g * n, 'consensus') },
          }));
          const later = curve.filter((p) => p.gradientsPerWorker > 0);
          const lossRatios = later.map((p) => p.runtime.loss / p.sim.loss);
          const consensusRatios = later.map((p) => p.runtime.consensus / p.sim.consensus).filter((r) => Number.isFinite(r) && r > 0);
          const simFinal = simCurve[simCurve.length - 1];
          results.push({
            variant: variant.name, algorithm, pacing, seed, budget, stepMs: +stepMs.toFixed(3), simLink: link ?? null,
            loss: agreement(lossRatios), consensus: agreement(consensusRatios),
            runtime: { seconds: s.seconds, steps: s.steps, exchanges: s.exchanges, exchangesPerGradient: s.exchanges / s.steps, idleFraction: s.idleFraction, testAccuracy: runtimeCurve[runtimeCurve.length - 1].testAccuracy },
            sim: { wallSeconds: sim.summary.wallSeconds, gradients: simFinal.gradients, exchanges: simFinal.communications, exchangesPerGradient: simFinal.communications / Math.max(1, simFinal.gradients), skipped: sim.summary.skipped, testAccuracy: simFinal.testAccuracy },
            curve,
          });
        }
      }
    }
  }

  // Tables: the curves (first seed) at a few points, then the agreement.
  const curveRows: Array<Array<string | number>> = [];
  for (const r of results.filter((x) => x.seed === 1)) {
    const curve = r.curve as Array<{ gradientsPerWorker: number; sim: { loss: number; consensus: number }; runtime: { loss: number; consensus: number } }>;
    const stride = Math.max(1, Math.round(curve.length / 6));
    curve.forEach((p, k) => {
      if (k % stride !== 0 && k !== curve.length - 1) return;
      curveRows.push([
        r.variant as string, r.algorithm as string, r.pacing as string, p.gradientsPerWorker, p.sim.loss.toFixed(4), p.runtime.loss.toFixed(4), (p.runtime.loss / p.sim.loss).toFixed(3),
        sci(p.sim.consensus), sci(p.runtime.consensus),
      ]);
    });
  }
  const summaryRows = variants.flatMap((v) => algorithms.flatMap((algorithm) => pacings(algorithm).map((pacing) => {
    const mine = results.filter((r) => r.variant === v.name && r.algorithm === algorithm && r.pacing === pacing);
    const g = (key: 'loss' | 'consensus', f: 'geometricMean' | 'maxFactor') => mean(mine.map((r) => (r[key] as Agreement)[f]));
    const ex = (side: 'sim' | 'runtime') => mean(mine.map((r) => (r[side] as { exchangesPerGradient: number }).exchangesPerGradient)).toFixed(2);
    return [v.name, algorithm, pacing, g('loss', 'geometricMean').toFixed(3), g('loss', 'maxFactor').toFixed(3), g('consensus', 'geometricMean').toFixed(3), g('consensus', 'maxFactor').toFixed(3), ex('sim'), ex('runtime')];
  })));
  const markdown = [
    table(['variant', 'algorithm', 'sim pacing', 'grads/worker', 'sim loss', 'runtime loss', 'ratio', 'sim consensus', 'runtime consensus'], curveRows),
    '',
    table(['variant', 'algorithm', 'sim pacing', 'loss ratio (geo. mean)', 'loss max factor', 'consensus ratio (geo. mean)', 'consensus max factor', 'sim exchanges/grad', 'runtime exchanges/grad'], summaryRows),
    '',
    `8 workers on a ring, rate 1, workers 3 and 6 at 1/3 speed; MLP on MNIST, SGD lr ${lr}, batch ${batchSize}; ${budget} gradient steps in all, ${seeds} seed(s). Ratios: runtime / simulator.`,
  ].join('\n');
  return { name: algorithms.includes('diloco') ? 'sim-vs-runtime-diloco' : 'sim-vs-runtime', config: { workers: n, topology: 'ring', rate: 1, speeds: [...speeds], lr, batchSize, budget, evalLimit, seeds, variants }, results, markdown };
}

interface Agreement {
  /** Geometric mean of the ratios. */
  geometricMean: number;
  /** The largest factor by which a ratio differs from 1 (max of r and 1/r). */
  maxFactor: number;
  points: number;
}

function agreement(ratios: number[]): Agreement {
  if (ratios.length === 0) return { geometricMean: NaN, maxFactor: NaN, points: 0 };
  return {
    geometricMean: Math.exp(mean(ratios.map(Math.log))),
    maxFactor: Math.max(...ratios.map((r) => Math.max(r, 1 / r))),
    points: ratios.length,
  };
}

/** A field of a curve at `g` gradient steps (all workers), interpolated linearly between its rows. */
function at(rows: MetricsRow[], g: number, field: 'testLoss' | 'consensus'): number {
  let k = rows.findIndex((r) => r.gradients >= g);
  if (k < 0) k = rows.length - 1;
  if (k === 0 || rows[k].gradients === g) return rows[k][field] as number;
  const a = rows[k - 1];
  const b = rows[k];
  const w = (g - a.gradients) / Math.max(1e-12, b.gradients - a.gradients);
  return (a[field] as number) * (1 - w) + (b[field] as number) * w;
}
