import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mean, sci, table } from './common.js';

/**
 * Adaptive Braking against gradient delay (docs/algorithms.md §6): AllReduce momentum SGD (μ 0.9) of 4 workers
 * whose gradients are D local steps stale (`--gradient-delay D`), D ∈ {0, 4, 16, 32}, without braking and with
 * ρ ∈ {1, 2} (`--braking ρ`). Every cell is one `gossamer sim` command (the JSON holds each one), run here as a
 * child process:
 * - convex: the heterogeneous quadratic (dim 10, gradient noise 0.1), lr 0.05, 4000 rounds; the steady distance to
 *   the optimum (mean of ‖x_i − x*‖² over the second half of the run), averaged over the seeds;
 * - MNIST: the MLP, batch 32 per worker, lr 0.01, 1000 rounds (about 2 epochs); the test accuracy of the final
 *   model on the whole test set.
 * A run diverged when its final loss (f at the average model; the test loss of the MLP) is not finite or above the
 * loss it started from; a cell gives the mean over the seeds that did not, and how many did. --quick: D ∈ {0, 32},
 * shorter runs.
 */
export function braking(opts: { quick?: boolean; seeds?: number; log?: (line: string) => void } = {}) {
  const delays = opts.quick ? [0, 32] : [0, 4, 16, 32];
  const rhos = [0, 1, 2];
  const seeds = opts.seeds ?? (opts.quick ? 1 : 3);
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-braking-'));
  const base = ['sim', '--algo', 'allreduce', '--workers', '4', '--momentum', '0.9', '--no-plot', '--json'];
  const problems = [
    { name: 'quadratic', args: ['--problem', 'quadratic', '--noise', '0.1', '--lr', '0.05', '--time', opts.quick ? '1000' : '4000'], seeds },
    { name: 'mlp-mnist', args: ['--problem', 'mlp-mnist', '--lr', '0.01', '--time', opts.quick ? '300' : '1000', '--every', opts.quick ? '150' : '250', '--eval-limit', '10000'], seeds: 1 },
  ];
  const results: Array<Record<string, unknown>> = [];
  try {
    for (const p of problems) {
      for (const D of delays) {
        for (const rho of rhos) {
          const runs: Array<Record<string, unknown>> = [];
          for (let seed = 1; seed <= p.seeds; seed++) {
            const args = [...base, ...p.args, '--gradient-delay', String(D), '--braking', String(rho), '--seed', String(seed)];
            const command = `gossamer ${args.join(' ')}`;
            opts.log?.(`braking: ${command}`);
            const out = join(dir, 'run');
            const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--out', out], { encoding: 'utf8' });
            if (r.status !== 0) throw new Error(`${command} failed: ${r.stderr.trim()}`);
            const s = JSON.parse(r.stdout) as Record<string, number | null>;
            const row = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n')[0]) as Record<string, number | null>;
            // The objective on the convex problem, the test loss on MNIST.
            const [initial, loss] = [row.objective ?? row.testLoss, s.objective ?? s.testLoss];
            const diverged = !(Number.isFinite(loss) && Number.isFinite(initial) && loss! <= initial!);
            runs.push({ command, seed, initialLoss: initial, loss, diverged, steadyOptimality: s.steadyOptimality, testAccuracy: s.testAccuracy ?? null, seconds: s.wallSeconds });
          }
          const kept = runs.filter((r) => !r.diverged);
          const value = kept.length === 0 ? null : mean(kept.map((r) => (p.name === 'quadratic' ? r.steadyOptimality : r.testAccuracy) as number));
          results.push({ problem: p.name, delay: D, braking: rho, diverged: runs.length - kept.length, seeds: runs.length, value, runs });
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const cell = (problem: string, D: number, rho: number) => {
    const r = results.find((x) => x.problem === problem && x.delay === D && x.braking === rho)!;
    if (r.value === null) return 'diverged';
    const v = problem === 'quadratic' ? sci(r.value as number) : `${(100 * (r.value as number)).toFixed(1)}%`;
    return (r.diverged as number) > 0 ? `${v} (${r.diverged as number} of ${r.seeds as number} diverged)` : v;
  };
  const measure = (name: string) => (name === 'quadratic' ? 'quadratic, steady ‖x − x*‖²' : `${name}, test accuracy`);
  const header = ['delay D', ...problems.flatMap((p) => rhos.map((rho) => `${measure(p.name)}: ${rho === 0 ? 'momentum SGD' : `braking ρ = ${rho}`}`))];
  const markdown = table(header, delays.map((D) => [String(D), ...problems.flatMap((p) => rhos.map((rho) => cell(p.name, D, rho)))]));
  return { name: 'braking', results, markdown };
}
