/**
 * What the transport tests share: a message header of a fixed layout, random vectors, and a proposal handler that
 * records what it committed and aborted.
 */
import { Rng } from '../../../src/core/rng.js';
import { WIRE_VERSION } from '../../../src/runtime/net/wire.js';
import type { MessageHeader, ProposalHandler, WorkerId } from '../../../src/runtime/transport.js';

export const LAYOUT = 'f'.repeat(64);

export const header = (step = 0, codec: MessageHeader['codec'] = 'f32', algorithm = 'acid'): MessageHeader => ({ version: WIRE_VERSION, algorithm, step, layoutHash: LAYOUT, codec });

export function vector(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n);
  for (let k = 0; k < n; k++) x[k] = rng.normal();
  return x;
}

export interface Recorder extends ProposalHandler {
  commits: Array<{ peer: WorkerId; header: MessageHeader; message: Float32Array }>;
  aborts: Array<{ peer: WorkerId; reason: string }>;
  accepts: number;
  /** Called after accept (e.g. to make this node vanish). */
  afterAccept?: () => void;
  /** Resolves at the next commit or abort. */
  settled(): Promise<void>;
}

export function recorder(reply: (peer: WorkerId, h: MessageHeader) => { header: MessageHeader; message: Float32Array } | null): Recorder {
  let wake: (() => void) | null = null;
  const r: Recorder = {
    commits: [],
    aborts: [],
    accepts: 0,
    accept(peer, h) {
      const out = reply(peer, h);
      if (out) {
        r.accepts++;
        if (r.afterAccept) setImmediate(r.afterAccept);
      }
      return out;
    },
    commit(peer, h, message) {
      r.commits.push({ peer, header: h, message });
      wake?.();
    },
    abort(peer, reason) {
      r.aborts.push({ peer, reason });
      wake?.();
    },
    settled: () => new Promise<void>((resolve) => (wake = resolve)),
  };
  return r;
}
