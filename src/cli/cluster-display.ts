/**
 * The live display of a cluster run on a terminal: one line per worker (steps, loss of its last step, exchanges,
 * idle share) and a line for the whole run. Nothing is drawn when stderr is not a TTY.
 */
import cliProgress from 'cli-progress';
import type { ClusterProgress } from '../runtime/cluster-config.js';

export function clusterDisplay({ workers: n, perWorker, budget }: { workers: number; perWorker: number; budget: number }): ClusterProgress {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const multi = new cliProgress.MultiBar(
    {
      format: '{label} [{bar}] {value}/{total} | {info}',
      stream: process.stderr, hideCursor: true, clearOnComplete: false, barsize: 24, fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const width = String(n - 1).length;
  const bars = Array.from({ length: n }, (_, i) => multi.create(perWorker, 0, { label: `worker ${String(i).padStart(width)}`, info: '' }));
  const all = multi.create(budget, 0, { label: 'all'.padEnd(7 + width), info: '' });
  const num = (v: number, digits = 4) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
  return {
    update(workers, total) {
      workers.forEach((w, i) => {
        const info = w.alive
          ? `loss ${num(w.loss)} | exchanges ${w.exchanges} | idle ${(100 * w.idle).toFixed(1)}%`
          : 'gone';
        bars[i].update(Math.min(w.steps, Math.max(perWorker, w.steps)), { info });
        if (w.steps > perWorker) bars[i].setTotal(w.steps);
      });
      const acc = total.accuracy === undefined ? '-' : `${(100 * total.accuracy).toFixed(2)}%`;
      all.update(Math.min(total.steps, budget), { info: `test accuracy at the average ${acc}` });
    },
    stop: () => multi.stop(),
  };
}
