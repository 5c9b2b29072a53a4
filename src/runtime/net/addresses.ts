/**
 * The addresses a networked worker is given (to listen on, to join through), checked before it starts: libp2p would either
 * throw a multi-line error from deep inside its start (an out-of-range port), or accept an address it can never
 * dial and retry it forever in the background (a bootstrap address of another transport, a malformed peer id). The
 * network transport is TCP, so both must be TCP multiaddrs: /ip4|ip6/<ip>/tcp/<port> to listen on, the same or
 * /dns|dns4|dns6/<name>/tcp/<port>, optionally /p2p/<peer id>, to join through.
 */
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { UsageError } from '../../core/errors.js';

const IP = new Set(['ip4', 'ip6']);
const HOST = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6']);

/** A UsageError about the address `addr` of the `listen` or `bootstrap` option. */
const bad = (field: 'listen' | 'bootstrap', addr: string, problem: string): UsageError => new UsageError(`${field} ${addr}: ${problem}`, { field });

function components(addr: string, field: 'listen' | 'bootstrap'): Array<{ name: string; value?: string }> {
  try {
    return multiaddr(addr).getComponents();
  } catch (error) {
    throw bad(field, addr, `not a multiaddr (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** Checks an address to listen on; a one-line UsageError otherwise. */
export function checkListenAddress(addr: string): void {
  const parts = components(addr, 'listen');
  if (parts.length !== 2 || !IP.has(parts[0].name) || parts[1].name !== 'tcp') {
    throw bad('listen', addr, 'expected /ip4/<address>/tcp/<port> or /ip6/<address>/tcp/<port> (port 0: any free one)');
  }
}

/** Checks an address to join through; a one-line UsageError otherwise. */
export function checkBootstrapAddress(addr: string): void {
  const parts = components(addr, 'bootstrap');
  const [host, tcp, p2p] = parts;
  const shape = parts.length >= 2 && parts.length <= 3 && HOST.has(host.name) && tcp.name === 'tcp' && (p2p === undefined || p2p.name === 'p2p');
  if (!shape) throw bad('bootstrap', addr, 'expected /ip4/<address>/tcp/<port>, optionally followed by /p2p/<peer id> (as a worker prints when it starts)');
  if (Number(tcp.value) === 0) throw bad('bootstrap', addr, 'port 0 cannot be dialled');
  if (p2p !== undefined) {
    try {
      peerIdFromString(p2p.value ?? '');
    } catch {
      throw bad('bootstrap', addr, `${p2p.value} is not a peer id`);
    }
  }
}

/**
 * One line from libp2p's error when it cannot listen, which lists each address with a multi-line error and a stack
 * ("  /ip4/10.9.9.9/tcp/0: Error: listen EADDRNOTAVAIL: address not available 10.9.9.9\n    at ..."): "cannot
 * listen on <address>: <reason>; ...".
 */
export function listenFailure(error: unknown, listen: readonly string[]): string {
  const text = error instanceof Error ? error.message : String(error);
  const lines = text.split('\n').map((l) => /^\s*(\/\S+): (?:\w*Error: )?(.*)$/.exec(l)).filter((m) => m !== null);
  const what = lines.length > 0 ? lines.map((m) => `${m[1]}: ${m[2]}`).join('; ') : `${listen.join(' ')}: ${text.split('\n')[0]}`;
  return `cannot listen on ${what}`;
}

/** An address without its /p2p/<peer id> part. */
export function stripPeerId(addr: string): string {
  return addr.replace(/\/p2p\/[^/]+$/, '');
}
