/**
 * The announcements of open membership (open-membership.ts): what a node publishes about itself on the members'
 * topic, its schema, and the checks every announcement passes before it is delivered or relayed.
 */
import { createHash } from 'node:crypto';
import type { PeerId } from '@libp2p/interface';
import { z } from 'zod';

/** A pubsub message as gossipsub delivers it (signed under StrictSign). */
export type PubSubMessage = { type: 'signed'; from: PeerId; topic: string; data: Uint8Array } | { type: 'unsigned'; topic: string; data: Uint8Array };

/** Largest announcement accepted by default, bytes. */
export const DEFAULT_ANNOUNCEMENT_BYTES = 32 << 10;

const Announcement = z.object({
  v: z.literal(1),
  peerId: z.string().min(1).max(128),
  addrs: z.array(z.string().max(256)).max(16),
  /** Announcements of one node, numbered: an older one relayed late never undoes a newer one. */
  seq: z.number().int().min(0),
  status: z.record(z.string().max(64), z.union([z.string().max(256), z.number(), z.boolean(), z.null()])).refine((s) => Object.keys(s).length <= 16, 'at most 16 status fields'),
  configHash: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  config: z.unknown().optional(),
}).strict();
export type Announcement = z.infer<typeof Announcement>;

/** SHA-256 of a config's canonical JSON (keys sorted). */
export function configHash(config: unknown): string {
  const canonical = (v: unknown): unknown => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]))
    : Array.isArray(v) ? v.map(canonical) : v);
  return createHash('sha256').update(JSON.stringify(canonical(config))).digest('hex');
}

/**
 * An announcement read from a pubsub message, or why it is refused: unsigned, too large, not JSON, not of the schema,
 * signed by another peer than the one it names, or carrying a config that does not match its hash.
 */
export function readAnnouncement(message: PubSubMessage, maxBytes: number): Announcement | string {
  if (message.type !== 'signed') return 'unsigned';
  if (message.data.length > maxBytes) return `${message.data.length} bytes, more than ${maxBytes}`;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(message.data));
  } catch {
    return 'not JSON';
  }
  const parsed = Announcement.safeParse(json);
  if (!parsed.success) return `malformed (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`;
  const a = parsed.data;
  const from = message.from.toString();
  if (a.peerId !== from) return `signed by ${from} but names ${a.peerId}`;
  if (a.config !== undefined && (a.configHash === null || configHash(a.config) !== a.configHash)) return 'its config does not match its hash';
  return a;
}
