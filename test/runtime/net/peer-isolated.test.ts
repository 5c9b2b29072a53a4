/**
 * A worker that reaches no other worker — the others hold another swarm key, nobody listens at its bootstrap
 * address, nobody connects to it — does not train alone and report success: it exits with code 2 and says why. A
 * connection refused for another swarm key is reported on both sides without --verbose.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { writeSwarmKey } from '../../../src/runtime/net/swarm-key.js';
import { addressOf, killAll, startPeer, type Peer } from './peer-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-peer-alone-'));
const key = join(dir, 'swarm.key');
const other = join(dir, 'other.key');
writeSwarmKey(key);
writeSwarmKey(other);
after(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

const COMMON = [
  '--listen', '/ip4/127.0.0.1/tcp/0', '--workers', '2', '--algo', 'gossip', '--model-config', '{"hidden":[8]}', '--limit', '64', '--eval-limit', '64',
  '--steps', '5', '--backend', 'js', '--join-timeout', '3',
];

/** The lines of a peer's stderr that are not the warning of a machine without the native addon. */
const errors = (p: Peer) => p.stderr.filter((l) => !l.includes('native engine backend unavailable'));

describe('gossamer peer: a worker that reaches nobody', { timeout: 120_000 }, () => {
  it('another swarm key: refused and reported on both sides; the worker that joins exits 2 saying why', async () => {
    // Worker 0 waits long: it is the joiner, which dials at once, whose join barrier is the one that times out here.
    const a = startPeer(0, [...COMMON, '--swarm-key', key, '--join-timeout', '600']);
    const b = startPeer(1, [...COMMON, '--swarm-key', other, '--bootstrap', await addressOf(a)]);
    assert.equal(await b.exited, 2, b.stderr.join('\n'));
    const eb = errors(b);
    assert.match(eb[0], /^\[peer 1\] the node at \/ip4\/127\.0\.0\.1\/tcp\/\d+ does not hold this swarm key: cannot connect to it$/, eb.join('\n'));
    assert.match(eb.at(-1)!, /^gossamer: worker 1 reached no other worker within 3 s: \/ip4\/127\.0\.0\.1\/tcp\/\d+ holds another swarm key$/, eb.join('\n'));
    assert.equal(eb.length, 2, `repeated attempts are not repeated on stderr: ${eb.join('\n')}`);
    const refused = /^\[peer 0\] refused a connection from \/ip4\/127\.0\.0\.1\/tcp\/\d+: it does not hold this swarm key$/;
    while (!errors(a).some((l) => refused.test(l))) await new Promise((r) => setTimeout(r, 50));
    assert.equal(errors(a).length, 1, errors(a).join('\n'));
    assert.equal(a.events.filter((e) => e.event === 'start').length + b.events.filter((e) => e.event === 'start').length, 0, 'nobody trained');
    a.proc.kill('SIGKILL');
  });

  it('nobody connects to a worker without --bootstrap: exit 2 saying so', async () => {
    const p = startPeer(0, [...COMMON, '--swarm-key', key, '--join-timeout', '0.5']);
    assert.equal(await p.exited, 2, p.stderr.join('\n'));
    const e = errors(p);
    assert.equal(e.length, 1, e.join('\n'));
    assert.match(e[0], /^gossamer: worker 0 reached no other worker within 0\.5 s: no worker connected to it \(it has no bootstrap address: start the others with this worker's address\)$/);
  });

  it('nobody at the bootstrap address: exit 2 naming it', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const p = startPeer(1, [...COMMON, '--swarm-key', key, '--bootstrap', `/ip4/127.0.0.1/tcp/${port}`]);
    assert.equal(await p.exited, 2, p.stderr.join('\n'));
    const e = errors(p);
    assert.equal(e.length, 1, e.join('\n'));
    assert.match(e[0], new RegExp(`^gossamer: worker 1 reached no other worker within 3 s: nobody answered at /ip4/127\\.0\\.0\\.1/tcp/${port} \\(.*ECONNREFUSED.*\\)$`));
  });
});
