import { UsageError } from '../core/errors.js';
import type { Dtype } from '../core/vec.js';
import type { Backend } from '../engine/backend.js';
import { acidConstants, assertAcidAllowed } from '../graph/acid.js';
import { spectral, spectralOfLaplacian } from '../graph/spectral.js';
import type { Graph } from '../graph/topology.js';
import { Acco } from './acco.js';
import { Acid } from './acid.js';
import { AsyncDiloco } from './async-diloco.js';
import { AllReduce } from './allreduce.js';
import { Dadao } from './dadao.js';
import { Diloco } from './diloco.js';
import { Dpu } from './dpu.js';
import { EagerDiloco } from './eager-diloco.js';
import { GossipDiloco } from './gossip-diloco.js';
import type { OuterOptions } from './outer.js';
import { StreamingDiloco, type StreamingOptions } from './streaming-diloco.js';
import type { Algorithm } from './types.js';
import type { LayoutEntry } from '../engine/layout.js';

export const ALGORITHMS = ['gossip', 'acid', 'allreduce', 'dadao', 'diloco', 'streaming-diloco', 'gossip-diloco', 'async-diloco', 'acco', 'dpu'] as const;
export type AlgorithmName = (typeof ALGORITHMS)[number];
/** The algorithms whose workers meet in collectives (the others exchange pairwise): known before one is built. */
export const COLLECTIVE_ALGORITHMS: readonly AlgorithmName[] = ['allreduce', 'diloco', 'streaming-diloco', 'acco', 'dpu'];
/** The algorithms whose optimizer's state may be sharded over the workers (--shard-optimizer). */
export const SHARDED_ALGORITHMS: readonly AlgorithmName[] = ['acco', 'dpu'];
/** The algorithms whose workers push their rounds to a server that one of them holds. */
export const SERVER_ALGORITHMS: readonly AlgorithmName[] = ['async-diloco'];

/** DiLoCo's settings: the round length and outer step (defaults: DILOCO_DEFAULTS), and its eager variant. */
export interface DilocoSettings extends OuterOptions {
  /** The outer step of a round does not wait for its all-reduce (eager-diloco.ts). @default false */
  eager?: boolean;
  /** Adaptive Braking's ρ on DiLoCo's outer step (diloco.ts). @default 0 */
  outerBraking?: number;
}

export interface AlgorithmSetup {
  name: AlgorithmName;
  graph: Graph;
  /** Expected pairwise averagings per worker per unit time. */
  rate: number;
  dim: number;
  dtype: Dtype;
  /** The engine backend whose vector kernels float32 models use. */
  backend?: Backend | null;
  exchange?: 'ideal' | 'official';
  /** Overrides of the A2CiD2 constants (defaults from the graph's χ1, χ2). */
  eta?: number;
  alphaTilde?: number;
  /** DiLoCo's and Streaming DiLoCo's round length and outer step, and DiLoCo's eager variant. */
  diloco?: DilocoSettings;
  /** Streaming DiLoCo's fragments, overlap and mixing (defaults: STREAMING_DEFAULTS). */
  streaming?: StreamingOptions;
  /** The model's parameter layout (Streaming DiLoCo strides its fragments over its layers). */
  layout?: readonly LayoutEntry[];
  /** async-diloco: Dynamic Local Updates. @default false */
  dynamicH?: boolean;
  /** dpu: rounds that wait for their all-reduce before the updates are delayed (default DPU_DEFAULT_WARMUP). */
  delayWarmup?: number;
  /** acco, dpu: the optimizer's state sharded over the workers (ZeRO-1; shards.ts). @default false */
  shardOptimizer?: boolean;
  /** DADAO needs the smoothness and strong convexity of the local functions. */
  smoothness?: number;
  strongConvexity?: number;
}

export interface Built {
  algorithm: Algorithm;
  /**
   * Pairwise algorithms: the communication rate of every edge (aligned with graph.edges) that the algorithm
   * prescribes (DADAO), or null to use the rate-weighted graph's own.
   */
  edgeRates: Float64Array | null;
  /** The constants the algorithm was built with (χ1, χ2, η, ...). */
  info: Record<string, number>;
}

/** Builds an algorithm with its constants from the graph. */
export function buildAlgorithm(setup: AlgorithmSetup): Built {
  const { name, graph, dim, dtype } = setup;
  const backend = setup.backend ?? null;
  if (dtype === 'f32' && !backend) throw new Error('float32 models need the engine backend for the algorithms\' vector kernels');
  const base = { dim, dtype, backend };
  if (setup.delayWarmup !== undefined && name !== 'dpu') throw new UsageError(`the delayed update's warm-up applies to dpu, not to ${name}`, { field: 'delayWarmup' });
  if (setup.shardOptimizer && !SHARDED_ALGORITHMS.includes(name)) throw new UsageError(`shardOptimizer applies to ${SHARDED_ALGORITHMS.join(' and ')}, not to ${name}`, { field: 'shardOptimizer' });
  const shardOptimizer = setup.shardOptimizer ?? false;
  if (setup.dynamicH && name !== 'async-diloco') throw new UsageError(`dynamicH applies to async-diloco, not to ${name}`, { field: 'dynamicH' });
  switch (name) {
    case 'gossip':
      return { algorithm: new Acid({ ...base, eta: 0, alphaTilde: 0, tracking: false }), edgeRates: null, info: {} };
    case 'acid': {
      const c = acidSetup(setup);
      return { algorithm: new Acid({ ...base, eta: c.eta, alphaTilde: c.alphaTilde, exchange: setup.exchange ?? 'ideal' }), edgeRates: null, info: c.info };
    }
    case 'gossip-diloco': {
      const { eager, outerBraking: _braking, ...outer } = setup.diloco ?? {};
      if (eager) throw new UsageError('eager updates apply to diloco: gossip-diloco has no all-reduce to wait for');
      // The outer models' gossip is A2CiD2's, with the constants of the graph and rate.
      const c = acidSetup(setup);
      return usage(() => ({ algorithm: new GossipDiloco({ ...base, eta: c.eta, alphaTilde: c.alphaTilde, ...outer }), edgeRates: null, info: c.info }));
    }
    case 'allreduce':
      return { algorithm: new AllReduce({ dim, dtype }), edgeRates: null, info: {} };
    case 'diloco': {
      const { eager, outerBraking, ...outer } = setup.diloco ?? {};
      if (eager && outerBraking) throw new UsageError('outer braking applies to diloco without eager updates');
      return usage(() => ({
        algorithm: eager ? new EagerDiloco({ dim, dtype, workers: graph.n, ...outer }) : new Diloco({ dim, dtype, backend, layout: setup.layout, outerBraking, ...outer }), edgeRates: null, info: {},
      }));
    }
    case 'streaming-diloco': {
      const { eager, outerBraking: _braking, ...outer } = setup.diloco ?? {};
      if (eager) throw new UsageError('eager updates apply to diloco: streaming-diloco overlaps its fragments\' all-reduces itself (--overlap)');
      return usage(() => ({ algorithm: new StreamingDiloco({ dim, dtype, layout: setup.layout, ...outer, ...setup.streaming }), edgeRates: null, info: {} }));
    }
    case 'async-diloco': {
      const { eager: _eager, outerBraking: _braking, ...outer } = setup.diloco ?? {};
      return usage(() => ({ algorithm: new AsyncDiloco({ dim, dtype, ...outer, workers: graph.n, dynamicH: setup.dynamicH }), edgeRates: null, info: {} }));
    }
    case 'acco':
      return { algorithm: new Acco({ dim, dtype, backend, workers: graph.n, shardOptimizer }), edgeRates: null, info: {} };
    case 'dpu':
      return usage(() => ({ algorithm: new Dpu({ dim, dtype, backend, workers: graph.n, warmup: setup.delayWarmup, shardOptimizer }), edgeRates: null, info: {} }));
    case 'dadao': {
      const L = setup.smoothness;
      const mu = setup.strongConvexity;
      if (!(L && mu)) throw new UsageError('dadao needs a smooth, strongly convex problem with known L and μ (quadratic, least-squares, logistic)');
      if (dtype !== 'f64') throw new UsageError('dadao runs on float64 convex problems');
      // Communications: an edge chosen uniformly, at total rate √(2 χ1 χ2) of L_norm = (D − A)/|E|.
      const m = graph.edges.length;
      if (m === 0) return { algorithm: new Dadao({ dim, L, mu, chi1Star: 0 }), edgeRates: new Float64Array(0), info: {} };
      const s = spectralOfLaplacian(graph.n, graph.edges, new Float64Array(m).fill(1 / m));
      const total = Math.sqrt(2 * s.chi1 * s.chi2);
      const chi1Star = s.chi1 / total;
      const algorithm = new Dadao({ dim, L, mu, chi1Star });
      return { algorithm, edgeRates: new Float64Array(m).fill(total / m), info: { chi1: s.chi1, chi2: s.chi2, communicationRate: total, chi1Star } };
    }
  }
}

/** A2CiD2's constants for a setup: from the graph's χ1, χ2 at the rate, unless overridden; none for one worker. */
function acidSetup(setup: AlgorithmSetup): { eta: number; alphaTilde: number; info: Record<string, number> } {
  // One worker never exchanges; x and x̃ receive the same increments and stay equal: plain local training.
  if (setup.graph.n === 1) return { eta: 0, alphaTilde: 0, info: {} };
  assertAcidAllowed(setup.graph);
  const s = spectral(setup.graph, setup.rate);
  const c = acidConstants(s.chi1, s.chi2);
  const eta = setup.eta ?? c.eta;
  const alphaTilde = setup.alphaTilde ?? c.alphaTilde;
  return { eta, alphaTilde, info: { chi1: s.chi1, chi2: s.chi2, eta, alphaTilde } };
}

/** Builds, turning the algorithm's RangeError on a bad setting into a UsageError (a one-line error at the edge). */
function usage(build: () => Built): Built {
  try {
    return build();
  } catch (err) {
    throw err instanceof RangeError ? new UsageError(err.message) : err;
  }
}
