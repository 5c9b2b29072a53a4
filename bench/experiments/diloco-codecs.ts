import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gossamerRun, table } from './common.js';

/**
 * DiLoCo's pseudo-gradients under the wire codecs, in the simulator, each run the `gossamer sim` command printed in
 * the table: 8 workers train the MLP (784-512-512-10) on MNIST with SGD (lr 0.05, momentum 0.9) as the inner
 * optimizer, H = 20, the default outer Nesterov step (0.7, 0.9), for T expected steps per worker, every contribution
 * and every mean rounded by the codec (float32 sums), with and without error feedback. Reported: bytes sent by all
 * workers together and their ratio to float32, the loss (training set) and test accuracy of the average model at
 * the end. --quick: T = 200.
 */
export function dilocoCodecs(opts: { quick?: boolean; log?: (line: string) => void } = {}) {
  const n = 8;
  const T = opts.quick ? 200 : 600;
  const common = [
    'sim', '--problem', 'mlp-mnist', '--workers', String(n), '--algo', 'diloco', '--inner-steps', '20', '--lr', '0.05', '--momentum', '0.9',
    '--time', String(T), '--every', String(T / 10), '--eval-limit', '2000', '--seed', '1', '--no-plot',
  ];
  const variants: Array<{ name: string; args: string[] }> = [
    { name: 'f32', args: [] },
    { name: 'f16', args: ['--codec', 'f16'] },
    { name: 'i8', args: ['--codec', 'i8'] },
    { name: 'i8, error feedback', args: ['--codec', 'i8', '--error-feedback'] },
    { name: 'i4', args: ['--codec', 'i4'] },
    { name: 'i4, error feedback', args: ['--codec', 'i4', '--error-feedback'] },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-diloco-codecs-'));
  const results: Array<Record<string, number | string>> = [];
  try {
    for (const [k, v] of variants.entries()) {
      opts.log?.(`diloco-codecs: ${v.name}`);
      const s = gossamerRun([...common, ...v.args], join(dir, String(k))).summary;
      results.push({
        codec: v.name, command: `gossamer ${[...common, ...v.args].join(' ')}`, bytesSent: s.bytesSent,
        outerSteps: s.outerSteps, loss: s.testLoss, testAccuracy: s.testAccuracy,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const base = results[0].bytesSent as number;
  const markdown = table(
    ['pseudo-gradients', 'bytes sent', 'f32 bytes / bytes', 'outer steps', 'loss', 'test accuracy'],
    results.map((r) => [
      r.codec as string, r.bytesSent as number, `${(base / (r.bytesSent as number)).toFixed(2)}×`, r.outerSteps as number,
      (r.loss as number).toFixed(4), `${(100 * (r.testAccuracy as number)).toFixed(2)}%`,
    ]),
  );
  return { name: 'diloco-codecs', results, markdown: `${markdown}\n\nCommands:\n\n${results.map((r) => `    ${r.command as string}`).join('\n')}` };
}
