import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/core/rng.js';
import { readCheckpoint } from '../../src/engine/checkpoint.js';
import { writeSwarmKey } from '../../src/runtime/net/swarm-key.js';
import { CLI, startCli, type CliProcess } from '../cli-process.js';
import { mb, medianRss } from '../rss.js';
import { mean, table } from './common.js';

/**
 * Open membership at scale: `gossamer peer` processes in open mode (no --index, no --workers) on 127.0.0.1, from the
 * built CLI as a user runs them. A first peer defines the run (A2CiD2 on a ring, the MLP on MNIST, a wall-clock
 * --duration); the others join one by one with only --bootstrap and --swarm-key; in the middle of the run a quarter
 * of the members, drawn at random (the first one included), are killed (SIGKILL) at random moments, and as many new
 * peers join, each bootstrapping to a live member. At the end: the survivors' final models (their largest distance
 * to one another, relative to the norm of their mean), test accuracies, steps and topologies seen, and every
 * peer's resident memory (VmHWM, and the median VmRSS while it trained).
 *
 *   npm run experiment -- open-churn -- [--peers 16] [--duration 120] [--churn 0.25] [--rate 0.5] [--final-exchanges 10] [--seed 1] [--json]
 */
export interface OpenChurnOptions {
  peers: number;
  duration: number;
  churn: number;
  rate: number;
  seed: number;
  /** Exchanges of every peer in the final averaging. */
  finalExchanges: number;
}

export function openChurnOptions(args: string[]): OpenChurnOptions {
  const value = (name: string, fallback: number, check: (v: number) => boolean): number => {
    const at = args.indexOf(`--${name}`);
    if (at < 0) return fallback;
    const v = Number(args[at + 1]);
    if (!check(v)) throw new RangeError(`open-churn: --${name} got ${args[at + 1]}`);
    return v;
  };
  return {
    peers: value('peers', 16, (v) => Number.isInteger(v) && v >= 4),
    duration: value('duration', 120, (v) => v >= 20),
    churn: value('churn', 0.25, (v) => v >= 0 && v < 1),
    rate: value('rate', 0.5, (v) => v > 0),
    seed: value('seed', 1, (v) => Number.isInteger(v)),
    finalExchanges: value('final-exchanges', 10, (v) => Number.isInteger(v) && v >= 0),
  };
}

interface Peer extends CliProcess {
  label: string;
  kill(): void;
  /** Its exit code, stderr and memory once it has exited. */
  done: Promise<{ code: number | null; peakMB: number | null; steadyMB: number | null; steadyAnonMB: number | null; stderr: string[] }>;
}

function startPeer(label: string, args: string[]): Peer {
  // The sampler's times of the start of training and of the summary.
  let trainFrom = Infinity;
  let trainTo = Infinity;
  const p = startCli(['peer', ...args, '--json'], (e, self) => {
    if (e.event === 'start') trainFrom = self.mark();
    if (e.event === 'summary') trainTo = self.mark();
  }, 250);
  const done = p.exited.then(({ code, samples }) => {
    const peaks = samples.map((s) => s.peakMB).filter(Number.isFinite);
    return {
      code, peakMB: peaks.length > 0 ? mb(Math.max(...peaks)) : null, steadyMB: mb(medianRss(samples, trainFrom, trainTo)),
      steadyAnonMB: mb(medianRss(samples, trainFrom, trainTo, 'anonMB')), stderr: p.stderr,
    };
  });
  return { ...p, label, done, kill: () => p.proc.kill('SIGKILL') };
}

/** Largest distance between two models, relative to the norm of their mean. */
function spread(models: Float32Array[]): number {
  const d = models[0].length;
  const m = new Float64Array(d);
  for (const x of models) for (let k = 0; k < d; k++) m[k] += x[k] / models.length;
  const norm = Math.sqrt(m.reduce((a, v) => a + v * v, 0));
  let worst = 0;
  for (let a = 0; a < models.length; a++) {
    for (let b = a + 1; b < models.length; b++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += (models[a][k] - models[b][k]) ** 2;
      worst = Math.max(worst, Math.sqrt(s) / norm);
    }
  }
  return worst;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function openChurn(opts: { args?: string[]; log?: (line: string) => void } = {}) {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const o = openChurnOptions(opts.args ?? []);
  const log = opts.log ?? (() => {});
  const rng = new Rng(`open-churn:${o.seed}`);
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-open-churn-'));
  const key = join(dir, 'swarm.key');
  writeSwarmKey(key);
  const peers: Peer[] = [];
  const addrOf = new Map<Peer, string>();
  const t0 = performance.now();
  const at = () => Math.round((performance.now() - t0) / 100) / 10;
  const timeline: string[] = [];
  const note = (what: string) => {
    timeline.push(`${at()} s: ${what}`);
    log(`open-churn: ${at()} s: ${what}`);
  };
  const listen = ['--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key];
  const join1 = async (label: string): Promise<Peer> => {
    const live = peers.filter((p) => p.alive() && addrOf.has(p));
    const via = live[Math.floor(rng.uniform() * live.length)];
    const p = startPeer(label, [...listen, '--bootstrap', addrOf.get(via)!, '--out', join(dir, label)]);
    peers.push(p);
    const listening = await p.waitFor((e) => e.event === 'listening');
    if (listening) addrOf.set(p, (listening.addrs as string[])[0]);
    // One by one: the next starts once this one has learned the run (or after a while, on a loaded machine).
    await p.waitFor((e) => e.event === 'config', 5000);
    note(`${label} joined through ${via.label}`);
    return p;
  };
  try {
    const first = startPeer('p0', [
      ...listen, '--algo', 'acid', '--topology', 'ring', '--rate', String(o.rate), '--model', 'mlp', '--batch-size', '32', '--lr', '0.05',
      '--momentum', '0.9', '--steps', '10000000', '--schedule', 'constant', '--warmup', '0', '--duration', String(o.duration), '--final-exchanges', String(o.finalExchanges),
      '--seed', String(o.seed), '--out', join(dir, 'p0'),
    ]);
    peers.push(first);
    const listening = await first.waitFor((e) => e.event === 'listening');
    if (!listening) throw new Error(`the first peer did not start: ${(await first.done).stderr.slice(-5).join(' | ')}`);
    addrOf.set(first, (listening.addrs as string[])[0]);
    note('p0 started');
    for (let k = 1; k < o.peers; k++) await join1(`p${k}`);
    const churn = Math.round(o.churn * o.peers);
    // Random moments in the middle of the run, from the first peer's start.
    const moments = Array.from({ length: churn }, () => (0.3 + 0.4 * rng.uniform()) * o.duration * 1000).sort((a, b) => a - b);
    const killed: string[] = [];
    let next = o.peers;
    for (const ms of moments) {
      await sleep(Math.max(0, ms - (performance.now() - t0)));
      const live = peers.filter((p) => p.alive());
      const victim = live[Math.floor(rng.uniform() * live.length)];
      victim.kill();
      killed.push(victim.label);
      note(`${victim.label} killed`);
      await sleep(1000);
      await join1(`p${next++}`);
    }
    const ends = await Promise.all(peers.map((p) => p.done));
    const survivors = peers.map((p, k) => ({ p, end: ends[k] })).filter(({ p }) => !killed.includes(p.label));
    const failed = survivors.filter(({ end }) => end.code !== 0);
    if (failed.length > 0) throw new Error(`peers failed: ${failed.map(({ p, end }) => `${p.label} (exit ${end.code}): ${end.stderr.slice(-3).join(' | ')}`).join('; ')}`);
    const summaries = survivors.map(({ p }) => p.events.find((e) => e.event === 'summary')!);
    const models = summaries.map((s) => readCheckpoint(s.checkpoint as string).params);
    const result = {
      ...o, started: peers.length, killed, survivors: survivors.length, seconds: (performance.now() - t0) / 1000,
      modelSpread: spread(models),
      testAccuracy: summaries.map((s) => s.testAccuracy as number),
      steps: summaries.map((s) => s.steps as number),
      exchanges: summaries.map((s) => s.exchanges as number),
      topologies: summaries.map((s) => (s.topologies as number[]).length),
      members: summaries.map((s) => (s.members as unknown[]).length),
      peakMB: survivors.map(({ end }) => end.peakMB ?? NaN),
      // (null: a peer that joined as the run ended and trained for less than one sampling interval)
      steadyMB: survivors.map(({ end }) => end.steadyMB),
      // (its own memory: RSS without the node binary's pages, which every process of the machine shares)
      steadyAnonMB: survivors.map(({ end }) => end.steadyAnonMB),
      timeline,
    };
    const range = (xs: number[], f: (v: number) => string) => `${f(Math.min(...xs))}–${f(Math.max(...xs))} (mean ${f(mean(xs))})`;
    const steadyColumn = (xs: (number | null)[]): string => {
      const known = xs.filter((x): x is number => x !== null);
      const missing = xs.length - known.length;
      if (known.length === 0) return 'not sampled';
      return range(known, (v) => `${v.toFixed(0)} MB`) + (missing > 0 ? ` (${missing} joined too late to sample)` : '');
    };
    const markdown = table(['peers started', 'killed', 'survivors', 'largest distance between final models', 'test accuracy', 'steps per survivor', 'topologies seen', 'peak RSS per survivor', 'steady RSS per survivor', 'steady RssAnon per survivor'], [[
      result.started, killed.length, result.survivors, result.modelSpread.toExponential(2),
      range(result.testAccuracy, (v) => `${(100 * v).toFixed(2)}%`), range(result.steps, (v) => v.toFixed(0)), range(result.topologies, (v) => v.toFixed(0)),
      range(result.peakMB, (v) => `${v.toFixed(0)} MB`), steadyColumn(result.steadyMB), steadyColumn(result.steadyAnonMB),
    ]]) + `\n\n${o.peers} peers joined one by one, then ${killed.length} killed at random moments (${killed.join(', ')}) and as many joined; A2CiD2 on a ring at rate ${o.rate}, the MLP on MNIST, batch 32, lr 0.05, momentum 0.9, ${o.duration} s, ${o.finalExchanges} final exchanges per peer.`;
    return { name: 'open-churn', results: result, markdown };
  } finally {
    for (const p of peers) if (p.alive()) p.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
