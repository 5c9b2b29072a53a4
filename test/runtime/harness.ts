/**
 * Runtime agents inside one thread, for tests: every worker's WorkerAgent over the in-process transport, and a fake
 * compute loop per worker that computes real gradients of a tiny engine model (on timers instead of a thread).
 */
import { buildAlgorithm, type AlgorithmName, type Built } from '../../src/algorithms/index.js';
import { Rng } from '../../src/core/rng.js';
import { syntheticClassification } from '../../src/data/synthetic.js';
import { jsBackend } from '../../src/engine/backends/index.js';
import { createModel } from '../../src/engine/models/index.js';
import type { Model } from '../../src/engine/models/model.js';
import { ShuffledBatches } from '../../src/engine/training/batches.js';
import { makeTopology, type Graph } from '../../src/graph/topology.js';
import { WorkerAgent } from '../../src/runtime/agent.js';
import { Adversary, AdversarialTransport, type AdversaryKind } from '../../src/runtime/adversary.js';
import { DEFAULT_BOUNDS } from '../../src/runtime/bounds.js';
import { ExchangeGuard } from '../../src/runtime/exchange-guard.js';
import { InProcessTransport, inProcessNetwork } from '../../src/runtime/inprocess.js';
import { graphPairing } from '../../src/runtime/pairing.js';
import { LocalOptimizer } from '../../src/algorithms/local-optimizer.js';

export function tinyData(seed = 1) {
  return syntheticClassification({ n: 600, features: 8, classes: 3, seed, noise: 1.5 });
}

export interface Harness {
  agents: WorkerAgent[];
  transports: InProcessTransport[];
  models: Model[];
  /**
   * Runs every worker's fake compute loop until all have taken `steps` steps (or `ms` elapsed): those done first keep
   * stepping meanwhile, so that nobody waits for exchanges with a neighbour that stopped.
   */
  run(steps: number, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  n: number;
  topology: string;
  algorithm: AlgorithmName;
  rate: number;
  rateMode?: 'poisson' | 'exact';
  seed?: number;
  computeMs?: (worker: number) => number;
  /** Workers that send forged models. */
  adversary?: Record<number, AdversaryKind>;
  /** false: no bounds on exchanges. */
  bounds?: boolean;
  log?: (line: string) => void;
  /** Runs this algorithm instead (its states are created for workers 0, 1, … in turn). */
  built?: (graph: Graph, dim: number) => Built;
}

export function agentHarness(opts: HarnessOptions): Harness {
  const { n } = opts;
  const seed = opts.seed ?? 1;
  const backend = jsBackend();
  const data = tinyData(seed);
  const graph = makeTopology(opts.topology, n);
  const template = createModel('mlp', { inputSize: 8, hidden: [6], classes: 3, backend, seed });
  const dim = template.size;
  const built = opts.built?.(graph, dim) ?? buildAlgorithm({ name: opts.algorithm, graph, rate: opts.rate, dim, dtype: 'f32', backend });
  const endpoints = inProcessNetwork(n, graph.edges, dim);
  const rng = new Rng(seed);
  const transports: InProcessTransport[] = [];
  const models: Model[] = [];
  const permits: Array<() => void> = [];
  const agents = endpoints.map((e, i) => {
    const x = new Float32Array(new SharedArrayBuffer(4 * dim));
    x.set(template.params);
    const model = createModel('mlp', { inputSize: 8, hidden: [6], classes: 3, backend, params: x, initialize: false });
    models.push(model);
    const t = new InProcessTransport(e);
    transports.push(t);
    const kind = opts.adversary?.[i];
    const transport = kind ? new AdversarialTransport(t, new Adversary(kind, rng.fork(`adversary${i}`))) : t;
    const guard = new ExchangeGuard(i, { bounds: opts.bounds === false ? null : DEFAULT_BOUNDS, log: opts.log });
    const optimizer = new LocalOptimizer({ lr: 0.1, momentum: 0.9 }, { dim, dtype: 'f32', backend, layout: template.layout });
    const partners = graphPairing(graph, opts.rate, i);
    return new WorkerAgent({
      id: i, built, x, layoutHash: template.layoutHash, optimizer, rate: partners.rate, rateMode: opts.rateMode, rng: rng.fork(i),
      guard, pairing: { transport, neighbours: partners.neighbours, weights: partners.weights, timeoutMs: 500 }, maxWaitMs: 300,
      permit: () => permits[i]?.(),
    });
  });
  const computeMs = opts.computeMs ?? (() => 0.5);
  return {
    agents, transports, models,
    async run(steps, ms = 30_000) {
      const deadline = performance.now() + ms;
      const allDone = () => agents.every((a) => a.steps >= steps) || performance.now() > deadline;
      await Promise.all(agents.map((agent, i) => new Promise<void>((resolve) => {
        const batches = new ShuffledBatches({ inputs: data.images, targets: data.labels, count: data.n }, seed * 100 + i, 16);
        const model = models[i];
        const step = () => {
          if (allDone()) {
            permits[i] = () => {};
            resolve();
            return;
          }
          // A gradient at the current parameters, delivered after a short "computation".
          const b = batches.batch(agent.steps);
          const loss = model.lossAndGradient(b.inputs, b.targets);
          // A worker that stopped (its parameters ruined) takes no more steps.
          setTimeout(() => void agent.applyGradient(loss, model.grads, 1).then((applied) => {
            if (!applied) resolve();
          }), computeMs(i));
        };
        permits[i] = () => setImmediate(step);
        if (agent.steps === 0) agent.start();
        else step();
      })));
    },
    async close() {
      await Promise.all(agents.map((a) => a.stop()));
      await Promise.all(transports.map((t) => t.close()));
    },
  };
}
