/**
 * Metrics rows as a CSV file: one column per field any row has (in the order they first appear), written when the
 * run closes its metrics, since rows gain fields as a run goes (evaluations, the final row).
 */
import { writeFileSync } from 'node:fs';

export class CsvLog {
  private readonly rows: Array<Record<string, unknown>> = [];

  constructor(readonly path: string) {}

  write(row: Record<string, unknown>): void {
    this.rows.push(row);
  }

  close(): void {
    const columns = [...new Set(this.rows.flatMap((row) => Object.keys(row)))];
    const lines = [columns.map(csvCell).join(','), ...this.rows.map((row) => columns.map((c) => csvCell(row[c])).join(','))];
    writeFileSync(this.path, `${lines.join('\n')}\n`);
  }
}

/** A value as a CSV cell: empty when absent, quoted when it holds a comma, a quote or a line break. */
function csvCell(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
