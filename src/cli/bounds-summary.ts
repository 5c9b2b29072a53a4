/** The lines of a cluster's text summary that say what the bounds on exchanges refused and whom they banned. */
import type { WorkerSummary } from '../runtime/cluster-config.js';

export function boundsLines(perWorker: readonly WorkerSummary[]): string[] {
  const refusing = perWorker.filter((w) => w.rejected > 0);
  if (refusing.length === 0) return [];
  const total = refusing.reduce((s, w) => s + w.rejected, 0);
  const lines = [`rejected         ${total} messages out of bounds (${refusing.map((w) => `worker ${w.id}: ${w.rejected}`).join(', ')})`];
  const byBanned = new Map<number, { by: number[]; reason: string }>();
  for (const w of perWorker) {
    for (const b of w.banned) {
      const e = byBanned.get(b.worker) ?? { by: [], reason: b.reason };
      e.by.push(w.id);
      byBanned.set(b.worker, e);
    }
  }
  for (const [worker, e] of byBanned) lines.push(`banned           worker ${worker} by worker${e.by.length > 1 ? 's' : ''} ${e.by.join(', ')} (${e.reason})`);
  return lines;
}
