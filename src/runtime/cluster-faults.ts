/**
 * Fault injection in a cluster: workers killed, and brought back, when all workers together have taken given numbers
 * of steps; workers that send forged models instead of their own (adversary.ts); workers whose compute is slowed
 * down. The supervisor's loop applies the kills and rejoins through a FaultTarget (the workers' lifecycle); the
 * adversaries and slow-downs travel to the workers' threads.
 */
import { UsageError } from '../core/errors.js';
import type { AdversaryKind } from './adversary.js';

/** Something that happens to a worker once all workers together have taken `atStep` gradient steps. */
export interface WorkerAtStep {
  worker: number;
  atStep: number;
}

export interface ClusterFaultsInit {
  /** Gradient steps of the whole run: a fault at or after it would never happen (a UsageError). */
  budget: number;
  /** Workers killed. @default none */
  kill?: readonly WorkerAtStep[];
  /** Killed workers brought back. @default none */
  rejoin?: readonly WorkerAtStep[];
  /** Workers that send forged models instead of their own. @default none */
  adversary?: Readonly<Record<number, AdversaryKind>>;
  /** Compute slow-down factor per worker. @default 1 (none) */
  slowdown?: Readonly<Record<number, number>>;
  /** Where each kill and rejoin is announced. @default silent */
  log?: (line: string) => void;
}

/** What the kills and rejoins act on. */
export interface FaultTarget {
  kill(worker: number): Promise<void>;
  rejoin(worker: number): Promise<void>;
}

interface Fault extends WorkerAtStep {
  rejoin: boolean;
}

export class ClusterFaults {
  /** Kills and rejoins still to come, soonest first. */
  private readonly pending: Fault[];
  private readonly log: (line: string) => void;

  constructor(private readonly init: ClusterFaultsInit) {
    for (const [field, list] of [['kill', init.kill], ['rejoin', init.rejoin]] as const) {
      const late = (list ?? []).find((k) => k.atStep >= init.budget);
      if (late) throw new UsageError(`${field} ${late.worker}@${late.atStep} would never happen: the run takes ${init.budget} steps in all`, { field });
    }
    // A kill comes before a rejoin of the same worker at the same count (the worker must be dead to come back).
    this.pending = [
      ...(init.kill ?? []).map((k) => ({ ...k, rejoin: false })), ...(init.rejoin ?? []).map((k) => ({ ...k, rejoin: true })),
    ].sort((a, b) => a.atStep - b.atStep || Number(a.rejoin) - Number(b.rejoin));
    this.log = init.log ?? (() => {});
  }

  /** The forged models worker i sends, if any. */
  adversary(i: number): AdversaryKind | null {
    return this.init.adversary?.[i] ?? null;
  }

  /** Worker i's compute slow-down factor. */
  slowdown(i: number): number {
    return this.init.slowdown?.[i] ?? 1;
  }

  /** Whether worker i shows its neighbours its own model (an adversary trains well but sends garbage). */
  honest(i: number): boolean {
    return !this.init.adversary?.[i];
  }

  /** Applies, in order, the kills and rejoins that are due once all workers together have taken `steps` steps. */
  async inject(steps: number, target: FaultTarget): Promise<void> {
    while (this.pending.length > 0 && steps >= this.pending[0].atStep) {
      const k = this.pending.shift()!;
      this.log(`${k.rejoin ? 'restarting' : 'killing'} worker ${k.worker} at step ${steps}`);
      await (k.rejoin ? target.rejoin(k.worker) : target.kill(k.worker));
    }
  }
}
