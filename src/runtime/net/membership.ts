/**
 * Membership (/gossamer/member/1.0.0). Every new connection starts with a hello each way: the sender's worker index,
 * cluster size, peer id, listen addresses, algorithm and layout hash, its table of known workers (index → peer id,
 * addresses) and a free-form status object. A node dials the workers it learns of, so that from bootstrap addresses
 * every node comes to know every other. A hello that claims another cluster size, algorithm or model, or an index
 * held by a connected peer that still answers, is refused with a logged reason; if that peer does not answer within
 * a few seconds (a restarted worker whose old connection has not timed out yet), it is hung up on and the newcomer
 * takes its index.
 */
import type { Connection, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { z } from 'zod';
import type { WorkerId } from '../transport.js';
import { stripPeerId } from './addresses.js';
import type { NetHost } from './net-host.js';
import { MEMBER_PROTOCOL, type PeerRecord } from './net-options.js';
import { count, errorText, readAll } from './stream-io.js';

const PeerEntry = z.object({
  index: z.number().int().min(0),
  peerId: z.string().min(1).max(128),
  addrs: z.array(z.string().max(512)).max(32),
});

const Hello = z.object({
  v: z.literal(1),
  index: z.number().int().min(0),
  workers: z.number().int().min(1),
  peerId: z.string().min(1).max(128),
  addrs: z.array(z.string().max(512)).max(32),
  algorithm: z.string().max(64).optional(),
  layoutHash: z.string().max(128).optional(),
  peers: z.array(PeerEntry).max(100_000),
  status: z.record(z.string(), z.unknown()),
  reply: z.boolean(),
});
type Hello = z.infer<typeof Hello>;

const MAX_HELLO_BYTES = 4 << 20;
export const HELLO_TIMEOUT_MS = 10_000;
/** How long the holder of an index claimed by a newcomer has to answer before it is considered gone. */
const PROBE_TIMEOUT_MS = 3_000;

function helloMessage(t: NetHost, reply: boolean): Hello {
  const peers = [...t.byIndex.values()].map((p) => ({ index: p.index, peerId: p.peerId, addrs: p.addrs }));
  return {
    v: 1,
    index: t.self,
    workers: t.workers,
    peerId: t.peerId,
    addrs: t.addresses().map(stripPeerId),
    algorithm: t.opts.algorithm,
    layoutHash: t.opts.layoutHash,
    peers,
    status: t.status,
    reply,
  };
}

/** Sends a hello; resolves whether the peer took it (within timeoutMs). */
export async function sendHello(t: NetHost, peerId: string, reply: boolean, timeoutMs = HELLO_TIMEOUT_MS): Promise<boolean> {
  if (t.closed) return false;
  try {
    const stream = await t.node.dialProtocol(peerIdFromString(peerId), MEMBER_PROTOCOL, { signal: AbortSignal.timeout(timeoutMs) });
    const bytes = new TextEncoder().encode(JSON.stringify(helloMessage(t, reply)));
    if (!stream.send(bytes)) await stream.onDrain({ signal: AbortSignal.timeout(timeoutMs) });
    await stream.close({ signal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch (error) {
    if (!t.closed) t.log('debug', `hello to ${peerId} failed: ${errorText(error)}`);
    return false;
  }
}

function refuse(t: NetHost, peerId: string, reason: string): void {
  count(t.stats.rejected, 'hello');
  t.log('warn', `refusing peer ${peerId}: ${reason}`, { reason });
}

export async function onHelloStream(t: NetHost, stream: Stream, connection: Connection): Promise<void> {
  const remote = connection.remotePeer.toString();
  let hello: Hello;
  try {
    const bytes = await readAll(stream, MAX_HELLO_BYTES, HELLO_TIMEOUT_MS);
    const parsed = Hello.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
    if (!parsed.success) return refuse(t, remote, `malformed hello (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`);
    hello = parsed.data;
  } catch (error) {
    return refuse(t, remote, `unreadable hello: ${errorText(error)}`);
  }
  if (t.closed) return;
  if (hello.peerId !== remote) return refuse(t, remote, `hello claims peer id ${hello.peerId}`);
  if (hello.workers !== t.workers) return refuse(t, remote, `cluster of ${hello.workers} workers, this one has ${t.workers}`);
  if (hello.index >= t.workers) return refuse(t, remote, `worker index ${hello.index} out of range`);
  if (hello.index === t.self) return refuse(t, remote, `claims this node's index ${t.self}`);
  if (t.bannedIndices.has(hello.index)) return refuse(t, remote, `claims the index of banned worker ${hello.index}`);
  if (t.opts.algorithm && hello.algorithm && hello.algorithm !== t.opts.algorithm) return refuse(t, remote, `runs ${hello.algorithm}, this node ${t.opts.algorithm}`);
  if (t.opts.layoutHash && hello.layoutHash && hello.layoutHash !== t.opts.layoutHash) return refuse(t, remote, 'trains a model of another layout');
  const existing = t.byIndex.get(hello.index);
  if (existing && existing.peerId !== remote && existing.connected) {
    // A worker restarted under a new identity while its old connection still looks open (a crashed host's TCP
    // connection lingers until it times out): the old holder keeps the index only if it still answers.
    if (await sendHello(t, existing.peerId, false, PROBE_TIMEOUT_MS)) return refuse(t, remote, `index ${hello.index} is held by connected peer ${existing.peerId}`);
    if (t.closed) return;
    t.log('info', `worker ${hello.index} on ${existing.peerId} does not answer: replaced by ${remote}`, { peer: hello.index });
    await t.node.hangUp(peerIdFromString(existing.peerId)).catch(() => {});
  }
  const learned = learn(t, hello.index, remote, hello.addrs);
  const p = t.byIndex.get(hello.index) as PeerRecord;
  p.status = hello.status;
  const joined = !p.greeted || !p.connected;
  p.connected = t.connectedPeers.has(remote);
  p.greeted = p.connected;
  for (const entry of hello.peers) {
    if (entry.index === t.self || entry.index >= t.workers || entry.peerId === t.peerId) continue;
    if (!t.byIndex.has(entry.index)) {
      learn(t, entry.index, entry.peerId, entry.addrs);
      void connect(t, entry.peerId);
    }
  }
  if (hello.reply) void sendHello(t, remote, false);
  else if (learned || hello.peers.length < t.byIndex.size - 1) void sendHello(t, remote, false);
  if (joined && p.greeted) {
    t.log('info', `worker ${hello.index} joined`, { peer: hello.index });
    t.emit('join', hello.index);
  }
  t.emit('status', hello.index, hello.status);
}

/** Records a worker's peer id and addresses; returns true if it was not known like t. */
function learn(t: NetHost, index: WorkerId, peerId: string, addrs: string[]): boolean {
  const old = t.byIndex.get(index);
  if (old && old.peerId === peerId && old.addrs.join() === addrs.join()) return false;
  if (old && old.peerId !== peerId) t.byPeerId.delete(old.peerId);
  t.byIndex.set(index, { index, peerId, addrs, connected: t.connectedPeers.has(peerId), greeted: false, status: old?.peerId === peerId ? old.status : {} });
  t.byPeerId.set(peerId, index);
  try {
    const id = peerIdFromString(peerId);
    const multiaddrs = addrs.flatMap((a) => {
      try {
        return [multiaddr(a)];
      } catch {
        return [];
      }
    });
    void t.node.peerStore.merge(id, { multiaddrs }).catch((error) => t.log('debug', `peer store: ${errorText(error)}`));
  } catch (error) {
    t.log('warn', `worker ${index} has an invalid peer id ${peerId}: ${errorText(error)}`);
  }
  return true;
}

async function connect(t: NetHost, peerId: string): Promise<void> {
  if (t.closed || t.connectedPeers.has(peerId)) return;
  try {
    await t.node.dial(peerIdFromString(peerId), { signal: AbortSignal.timeout(HELLO_TIMEOUT_MS) });
  } catch (error) {
    t.log('debug', `dialling ${peerId} failed: ${errorText(error)}`);
  }
}
