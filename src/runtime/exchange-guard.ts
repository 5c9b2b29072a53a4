/**
 * What stands between a neighbour's message and a worker's parameters: the bounds (bounds.ts) decide whether a
 * message may be applied, the scores (scoring.ts) whether its sender stays a neighbour. One guard per worker, shared by
 * everything that applies a peer's model to it (the training exchanges, a networked worker's final averaging), so that
 * a refusal is counted and a ban holds across them. Without bounds (a measurement of what they prevent) every
 * message is admitted and nobody is banned.
 */
import { ExchangeBounds, type BoundsSettings } from './bounds.js';
import { PeerScores, type ScoringSettings } from './scoring.js';
import type { WorkerId } from './transport.js';

export interface GuardOptions {
  /** null: no bounds (every message admitted). */
  bounds: BoundsSettings | null;
  scoring?: ScoringSettings;
  log?: (line: string) => void;
  /** A peer was just banned (e.g. to close its connection). */
  onBan?: (peer: WorkerId, reason: string) => void;
}

export class ExchangeGuard {
  /** Messages refused. */
  rejected = 0;
  private readonly bounds: ExchangeBounds | null;
  private readonly scores: PeerScores;

  constructor(readonly self: WorkerId, private readonly opts: GuardOptions) {
    this.bounds = opts.bounds ? new ExchangeBounds(opts.bounds) : null;
    this.scores = new PeerScores(opts.scoring);
  }

  /** Banned peers and why. */
  get banned(): ReadonlyMap<WorkerId, string> {
    return this.scores.banned;
  }

  isBanned(peer: WorkerId): boolean {
    return this.scores.isBanned(peer);
  }

  /** Whether `peer`'s message (sent at its step count `step`) may be applied to x; a refusal is logged, counted and scored. */
  admit(peer: WorkerId, x: Float32Array, message: Float32Array, step: number): boolean {
    if (!this.bounds) return true;
    const refused = this.bounds.check(x, message, peer, step);
    const ban = this.scores.record(peer, refused);
    if (refused === null) return true;
    this.rejected++;
    this.opts.log?.(`worker ${this.self}: refused the message of worker ${peer}: ${refused}`);
    if (ban) this.announceBan(peer, ban);
    return false;
  }

  /** Scores a message of `peer` refused before it reached the guard (e.g. a malformed frame the wire dropped). */
  strike(peer: WorkerId, reason: string): void {
    if (!this.bounds) return;
    const ban = this.scores.record(peer, reason);
    if (ban) this.announceBan(peer, ban);
  }

  private announceBan(peer: WorkerId, reason: string): void {
    this.opts.log?.(`worker ${this.self}: banned worker ${peer} for the rest of the run: ${reason}`);
    this.opts.onBan?.(peer, reason);
  }
}
