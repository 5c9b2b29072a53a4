/**
 * Swarm keys: the pre-shared secret of a private Gossamer network, in the libp2p private-network key format
 *
 *   /key/swarm/psk/1.0.0/
 *   /base16/
 *   <64 hex digits>
 *
 * Nodes with different keys cannot complete a connection with each other.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { UsageError } from '../../core/errors.js';

const HEADER = '/key/swarm/psk/1.0.0/';
const FORMAT = /^\/key\/swarm\/psk\/1\.0\.0\/\r?\n\/base16\/\r?\n([0-9a-fA-F]{64})\s*$/;

/** A new random swarm key file's contents. */
export function generateSwarmKey(): Uint8Array {
  return new TextEncoder().encode(`${HEADER}\n/base16/\n${randomBytes(32).toString('hex')}`);
}

/** Parses a swarm key file's contents; returns the canonical form (the libp2p private-network key format) or throws a UsageError. */
export function parseSwarmKey(bytes: Uint8Array, source = 'swarm key'): Uint8Array {
  const text = new TextDecoder().decode(bytes);
  const match = FORMAT.exec(text);
  if (!match) throw new UsageError(`${source} is not a swarm key (expected "${HEADER}", "/base16/" and 64 hex digits on three lines; create one with "gossamer peer keygen <file>")`);
  return new TextEncoder().encode(`${HEADER}\n/base16/\n${match[1].toLowerCase()}`);
}

/** The 32 secret bytes of a (parsed) swarm key. */
export function swarmSecret(key: Uint8Array): Uint8Array {
  const match = FORMAT.exec(new TextDecoder().decode(key));
  if (!match) throw new UsageError('not a swarm key');
  return Uint8Array.from(Buffer.from(match[1], 'hex'));
}

export function readSwarmKey(file: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new UsageError(`cannot read swarm key ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return parseSwarmKey(bytes, `swarm key ${file}`);
}

/** Writes a new swarm key (readable by its owner only); refuses to overwrite an existing file unless forced. */
export function writeSwarmKey(file: string, force = false): void {
  if (!force && existsSync(file)) throw new UsageError(`force is needed to replace ${file}, which already exists`, { field: 'force' });
  try {
    writeFileSync(file, generateSwarmKey(), { mode: 0o600 });
  } catch (error) {
    throw new UsageError(`cannot write swarm key ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}
