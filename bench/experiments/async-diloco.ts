import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMetrics } from '../../src/report/metrics.js';
import { mean, table } from './common.js';

/**
 * Asynchronous Local-SGD against synchronous DiLoCo in the simulator (`gossamer sim`, the exact commands are printed):
 * the MLP on MNIST, 8 workers of which two are 3× slower, H = 20 inner steps of SGD with momentum, messages that take
 * time on the link model (latency 1, 10^5 floats per time unit). Every configuration runs for the same virtual time;
 * the table gives the test accuracy of the cluster's model at the end (in time), at the gradient count the synchronous
 * run reached (per update: the first metrics row at or past it), and the virtual time and gradient count at which it
 * first reached a target accuracy.
 */
export function asyncDiloco(opts: { seeds?: number; quick?: boolean; log?: (line: string) => void } = {}) {
  const seeds = opts.seeds ?? 3;
  const time = opts.quick ? 300 : 1500;
  const target = opts.quick ? 0.9 : 0.95;
  const common = [
    'sim', '--problem', 'mlp-mnist', '--workers', '8', '--speeds', '1,1,1,1,1,1,0.333,0.333', '--inner-steps', '20', '--lr', '0.05',
    '--momentum', '0.9', '--latency', '1', '--bandwidth', '1e5', '--time', String(time), '--every', String(time / 60), '--eval-limit', '1000',
    '--no-plot', '--json',
  ];
  const configs: Array<{ label: string; args: string[] }> = [
    { label: 'DiLoCo, synchronous, outer Nesterov (0.7, 0.9)', args: ['--algo', 'diloco'] },
    { label: 'DiLoCo, synchronous, outer Nesterov (0.7, 0.5)', args: ['--algo', 'diloco', '--outer-momentum', '0.5'] },
    { label: 'async, outer SGD (1, 0): plain averaging of the pushes', args: ['--algo', 'async-diloco', '--outer-optimizer', 'sgd', '--outer-lr', '1', '--outer-momentum', '0'] },
    { label: 'async, outer Nesterov on every push (0.7, 0.9)', args: ['--algo', 'async-diloco', '--outer-optimizer', 'nesterov'] },
    { label: 'async, Delayed Nesterov (0.7, 0.9)', args: ['--algo', 'async-diloco'] },
    { label: 'async, Delayed Nesterov (0.7, 0.9) + Dynamic Local Updates', args: ['--algo', 'async-diloco', '--dynamic-h'] },
    { label: 'async, Delayed Nesterov (0.7, 0.5)', args: ['--algo', 'async-diloco', '--outer-momentum', '0.5'] },
    { label: 'async, Delayed Nesterov (0.7, 0.5) + Dynamic Local Updates', args: ['--algo', 'async-diloco', '--outer-momentum', '0.5', '--dynamic-h'] },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-async-diloco-'));
  const runs = configs.map((c) => ({
    ...c,
    seeds: Array.from({ length: seeds }, (_, k) => {
      const out = join(dir, `${configs.indexOf(c)}-${k + 1}`);
      const args = [...common, ...c.args, '--seed', String(k + 1), '--out', out];
      opts.log?.(`gossamer ${args.filter((a) => a !== '--json' && a !== out && a !== '--out').join(' ')}`);
      const p = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8' });
      if (p.status !== 0) throw new Error(`gossamer ${args.join(' ')} failed: ${p.stderr}`);
      const summary = JSON.parse(p.stdout) as { testAccuracy: number; gradients: number; communications: number; server?: { meanStaleness: number } };
      return { summary, rows: readMetrics(join(out, 'metrics.jsonl')) };
    }),
  }));
  rmSync(dir, { recursive: true, force: true });
  // Per update: at the gradient count of the synchronous run (the fewest), seed by seed.
  const budget = runs[0].seeds.map((s) => s.summary.gradients);
  const results = runs.map((r) => {
    const perUpdate = r.seeds.map((s, k) => (s.rows.find((row) => row.gradients >= budget[k]) ?? s.rows[s.rows.length - 1]).testAccuracy as number);
    const reached = r.seeds.map((s) => s.rows.find((row) => (row.testAccuracy as number) >= target));
    return {
      label: r.label, command: `gossamer ${[...common.filter((a) => a !== '--json'), ...r.args].join(' ')}`,
      accuracy: mean(r.seeds.map((s) => s.summary.testAccuracy)), perUpdate: mean(perUpdate),
      // Means over the seeds that reached the target (how many did, out of all).
      reached: reached.filter((row) => row !== undefined).length,
      timeToTarget: mean(reached.filter((row) => row !== undefined).map((row) => row!.t)),
      gradientsToTarget: mean(reached.filter((row) => row !== undefined).map((row) => row!.gradients)),
      // A collective counts n − 1 messages; a push (with its answer) one.
      gradients: mean(r.seeds.map((s) => s.summary.gradients)), rounds: mean(r.seeds.map((s) => s.summary.communications / (s.summary.server ? 1 : 7))),
      staleness: r.seeds[0].summary.server ? mean(r.seeds.map((s) => s.summary.server!.meanStaleness)) : null,
    };
  });
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  const markdown = table(
    ['configuration', `accuracy at t = ${time}`, `accuracy at ${Math.round(mean(budget))} gradients`, `time to ${pct(target)}`, `gradients to ${pct(target)}`, 'gradients', 'pushes / all-reduces', 'mean staleness'],
    results.map((r) => [
      r.label, pct(r.accuracy), pct(r.perUpdate),
      ...(r.reached === 0 ? ['—', '—'] : [r.timeToTarget, r.gradientsToTarget].map((v) => `${Math.round(v)}${r.reached < seeds ? ` (${r.reached} of ${seeds})` : ''}`)),
      Math.round(r.gradients), Math.round(r.rounds),
      r.staleness === null ? '—' : r.staleness.toFixed(1),
    ]),
  );
  return { name: 'async-diloco', results, markdown };
}
