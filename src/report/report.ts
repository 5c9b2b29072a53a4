/**
 * The report of finished (or running) runs: one self-contained HTML page that overlays them — loss and accuracy
 * against gradient steps, wall-clock time and bytes sent, the consensus distance and the idle share, per-worker
 * steps, exchanges and idle share — with a table of each run's configuration (differing settings highlighted) and
 * its summary. Charts without data in any run (bytes of runs that do not count them, wall-clock time of simulated
 * runs) are left out.
 */
import { accuracyRange, barPoints, curveCharts, curvePoints, fitted, workerCharts } from './charts.js';
import { chartPage, escapeHtml, type PageChart } from './page.js';
import { runPoints, summaryWorkers } from './points.js';
import type { RunData } from './run-data.js';
import { configTable, summaryTable } from './table.js';

export interface ReportOptions {
  /** @default "Gossamer report" */
  title?: string;
}

/** The charts of the runs that hold data. */
export function reportCharts(runs: readonly RunData[]): PageChart[] {
  const points = runs.flatMap((r) => runPoints(r.name, r.kind, r.rows));
  const workers = runs.flatMap((r) => summaryWorkers(r.name, r.kind, r.summary, r.config));
  // One colour per run on every chart.
  const names = runs.map((r) => r.name);
  const range = accuracyRange(points);
  const curves = curveCharts(names).map((c) => {
    const values = curvePoints(c, points);
    return { id: c.id, spec: fitted(c, values, range), values };
  });
  const bars = workerCharts(names).map((c) => ({ id: c.id, spec: c.spec, values: barPoints(c, workers) }));
  return [...curves, ...bars].filter((c) => c.values.length > 0);
}

/** The report's HTML. */
export function reportHtml(runs: readonly RunData[], opts: ReportOptions = {}): string {
  const title = opts.title ?? 'Gossamer report';
  const charts = reportCharts(runs);
  const list = runs.map((r) => `<li><strong>${escapeHtml(r.name)}</strong> — ${escapeHtml(r.kind === 'cluster' ? 'train (cluster)' : r.command)}, ${escapeHtml(r.status)}, ${r.rows.length} metrics rows</li>`).join('\n');
  const intro = `<h1>${escapeHtml(title)}</h1>\n<ul>\n${list}\n</ul>` +
    (charts.length === 0 ? '\n<p class="note">No run has metrics rows to draw.</p>' : '');
  const outro = `<h2>Configuration</h2>\n<p class="note">Settings that differ between the runs are highlighted.</p>\n${configTable(runs)}\n<h2>Summary</h2>\n${summaryTable(runs)}`;
  return chartPage({ title, intro, charts, outro });
}
