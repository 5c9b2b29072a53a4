/**
 * A worker's compute thread: continuous local gradient steps with the engine. It computes the gradient of a
 * mini-batch at the worker's current parameters — read straight from shared memory, while the agent thread may be
 * averaging them with a neighbour (lock-free, as the authors' gradient and gossip processes share one buffer) —
 * clips it, reports it to the agent (which applies the step through the algorithm's handler), and waits for the
 * agent's permission to start the next step (rate control). A slow-down factor s > 1 emulates a slower device by
 * sleeping (s − 1) times the compute time after each gradient.
 */
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { getBackend, type BackendChoice } from '../engine/backends/index.js';
import { createModel, type ModelName } from '../engine/models/index.js';
import { clipGradNorm } from '../engine/optim/clip.js';
import { batchSource, type TrainingData } from '../engine/training/data.js';
import { C } from './shared-memory.js';

export interface ComputeThreadData {
  id: number;
  model: { name: ModelName; config: Record<string, unknown> };
  backend: BackendChoice;
  /** The worker's parameters (shared with its agent). */
  x: Float32Array;
  /** Where the gradient is written (shared with its agent). */
  grads: Float32Array;
  /** Non-learnable state (BatchNorm statistics), shared so that the supervisor can save worker 0's. */
  state: Float32Array;
  /** The training data (on shared memory; trainingPart). */
  data: TrainingData;
  /** This worker's examples (its shard; default: the whole training set). */
  examples?: Int32Array;
  /** Context length (text). */
  seq: number;
  batchSize: number;
  /** Seed of this worker's data order. */
  seed: number;
  /** Index in that order of the first batch (the worker's steps in the runs this one continues). */
  firstBatch: number;
  clip: number | null;
  slowdown: number;
  control: Int32Array;
  /** How much nicer than the process this thread runs (Linux; default COMPUTE_NICE; 0 leaves it alone). */
  nice?: number;
  /** To the agent: {loss, ms} after every gradient. */
  port: MessagePort;
}

/** Default nice increment of compute threads (the agents stay at the process's priority). */
export const COMPUTE_NICE = 10;

export interface GradientReport {
  step: number;
  loss: number;
  ms: number;
}

const d = workerData as ComputeThreadData;
const backend = getBackend({ backend: d.backend });
// seeded per worker so that workers draw their own dropout masks
const model = createModel(d.model.name, { ...d.model.config, backend, seed: d.seed, params: d.x, grads: d.grads, state: d.state, initialize: false } as never);
const batches = batchSource(d.data, d.seed, d.batchSize, d.seq, d.examples);
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const ctrl = d.control;

// The compute loop runs at a lower priority than the agents: when there are more threads than cores, an exchange
// then gets a core as soon as its message arrives instead of after a gradient's time slice, and the compute loops
// stop waiting for exchanges held up behind other compute loops (on 2 cores with 8 workers, MLP on MNIST: 30% of
// their time waiting at equal priority, 3-5% 10 nice levels below, for the same throughput). Only on Linux, where a nice
// value belongs to the calling thread (elsewhere it would lower the whole process).
if (process.platform === 'linux' && d.nice !== 0) {
  try {
    setPriority(0, Math.min(19, getPriority(0) + (d.nice ?? COMPUTE_NICE)));
  } catch {
    // Not allowed here (e.g. a seccomp profile): equal priorities only cost some waiting.
  }
}
parentPort?.postMessage({ type: 'ready' });
let step = 0;
try {
  for (;;) {
    // Wait for the permission to take step `step`.
    while (Atomics.load(ctrl, C.GO) <= step && Atomics.load(ctrl, C.STOP) === 0) Atomics.wait(ctrl, C.GO, Atomics.load(ctrl, C.GO), 200);
    if (Atomics.load(ctrl, C.STOP) !== 0) break;
    const start = performance.now();
    const batch = batches.batch(d.firstBatch + step);
    const loss = model.lossAndGradient(batch.inputs, batch.targets);
    if (d.clip !== null && d.clip > 0) clipGradNorm(backend, d.grads, d.clip);
    const took = performance.now() - start;
    if (d.slowdown > 1) Atomics.wait(sleeper, 0, 0, (d.slowdown - 1) * took);
    d.port.postMessage({ step, loss, ms: performance.now() - start } satisfies GradientReport);
    step++;
  }
} finally {
  d.port.close();
  parentPort?.close();
}
