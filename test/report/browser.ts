/**
 * Headless Chromium for the browser tests: Debian's chromium (installed by .ci/run when absent) driven by
 * playwright-core, which downloads no browser of its own. Without a Chromium the tests are skipped, with the reason
 * — except in CI (CI=true), where they must run.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** The Chromium to drive: $CHROMIUM_PATH, or Debian's. */
export function chromiumPath(): string | null {
  const given = process.env.CHROMIUM_PATH;
  if (given) return existsSync(given) ? given : null;
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

/** Why the browser tests are skipped (false: they run). In CI they always run. */
export function browserSkip(): string | false {
  if (process.env.CI === 'true') return false;
  return chromiumPath() === null ? `no Chromium found (${CANDIDATES[0]}; install Debian's chromium or set CHROMIUM_PATH)` : false;
}

export interface Browser {
  context: BrowserContext;
  /** A new page whose console errors and uncaught exceptions are collected. */
  open(url: string): Promise<{ page: Page; errors: string[] }>;
  close(): Promise<void>;
}

/** Launches headless Chromium with a fresh profile in a temporary directory. */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === null) throw new Error('no Chromium found: install Debian\'s chromium (apt-get install chromium) or set CHROMIUM_PATH');
  const profile = mkdtempSync(join(tmpdir(), 'gossamer-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
  return {
    context,
    async open(url) {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(url);
      return { page, errors };
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Waits until the page's charts are drawn; returns the number of data points of each. */
export async function chartCounts(page: Page, timeout = 20_000): Promise<Record<string, number>> {
  await page.waitForFunction(() => (window as unknown as { gossamer?: { ready: boolean } }).gossamer?.ready === true, null, { timeout });
  return page.evaluate(() => {
    const views = (window as unknown as { gossamer: { views: Record<string, { data(name: string): unknown[] }> } }).gossamer.views;
    return Object.fromEntries(Object.entries(views).map(([id, view]) => [id, view.data('points').length]));
  });
}

/** A CLI run in the background: its dashboard's URL once printed, and its exit. */
export interface LiveCli {
  url: Promise<string>;
  /** The first match of the pattern in stdout. */
  printed(pattern: RegExp): Promise<RegExpExecArray>;
  stdout: () => string;
  stderr: () => string;
  /** Ctrl-C; resolves with the exit code. */
  interrupt(): Promise<number | null>;
}

/** Starts `gossamer <args>` (which must give --dashboard) and watches its output for the dashboard's URL. */
export function liveCli(args: string[]): LiveCli {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const watchers: Array<() => void> = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of [...watchers]) w();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const printed = (pattern: RegExp) => new Promise<RegExpExecArray>((resolve, reject) => {
    const check = () => {
      const m = pattern.exec(out);
      if (m) {
        watchers.splice(watchers.indexOf(check), 1);
        resolve(m);
      }
    };
    watchers.push(check);
    check();
    void exited.then((code) => reject(new Error(`the run ended (exit code ${code}) before printing ${pattern}: ${err}`)));
  });
  const url = printed(/dashboard\s+(http:\/\/127\.0\.0\.1:\d+\/)/).then((m) => m[1]);
  url.catch(() => {});
  return {
    url, printed, stdout: () => out, stderr: () => err,
    async interrupt() {
      if (child.exitCode === null) child.kill('SIGINT');
      return exited;
    },
  };
}

/** Waits until the page's charts hold points (the run's first rows and counts arrived); returns the counts. */
export async function liveCounts(page: Page, wanted: readonly string[], timeout = 30_000): Promise<Record<string, number>> {
  await chartCounts(page, timeout);
  try {
    await page.waitForFunction((ids) => {
      const views = (window as unknown as { gossamer: { views: Record<string, { data(name: string): unknown[] }> } }).gossamer.views;
      return ids.every((id) => views[id] && views[id].data('points').length > 0);
    }, wanted, { timeout });
  } catch (err) {
    throw new Error(`the charts did not fill: ${JSON.stringify(await chartCounts(page, timeout))} (${err instanceof Error ? err.message : String(err)})`);
  }
  return chartCounts(page, timeout);
}
