/**
 * Network transport throughput on loopback, between two processes: a 50 MB exchange (each side sends 50 MB to the
 * other at the same time; done when the proposer holds the peer's message and the peer has confirmed receipt of
 * its own), over
 *   - a raw node:net TCP socket (the reference: the same exchange with no framing, encryption or multiplexing),
 *   - the libp2p transport with plaintext + yamux (no encryption; for reference only),
 *   - the libp2p transport with noise + yamux,
 *   - the libp2p transport with noise + yamux inside a private network (swarm key),
 *   - the same with the bulk lane (lane.ts: the payloads over a sealed channel granted through libp2p): what
 *     `gossamer peer` runs.
 * Each figure is the median of `runs` exchanges after a warm-up one, in MB/s of payload moved (both directions),
 * with its ratio to raw TCP exchanges interleaved with its own runs (the machine's load drifts), and the CPU time
 * (user + system, both processes, process.cpuUsage) per MB moved: what a transport takes from training. --sweep adds
 * send chunk sizes, yamux window and frame sizes, and the f16 / i8 codecs; --only keeps the variants whose name
 * contains a string. GOSSAMER_BENCH_NODE_ARGS passes node options to the responders (e.g. --cpu-prof).
 *
 * Usage: node --import tsx bench/transport.ts [--json] [--mb 50] [--runs 3] [--sweep] [--only <name part>]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { NetTransportOptions } from '../src/runtime/net/libp2p-transport.js';
import { generateSwarmKey } from '../src/runtime/net/swarm-key.js';
import { WIRE_VERSION } from '../src/runtime/net/wire.js';
import type { MessageHeader } from '../src/runtime/transport.js';

type Mode = 'raw' | 'plaintext' | 'noise' | 'noise-swarm' | 'noise-swarm-lane';

interface Variant {
  name: string;
  mode: Mode;
  chunkBytes?: number;
  windowBytes?: number;
  frameBytes?: number;
  codec?: MessageHeader['codec'];
}

export interface TransportBenchOptions {
  /** Megabytes (10^6 bytes) of each side's message. */
  mb?: number;
  runs?: number;
  sweep?: boolean;
  /** Only the variants whose name contains this (raw TCP is always measured). */
  only?: string;
}

const LAYOUT = 'bench'.padEnd(64, '0');
const header = (codec: MessageHeader['codec'] = 'f32'): MessageHeader => ({ version: WIRE_VERSION, algorithm: 'bench', step: 0, layoutHash: LAYOUT, codec });

const messages = new Map<string, Float32Array>();

function message(floats: number, seed: number): Float32Array {
  const cached = messages.get(`${floats}/${seed}`);
  if (cached) return cached;
  const x = new Float32Array(floats);
  for (let k = 0; k < floats; k++) x[k] = Math.sin(k * 0.001 + seed);
  messages.set(`${floats}/${seed}`, x);
  return x;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : 0.5 * (s[m - 1] + s[m]);
}

// ---------------------------------------------------------------------------------------------------------------
// The responder (a child process)

async function serveRaw(bytes: number): Promise<void> {
  const payload = new Uint8Array(message(bytes / 4, 2).buffer);
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    let got = 0;
    let expected = -1;
    let head = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (expected < 0) {
        head = Buffer.concat([head, chunk]);
        if (head.length < 4) return;
        expected = head.readUInt32LE(0);
        chunk = head.subarray(4);
        // Answer with our message while still receiving theirs.
        void writeAll(socket, payload);
      }
      got += chunk.length;
      if (got === expected) socket.write(Buffer.from([1]));
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 })}\n`);
}

async function writeAll(socket: Socket, data: Uint8Array, chunk = 1 << 20): Promise<void> {
  for (let o = 0; o < data.length; o += chunk) {
    if (!socket.write(data.subarray(o, Math.min(data.length, o + chunk)))) await once(socket, 'drain');
  }
}

async function serveLibp2p(v: Variant, bytes: number, keyFile: string | null): Promise<void> {
  const { createNetTransport } = await import('../src/runtime/net/libp2p-transport.js');
  const { readSwarmKey } = await import('../src/runtime/net/swarm-key.js');
  const floats = bytes / 4;
  const reply = message(floats, 2);
  const t = await createNetTransport(transportOptions(v, 1, keyFile ? readSwarmKey(keyFile) : null, floats));
  // (received messages go back to the transport as the runtime's pairing hands them back once applied)
  t.onProposal({ accept: () => ({ header: header(v.codec), message: reply }), commit: (_peer, _header, m) => t.release(m), abort: () => {} });
  process.stdout.write(`${JSON.stringify({ addrs: t.addresses() })}\n`);
}

function transportOptions(v: Variant, self: number, swarmKey: Uint8Array | null, floats: number): NetTransportOptions {
  return {
    self, workers: 2, swarmKey, encryption: v.mode === 'plaintext' ? 'plaintext' : 'noise', lane: v.mode === 'noise-swarm-lane' ? {} : undefined,
    chunkBytes: v.chunkBytes, windowBytes: v.windowBytes, frameBytes: v.frameBytes, messageLength: floats, algorithm: 'bench', layoutHash: LAYOUT,
    log: (level, line) => void ((level === 'warn' || process.env.GOSSAMER_BENCH_VERBOSE) && process.stderr.write(`bench transport ${self}: ${line}\n`)),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The proposer (this process)

/**
 * GOSSAMER_BENCH_NODE_ARGS: node options of the responders, e.g. "--cpu-prof --cpu-prof-dir=prof" to profile them
 * (run the proposer with the same options for its side).
 */
function profileArgs(): string[] {
  return (process.env.GOSSAMER_BENCH_NODE_ARGS ?? '').split(/\s+/).filter((a) => a.length > 0);
}

async function startResponder(v: Variant, bytes: number, keyFile: string | null): Promise<{ child: ChildProcess; info: Record<string, unknown>; cpu: () => Promise<number> }> {
  const args = [...profileArgs(), '--import', 'tsx', fileURLToPath(import.meta.url), '--serve', JSON.stringify(v), '--bytes', String(bytes)];
  if (keyFile) args.push('--key', keyFile);
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  // (lines that are not JSON come from node options such as --trace-gc: shown, not parsed)
  const next = async (): Promise<Record<string, unknown>> => {
    for (;;) {
      const [line] = (await once(lines, 'line')) as [string];
      if (line.startsWith('{')) return JSON.parse(line) as Record<string, unknown>;
      process.stderr.write(`${line}\n`);
    }
  };
  const info = await next();
  const cpu = async (): Promise<number> => {
    child.stdin!.write('cpu\n');
    return (await next()).cpuMs as number;
  };
  return { child, info, cpu };
}

/** CPU time (user + system) of this process so far, in ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** A responder answers each line "cpu" on its stdin with its CPU time so far. */
function answerCpuRequests(): void {
  createInterface({ input: process.stdin }).on('line', () => process.stdout.write(`${JSON.stringify({ cpuMs: cpuMs() })}\n`));
}

/** One timed exchange: wall time and CPU time of both processes, in ms. */
interface Timing {
  ms: number;
  cpuMs: number;
}

/** Times `runs` raw TCP exchanges (after a warm-up one); `peerCpu` reads the responder's CPU time. */
async function timeRaw(port: number, bytes: number, runs: number, peerCpu: () => Promise<number>): Promise<Timing[]> {
  const payload = new Uint8Array(message(bytes / 4, 1).buffer);
  const timings: Timing[] = [];
  for (let r = 0; r <= runs; r++) {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    await once(socket, 'connect');
    const c0 = cpuMs() + (await peerCpu());
    const t0 = performance.now();
    const done = new Promise<void>((resolve) => {
      let got = 0;
      socket.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got === bytes + 1) resolve();
      });
    });
    const head = Buffer.alloc(4);
    head.writeUInt32LE(bytes, 0);
    socket.write(head);
    await writeAll(socket, payload);
    await done;
    const ms = performance.now() - t0;
    if (r > 0) timings.push({ ms, cpuMs: cpuMs() + (await peerCpu()) - c0 }); // run 0 warms up
    socket.destroy();
  }
  return timings;
}

/** Times `runs` exchanges (after a warm-up one), calling `between` after each timed one. */
async function timeLibp2p(v: Variant, addrs: string[], bytes: number, runs: number, key: Uint8Array | null, peerCpu: () => Promise<number>, between: () => Promise<void>): Promise<Timing[]> {
  const { createNetTransport } = await import('../src/runtime/net/libp2p-transport.js');
  const floats = bytes / 4;
  const mine = message(floats, 1);
  const t = await createNetTransport({ ...transportOptions(v, 0, key, floats), bootstrap: addrs });
  try {
    if (!(await t.waitForPeers(30_000))) throw new Error('the responder did not join');
    if (t.lanes && !(await t.lanes.opened(t.peer(1)!.peerId, 30_000))) throw new Error('no lane to the responder');
    const timings: Timing[] = [];
    for (let r = 0; r <= runs; r++) {
      const c0 = cpuMs() + (await peerCpu());
      const t0 = performance.now();
      let result = await t.propose(1, header(v.codec), mine, 300_000);
      // The responder answers busy until it has processed this node's hello.
      for (let retry = 0; !result.ok && result.reason === 'busy' && retry < 50; retry++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        result = await t.propose(1, header(v.codec), mine, 300_000);
      }
      if (!result.ok) throw new Error(`exchange failed: ${result.reason}`);
      t.release(result.message);
      if (t.lanes && t.stats.lanePayloadsReceived !== r + 1) throw new Error('an exchange did not use the lane');
      const ms = performance.now() - t0;
      if (r > 0) {
        // (the responder commits before it sends its last frame: give it a moment to finish its part)
        await new Promise((resolve) => setTimeout(resolve, 20));
        timings.push({ ms, cpuMs: cpuMs() + (await peerCpu()) - c0 });
        await between();
      }
    }
    return timings;
  } finally {
    await t.close();
  }
}

/** Runs the benchmark; resolves with MB/s figures, ratios to raw TCP and CPU time per MB moved. */
export async function runTransportBench(opts: TransportBenchOptions = {}): Promise<Record<string, unknown>> {
  const mb = opts.mb ?? 50;
  const runs = opts.runs ?? 3;
  const bytes = Math.round((mb * 1e6) / 4) * 4;
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-bench-'));
  const keyFile = join(dir, 'swarm.key');
  const key = generateSwarmKey();
  writeFileSync(keyFile, key);
  const variants: Variant[] = [
    { name: 'raw-tcp', mode: 'raw' },
    { name: 'libp2p-plaintext', mode: 'plaintext' },
    { name: 'libp2p-noise', mode: 'noise' },
    { name: 'libp2p-noise-swarm', mode: 'noise-swarm' },
    { name: 'libp2p-noise-swarm-lane', mode: 'noise-swarm-lane' },
  ];
  if (opts.sweep) {
    for (const chunkBytes of [64 << 10, 1 << 20, 4 << 20]) variants.push({ name: `noise-chunk-${chunkBytes >> 10}k`, mode: 'noise', chunkBytes });
    for (const windowBytes of [256 << 10, 4 << 20, 64 << 20]) variants.push({ name: `noise-window-${windowBytes >> 10}k`, mode: 'noise', windowBytes });
    for (const frameBytes of [64 << 10, 256 << 10, 4 << 20]) {
      variants.push({ name: `plaintext-frame-${frameBytes >> 10}k`, mode: 'plaintext', frameBytes });
      variants.push({ name: `noise-frame-${frameBytes >> 10}k`, mode: 'noise', frameBytes });
    }
    for (const codec of ['f16', 'i8'] as const) variants.push({ name: `noise-swarm-${codec}`, mode: 'noise-swarm', codec });
  }
  if (opts.only) variants.splice(1, variants.length, ...variants.slice(1).filter((v) => v.name.includes(opts.only as string)));
  const results: Record<string, Record<string, number | string>> = {};
  // The machine is shared and its load drifts: every variant's runs alternate with raw TCP exchanges, and its ratio
  // is to the raw figure measured alongside it.
  const raw = await startResponder({ name: 'raw-tcp', mode: 'raw' }, bytes, null);
  const rawPort = raw.info.port as number;
  const wireBytesOf = (v: Variant): number =>
    v.codec === 'f16' ? bytes / 2 : v.codec === 'i8' ? bytes / 4 + 8 * Math.ceil(bytes / 4 / 256) : bytes;
  const figures = (timings: Timing[], v: Variant) => {
    const ms = median(timings.map((t) => t.ms));
    const movedMB = (2 * wireBytesOf(v)) / 1e6;
    return {
      ms: +ms.toFixed(1),
      mbPerSecond: +(movedMB / (ms / 1000)).toFixed(1),
      // Model parameters exchanged per second (both sides), millions.
      mParamsPerSecond: +((2 * bytes) / 4 / 1e6 / (ms / 1000)).toFixed(1),
      // CPU time of both processes (user + system) per MB moved, whichever direction.
      cpuMsPerMB: +(median(timings.map((t) => t.cpuMs)) / movedMB).toFixed(3),
    };
  };
  try {
    const rawAll = await timeRaw(rawPort, bytes, runs, raw.cpu);
    results['raw-tcp'] = { ...figures(rawAll, { name: 'raw-tcp', mode: 'raw' }), ratioToRawTcp: 1 };
    for (const v of variants.slice(1)) {
      const usesKey = v.mode.startsWith('noise-swarm');
      const { child, info, cpu } = await startResponder(v, bytes, usesKey ? keyFile : null);
      const rawTimings: Timing[] = [];
      try {
        const timings = await timeLibp2p(v, info.addrs as string[], bytes, runs, usesKey ? key : null, cpu, async () => {
          rawTimings.push(...(await timeRaw(rawPort, bytes, 1, raw.cpu)));
        });
        const f = figures(timings, v);
        const rawF = figures(rawTimings, { name: 'raw-tcp', mode: 'raw' });
        results[v.name] = {
          ...f,
          rawTcpMBPerSecond: rawF.mbPerSecond,
          ratioToRawTcp: +(f.mbPerSecond / rawF.mbPerSecond).toFixed(3),
          rawTcpCpuMsPerMB: rawF.cpuMsPerMB,
        };
      } finally {
        child.kill();
      }
    }
  } finally {
    raw.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  return { messageMB: bytes / 1e6, runs, direction: 'both ways at once', results };
}

// ---------------------------------------------------------------------------------------------------------------

function arg(name: string): string | undefined {
  const k = process.argv.indexOf(name);
  return k >= 0 ? process.argv[k + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const serve = arg('--serve');
  if (serve) {
    const v = JSON.parse(serve) as Variant;
    process.on('SIGTERM', () => process.exit(0)); // (an exit that writes a --cpu-prof profile)
    const bytes = Number(arg('--bytes'));
    answerCpuRequests();
    if (v.mode === 'raw') await serveRaw(bytes);
    else await serveLibp2p(v, bytes, arg('--key') ?? null);
  } else {
    const result = await runTransportBench({ mb: Number(arg('--mb') ?? 50), runs: Number(arg('--runs') ?? 3), sweep: process.argv.includes('--sweep'), only: arg('--only') });
    if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify({ bench: 'transport', ...result })}\n`);
    else {
      process.stdout.write(`transport: ${result.messageMB} MB each way, median of ${result.runs}\n`);
      for (const [name, r] of Object.entries(result.results as Record<string, Record<string, number>>)) {
        const rawNote = r.rawTcpMBPerSecond ? `, raw TCP alongside ${r.rawTcpMBPerSecond} MB/s` : '';
        process.stdout.write(`  ${name.padEnd(24)} ${String(r.mbPerSecond).padStart(8)} MB/s  ${String(r.ratioToRawTcp).padStart(6)} × raw TCP  ${String(r.cpuMsPerMB).padStart(6)} CPU ms/MB  (${r.ms} ms${rawNote})\n`);
      }
    }
  }
}
