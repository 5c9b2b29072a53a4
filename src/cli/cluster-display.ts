/**
 * The live display of a cluster run on a terminal: one line per worker (steps, loss of its last step, exchanges,
 * idle share) and a line for the whole run. When stderr is not a terminal (piped, redirected, in the background), a
 * plain progress line instead, every PLAIN_EVERY_MS at most.
 */
import cliProgress from 'cli-progress';
import type { ClusterProgress } from '../runtime/cluster-config.js';

const PLAIN_EVERY_MS = 10_000;

export function clusterDisplay({ workers: n, perWorker, budget, testExamples }: { workers: number; perWorker: number; budget: number; testExamples: number }): ClusterProgress {
  if (!process.stderr.isTTY) return progressLines(budget, testExamples, (line) => process.stderr.write(`${line}\n`));
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
          ? `train loss ${num(w.trainLoss)} | exchanges ${w.exchanges} | idle ${(100 * w.idle).toFixed(1)}%`
          : 'gone';
        bars[i].update(Math.min(w.steps, Math.max(perWorker, w.steps)), { info });
        if (w.steps > perWorker) bars[i].setTotal(w.steps);
      });
      const acc = total.accuracy === undefined ? '-' : `${(100 * total.accuracy).toFixed(2)}%`;
      all.update(Math.min(total.steps, budget), { info: `test accuracy at the average ${acc} (${heldOutText(testExamples)})` });
    },
    stop: () => multi.stop(),
  };
}

/** Progress as a line now and then, for a log: steps, the exchanges and idle share of the live workers, the accuracy. */
/** Which held-out examples the live accuracy is taken on (the summary's is on all of them). */
const heldOutText = (n: number) => `first ${n} held-out examples`;

export function progressLines(budget: number, testExamples: number, write: (line: string) => void, everyMs = PLAIN_EVERY_MS, now = () => performance.now()): ClusterProgress {
  const started = now();
  let last = started;
  return {
    update(workers, total) {
      const t = now();
      if (t - last < everyMs || total.steps >= budget) return;
      last = t;
      const live = workers.filter((w) => w.alive);
      const exchanges = live.reduce((a, w) => a + w.exchanges, 0);
      const idle = live.length > 0 ? live.reduce((a, w) => a + w.idle, 0) / live.length : 0;
      const acc = total.accuracy === undefined ? '' : `, test accuracy at the average ${(100 * total.accuracy).toFixed(2)}% (${heldOutText(testExamples)})`;
      write(`steps ${total.steps} of ${budget} (${Math.floor((100 * total.steps) / budget)}%) in ${((t - started) / 1000).toFixed(0)} s, ${live.length} workers, ${exchanges} exchanges, idle ${(100 * idle).toFixed(1)}%${acc}`);
    },
    stop() {},
  };
}
