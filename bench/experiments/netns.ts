import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseBandwidth } from '../../src/runtime/emulator.js';
import { writeSwarmKey } from '../../src/runtime/net/swarm-key.js';
import { NetnsCluster, netnsSupport, type NetnsShaping } from '../../src/runtime/netns/netns.js';
import { table } from './common.js';

/**
 * `gossamer peer` processes over real kernel networking against the same processes over the in-process link
 * emulator. The same cluster (N peers, A2CiD2 on a ring by default, the MLP on MNIST) runs twice in one run of the
 * experiment: in N network namespaces on a bridge with each peer's outgoing veth shaped by the kernel (netem: latency,
 * jitter, loss and bandwidth; without sch_netem, tbf shapes the bandwidth and the peers' emulator adds what the kernel
 * cannot — reported as `shaping`), then on 127.0.0.1 with the emulator's --latency/--jitter/--bandwidth/--loss.
 *
 * Per run: the mean test accuracy of the workers' final models, the mean measured duration of an exchange (from its
 * proposal to the partner's answer, `exchangeMs`), the bytes sent by all, and the wall-clock seconds from the first
 * peer's start to the last one's summary. The peers evaluate their final models only: "seconds to the target" is the
 * run's time when its final accuracy reaches the target (default 97%), null otherwise.
 *
 * Flags (after `--`): --workers n (4), --bandwidth (100mbit), --latency (20ms), --jitter (0ms), --loss (0, or 1%),
 * --algo (acid), --steps per worker (the peers' default: 4 epochs over all), --target (0.97), --backend (auto),
 * --no-emulator (the namespace run only). Needs root and iproute2: refused otherwise (exit 2).
 */

export interface NetnsOptions {
  workers: number;
  bandwidth: number;
  latencyMs: number;
  jitterMs: number;
  loss: number;
  algo: string;
  steps?: number;
  target: number;
  backend: string;
  emulator: boolean;
}

/** A one-line complaint about the experiment's flags or its machine (exit 2). */
export class NetnsRefused extends Error {}

function ms(text: string, flag: string): number {
  const m = /^\s*([0-9.]+)\s*(ms|s)?\s*$/.exec(text);
  if (!m || !Number.isFinite(Number(m[1]))) throw new NetnsRefused(`${flag} takes a duration such as 20ms, got ${JSON.stringify(text)}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

/** Parses the flags after `--`. */
export function netnsOptions(args: string[]): NetnsOptions {
  const get = (flag: string): string | undefined => {
    const at = args.indexOf(flag);
    if (at < 0) return undefined;
    const v = args[at + 1];
    if (v === undefined || v.startsWith('--')) throw new NetnsRefused(`${flag} takes a value`);
    return v;
  };
  const known = new Set(['--workers', '--bandwidth', '--latency', '--jitter', '--loss', '--algo', '--steps', '--target', '--backend', '--no-emulator', '--json']);
  for (const a of args) if (a.startsWith('--') && !known.has(a)) throw new NetnsRefused(`unknown flag ${a} (expected ${[...known].join(', ')})`);
  const workers = Number(get('--workers') ?? 4);
  if (!(Number.isInteger(workers) && workers >= 2 && workers <= 64)) throw new NetnsRefused(`--workers takes an integer from 2 to 64, got ${get('--workers')}`);
  let bandwidth: number;
  try {
    bandwidth = parseBandwidth(get('--bandwidth') ?? '100mbit');
  } catch (e) {
    throw new NetnsRefused(`--bandwidth: ${(e as Error).message}`);
  }
  const lossText = get('--loss') ?? '0';
  const loss = lossText.endsWith('%') ? Number(lossText.slice(0, -1)) / 100 : Number(lossText);
  if (!(loss >= 0 && loss < 1)) throw new NetnsRefused(`--loss takes a probability (0.01 or 1%), got ${lossText}`);
  const stepsText = get('--steps');
  const steps = stepsText === undefined ? undefined : Number(stepsText);
  if (steps !== undefined && !(Number.isInteger(steps) && steps > 0)) throw new NetnsRefused(`--steps takes a positive integer, got ${stepsText}`);
  const target = Number(get('--target') ?? 0.97);
  if (!(target > 0 && target <= 1)) throw new NetnsRefused(`--target takes an accuracy in (0, 1], got ${get('--target')}`);
  return {
    workers, bandwidth, loss, steps, target,
    latencyMs: ms(get('--latency') ?? '20ms', '--latency'),
    jitterMs: ms(get('--jitter') ?? '0ms', '--jitter'),
    algo: get('--algo') ?? 'acid',
    backend: get('--backend') ?? 'auto',
    emulator: !args.includes('--no-emulator'),
  };
}

type Summary = Record<string, unknown>;

interface RunResult {
  mode: 'netns' | 'emulator';
  shaping: { kernel: NetnsShaping['kernel'] | 'none'; qdisc: string[]; emulated: string[] };
  testAccuracy: number;
  minTestAccuracy: number;
  exchangeMs: number | null;
  exchanges: number;
  bytesSent: number;
  seconds: number;
  secondsToTarget: number | null;
  steps: number;
}

/** Starts the peers (peer 0 first, the others bootstrapping to it) and waits for their summaries. */
async function cluster(
  n: number, args: (i: number) => string[], host: (i: number) => string,
  start: (i: number, command: string, args: string[]) => ChildProcess, log?: (line: string) => void,
): Promise<{ summaries: Summary[]; seconds: number }> {
  const t0 = performance.now();
  const launch = (i: number, extra: string[]) => {
    const proc = start(i, process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'peer', ...args(i), ...extra, '--index', String(i), '--json']);
    const events: Summary[] = [];
    const stderr: string[] = [];
    let onListening: ((addr: string) => void) | undefined;
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let e: Summary;
      try {
        e = JSON.parse(line);
      } catch {
        return;
      }
      events.push(e);
      if (e.event === 'listening') onListening?.((e.addrs as string[]).find((a) => a.startsWith(`/ip4/${host(i)}/`)) ?? (e.addrs as string[])[0]);
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => stderr.push(line));
    const done = new Promise<Summary>((resolve, reject) => proc.on('exit', (code) => {
      const s = events.find((e) => e.event === 'summary');
      if (code === 0 && s) resolve(s);
      // A peer refusing its flags (exit 2) is bad input to the experiment as well.
      else reject(new (code === 2 ? NetnsRefused : Error)(`peer ${i} exited with ${code}: ${stderr.slice(-3).join(' | ')}`));
    }));
    const listening = new Promise<string>((resolve, reject) => {
      onListening = resolve;
      done.catch(reject);
    });
    return { proc, done, listening };
  };
  const first = launch(0, []);
  const addr = await first.listening;
  const rest = Array.from({ length: n - 1 }, (_, k) => launch(k + 1, ['--bootstrap', addr]));
  const all = [first, ...rest];
  try {
    const summaries = await Promise.all(all.map((p) => p.done));
    log?.(`netns: ${n} peers finished`);
    return { summaries, seconds: (performance.now() - t0) / 1000 };
  } finally {
    for (const p of all) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
  }
}

function digest(mode: RunResult['mode'], shaping: RunResult['shaping'], summaries: Summary[], seconds: number, target: number): RunResult {
  const acc = summaries.map((s) => s.testAccuracy as number);
  const mean = acc.reduce((a, b) => a + b, 0) / acc.length;
  // The mean over every exchange of the cluster: each worker's mean weighted by its count.
  let count = 0;
  let total = 0;
  for (const s of summaries) {
    const p = s.proposals as { completed: number };
    if (p.completed > 0 && typeof s.exchangeMs === 'number') {
      count += p.completed;
      total += p.completed * s.exchangeMs;
    }
  }
  return {
    mode, shaping,
    testAccuracy: mean, minTestAccuracy: Math.min(...acc),
    exchangeMs: count > 0 ? total / count : null, exchanges: count,
    bytesSent: summaries.reduce((a, s) => a + (s.bytesSent as number), 0),
    seconds, secondsToTarget: mean >= target ? seconds : null,
    steps: summaries.reduce((a, s) => a + (s.steps as number), 0),
  };
}

export async function netnsExperiment(opts: { args?: string[]; log?: (line: string) => void } = {}) {
  const o = netnsOptions(opts.args ?? []);
  const support = netnsSupport();
  if (!support.ok) throw new NetnsRefused(`netns: ${support.reason}`);
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-netns-'));
  const key = join(dir, 'swarm.key');
  writeSwarmKey(key);
  const emulatorFlags = (which: string[]) => [
    ...(which.includes('latency') && o.latencyMs > 0 ? ['--latency', String(o.latencyMs)] : []),
    ...(which.includes('jitter') && o.jitterMs > 0 ? ['--jitter', String(o.jitterMs)] : []),
    ...(which.includes('bandwidth') ? ['--bandwidth', String(o.bandwidth)] : []),
    ...(which.includes('loss') && o.loss > 0 ? ['--loss', String(o.loss)] : []),
  ];
  const common = [
    '--swarm-key', key, '--workers', String(o.workers), '--algo', o.algo, '--model', 'mlp', '--dataset', 'mnist',
    '--backend', o.backend, '--join-timeout', '60', ...(o.steps ? ['--steps', String(o.steps)] : []),
    // A lost packet costs TCP a retransmission, not the exchange: the deadline only guards against a dead partner.
    '--timeout', '30000',
  ];
  const results: RunResult[] = [];
  try {
    opts.log?.(`netns: ${o.workers} peers in network namespaces`);
    const ns = NetnsCluster.create(o.workers, { link: { latencyMs: o.latencyMs, jitterMs: o.jitterMs, bandwidth: o.bandwidth, loss: o.loss }, netem: support.netem });
    try {
      const emulated = ns.shaping.missing;
      if (emulated.length > 0) opts.log?.(`netns: this kernel has no sch_netem; tc ${ns.shaping.kernel} shapes the bandwidth, the peers' emulator adds ${emulated.join(', ')}`);
      const run = await cluster(
        o.workers, (i) => [...common, '--listen', `/ip4/${ns.addresses[i]}/tcp/0`, ...emulatorFlags(emulated)], (i) => ns.addresses[i],
        (i, cmd, args) => ns.spawn(i, cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } }), opts.log,
      );
      results.push(digest('netns', { kernel: ns.shaping.kernel, qdisc: ns.shaping.qdisc, emulated }, run.summaries, run.seconds, o.target));
    } finally {
      ns.destroy();
    }
    if (o.emulator) {
      opts.log?.(`netns: ${o.workers} peers on 127.0.0.1 over the link emulator`);
      const children = new Set<ChildProcess>();
      const kill = () => children.forEach((c) => c.kill('SIGKILL'));
      process.once('exit', kill);
      try {
        const run = await cluster(
          o.workers, () => [...common, '--listen', '/ip4/127.0.0.1/tcp/0', ...emulatorFlags(['latency', 'jitter', 'bandwidth', 'loss'])], () => '127.0.0.1',
          (_i, cmd, args) => {
            const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
            children.add(c);
            return c;
          }, opts.log,
        );
        results.push(digest('emulator', { kernel: 'none', qdisc: [], emulated: ['latency', 'jitter', 'bandwidth', 'loss'] }, run.summaries, run.seconds, o.target));
      } finally {
        kill();
        process.off('exit', kill);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const real = results[0];
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  const link = `${(o.bandwidth * 8 / 1e6).toFixed(0)} Mbit/s, ${o.latencyMs} ms${o.jitterMs ? ` ± ${o.jitterMs} ms` : ''}${o.loss ? `, loss ${pct(o.loss)}` : ''}`;
  const markdown = table(
    ['links', 'shaped by', 'mean exchange, ms', 'exchanges', `seconds to ${pct(o.target)}`, 'run seconds', 'final accuracy (mean of workers)', 'bytes sent'],
    results.map((r) => [
      r.mode === 'netns' ? 'namespaces, veth + bridge' : 'loopback + emulator',
      r.mode === 'netns' ? `tc ${r.shaping.kernel}${r.shaping.emulated.length ? ` (+ emulator: ${r.shaping.emulated.join(', ')})` : ''}` : 'emulator',
      r.exchangeMs === null ? '-' : r.exchangeMs.toFixed(1), r.exchanges, r.secondsToTarget === null ? 'not reached' : r.secondsToTarget.toFixed(1),
      r.seconds.toFixed(1), pct(r.testAccuracy), `${(r.bytesSent / 1e6).toFixed(1)} MB`,
    ]),
  ) + `\n\n${o.workers} peers (${o.algo}), MLP on MNIST, ${real.steps / o.workers} steps each, links ${link}.`;
  return {
    name: 'netns',
    config: { ...o },
    // The namespace run's figures at the top, the emulator's beside them.
    testAccuracy: real.testAccuracy, exchangeMs: real.exchangeMs, bytesSent: real.bytesSent, runSeconds: real.seconds, secondsToTarget: real.secondsToTarget,
    shaping: real.shaping,
    emulator: results[1] ?? null,
    results, markdown,
  };
}
