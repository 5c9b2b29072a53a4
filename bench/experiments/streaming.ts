import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { table } from './common.js';

/**
 * Streaming DiLoCo and eager DiLoCo against DiLoCo in the simulator, each run the `gossamer sim` command printed in the
 * table: 8 workers train the MLP (784-512-512-10) on MNIST with SGD (lr 0.05, momentum 0.9) as the inner optimizer,
 * H = 60, the default outer Nesterov step, for T expected steps per worker (no link model: an all-reduce takes no
 * virtual time, so the workers' waits are those of the algorithms' rules; every worker on its own clock, --rounds
 * events, so that the metrics rows count exactly the steps taken). Reported: the largest contribution of one
 * worker to a synchronisation (the peak bytes one all-reduce moves per worker), and, at equal steps — the first
 * metrics row where the workers have taken S steps each on average, S the fewest any variant took by T, rounded down
 * to ten — the loss (training set) and test accuracy of the average model. --quick: T = 200.
 */
export function streaming(opts: { quick?: boolean; log?: (line: string) => void } = {}) {
  const n = 8;
  const T = opts.quick ? 200 : 600;
  const common = [
    'sim', '--problem', 'mlp-mnist', '--workers', String(n), '--lr', '0.05', '--momentum', '0.9', '--time', String(T), '--every', String(T / 50),
    '--eval-limit', '1000', '--rounds', 'events', '--seed', '1', '--no-plot', '--json',
  ];
  const variants: Array<{ name: string; args: string[] }> = [
    { name: 'diloco', args: ['--algo', 'diloco', '--inner-steps', '60'] },
    { name: 'streaming P=3, τ=0, α=0', args: ['--algo', 'streaming-diloco', '--inner-steps', '60', '--fragments', '3'] },
    { name: 'streaming P=3, τ=5, α=0', args: ['--algo', 'streaming-diloco', '--inner-steps', '60', '--fragments', '3', '--overlap', '5'] },
    { name: 'streaming P=3, τ=5, α=0.5', args: ['--algo', 'streaming-diloco', '--inner-steps', '60', '--fragments', '3', '--overlap', '5', '--mix', '0.5'] },
    { name: 'streaming P=2, τ=5, α=0.5', args: ['--algo', 'streaming-diloco', '--inner-steps', '60', '--fragments', '2', '--overlap', '5', '--mix', '0.5'] },
    { name: 'diloco --eager', args: ['--algo', 'diloco', '--inner-steps', '60', '--eager'] },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-streaming-'));
  const runs: Array<{ name: string; command: string; summary: Record<string, number>; rows: Array<Record<string, number>> }> = [];
  try {
    for (const [k, v] of variants.entries()) {
      opts.log?.(`streaming: ${v.name}`);
      const out = join(dir, String(k));
      const args = [...common, ...v.args, '--out', out];
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`${v.name}: gossamer ${args.join(' ')} failed: ${r.stderr}`);
      const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
      runs.push({ name: v.name, command: `gossamer ${[...common.filter((a) => a !== '--json'), ...v.args].join(' ')}`, summary: JSON.parse(r.stdout), rows });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const S = 10 * Math.floor(Math.min(...runs.map((r) => r.summary.gradients / n)) / 10);
  const results = runs.map((r) => {
    const at = r.rows.find((row) => row.gradients >= n * S)!;
    return {
      variant: r.name, command: r.command, peakSyncBytes: r.summary.peakSyncBytes, stepsAt: at.gradients / n, lossAt: at.testLoss,
      testAccuracyAt: at.testAccuracy, stepsPerWorker: r.summary.gradients / n, finalLoss: r.summary.testLoss,
    };
  });
  const base = results[0].peakSyncBytes as number;
  const markdown = table(
    ['variant', 'peak bytes per sync', 'vs diloco', `steps per worker (≥ ${S})`, 'loss', 'test accuracy'],
    results.map((r) => [
      r.variant as string, r.peakSyncBytes as number, `${(base / (r.peakSyncBytes as number)).toFixed(2)}×`, (r.stepsAt as number).toFixed(0),
      (r.lossAt as number).toFixed(4), `${(100 * (r.testAccuracyAt as number)).toFixed(1)}%`,
    ]),
  );
  return { name: 'streaming', results, markdown: `${markdown}\n\nCommands:\n\n${results.map((r) => `    ${r.command as string}`).join('\n')}` };
}
