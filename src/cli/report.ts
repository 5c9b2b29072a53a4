/**
 * `gossamer report <run dir>... [--out report.html]`: one self-contained HTML page that overlays the runs (see
 * src/report/report.ts).
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command } from 'commander';
import { UsageError } from '../core/errors.js';
import { prepareOutputDir } from '../core/output-dir.js';
import { reportHtml } from '../report/report.js';
import { loadRuns } from '../report/run-data.js';

interface ReportFlags {
  out: string;
  title?: string;
  json?: boolean;
}

export function reportCommand(): Command {
  return new Command('report')
    .summary('Overlay runs in one self-contained HTML page of charts and tables.')
    .description(
      'Read the run directories (of gossamer train, with one worker or a cluster, gossamer sim and gossamer peer: ' +
        'run.json and metrics.jsonl) and write one HTML file that overlays them: loss and test accuracy against ' +
        'gradient steps, wall-clock time and bytes sent, the consensus distance on a log axis, the idle share, ' +
        'per-worker steps, exchanges and idle share, and a table of every run\'s configuration (settings that differ ' +
        'are highlighted) and summary. The chart library is inlined: the file opens offline in any browser.',
    )
    .argument('<run-dirs...>', 'run directories, e.g. runs/cluster-acid-ring8-mlp-1a2b3c4d')
    .option('--out <file>', 'the HTML file to write', 'report.html')
    .option('--title <text>', 'title of the page (default "Gossamer report")')
    .option('--json', 'print one JSON summary on stdout and nothing else')
    .action((dirs: string[], flags: ReportFlags) => {
      const runs = loadRuns(dirs);
      const file = resolve(flags.out);
      if (file.endsWith('/')) throw new UsageError(`--out ${flags.out}: give a file name, e.g. report.html`);
      prepareOutputDir(dirname(file), '--out');
      try {
        writeFileSync(file, reportHtml(runs, { title: flags.title }));
      } catch (err) {
        throw new UsageError(`--out ${flags.out}: cannot write (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
      if (flags.json) process.stdout.write(`${JSON.stringify({ report: file, runs: runs.map((r) => ({ name: r.name, dir: r.dir, kind: r.kind, rows: r.rows.length })) })}\n`);
      else process.stdout.write(`report of ${runs.length} run${runs.length === 1 ? '' : 's'} written to ${file}\n`);
    });
}
