/**
 * The live dashboard of a run: a page on 127.0.0.1 (node:http) that draws the run's curves, its workers' steps,
 * exchanges and idle share, and its topology, updated over server-sent events as the run goes. The run hands it
 * the rows it writes to its metrics file (row) and its workers' counts (workers, throttled to a few updates a
 * second); close() tells the pages how the run ended and stops the server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../core/errors.js';
import { LiveRun, type LiveMessage, type LiveRunInit, type LiveWorker } from './live.js';
import type { WrittenRow } from './metrics.js';
import { chartPage, escapeHtml } from './page.js';

export interface DashboardInit extends LiveRunInit {
  /** 0: any free port. */
  port: number;
  /** A line under the title (the run's settings). */
  description?: string;
  /** Least milliseconds between two updates of the workers. @default 250 */
  everyMs?: number;
}

export class Dashboard {
  private readonly clients = new Set<ServerResponse>();
  private lastWorkers = 0;
  private pendingWorkers: LiveWorker[] | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(private readonly server: Server, private readonly live: LiveRun, private readonly init: DashboardInit, readonly url: string) {}

  /** Starts the server; a port in use or not allowed is a UsageError. */
  static async start(init: DashboardInit): Promise<Dashboard> {
    const live = new LiveRun(init);
    let dashboard: Dashboard | undefined;
    const server = createServer((req, res) => dashboard?.serve(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'is in use' : err.code === 'EACCES' ? 'is not allowed' : `cannot be used (${err.code ?? err.message})`;
        reject(new UsageError(`--dashboard: port ${init.port} on 127.0.0.1 ${why}`));
      });
      server.listen(init.port, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    dashboard = new Dashboard(server, live, init, `http://127.0.0.1:${port}/`);
    return dashboard;
  }

  /** A metrics row of the run. */
  row(row: WrittenRow): void {
    this.send(this.live.row(row));
  }

  /** The workers' counts (sent at most every everyMs; the last one always). */
  workers(workers: readonly LiveWorker[]): void {
    this.pendingWorkers = workers.map((w) => ({ ...w }));
    const wait = this.lastWorkers + (this.init.everyMs ?? 250) - Date.now();
    if (wait <= 0) this.flushWorkers();
    else this.timer ??= setTimeout(() => this.flushWorkers(), wait);
  }

  /** The run has ended: the pages are told how, and the server stops. */
  async close(status: string): Promise<void> {
    if (this.closed) return;
    this.flushWorkers();
    this.closed = true;
    this.live.status = status;
    for (const res of this.clients) res.end(`event: end\ndata: ${JSON.stringify({ status })}\n\n`);
    this.clients.clear();
    // Pages that stay open keep their connections: they are cut after a moment, once the last frames are out.
    const cut = setTimeout(() => this.server.closeAllConnections(), 1000);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
    clearTimeout(cut);
  }

  private flushWorkers(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pendingWorkers === null || this.closed) return;
    const workers = this.pendingWorkers;
    this.pendingWorkers = null;
    this.lastWorkers = Date.now();
    this.send(this.live.workers(workers));
  }

  private send(messages: readonly LiveMessage[]): void {
    if (this.closed) return;
    for (const m of messages) {
      const frame = `data: ${JSON.stringify(m)}\n\n`;
      for (const res of this.clients) res.write(frame);
    }
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/') {
      const intro = `<h1>${escapeHtml(this.init.name)}</h1>\n` +
        (this.init.description ? `<p>${escapeHtml(this.init.description)}</p>\n` : '') +
        `<p>Status: <span id="status">${escapeHtml(this.live.status)}</span></p>`;
      // The charts start empty: the event stream sends what there is so far, then every update.
      const charts = this.live.charts().map((c) => ({ ...c, values: [] }));
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(chartPage({ title: `${this.init.name} — Gossamer dashboard`, intro, charts, live: '/events' }));
      return;
    }
    if (path === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      for (const m of this.live.snapshot()) res.write(`data: ${JSON.stringify(m)}\n\n`);
      if (this.closed) {
        res.end(`event: end\ndata: ${JSON.stringify({ status: this.live.status })}\n\n`);
        return;
      }
      this.clients.add(res);
      req.on('close', () => this.clients.delete(res));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }
}
