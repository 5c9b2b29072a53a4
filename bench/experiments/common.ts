import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAlgorithm, type AlgorithmName } from '../../src/algorithms/index.js';
import { makeTopology } from '../../src/graph/topology.js';
import type { Objective } from '../../src/objectives/objective.js';
import { simulate, type SimOptions } from '../../src/sim/simulator.js';

export interface RunSpec {
  algo: AlgorithmName;
  topology: string;
  n: number;
  rate: number;
  objective: Objective;
  time: number;
  seed: number;
  lr?: number;
  every?: number;
  gradients?: boolean;
  /** A2CiD2's exchange rule (default: ideal). */
  exchange?: 'ideal' | 'official';
}

export function runSpec(spec: RunSpec, extra: Partial<SimOptions> = {}) {
  const graph = makeTopology(spec.topology, spec.n, { seed: spec.seed });
  const o = spec.objective;
  const built = buildAlgorithm({
    name: spec.algo, graph, rate: spec.rate, dim: o.dim, dtype: o.dtype, backend: o.backend, exchange: spec.exchange,
    smoothness: o.smoothness, strongConvexity: o.strongConvexity,
  });
  const gradients = spec.gradients ?? true;
  const result = simulate({
    objective: o, graph, built, optimizer: { lr: spec.lr ?? 0.05 }, rate: spec.rate, time: spec.time, seed: spec.seed, every: spec.every ?? spec.time / 200,
    gradients, init: gradients ? 'shared' : 'random', ...extra,
  });
  return { ...result, info: built.info };
}

export function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function std(xs: number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
}

export function sci(x: number, digits = 3): string {
  return Number.isFinite(x) ? x.toExponential(digits - 1) : String(x);
}

/** A Markdown table. */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Least-squares slope of ys against xs. */
export function slope(xs: number[], ys: number[]): number {
  const mx = mean(xs);
  const my = mean(ys);
  let num = 0;
  let den = 0;
  for (let k = 0; k < xs.length; k++) {
    num += (xs[k] - mx) * (ys[k] - my);
    den += (xs[k] - mx) ** 2;
  }
  return num / den;
}

/**
 * `gossamer <args> --out <out> --json` in a process of its own, as a user runs it: its JSON summary and the rows of
 * its metrics file. A failure throws, naming the command and what it printed on stderr.
 */
export function gossamerRun(args: string[], out: string): { summary: Record<string, number>; rows: Array<Record<string, number>> } {
  const all = [...args, '--out', out, '--json'];
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...all], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`gossamer ${all.join(' ')} failed: ${r.stderr}`);
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  return { summary: JSON.parse(r.stdout) as Record<string, number>, rows };
}
