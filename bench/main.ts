/**
 * Benchmarks. Usage: npm run bench -- <name> [--json]
 *   sim     simulator throughput (events per second, 1024 workers, one-dimensional problem)
 *   engine  training-step times of the engine's three workloads and kernel figures
 *   transport  a 50 MB exchange over the network transport, as a ratio to a raw TCP socket
 *   runtime  idle fraction of the compute loops, asynchronous against AllReduce with slow workers
 *   aggregate  the cost of the collectives' aggregation rules (mean, trimmed mean, median, centered clipping)
 *   peer-memory  resident memory of `gossamer peer` processes (MLP on MNIST) and of `gossamer train --workers 8`
 * Prints one JSON object per benchmark with --json, a readable summary otherwise.
 */
const benches: Record<string, () => Promise<Record<string, unknown>>> = {
  sim: async () => (await import('./sim.js')).runSimBench(),
  engine: async () => (await import('./engine.js')).runEngineBench(),
  transport: async () => (await import('./transport.js')).runTransportBench(),
  runtime: async () => (await import('./runtime.js')).runRuntimeBench(),
  aggregate: async () => (await import('./aggregate.js')).runAggregateBench(),
  'peer-memory': async () => (await import('./peer-memory.js')).runPeerMemoryBench(),
};

const args = process.argv.slice(2);
const json = args.includes('--json');
const names = args.filter((a) => !a.startsWith('--'));
if (names.length === 0 || names.some((n) => !benches[n])) {
  process.stderr.write(`bench: expected one of ${Object.keys(benches).join(', ')}\n`);
  process.exit(2);
}
for (const name of names) {
  const result = await benches[name]();
  process.stdout.write(json ? `${JSON.stringify({ bench: name, ...result })}\n` : `${name}: ${JSON.stringify(result, null, 2)}\n`);
}
