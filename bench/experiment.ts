/**
 * Reproductions of the papers' claims in the simulator. Usage:
 *   npm run experiment -- <name> [--quick] [--seeds k]
 * Names: acid-rate, consensus-decay, dadao, all. Prints Markdown tables and writes JSON to runs/experiments/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acidRate } from './experiments/acid-rate.js';
import { consensusDecay } from './experiments/consensus-decay.js';
import { dadao } from './experiments/dadao.js';

const experiments: Record<string, (o: { quick?: boolean; seeds?: number }) => { name: string; results: unknown; markdown: string }> = {
  'acid-rate': acidRate,
  'consensus-decay': consensusDecay,
  dadao,
};

const args = process.argv.slice(2);
const name = args.find((a) => !a.startsWith('--')) ?? 'all';
const quick = args.includes('--quick');
const seedsAt = args.indexOf('--seeds');
const seeds = seedsAt >= 0 ? Number(args[seedsAt + 1]) : undefined;
const names = name === 'all' ? Object.keys(experiments) : [name];
for (const n of names) {
  const run = experiments[n];
  if (!run) {
    process.stderr.write(`experiment: unknown experiment "${n}" (expected one of ${Object.keys(experiments).join(', ')}, all)\n`);
    process.exit(2);
  }
  const started = performance.now();
  const out = run({ quick, seeds });
  const seconds = (performance.now() - started) / 1000;
  mkdirSync(join('runs', 'experiments'), { recursive: true });
  writeFileSync(join('runs', 'experiments', `${n}.json`), JSON.stringify({ ...out, seconds }, null, 2));
  process.stdout.write(`## ${n} (${seconds.toFixed(1)} s)\n\n${out.markdown}\n\n`);
}
