import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gossamerRun, table } from './common.js';

/**
 * The DiLoCo claim at small scale, in the simulator: workers that synchronise every H inner steps reach nearly the
 * held-out loss of AllReduce at the same number of gradient steps, for far fewer bytes. Each run is the `gossamer
 * sim` command printed under the table, every worker on its own clock (--rounds events) without a link model:
 * - the character transformer on Moby-Dick, 4 workers, inner AdamW (lr 1e-3, cosine after 25 warm-up steps), the
 *   paper's outer Nesterov step (0.7, 0.9), T = 500 expected steps per worker (2000 in all, one worker's budget);
 * - the MLP on MNIST, 8 workers, inner SGD (lr 0.05, momentum 0.9), the recipe's outer step (0.7, 0.5), T = 300;
 * H ∈ {1, 10, 50, 200} against AllReduce (the mean gradient every step). Reported at the first metrics row where the
 * workers have taken S steps each on average (S the fewest any run took, rounded down to ten): the held-out loss and
 * accuracy of the average model, and the bytes sent by all workers together by the end. --quick: T / 4.
 */
export function dilocoH(opts: { quick?: boolean; log?: (line: string) => void } = {}) {
  const scale = opts.quick ? 0.25 : 1;
  const settings = [
    {
      problem: 'transformer-moby-dick', n: 4, T: 500 * scale,
      inner: ['--optimizer', 'adamw', '--lr', '1e-3', '--schedule', 'cosine', '--warmup', '25', '--eval-limit', '400'],
      outer: ['--outer-lr', '0.7', '--outer-momentum', '0.9'],
    },
    {
      problem: 'mlp-mnist', n: 8, T: 300 * scale,
      inner: ['--lr', '0.05', '--momentum', '0.9', '--eval-limit', '2000'],
      outer: ['--outer-lr', '0.7', '--outer-momentum', '0.5'],
    },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-diloco-h-'));
  const results: Array<Record<string, number | string>> = [];
  try {
    for (const s of settings) {
      const common = ['sim', '--problem', s.problem, '--workers', String(s.n), '--time', String(s.T), '--every', String(s.T / 20), '--rounds', 'events', '--seed', '1', '--no-plot', ...s.inner];
      const variants = [
        { name: 'allreduce', args: ['--algo', 'allreduce'] },
        ...[1, 10, 50, 200].map((H) => ({ name: `diloco H=${H}`, args: ['--algo', 'diloco', '--inner-steps', String(H), ...s.outer] })),
      ];
      const runs = variants.map((v, k) => {
        opts.log?.(`diloco-h: ${s.problem}, ${v.name}`);
        const { summary, rows } = gossamerRun([...common, ...v.args], join(dir, `${s.problem}-${k}`));
        return { v, summary, rows, command: `gossamer ${[...common, ...v.args].join(' ')}` };
      });
      const S = 10 * Math.floor(Math.min(...runs.map((r) => r.summary.gradients / s.n)) / 10);
      for (const r of runs) {
        const at = r.rows.find((row) => row.gradients >= s.n * S) ?? r.rows[r.rows.length - 1];
        results.push({
          problem: s.problem, workers: s.n, variant: r.v.name, stepsPerWorker: at.gradients / s.n, testLoss: at.testLoss, testAccuracy: at.testAccuracy,
          bytesSent: r.summary.bytesSent, outerSteps: r.summary.outerSteps ?? 0, command: r.command,
        });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const markdown = table(
    ['problem', 'workers', 'variant', 'steps per worker', 'held-out loss', 'test accuracy', 'bytes sent', 'vs allreduce'],
    results.map((r) => {
      const base = results.find((b) => b.problem === r.problem && b.variant === 'allreduce')!.bytesSent as number;
      return [
        r.problem as string, r.workers as number, r.variant as string, (r.stepsPerWorker as number).toFixed(0), (r.testLoss as number).toFixed(4),
        `${(100 * (r.testAccuracy as number)).toFixed(2)}%`, r.bytesSent as number, `${((r.bytesSent as number) / base).toFixed(4)}×`,
      ];
    }),
  );
  return { name: 'diloco-h', results, markdown: `${markdown}\n\nCommands:\n\n${results.map((r) => `    ${r.command as string}`).join('\n')}` };
}
