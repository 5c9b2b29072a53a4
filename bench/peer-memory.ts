/**
 * Resident memory of `gossamer peer` processes training the default MLP on MNIST, and of one
 * `gossamer train --workers N` process for comparison. The peers run on 127.0.0.1 from the built CLI
 * (dist/cli/main.js: `npm run build` first), as a user runs them; each process's VmRSS and VmHWM are read from
 * /proc every 100 ms.
 *
 *   npm run bench -- peer-memory [--json] [--workers=4] [--steps=<per peer>] [--algo=acid] [--lean-memory] [--train-workers=8] [--no-train]
 *
 * Per peer: `peakMB` (VmHWM at its summary), `steadyMB` (median VmRSS from its first step to its last),
 * `steadyAnonMB` (the same of RssAnon: its memory of its own, without the shared pages of the node binary),
 * `startMB` (VmRSS once listening, data loaded) and `summary` (process.memoryUsage() of its main thread at the
 * end: heapUsed, external, arrayBuffers). Linux only.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSwarmKey } from '../src/runtime/net/swarm-key.js';
import { CLI, startCli, type CliEvent } from './cli-process.js';
import { mb, medianRss } from './rss.js';

function flag(name: string, fallback: string | undefined): string | undefined {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : fallback;
}

interface Watched {
  index: number;
  /** The first line the process printed. */
  firstLine: Promise<CliEvent>;
  result: Promise<Record<string, unknown>>;
}

/** Starts one CLI process with --json output and samples its memory until it exits. */
function watch(index: number, args: string[]): Watched {
  // The sampler's time of each event's first appearance, and of the last progress event.
  const marks: Record<string, number> = {};
  const p = startCli(args, (e, self) => {
    const name = String(e.event ?? 'summary');
    if (marks[name] === undefined) marks[name] = self.mark();
    if (name === 'progress') marks.lastProgress = self.mark();
  });
  const firstLine = p.waitFor(() => true).then((e) => e ?? {});
  const result = p.exited.then(({ code, samples }) => {
    if (code !== 0) throw new Error(`process ${index} exited with ${code}:\n${p.stderr.slice(-20).join('\n')}`);
    const events = p.events;
    const summary = events.find((e) => e.event === 'summary') ?? events[events.length - 1];
    const atSummary = samples.filter((s) => s.t <= (marks.summary ?? Infinity));
    const trainFrom = marks.start ?? marks.listening ?? 0;
    return {
      startMB: marks.listening === undefined ? null : mb(samples.find((s) => s.t >= marks.listening)?.rssMB),
      steadyMB: mb(medianRss(samples, trainFrom, marks.lastProgress ?? marks.summary ?? Infinity)),
      steadyAnonMB: mb(medianRss(samples, trainFrom, marks.lastProgress ?? marks.summary ?? Infinity, 'anonMB')),
      peakMB: mb(Math.max(...atSummary.map((s) => s.peakMB))),
      samples: samples.length,
      summary: (summary as { memory?: unknown }).memory ?? null,
      testAccuracy: summary.testAccuracy ?? null,
      steps: summary.steps ?? null,
      seconds: summary.seconds ?? null,
    };
  });
  return { index, firstLine, result };
}

async function peers(workers: number, steps: string | undefined, algo: string, lean: boolean): Promise<Array<Record<string, unknown>>> {
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-peer-memory-'));
  try {
    const key = join(dir, 'swarm.key');
    writeSwarmKey(key);
    const common = ['peer', '--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, '--workers', String(workers), '--algo', algo, '--json', ...(steps ? ['--steps', steps] : []),
      ...(lean ? ['--lean-memory'] : [])];
    const first = watch(0, [...common, '--index', '0']);
    const addr = ((await first.firstLine).addrs as string[])[0];
    const all = [first, ...Array.from({ length: workers - 1 }, (_, k) => watch(k + 1, [...common, '--index', String(k + 1), '--bootstrap', addr]))];
    return await Promise.all(all.map(async (p) => ({ index: p.index, ...(await p.result) })));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runPeerMemoryBench(): Promise<Record<string, unknown>> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const workers = Number(flag('workers', '4'));
  const algo = flag('algo', 'acid')!;
  const leanMemory = process.argv.includes('--lean-memory');
  const result: Record<string, unknown> = { model: 'mlp', dataset: 'mnist', workers, algo, leanMemory, peers: await peers(workers, flag('steps', undefined), algo, leanMemory) };
  if (!process.argv.includes('--no-train')) {
    const n = flag('train-workers', '8')!;
    const out = mkdtempSync(join(tmpdir(), 'gossamer-train-memory-'));
    try {
      const train = watch(0, ['train', '--model', 'mlp', '--workers', n, '--steps', flag('train-steps', '2000')!, '--out', out, '--overwrite', '--json']);
      result.train = { workers: Number(n), ...(await train.result) };
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }
  return result;
}
