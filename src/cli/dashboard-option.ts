/**
 * --dashboard [port] of `gossamer train` and `gossamer peer`: the live page of the run (src/report/dashboard.ts) on
 * 127.0.0.1, its URL printed when it starts.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { Dashboard, type DashboardInit } from '../report/dashboard.js';

/** Commander parser of the port: an integer in [0, 65535] (0: any free port). */
function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 65535) throw new InvalidArgumentError(`expected a port number in [0, 65535], got "${value}"`);
  return n;
}

export function addDashboardOption(cmd: Command): Command {
  return cmd.option(
    '--dashboard [port]',
    'serve a live page of the run on http://127.0.0.1:<port>/ (default: any free port; the URL is printed): loss, accuracy and ' +
      'consensus curves, every worker\'s steps, exchanges and idle share, and the topology, whose edges light up on exchanges; ' +
      'it stops when the run ends',
    port,
  );
}

/** Starts the dashboard when asked for (flag true: any port) and prints its URL (on stderr with --json). */
export async function startDashboard(flag: number | boolean | undefined, init: Omit<DashboardInit, 'port'>, json: boolean): Promise<Dashboard | null> {
  if (flag === undefined || flag === false) return null;
  const dashboard = await Dashboard.start({ ...init, port: flag === true ? 0 : flag });
  (json ? process.stderr : process.stdout).write(`dashboard        ${dashboard.url}\n`);
  return dashboard;
}
