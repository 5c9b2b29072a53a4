/**
 * The lives of a cluster's workers. A worker is two threads, its agent and its compute thread (agent-thread.ts),
 * started together. A worker whose thread fails, or that is killed, is left behind: its neighbours notice the
 * closed channels and train on without it. A killed worker may come back (rejoin) from a live neighbour's
 * parameters. The agents' reports arrive here: their log lines, their availability for the central orchestrator,
 * their state when they stop, the neighbours they banned, the pushes applied by the one holding the server, and a
 * divergence, which stops the run.
 */
import type { Worker } from 'node:worker_threads';
import type { Graph } from '../graph/topology.js';
import type { AgentEvent, WorkerSnapshot } from './agent-thread.js';
import type { WorkerSummary } from './cluster-config.js';
import type { FaultTarget } from './cluster-faults.js';
import type { ClusterMemory, WorkerLife, WorkerThreadData } from './cluster-memory.js';
import { markDead } from './collective.js';
import { relinkEndpoint } from './inprocess.js';
import type { FifoOrchestrator } from './orchestrator.js';
import { C, G, S, sharedInts } from './shared-memory.js';
import { siblingModule, threadSpawner } from './threads.js';

export interface ClusterLifecycleComponents {
  graph: Graph;
  memory: ClusterMemory;
  /** The data of worker i's threads for one life (cluster-memory.ts). */
  threadData: (i: number, life: WorkerLife) => WorkerThreadData;
  /** The central pairing, when the run has one: told which workers want an exchange and which have left. */
  orchestrator: FifoOrchestrator | null;
  log: (line: string) => void;
}

interface WorkerThreads {
  agent: Worker;
  compute: Worker;
  alive: boolean;
  exited: Promise<void>;
  /** Both threads have exited. */
  exitedNow: boolean;
}

type Spawner = Awaited<ReturnType<typeof threadSpawner>>;
const AGENT = siblingModule('agent-thread');
const COMPUTE = siblingModule('compute-thread');

export class ClusterLifecycle implements FaultTarget {
  /** Workers killed, and workers brought back, in order. */
  readonly killed: number[] = [];
  readonly rejoined: number[] = [];
  /** Each worker's state when its agent stopped (null: it did not stop cleanly). */
  readonly snapshots: Array<WorkerSnapshot | null>;
  /** The neighbours each worker banned, and why. */
  readonly bans: Array<WorkerSummary['banned']>;
  /** The pushes applied by the server's holders, in order: who held it, whose push of which round, its staleness. */
  readonly applied: Array<{ holder: number; worker: number; round: number; staleness: number }> = [];
  /** A worker's loss or model became non-finite. */
  diverged = false;
  stopRequested = false;
  /** Every worker's two threads are ready. */
  readonly ready: Promise<void>;
  private readonly threads: WorkerThreads[] = [];

  /** Starts every worker's threads (once the thread modules are ready to load). */
  static async start(components: ClusterLifecycleComponents): Promise<ClusterLifecycle> {
    return new ClusterLifecycle(components, await threadSpawner([AGENT, COMPUTE]));
  }

  private constructor(private readonly components: ClusterLifecycleComponents, private readonly spawnThread: Spawner) {
    const n = components.memory.xs.length;
    this.snapshots = new Array(n).fill(null);
    this.bans = Array.from({ length: n }, () => []);
    const endpoints = components.memory.endpoints;
    const ready: Promise<void>[] = [];
    for (let i = 0; i < n; i++) ready.push(this.spawn(i, { endpoint: endpoints ? endpoints[i] : null, carry: null }));
    this.ready = Promise.all(ready).then(() => {});
  }

  alive(i: number): boolean {
    return this.threads[i].alive;
  }

  /** Some thread is still running. */
  get running(): boolean {
    return !this.threads.every((w) => w.exitedNow);
  }

  /** When the current threads have all exited (a worker that comes back replaces its threads). */
  exited(): Promise<unknown> {
    return Promise.all(this.threads.map((w) => w.exited));
  }

  /** Every live worker has stopped on its own (the budget is reached). */
  get done(): boolean {
    return this.threads.every((w, i) => !w.alive || this.components.memory.stats[i][S.DONE] === 1);
  }

  /** Lets the workers train. */
  go(): void {
    for (const w of this.threads) if (w.alive) w.agent.postMessage({ type: 'start' });
    Atomics.store(this.components.memory.global, G.START, 1);
  }

  /** The central orchestrator paired a and b. */
  pair(a: number, b: number): void {
    this.threads[a].agent.postMessage({ type: 'assigned', peer: b });
    this.threads[b].agent.postMessage({ type: 'assigned', peer: a });
  }

  requestStop(): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    Atomics.store(this.components.memory.global, G.STOP, 1);
    for (const w of this.threads) if (w.alive) w.agent.postMessage({ type: 'stop' });
  }

  async kill(i: number): Promise<void> {
    const w = this.threads[i];
    if (!w.alive) return;
    w.alive = false;
    this.killed.push(i);
    this.components.orchestrator?.withdraw(i);
    await Promise.all([w.agent.terminate(), w.compute.terminate()]);
    const { memory } = this.components;
    // A step it had claimed but not taken goes back to the others: the run still takes its whole budget.
    if (Atomics.exchange(memory.controls[i], C.CLAIM, 0) === 1) Atomics.sub(memory.claimed, 0, 1);
    this.components.memory.stats[i][S.DONE] = 1;
    if (this.components.memory.collective) markDead(this.components.memory.collective, i);
    if (this.components.memory.server) markDead(this.components.memory.server, i);
  }

  /**
   * Brings a dead worker back: it takes the parameters and statistics of a live neighbour, as a networked late
   * joiner pulls them, links up with its live neighbours again and trains on; its counts continue.
   */
  async rejoin(i: number): Promise<void> {
    const { graph, memory, log } = this.components;
    const w = this.threads[i];
    if (w.alive || this.stopRequested) return;
    await w.exited;
    const live = [...new Set(graph.neighbors[i])].filter((j) => this.threads[j].alive);
    if (live.length === 0) {
      log(`worker ${i} cannot rejoin: none of its neighbours is alive`);
      return;
    }
    memory.xs[i].set(memory.xs[live[0]]);
    memory.states[i].set(memory.states[live[0]]);
    // The counts go on from the earlier life (published ones through the carry, accumulated ones in place).
    const carry = Float64Array.from(memory.stats[i]);
    memory.stats[i][S.DONE] = 0;
    memory.controls[i] = sharedInts(C.SIZE);
    const { endpoint, links } = relinkEndpoint(memory.endpoints!, i, live);
    for (const l of links) this.threads[l.to].agent.postMessage({ type: 'link', link: l.peer }, [l.peer.port]);
    await this.spawn(i, { endpoint, carry });
    this.rejoined.push(i);
    log(`worker ${i} rejoined from worker ${live[0]}'s parameters`);
    this.threads[i].agent.postMessage({ type: 'start' });
  }

  /** Ends every thread at once (the supervisor failed). */
  async terminate(): Promise<void> {
    await Promise.all(this.threads.map((w) => Promise.all([w.agent.terminate(), w.compute.terminate()])));
  }

  /** Starts worker i's threads for one life; resolves when both are ready (or gone). */
  private spawn(i: number, life: WorkerLife): Promise<void> {
    const { log, orchestrator } = this.components;
    const data = this.components.threadData(i, life);
    const agent = this.spawnThread(AGENT, data.agent, data.agentTransfer, `gossamer-agent-${i}`);
    const compute = this.spawnThread(COMPUTE, data.compute, data.computeTransfer, `gossamer-compute-${i}`);
    let agentExit!: () => void;
    let computeExit!: () => void;
    const w: WorkerThreads = {
      agent, compute, alive: true, exitedNow: false,
      exited: Promise.all([new Promise<void>((r) => (agentExit = r)), new Promise<void>((r) => (computeExit = r))]).then(() => {
        w.exitedNow = true;
      }),
    };
    this.threads[i] = w;
    let agentReady!: () => void;
    let computeReady!: () => void;
    const isReady = Promise.all([new Promise<void>((r) => (agentReady = r)), new Promise<void>((r) => (computeReady = r))]).then(() => {});
    const fail = (what: string) => (err: Error) => {
      log(`worker ${i}: ${what} thread failed: ${err.message}`);
      void this.kill(i);
    };
    agent.on('message', (e: AgentEvent) => {
      if (e.type === 'ready') agentReady();
      else if (e.type === 'log') log(e.line);
      else if (e.type === 'available') {
        if (this.threads[i] === w && w.alive && !this.stopRequested) orchestrator?.available(i);
      } else if (e.type === 'stopped') {
        this.snapshots[i] = e.snapshot;
        orchestrator?.withdraw(i);
      } else if (e.type === 'banned') this.bans[i].push({ worker: e.peer, reason: e.reason });
      else if (e.type === 'applied') this.applied.push({ holder: i, worker: e.worker, round: e.round, staleness: e.staleness });
      else if (e.type === 'ruined') {
        this.diverged = true;
        log(`${e.reason}: the run stops`);
        this.requestStop();
      } else if (e.type === 'diverged') {
        this.diverged = true;
        log(`worker ${i}: the loss is ${e.loss} at its step ${e.step + 1}: training diverged`);
        this.requestStop();
      }
    });
    compute.on('message', (e: { type: string }) => {
      if (e.type === 'ready') computeReady();
    });
    agent.on('error', fail('agent'));
    compute.on('error', fail('compute'));
    agent.on('exit', () => {
      agentExit();
      agentReady();
    });
    compute.on('exit', () => {
      computeExit();
      computeReady();
    });
    return isReady;
  }
}
