/**
 * Peer scoring: a neighbour whose messages keep being refused (bounds.ts) is not unlucky, it is broken or hostile,
 * and every exchange with it costs a round trip and a refusal. It is banned for the rest of the run once `strikes`
 * of its messages in a row were refused, or more than half of its last `window` ones (so that alternating good and
 * bad messages does not escape). Honest neighbours are practically never refused, so neither rule touches them.
 */
import type { WorkerId } from './transport.js';

export interface ScoringSettings {
  /** Refusals in a row that ban a peer. */
  strikes: number;
  /** Messages over which more than half refused bans a peer. */
  window: number;
}

export const DEFAULT_SCORING: ScoringSettings = { strikes: 3, window: 10 };

export class PeerScores {
  /** Banned peers and why. */
  readonly banned = new Map<WorkerId, string>();
  /** Per peer, its last messages, most recent last: true when refused. */
  private readonly history = new Map<WorkerId, boolean[]>();

  constructor(private readonly settings: ScoringSettings = DEFAULT_SCORING) {}

  isBanned(peer: WorkerId): boolean {
    return this.banned.has(peer);
  }

  /** Records a message of `peer` (refused: why, or null when accepted); returns the reason of a ban it triggers. */
  record(peer: WorkerId, refused: string | null): string | null {
    if (this.banned.has(peer)) return null;
    const { strikes, window } = this.settings;
    const h = this.history.get(peer) ?? [];
    h.push(refused !== null);
    if (h.length > window) h.shift();
    this.history.set(peer, h);
    if (refused === null) return null;
    let streak = 0;
    for (let k = h.length - 1; k >= 0 && h[k]; k--) streak++;
    const refusals = h.filter(Boolean).length;
    let why: string | null = null;
    if (streak >= strikes) why = `${streak} messages in a row refused, the last one: ${refused}`;
    else if (h.length >= window && refusals > window / 2) why = `${refusals} of its last ${window} messages refused, the last one: ${refused}`;
    if (why) this.banned.set(peer, why);
    return why;
  }
}
