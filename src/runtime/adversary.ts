/**
 * Fault injection for robustness research: an adversarial worker trains like the others, but what it sends its
 * neighbours in place of its model is forged. It is a wrapper around the worker's transport (and a networked
 * worker's answers to pulls), below the algorithms, which never know.
 *
 *   huge       finite values of 1e30 (what the wire cannot refuse);
 *   random     Gaussian noise scaled to the norm of the model (no norm check can tell it);
 *   sign-flip  −x;
 *   stale      the model it had at its first exchange, replayed ever after;
 *   nan        NaN everywhere.
 */
import { UsageError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import type { ExchangeResult, MessageHeader, ProposalHandler, Transport, WorkerId } from './transport.js';

export const ADVERSARY_KINDS = ['huge', 'random', 'sign-flip', 'stale', 'nan'] as const;
export type AdversaryKind = (typeof ADVERSARY_KINDS)[number];

export class Adversary {
  private stale: Float32Array | null = null;

  constructor(readonly kind: AdversaryKind, private readonly rng: Rng) {}

  /** Writes what this adversary sends in place of the model x into out (out may be x). */
  forge(x: Float32Array, out: Float32Array): void {
    switch (this.kind) {
      case 'huge':
        out.fill(1e30);
        return;
      case 'nan':
        out.fill(NaN);
        return;
      case 'sign-flip':
        for (let k = 0; k < x.length; k++) out[k] = -x[k];
        return;
      case 'stale':
        this.stale ??= Float32Array.from(x);
        out.set(this.stale);
        return;
      case 'random': {
        let norm = 0;
        for (let k = 0; k < x.length; k++) norm += x[k] * x[k];
        const scale = Math.sqrt(norm / Math.max(1, x.length));
        for (let k = 0; k < x.length; k++) out[k] = scale * this.rng.normal();
        return;
      }
    }
  }
}

/** A transport whose outgoing messages (proposals and answers) are forged by an adversary. */
export class AdversarialTransport implements Transport {
  readonly self: WorkerId;
  private proposeBuf = new Float32Array(0);
  private answerBuf = new Float32Array(0);

  constructor(private readonly inner: Transport, private readonly adversary: Adversary) {
    this.self = inner.self;
  }

  get codec(): MessageHeader['codec'] | null {
    return this.inner.codec ?? null;
  }

  propose(peer: WorkerId, header: MessageHeader, message: Float32Array, timeoutMs: number): Promise<ExchangeResult> {
    if (this.proposeBuf.length !== message.length) this.proposeBuf = new Float32Array(message.length);
    this.adversary.forge(message, this.proposeBuf);
    return this.inner.propose(peer, header, this.proposeBuf, timeoutMs);
  }

  onProposal(handler: ProposalHandler): void {
    this.inner.onProposal({
      accept: (peer, header) => {
        const a = handler.accept(peer, header);
        if (!a) return null;
        if (this.answerBuf.length !== a.message.length) this.answerBuf = new Float32Array(a.message.length);
        this.adversary.forge(a.message, this.answerBuf);
        return { header: a.header, message: this.answerBuf };
      },
      commit: (peer, header, message) => handler.commit(peer, header, message),
      abort: (peer, reason) => handler.abort(peer, reason),
    });
  }

  release(message: Float32Array): void {
    this.inner.release?.(message);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Checks that every adversary names a worker of the run (a UsageError otherwise). */
export function checkAdversaries(adversary: Record<number, AdversaryKind> | undefined, workers: number): void {
  for (const [w, kind] of Object.entries(adversary ?? {})) {
    if (!(Number.isInteger(Number(w)) && Number(w) >= 0 && Number(w) < workers)) throw new UsageError(`adversary names worker ${w}, outside 0…${workers - 1}`, { field: 'adversary' });
    if (!(ADVERSARY_KINDS as readonly string[]).includes(kind)) throw new UsageError(`adversary kind ${kind} is unknown (expected one of ${ADVERSARY_KINDS.join(', ')})`, { field: 'adversary' });
  }
}
