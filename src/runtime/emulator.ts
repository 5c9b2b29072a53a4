/**
 * A link emulator that wraps any Transport, so that slow, lossy, heterogeneous clusters can be reproduced on one
 * machine: bandwidth, latency, jitter and loss per worker or per edge. (The compute slow-down factor of a worker is
 * part of the same description, LinkSpec.slowdown in EmulationConfig, but is applied by the compute loop.)
 *
 * An exchange of b bytes each way over a link takes, on the proposer's side,
 *   [latency + jitter + b / bandwidth]  (its message travels)  then the inner exchange  then the same for the answer;
 * each direction is lost with probability `loss`, which the proposer sees as a timeout (a lost proposal never
 * reaches the peer; a lost answer leaves the peer committed and the proposer untouched — each side stays atomic).
 * An answer that is late but not lost still completes the exchange (the proposer's deadline bounds the proposal
 * and the inner exchange, not the answer's travel).
 * The acceptor's side is kept busy while its answer is in flight: it answers further proposals 'busy' until then.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { UsageError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { DEFAULT_BLOCK_SIZE, payloadBytes } from '../core/codecs.js';
import type { ExchangeResult, MessageHeader, ProposalHandler, Transport, WorkerId } from './transport.js';

export interface LinkSpec {
  /** One-way latency, milliseconds. */
  latencyMs?: number;
  /** Each one-way delay gets a uniform extra in [−jitter, +jitter] milliseconds (never below zero in total). */
  jitterMs?: number;
  /** Bytes per second (Infinity or absent: unlimited). */
  bandwidth?: number;
  /** Probability that one direction of an exchange is lost. */
  loss?: number;
}

/** Links of a cluster: a default, per-worker overrides, per-edge overrides ("i-j" with i < j). */
export interface LinkTable {
  default?: LinkSpec;
  workers?: Record<number, LinkSpec>;
  edges?: Record<string, LinkSpec>;
}

/** Parses "100Mbit", "12.5MB", "1e6" (bytes) into bytes per second. */
export function parseBandwidth(text: string): number {
  const m = /^\s*([0-9.eE+-]+)\s*([kKmMgG]?)(bit|b|B)?(\/s|ps)?\s*$/.exec(text);
  if (!m || !Number.isFinite(Number(m[1])) || Number(m[1]) <= 0) throw new Error(`bad bandwidth ${JSON.stringify(text)} (e.g. 100Mbit, 12.5MB)`);
  const scale = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 }[m[2]] ?? 1;
  const bits = m[3] === 'bit' || m[3] === 'b';
  return (Number(m[1]) * scale) / (bits ? 8 : 1);
}

const Bandwidth = z.union([z.number().positive(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  try {
    return parseBandwidth(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
    return z.NEVER;
  }
});
const Link = z.object({
  latencyMs: z.number().nonnegative().optional(),
  jitterMs: z.number().nonnegative().optional(),
  bandwidth: Bandwidth.optional(),
  loss: z.number().min(0).max(1).optional(),
}).strict();
const Table = z.object({
  default: Link.optional(),
  workers: z.record(z.string().regex(/^\d+$/, 'worker ids are integers'), Link).optional(),
  edges: z.record(z.string().regex(/^\d+-\d+$/, 'edges are written "i-j"'), Link).optional(),
}).strict();

/**
 * Reads a link table from a JSON file, e.g.
 *   { "default": { "latencyMs": 20, "bandwidth": "100Mbit" }, "workers": { "3": { "loss": 0.01 } },
 *     "edges": { "0-1": { "latencyMs": 80, "jitterMs": 10 } } }
 * Edges are normalised to "i-j" with i < j. A malformed file is a UsageError naming the problem.
 */
export function readLinkTable(file: string): LinkTable {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`cannot read the link table ${file}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  const parsed = Table.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`link table ${file}: ${issue.path.join('.') || 'top level'}: ${issue.message}`);
  }
  const t = parsed.data;
  const edges: Record<string, LinkSpec> = {};
  for (const [key, spec] of Object.entries(t.edges ?? {})) {
    const [a, b] = key.split('-').map(Number);
    edges[`${Math.min(a, b)}-${Math.max(a, b)}`] = spec;
  }
  return { default: t.default, workers: t.workers as Record<number, LinkSpec> | undefined, edges };
}

/**
 * The link between two workers: the edge's own spec when the table has one, else the worse of the two workers'
 * (larger latency, jitter and loss, smaller bandwidth), each over the default.
 */
export function linkBetween(table: LinkTable, a: WorkerId, b: WorkerId): Required<LinkSpec> {
  const base = { latencyMs: 0, jitterMs: 0, bandwidth: Infinity, loss: 0, ...table.default };
  const edge = table.edges?.[`${Math.min(a, b)}-${Math.max(a, b)}`];
  if (edge) return { ...base, ...edge };
  const wa = { ...base, ...table.workers?.[a] };
  const wb = { ...base, ...table.workers?.[b] };
  return {
    latencyMs: Math.max(wa.latencyMs, wb.latencyMs),
    jitterMs: Math.max(wa.jitterMs, wb.jitterMs),
    bandwidth: Math.min(wa.bandwidth, wb.bandwidth),
    loss: Math.max(wa.loss, wb.loss),
  };
}

/** Whether the table emulates anything at all. */
export function emulatesLinks(table: LinkTable | undefined): boolean {
  if (!table) return false;
  const specs = [table.default, ...Object.values(table.workers ?? {}), ...Object.values(table.edges ?? {})];
  return specs.some((s) => s && ((s.latencyMs ?? 0) > 0 || (s.jitterMs ?? 0) > 0 || (s.bandwidth ?? Infinity) < Infinity || (s.loss ?? 0) > 0));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Size of a pull request on the link (a frame header). */
const PULL_REQUEST_BYTES = 64;

export class EmulatedTransport implements Transport {
  readonly self: WorkerId;
  /** Wall-clock time (performance.now()) until which our outgoing answer is still in flight. */
  private answerBusyUntil = 0;
  private closed = false;

  constructor(
    private readonly inner: Transport,
    private readonly links: LinkTable,
    private readonly rng: Rng = new Rng(`links:${inner.self}`),
  ) {
    this.self = inner.self;
  }

  get codec(): MessageHeader['codec'] | null {
    return this.inner.codec ?? null;
  }

  /** Bytes on the wire of a message of `count` floats, under the inner transport's codec (every worker uses the same). */
  bytes(count: number): number {
    return payloadBytes(this.inner.codec ?? 'f32', count, DEFAULT_BLOCK_SIZE);
  }

  /** One-way delay of `bytes` over the link to `peer`, in ms, or null when that direction is lost. */
  delay(peer: WorkerId, bytes: number): number | null {
    const l = linkBetween(this.links, this.self, peer);
    if (l.loss > 0 && this.rng.uniform() < l.loss) return null;
    const jitter = l.jitterMs > 0 ? (2 * this.rng.uniform() - 1) * l.jitterMs : 0;
    const transfer = Number.isFinite(l.bandwidth) ? (1000 * bytes) / l.bandwidth : 0;
    return Math.max(0, l.latencyMs + jitter) + transfer;
  }

  propose(peer: WorkerId, header: MessageHeader, message: Float32Array, timeoutMs: number): Promise<ExchangeResult> {
    // The inner transport's buffer stays ours until our next proposal, which cannot start before we return.
    return this.roundTrip(peer, this.bytes(message.length), timeoutMs, (ms) => this.inner.propose(peer, header, message, ms));
  }

  /**
   * A pull of `count` floats from `peer` (`pull`, given the time left) as the link would carry it: the request one
   * way, the parameters back the other.
   */
  emulatePull(peer: WorkerId, count: number, timeoutMs: number, pull: (timeoutMs: number) => Promise<ExchangeResult>): Promise<ExchangeResult> {
    return this.roundTrip(peer, PULL_REQUEST_BYTES, timeoutMs, pull);
  }

  /**
   * `send` (given the time left) once `outBytes` have crossed the link; its answer then crosses back. A lost
   * direction costs the whole timeout; once the peer has answered, only the answer's loss (not its lateness) undoes
   * our side; a transport closed meanwhile applies nothing.
   */
  private async roundTrip(peer: WorkerId, outBytes: number, timeoutMs: number, send: (timeoutMs: number) => Promise<ExchangeResult>): Promise<ExchangeResult> {
    const start = performance.now();
    const remaining = () => timeoutMs - (performance.now() - start);
    const out = this.delay(peer, outBytes);
    if (out === null || out >= timeoutMs) {
      await sleep(timeoutMs);
      return { ok: false, peer, reason: 'timeout' };
    }
    if (out > 0) await sleep(out);
    if (this.closed) return { ok: false, peer, reason: 'closed' };
    const r = await send(Math.max(1, remaining()));
    if (!r.ok) return r;
    const back = this.delay(peer, this.bytes(r.message.length));
    if (back === null) {
      await sleep(Math.max(0, remaining()));
      return { ok: false, peer, reason: 'timeout' };
    }
    if (back > 0) await sleep(back);
    return this.closed ? { ok: false, peer, reason: 'closed' } : r;
  }

  onProposal(handler: ProposalHandler): void {
    this.inner.onProposal({
      accept: (peer, header) => {
        const now = performance.now();
        if (now < this.answerBusyUntil) return null;
        const answer = handler.accept(peer, header);
        if (answer) {
          const l = linkBetween(this.links, this.self, peer);
          const transfer = Number.isFinite(l.bandwidth) ? (1000 * this.bytes(answer.message.length)) / l.bandwidth : 0;
          this.answerBusyUntil = now + l.latencyMs + transfer;
        }
        return answer;
      },
      commit: (peer, header, message) => handler.commit(peer, header, message),
      abort: (peer, reason) => handler.abort(peer, reason),
    });
  }

  release(message: Float32Array): void {
    this.inner.release?.(message);
  }

  close(): Promise<void> {
    this.closed = true;
    return this.inner.close();
  }
}
