/**
 * The report's tables: every run's configuration side by side (settings that differ between the runs
 * highlighted), and the main numbers of their summaries. All text is escaped.
 */
import { escapeHtml } from './page.js';
import type { RunData } from './run-data.js';

/** The summary's numbers worth a row, in this order, when a run has them. */
const SUMMARY_KEYS = [
  'steps', 'gradients', 'seconds', 'time', 'epochs', 'trainLoss', 'testLoss', 'testAccuracy', 'objective', 'optimality', 'consensus',
  'exchanges', 'communications', 'bytesSent', 'idleFraction', 'stepsPerSecond', 'params',
];

/** A value as shown in a cell. */
export function cell(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : Math.abs(value) >= 1e-3 && Math.abs(value) < 1e6 ? String(Number(value.toPrecision(5))) : value.toExponential(3);
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

interface TableRow {
  key: string;
  values: unknown[];
}

function table(runs: readonly RunData[], rows: readonly TableRow[], highlight: boolean): string {
  const head = `<tr><th></th>${runs.map((r) => `<th>${escapeHtml(r.name)}</th>`).join('')}</tr>`;
  const body = rows.map((row) => {
    const shown = row.values.map(cell);
    const differs = highlight && runs.length > 1 && new Set(shown).size > 1;
    const cells = shown.map((s, i) => (row.values[i] === undefined ? '<td class="missing">–</td>' : `<td>${escapeHtml(s)}</td>`)).join('');
    return `<tr${differs ? ' class="differs"' : ''}><th>${escapeHtml(row.key)}</th>${cells}</tr>`;
  });
  return `<table>\n${head}\n${body.join('\n')}\n</table>`;
}

/** Every key of the objects, in the order they first appear. */
function keysOf(objects: ReadonlyArray<Record<string, unknown>>): string[] {
  const keys = new Set<string>();
  for (const o of objects) for (const k of Object.keys(o)) keys.add(k);
  return [...keys];
}

/** The configuration table: what ran (command, status, version) and every setting; differing ones highlighted. */
export function configTable(runs: readonly RunData[]): string {
  const rows: TableRow[] = [
    { key: 'directory', values: runs.map((r) => r.dir) },
    { key: 'command', values: runs.map((r) => (r.kind === 'cluster' ? 'train (cluster)' : r.command)) },
    { key: 'status', values: runs.map((r) => r.status) },
    { key: 'version', values: runs.map((r) => r.version ?? undefined) },
    ...keysOf(runs.map((r) => r.config)).map((key) => ({ key, values: runs.map((r) => r.config[key]) })),
  ];
  // The directories always differ; highlighting them would hide the settings that do.
  const [dirs, ...rest] = rows;
  const html = table(runs, rest, true);
  return html.replace('</tr>\n', `</tr>\n<tr><th>${escapeHtml(dirs.key)}</th>${dirs.values.map((d) => `<td>${escapeHtml(cell(d))}</td>`).join('')}</tr>\n`);
}

/** The summary table: the main numbers each run reported at its end. */
export function summaryTable(runs: readonly RunData[]): string {
  const keys = SUMMARY_KEYS.filter((k) => runs.some((r) => typeof r.summary[k] === 'number'));
  if (keys.length === 0) return '<p class="note">No run has a summary yet (unfinished runs write theirs at the end).</p>';
  return table(runs, keys.map((key) => ({ key, values: runs.map((r) => r.summary[key]) })), false);
}
