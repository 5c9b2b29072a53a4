/**
 * Reproductions of the papers' claims in the simulator, and experiments with the runtime. Usage:
 *   npm run experiment -- <name> [--quick] [--seeds k] [--rate r] [--json]
 * Names: acid-rate, acid-forcing, acid-clock, consensus-decay, dadao, codecs (simulator), streaming, diloco-codecs,
 * diloco-h, acid-neural-sim, acid-noniid, braking and async-diloco (simulator, neural: minutes), acid-neural (both of
 * these and acid-runtime: the A2CiD2 study on neural networks, hours), time-to-97, diloco-time-to-97, acid-runtime,
 * sim-vs-runtime, sim-vs-runtime-diloco, diloco, acco (runtime: worker threads, minutes each in full; run
 * them on a quiet machine), all (the simulator's quick ones). Prints Markdown tables (with --json: the results as one
 * JSON object per experiment instead) and writes JSON to runs/experiments/<name>.json. --rate sets the exchange rate of
 * time-to-97 (default 1; the file is then <name>-rate<r>.json), --codec f16|i8 its exchange codec (the file <name>-codec-<c>.json).
 * netns (runtime: `gossamer peer` processes in network namespaces against the link emulator; root and iproute2) takes
 * its own flags after `--`: npm run experiment -- netns -- --workers 4 --bandwidth 100mbit --latency 20ms --json;
 * so does open-churn (`gossamer peer` processes in open mode joining, killed and joining again; npm run build first):
 * npm run experiment -- open-churn -- --peers 16 --duration 120
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { CODECS, type Codec } from '../src/core/codecs.js';
import { join } from 'node:path';
import { acco } from './experiments/acco.js';
import { acidClock } from './experiments/acid-clock.js';
import { acidForcing } from './experiments/acid-forcing.js';
import { acidNeural, acidNeuralSim } from './experiments/acid-neural.js';
import { acidNoniid } from './experiments/acid-noniid.js';
import { acidRate } from './experiments/acid-rate.js';
import { acidRuntime } from './experiments/acid-runtime.js';
import { braking } from './experiments/braking.js';
import { asyncDiloco } from './experiments/async-diloco.js';
import { codecs } from './experiments/codecs.js';
import { consensusDecay } from './experiments/consensus-decay.js';
import { dadao } from './experiments/dadao.js';
import { diloco } from './experiments/diloco.js';
import { dilocoCodecs } from './experiments/diloco-codecs.js';
import { dilocoH } from './experiments/diloco-h.js';
import { netnsExperiment, NetnsRefused } from './experiments/netns.js';
import { openChurn } from './experiments/open-churn.js';
import { simVsRuntime } from './experiments/sim-vs-runtime.js';
import { streaming } from './experiments/streaming.js';
import { DILOCO_FAMILY, timeTo97 } from './experiments/time-to-97.js';

type Output = { name: string; results: unknown; markdown: string };
/** args: what follows `--` on the command line, for the experiments that take flags of their own. */
type Options = { quick?: boolean; seeds?: number; rate?: number; codec?: Codec; args?: string[]; log?: (line: string) => void };

const experiments: Record<string, (o: Options) => Output | Promise<Output>> = {
  'acid-rate': acidRate,
  'acid-forcing': acidForcing,
  'acid-clock': acidClock,
  'acid-noniid': acidNoniid,
  'acid-neural': acidNeural,
  'acid-neural-sim': acidNeuralSim,
  'acid-runtime': acidRuntime,
  'consensus-decay': consensusDecay,
  dadao,
  codecs,
  'time-to-97': timeTo97,
  'diloco-time-to-97': (o) => timeTo97({ ...o, variants: DILOCO_FAMILY, name: 'diloco-time-to-97' }),
  'sim-vs-runtime': simVsRuntime,
  'sim-vs-runtime-diloco': (o) => simVsRuntime({ ...o, algorithms: ['diloco'] }),
  diloco,
  'diloco-codecs': dilocoCodecs,
  'diloco-h': dilocoH,
  streaming,
  braking,
  'async-diloco': asyncDiloco,
  acco,
  netns: (o) => netnsExperiment(o),
  'open-churn': (o) => openChurn(o),
};
/** Experiments of the runtime: long, and timed on the wall clock; not part of "all". */
const RUNTIME = new Set(['open-churn', 'acid-runtime', 'time-to-97', 'diloco-time-to-97', 'sim-vs-runtime', 'sim-vs-runtime-diloco', 'diloco', 'acco', 'netns']);
/** Long simulations (neural networks): not part of "all" either. */
const LONG = new Set(['acid-neural', 'acid-neural-sim', 'acid-noniid', 'streaming', 'diloco-codecs', 'diloco-h', 'braking', 'async-diloco']);

const argv = process.argv.slice(2);
// Flags after `--` belong to the experiment (netns); --json among them also asks for JSON output.
const dashes = argv.indexOf('--');
const args = dashes >= 0 ? argv.slice(0, dashes) : argv;
const extra = dashes >= 0 ? argv.slice(dashes + 1) : [];
const VALUED = new Set(['--seeds', '--rate', '--codec']);
const name = args.find((a, i) => !a.startsWith('--') && !VALUED.has(args[i - 1])) ?? 'all';
const quick = args.includes('--quick');
const json = args.includes('--json') || extra.includes('--json');
const seedsAt = args.indexOf('--seeds');
const seeds = seedsAt >= 0 ? Number(args[seedsAt + 1]) : undefined;
if (seeds !== undefined && !(Number.isInteger(seeds) && seeds > 0)) {
  process.stderr.write(`experiment: --seeds takes a positive integer, got ${args[seedsAt + 1]}\n`);
  process.exit(2);
}
const rateAt = args.indexOf('--rate');
const rate = rateAt >= 0 ? Number(args[rateAt + 1]) : undefined;
if (rate !== undefined && !(rate > 0 && Number.isFinite(rate))) {
  process.stderr.write(`experiment: --rate takes a positive number, got ${args[rateAt + 1]}\n`);
  process.exit(2);
}
const codecAt = args.indexOf('--codec');
const codec = codecAt >= 0 ? args[codecAt + 1] as Codec : undefined;
if (codec !== undefined && !(CODECS as readonly string[]).includes(codec)) {
  process.stderr.write(`experiment: --codec takes one of ${CODECS.join(', ')}, got ${args[codecAt + 1]}\n`);
  process.exit(2);
}
const names = name === 'all' ? Object.keys(experiments).filter((n) => !RUNTIME.has(n) && !LONG.has(n)) : [name];
for (const n of names) {
  const run = experiments[n];
  if (!run) {
    process.stderr.write(`experiment: unknown experiment "${n}" (expected one of ${Object.keys(experiments).join(', ')}, all)\n`);
    process.exit(2);
  }
  const started = performance.now();
  let out: Output;
  try {
    out = await run({ quick, seeds, rate, codec, args: extra, log: (line) => process.stderr.write(`${line}\n`) });
  } catch (e) {
    if (!(e instanceof NetnsRefused)) throw e;
    process.stderr.write(`experiment: ${e.message}\n`);
    process.exit(2);
  }
  const seconds = (performance.now() - started) / 1000;
  mkdirSync(join('runs', 'experiments'), { recursive: true });
  writeFileSync(join('runs', 'experiments', `${n}${rate !== undefined ? `-rate${rate}` : ''}${codec !== undefined ? `-codec-${codec}` : ''}.json`), JSON.stringify({ ...out, quick, seconds }, null, 2));
  if (json) process.stdout.write(`${JSON.stringify({ ...out, quick, seconds })}\n`);
  else process.stdout.write(`## ${n}${quick ? ' (quick)' : ''} (${seconds.toFixed(1)} s)\n\n${out.markdown}\n\n`);
}
