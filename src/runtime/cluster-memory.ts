/**
 * The shared memory of a cluster, and what each worker's threads are handed. The training set lives once for all;
 * each worker has its parameters, normalisation state, statistics and control block; the cluster has its step
 * counters and either the pairwise channels (in-process endpoints), the collective's buffers or the server's. Every worker starts
 * from the plan's model, except the workers a resumed checkpoint saved, which go on from their own state.
 */
import { MessageChannel, type TransferListItem } from 'node:worker_threads';
import { shardOf } from '../algorithms/shards.js';
import { createOptimizer } from '../engine/optim/index.js';
import { trainingPart, type TrainingData } from '../engine/training/data.js';
import type { AgentThreadData } from './agent-thread.js';
import { savedServer, savedWorkers, type SavedWorker } from './cluster-checkpoint.js';
import type { ClusterConfig } from './cluster-config.js';
import type { ClusterPlan } from './cluster-plan.js';
import { collectiveBuffers, type CollectiveBuffers } from './collective.js';
import type { ComputeThreadData } from './compute-thread.js';
import { linkBetween } from './emulator.js';
import { seedReplicas, serverBuffers, type ServerBuffers } from './server-memory.js';
import { endpointTransferList, inProcessNetwork, type InProcessEndpoint } from './inprocess.js';
import { C, G, S, sharedDoubles, sharedFloats, sharedInts, toShared } from './shared-memory.js';

export interface ClusterMemory {
  /** The training set, on shared memory. */
  training: TrainingData;
  /** The cluster's control words (G): steps of all workers, stop, start. */
  global: Int32Array;
  /** Gradient steps claimed by the agents before applying them: the run takes exactly its budget of steps. */
  claimed: Int32Array;
  /** Per worker: parameters, normalisation state, statistics (S), agent ↔ compute control block (C). */
  xs: Float32Array[];
  states: Float32Array[];
  stats: Float64Array[];
  controls: Int32Array[];
  /** Pairwise algorithms: every worker's channels to its neighbours. */
  endpoints: InProcessEndpoint[] | null;
  /** Algorithms with collectives: the all-reduce's buffers. */
  collective: CollectiveBuffers | null;
  /** The ring's links, which pace every emulated all-reduce by its contribution's length (null: no emulation). */
  collectiveLinks: Array<{ latencyMs: number; bandwidth: number }> | null;
  /** Algorithms that push to a server: its buffers (server-memory.ts), starting from the plan's model. */
  server: ServerBuffers | null;
  /** A resumed run's saved workers (null where a worker starts from the average). */
  restored: Array<SavedWorker | null> | null;
}

export function clusterMemory(plan: ClusterPlan, config: ClusterConfig): ClusterMemory {
  const { n, dim, model, resume } = plan;
  const x0 = Float32Array.from(model.params);
  const training = trainingPart(plan.data, toShared);
  const global = sharedInts(G.SIZE);
  global[G.STEPS] = plan.startSteps;
  const claimed = sharedInts(1);
  claimed[0] = plan.startSteps;
  const xs = Array.from({ length: n }, () => {
    const x = sharedFloats(dim);
    x.set(x0);
    return x;
  });
  const states = Array.from({ length: n }, () => toShared(Float32Array.from(model.state)));
  const c = plan.built.algorithm.collective;
  // A sharded optimizer's workers keep the state of their shard only (shards.ts): its slots × the shard's length.
  const whole = createOptimizer(model, plan.optimizer).state.length;
  const optimizerSize = c?.sharded ? (i: number) => (whole / dim) * shardLength(dim, n, i) : () => whole;
  const restored = resume ? savedWorkers(resume.saved, n, optimizerSize) : null;
  restored?.forEach((w, i) => {
    if (!w) return;
    xs[i].set(w.x);
    states[i].set(w.state);
  });
  const collective = c ? collectiveBuffers(n, dim + (c.extra ?? 0), c.sharded ? dim : 0) : null;
  const serverCapability = plan.built.algorithm.server;
  const role = serverCapability?.createServer(x0);
  const server = role ? serverBuffers(n, role) : null;
  // A resumed run's server goes on from its saved state (momentum, rounds applied, pushes).
  const serverSaved = resume && role ? savedServer(resume.saved, role.saved()) : null;
  if (server && role && serverSaved) seedReplicas(server, role, serverSaved);
  return {
    server,
    training, global, claimed, xs, states, restored,
    stats: Array.from({ length: n }, () => sharedDoubles(S.SIZE)),
    controls: Array.from({ length: n }, () => sharedInts(C.SIZE)),
    endpoints: plan.pairwise ? inProcessNetwork(n, plan.graph.edges, dim) : null,
    collective,
    collectiveLinks: collective && config.links ? Array.from({ length: n }, (_, i) => linkBetween(config.links!, i, (i + 1) % n)) : null,
  };
}

/** One life of a worker: its first start, or a restart within the run. */
export interface WorkerLife {
  endpoint: InProcessEndpoint | null;
  /** The statistics of its earlier lives (null: its first); its counts go on from them. */
  carry: Float64Array | null;
}

/** What a worker's two threads start with, and the ports and channels that move to each. */
export interface WorkerThreadData {
  agent: AgentThreadData;
  compute: ComputeThreadData;
  agentTransfer: TransferListItem[];
  computeTransfer: TransferListItem[];
}

/**
 * The data of worker i's threads for one life. A worker that comes back within the run gets a fresh endpoint and
 * control block; its steps go on from where they were (its data order included).
 */
export function workerThreadData(plan: ClusterPlan, memory: ClusterMemory, config: ClusterConfig): (i: number, life: WorkerLife) => WorkerThreadData {
  const { n, dim, model, resume } = plan;
  const { restored } = memory;
  return (i, life) => {
    const { port1, port2 } = new MessageChannel();
    const grads = sharedFloats(dim);
    const endpoint = life.endpoint;
    const ownSteps = (resume?.workerSteps[i] ?? 0) + (life.carry ? life.carry[S.STEPS] : 0);
    const agent: AgentThreadData = {
      id: i, n, setup: plan.setup, backend: plan.backend.name, x: memory.xs[i], grads, layout: [...model.layout], layoutHash: model.layoutHash,
      optimizer: plan.localStep, schedule: plan.schedule, rate: config.rate, rateMode: config.rateMode ?? 'poisson', seed: config.seed,
      timeoutMs: config.timeoutMs ?? 2000, endpoint, central: plan.central, links: config.links ?? null, codec: config.codec ?? 'f32', errorFeedback: config.errorFeedback ?? false,
      collective: memory.collective, collectiveLinks: memory.collectiveLinks, aggregate: config.aggregate ?? 'mean', server: memory.server, budget: plan.budget,
      global: memory.global, claimed: memory.claimed, startOwn: ownSteps, control: memory.controls[i], stats: memory.stats[i], port: port1,
      restore: !life.carry && restored?.[i] ? { vectors: restored[i]!.vectors, scalars: restored[i]!.scalars, time: restored[i]!.time, optimizer: restored[i]!.optimizer } : null,
      carry: life.carry, adversary: plan.faults.adversary(i), bounds: config.bounds !== false,
    };
    const compute: ComputeThreadData = {
      id: i, model: { name: config.model, config: plan.modelConfig }, backend: plan.backend.name, x: memory.xs[i], grads, state: memory.states[i],
      data: memory.training, examples: plan.shards?.[i], seq: plan.seq, batchSize: config.batchSize, seed: (config.seed * 1000003 + i) >>> 0,
      firstBatch: ownSteps, clip: config.clip, slowdown: plan.faults.slowdown(i), control: memory.controls[i], port: port2,
    };
    return { agent, compute, agentTransfer: [port1, ...(endpoint ? endpointTransferList(endpoint) : [])], computeTransfer: [port2] };
  };
}

function shardLength(dim: number, n: number, i: number): number {
  const s = shardOf(dim, n, i);
  return s.end - s.start;
}
