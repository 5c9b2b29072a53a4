/**
 * The server of asynchronous Local-SGD among the worker threads of one process, on the shared memory of
 * server-memory.ts. The role — the algorithm's ServerRole: the global model, its optimizer state, the last round
 * applied from every worker — lives in the private memory of one worker's agent thread: the live worker of lowest
 * index. Every worker (the holder too) reaches it through a SharedServerLink: it writes its pseudo-gradient, draws a
 * ticket and waits for the answer.
 *
 * The holder applies the pushes one at a time in ticket order (arrival order), answers each with its model and the
 * pusher's next inner steps, and after each one commits its whole state into the replica of a second worker — the
 * next live index — and into its own, before it publishes the answer. When the holder dies, the next live worker of
 * lowest index takes the role over from the freshest committed replica among the live workers, and serves the
 * pushes still unanswered: a push the dead holder had applied and committed is a duplicate by its (worker, round) and
 * is answered without being applied again; one it had not committed is applied now. A push is thus applied exactly
 * once in the state that goes on, and no worker starts a round from a model the surviving state does not hold.
 */
import type { ServerCapability, ServerRole, WorkerState } from '../algorithms/types.js';
import { bump, commitReplica, freshestReplica, replicaPushes, replicaState, type ServerBuffers } from './server-memory.js';
import { waitChange } from './shared-memory.js';
import type { PushMeta, ServerLink } from './transport.js';

/**
 * How long a push and its answer take on emulated links, ms, between this worker and the holder (the holder's own
 * push is local: 0).
 */
export type ServerLinkDelay = (holder: number, leg: 'push' | 'answer') => number;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A worker's way to the server through shared memory (delayed as on its link to the holder when links are emulated). */
export class SharedServerLink implements ServerLink {
  constructor(readonly self: number, private readonly b: ServerBuffers, private readonly delay: ServerLinkDelay | null = null) {}

  /** The live worker of lowest index: the holder. */
  private holder(): number {
    let h = 0;
    while (h < this.b.n - 1 && Atomics.load(this.b.alive, h) !== 1) h++;
    return h;
  }

  pushSlot(): Float32Array {
    return this.b.pushes[this.self];
  }

  async push(meta: PushMeta, cancelled: () => boolean = () => false): Promise<{ model: Float32Array; innerSteps: number } | null> {
    const { b, self } = this;
    if (this.delay) await sleep(this.delay(this.holder(), 'push'));
    b.meta.set([meta.round, meta.steps, meta.speed], 3 * self);
    const ticket = Atomics.add(b.tickets, 0, 1) + 1;
    Atomics.store(b.pushed, self, ticket);
    bump(b);
    for (;;) {
      const seen = Atomics.load(b.epoch, 0);
      if (Atomics.load(b.answered, self) >= ticket) {
        if (this.delay) await sleep(this.delay(this.holder(), 'answer'));
        return { model: b.answers[self], innerSteps: Atomics.load(b.innerSteps, self) };
      }
      if (cancelled()) return null;
      await waitChange(b.epoch, 0, seen, 100);
    }
  }
}

/** A push the holder applied: who pushed which round, and how stale it was. */
export interface AppliedPush {
  worker: number;
  round: number;
  staleness: number;
}

export interface SharedServerHostOptions {
  onApplied?: (push: AppliedPush) => void;
  log?: (line: string) => void;
}

/** One worker's part of the server: it holds the role while it is the live worker of lowest index. */
export class SharedServerHost {
  private role: ServerRole | null = null;
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    readonly self: number,
    private readonly b: ServerBuffers,
    private readonly capability: ServerCapability<WorkerState>,
    private readonly opts: SharedServerHostOptions = {},
  ) {}

  /** Whether this worker holds the role now. */
  get holding(): boolean {
    return this.role !== null;
  }

  start(): void {
    this.loop = this.run();
  }

  /** Stops serving (within one wait); resolves once the loop has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private live(i: number): boolean {
    return Atomics.load(this.b.alive, i) === 1;
  }

  /** The next live worker after this one (-1: none). */
  private backup(): number {
    const n = this.b.n;
    for (let k = 1; k < n; k++) {
      const j = (this.self + k) % n;
      if (this.live(j)) return j;
    }
    return -1;
  }

  private async run(): Promise<void> {
    const b = this.b;
    while (!this.stopped) {
      const seen = Atomics.load(b.epoch, 0);
      let lowest = 0;
      while (lowest < b.n && !this.live(lowest)) lowest++;
      if (lowest === this.self) {
        if (!this.role) this.takeOver();
        if (this.serve()) continue;
      }
      await waitChange(b.epoch, 0, seen, 100);
    }
  }

  /** Takes the role from the freshest committed replica of a live worker (the initial model when none has one). */
  private takeOver(): void {
    const role = this.capability.createServer(this.b.initial);
    const from = freshestReplica(this.b, (i) => this.live(i));
    if (from >= 0) {
      role.restore(replicaState(this.b, from)!);
      this.opts.log?.(`worker ${this.self} holds the server now, from worker ${from}'s replica of ${replicaPushes(this.b, from)} pushes`);
    }
    this.role = role;
    this.commit();
  }

  /** Commits the role's state into the backup's replica, then into this worker's own. */
  private commit(): void {
    const backup = this.backup();
    if (backup >= 0) commitReplica(this.b, backup, this.role!);
    commitReplica(this.b, this.self, this.role!);
  }

  /** Applies and answers the unanswered pushes in arrival order; false when there was none. */
  private serve(): boolean {
    const { b } = this;
    const role = this.role!;
    const pending: Array<[ticket: number, worker: number]> = [];
    for (let w = 0; w < b.n; w++) {
      const ticket = Atomics.load(b.pushed, w);
      if (ticket > Atomics.load(b.answered, w)) pending.push([ticket, w]);
      if (!this.live(w)) role.forget(w);
    }
    if (pending.length === 0) return false;
    pending.sort((x, y) => x[0] - y[0]);
    for (const [ticket, w] of pending) {
      if (this.stopped) break;
      const m = 3 * w;
      const push = { worker: w, round: b.meta[m], steps: b.meta[m + 1], speed: b.meta[m + 2], delta: b.pushes[w] };
      const applied = role.apply(push);
      const staleness = applied ? role.staleness(w) : 0;
      const answer = role.answer(w);
      b.answers[w].set(answer.model);
      Atomics.store(b.innerSteps, w, answer.innerSteps);
      this.commit();
      Atomics.store(b.answered, w, ticket);
      bump(b);
      if (applied) this.opts.onApplied?.({ worker: w, round: push.round, staleness });
    }
    return true;
  }
}
