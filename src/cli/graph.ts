import { Command, Option } from 'commander';
import { UsageError } from '../core/errors.js';
import { acidConstants, isCompleteGraph } from '../graph/acid.js';
import { spectral } from '../graph/spectral.js';
import { degreeRange, makeTopology, TOPOLOGIES, type Graph } from '../graph/topology.js';
import { integer, oneOf, real } from './options.js';

export interface GraphOptions {
  workers?: number;
  rate: number;
  seed: number;
  p?: number;
  radius?: number;
  rows?: number;
  method: 'auto' | 'dense' | 'iterative';
  json?: boolean;
}

export interface GraphSummary {
  topology: string;
  n: number;
  edges: number;
  degreeMin: number;
  degreeMax: number;
  rate: number;
  chi1: number;
  chi2: number;
  lambda2: number;
  lambdaMax: number;
  eta: number;
  alpha: number;
  alphaTilde: number;
  gain: number;
  acidAllowed: boolean;
  method: string;
  [key: string]: number | string | boolean;
}

/** Builds the graph asked for on the command line and computes its summary. */
export function graphSummary(topology: string, opts: GraphOptions): GraphSummary {
  let g: Graph;
  if (TOPOLOGIES.includes(topology)) {
    if (opts.workers === undefined) throw new UsageError(`--workers is required for the ${topology} topology`);
    if (opts.p !== undefined && topology !== 'erdos-renyi') throw new UsageError('--p applies to the erdos-renyi topology only');
    if (opts.radius !== undefined && topology !== 'geometric') throw new UsageError('--radius applies to the geometric topology only');
    if (opts.rows !== undefined && topology !== 'torus') throw new UsageError('--rows applies to the torus topology only');
    g = makeTopology(topology, opts.workers, { seed: opts.seed, p: opts.p, radius: opts.radius, rows: opts.rows });
  } else {
    g = makeTopology(topology, opts.workers ?? 0);
    if (opts.p !== undefined || opts.radius !== undefined || opts.rows !== undefined) {
      throw new UsageError('--p, --radius and --rows apply to built-in topologies, not to an edge-list file');
    }
  }
  const s = spectral(g, opts.rate, { method: opts.method });
  const a = acidConstants(s.chi1, s.chi2);
  const degree = degreeRange(g);
  return {
    topology: g.name,
    n: g.n,
    edges: g.edges.length,
    degreeMin: degree.min,
    degreeMax: degree.max,
    rate: opts.rate,
    chi1: s.chi1,
    chi2: s.chi2,
    lambda2: s.lambda2,
    lambdaMax: s.lambdaMax,
    eta: a.eta,
    alpha: a.alpha,
    alphaTilde: a.alphaTilde,
    gain: a.gain,
    acidAllowed: !isCompleteGraph(g),
    method: s.method,
    ...(g.meta ?? {}),
  };
}

function fmt(x: number): string {
  if (Number.isInteger(x)) return String(x);
  return Number(x.toPrecision(6)).toString();
}

function table(s: GraphSummary): string {
  const rows: Array<[string, string]> = [
    ['topology', s.topology],
    ['workers', String(s.n)],
    ['edges', String(s.edges)],
    ['degree', s.degreeMin === s.degreeMax ? String(s.degreeMin) : `${s.degreeMin} to ${s.degreeMax}`],
    ['rate', fmt(s.rate)],
    ['lambda2', fmt(s.lambda2)],
    ['lambdaMax', fmt(s.lambdaMax)],
    ['chi1', fmt(s.chi1)],
    ['chi2', fmt(s.chi2)],
    ['eta', fmt(s.eta)],
    ['alpha', fmt(s.alpha)],
    ['alphaTilde', fmt(s.alphaTilde)],
    ['gain', `${fmt(s.gain)}${s.acidAllowed ? '' : '  (A2CiD2 is refused on the complete graph)'}`],
    ['method', s.method],
  ];
  for (const key of ['seed', 'p', 'radius', 'draws', 'joined', 'rows', 'cols', 'file']) {
    if (s[key] !== undefined) rows.push([key, typeof s[key] === 'number' ? fmt(s[key] as number) : String(s[key])]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

export function graphCommand(): Command {
  return new Command('graph')
    .description('Build a topology and print its spectral quantities (chi1, chi2) and the A2CiD2 constants.')
    .argument('<topology>', `one of ${TOPOLOGIES.join(', ')}, or an edge-list file (JSON or "i j" lines)`)
    .option('-w, --workers <n>', 'number of workers (nodes); required for built-in topologies', integer(2))
    .option('-r, --rate <r>', 'communication rate: expected pairwise averagings per worker per unit time', real({ positive: true }), 1)
    .option('--seed <s>', 'seed of the random topologies (erdos-renyi, geometric)', integer(0), 0)
    .option('--p <p>', 'edge probability of erdos-renyi (default min(1, 2 ln n / n))', real({ positive: true, max: 1 }))
    .option('--radius <r>', 'connection radius of geometric, points in the unit square (default sqrt(2 ln n / (pi n)))', real({ positive: true }))
    .option('--rows <r>', 'rows of the torus (default: the largest divisor of n not above sqrt(n))', integer(3))
    .addOption(
      new Option('--method <m>', 'spectral method: auto (closed form when known, dense up to 300 nodes, else iterative), dense, iterative')
        .argParser(oneOf(['auto', 'dense', 'iterative'] as const))
        .default('auto'),
    )
    .option('--json', 'print one JSON object instead of a table')
    .addHelpText(
      'after',
      `
Rates: each worker starts pairwise averagings at rate r/2 with a uniformly drawn entry of its neighbour list,
so edge (i, j) fires at rate (r/2)(m_ij/deg_i + m_ji/deg_j); on regular graphs L = r (I - W) as in the
official A2CiD2 code. chi1 = 1/lambda2, chi2 = max over edges of half the effective resistance;
eta = 1/(2 sqrt(chi1 chi2)), alphaTilde = sqrt(chi1/chi2)/2, gain = sqrt(chi1/chi2).

Topologies: torus takes rows x cols (both at least 3); hypercube and exponential need a power of two;
exponential-official lists neighbour i + n/2 twice, as the official code does. erdos-renyi redraws with
seed+1, seed+2, ... until connected; geometric joins its components with the shortest missing links.

Examples:
  gossamer graph ring --workers 32
  gossamer graph exponential-official --workers 32 --json
  gossamer graph erdos-renyi --workers 4096 --p 0.005 --seed 7
  gossamer graph edges.txt --rate 2`,
    )
    .action((topology: string, opts: GraphOptions) => {
      const summary = graphSummary(topology, opts);
      process.stdout.write(opts.json ? `${JSON.stringify(summary)}\n` : `${table(summary)}\n`);
    });
}
