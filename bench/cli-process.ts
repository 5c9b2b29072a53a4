/**
 * A process of the built `gossamer` CLI (dist/cli/main.js: `npm run build` first) run by a benchmark or an experiment
 * as a user runs it: its JSON lines on stdout as events, its stderr, and its memory sampled from /proc (rss.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { sampleRss, type RssSample } from './rss.js';

export const CLI = 'dist/cli/main.js';

export type CliEvent = Record<string, unknown>;

export interface CliProcess {
  proc: ChildProcess;
  events: CliEvent[];
  stderr: string[];
  /** The time of now on the memory sampler's clock (to cut its samples into phases). */
  mark(): number;
  /** The first event matching (one already seen included), or null if the process ends first or `ms` pass. */
  waitFor(pred: (e: CliEvent) => boolean, ms?: number): Promise<CliEvent | null>;
  alive(): boolean;
  /** Its exit code and memory samples once it has exited. */
  exited: Promise<{ code: number | null; samples: RssSample[] }>;
}

/** Starts `node dist/cli/main.js <args>`; `onEvent` sees every event as it arrives. */
export function startCli(args: string[], onEvent?: (e: CliEvent, p: CliProcess) => void, rssEveryMs = 100): CliProcess {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
  const rss = sampleRss(proc.pid!, rssEveryMs);
  const events: CliEvent[] = [];
  const stderr: string[] = [];
  const waiters: Array<{ pred: (e: CliEvent) => boolean; resolve: (e: CliEvent | null) => void }> = [];
  let running = true;
  const p: CliProcess = {
    proc, events, stderr,
    mark: () => rss.mark(),
    alive: () => running,
    waitFor: (pred, ms = Infinity) => {
      const seen = events.find(pred);
      if (seen || !running) return Promise.resolve(seen ?? null);
      return new Promise((resolve) => {
        const w = { pred, resolve };
        waiters.push(w);
        if (Number.isFinite(ms)) setTimeout(() => {
          if (waiters.includes(w)) waiters.splice(waiters.indexOf(w), 1);
          resolve(null);
        }, ms);
      });
    },
    exited: new Promise((resolve) => proc.on('exit', (code) => {
      running = false;
      for (const w of waiters.splice(0)) w.resolve(null);
      resolve({ code, samples: rss.stop() });
    })),
  };
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let e: CliEvent;
    try {
      e = JSON.parse(line);
    } catch {
      return;
    }
    events.push(e);
    onEvent?.(e, p);
    for (const w of [...waiters]) if (w.pred(e)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(e);
    }
  });
  createInterface({ input: proc.stderr! }).on('line', (line) => stderr.push(line));
  return p;
}
