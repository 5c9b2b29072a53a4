/**
 * Bad network input to `gossamer peer` — addresses, swarm keys — is one line on stderr and exit code 2, before the
 * worker trains or waits for anyone.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkBootstrapAddress, checkListenAddress, listenFailure } from '../../../src/runtime/net/addresses.js';
import { writeSwarmKey } from '../../../src/runtime/net/swarm-key.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-peer-input-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PEER_ID = '12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp';

test('listen and bootstrap addresses: TCP multiaddrs, with a valid peer id if any', () => {
  for (const ok of ['/ip4/127.0.0.1/tcp/0', '/ip6/::1/tcp/4001']) checkListenAddress(ok);
  for (const ok of ['/ip4/127.0.0.1/tcp/4001', `/ip4/10.0.0.2/tcp/4001/p2p/${PEER_ID}`, '/dns4/node.example/tcp/4001']) checkBootstrapAddress(ok);
  const bad: Array<[() => void, RegExp]> = [
    [() => checkListenAddress('/ip4/127.0.0.1/tcp/99999'), /^listen \/ip4\/127\.0\.0\.1\/tcp\/99999: not a multiaddr \(.*65535\)$/],
    [() => checkListenAddress('0.0.0.0:4001'), /^listen 0\.0\.0\.0:4001: not a multiaddr/],
    [() => checkListenAddress('/ip4/127.0.0.1/udp/4001'), /^listen .*: expected \/ip4\/<address>\/tcp\/<port>/],
    [() => checkListenAddress('/dns4/node.example/tcp/4001'), /^listen .*: expected/],
    [() => checkBootstrapAddress('localhost:4001'), /^bootstrap localhost:4001: not a multiaddr/],
    [() => checkBootstrapAddress('/ip4/127.0.0.1'), /^bootstrap .*: expected/],
    [() => checkBootstrapAddress('/ip4/127.0.0.1/tcp/0'), /port 0 cannot be dialled/],
    [() => checkBootstrapAddress('/ip4/127.0.0.1/tcp/4001/p2p/xyz'), /^bootstrap .*: xyz is not a peer id$/],
  ];
  for (const [f, message] of bad) assert.throws(f, (e: Error) => e.name === 'UsageError' && message.test(e.message) && !e.message.includes('\n'));
  const libp2p = new Error('Some configured addresses failed to be listened on, you may need to ...:\n\n  /ip4/10.9.9.9/tcp/0: Error: listen EADDRNOTAVAIL: address not available 10.9.9.9\n      at Server.setupListenHandle');
  assert.equal(listenFailure(libp2p, ['/ip4/10.9.9.9/tcp/0']), 'cannot listen on /ip4/10.9.9.9/tcp/0: listen EADDRNOTAVAIL: address not available 10.9.9.9');
  assert.equal(listenFailure(new Error('odd\nmore'), ['/ip4/1.2.3.4/tcp/1']), 'cannot listen on /ip4/1.2.3.4/tcp/1: odd');
});

function peer(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'peer', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // A worker that got past the checks would wait for the others: killed, it fails the test (code null).
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stderr });
    });
  });
}

test('gossamer peer: bad addresses and swarm keys are one line and exit code 2', async () => {
  const key = join(dir, 'swarm.key');
  writeSwarmKey(key, false);
  const notKey = join(dir, 'not-a-key');
  writeFileSync(notKey, 'hello\n');
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  const base = ['--index', '0', '--workers', '4', '--steps', '5', '--model-config', '{"hidden":[8]}', '--limit', '64', '--eval-limit', '64', '--join-timeout', '60'];
  const local = ['--listen', '/ip4/127.0.0.1/tcp/0'];
  const cases: Array<[string[], RegExp]> = [
    [['--swarm-key', key, '--listen', '/ip4/127.0.0.1/tcp/99999'], /^gossamer: --listen \/ip4\/127\.0\.0\.1\/tcp\/99999: not a multiaddr/],
    [['--swarm-key', key, '--listen', `/ip4/127.0.0.1/tcp/${port}`], new RegExp(`^gossamer: cannot listen on /ip4/127\\.0\\.0\\.1/tcp/${port}: listen EADDRINUSE`)],
    [['--swarm-key', key, ...local, '--bootstrap', 'garbage'], /^gossamer: --bootstrap garbage: not a multiaddr/],
    [['--swarm-key', key, ...local, '--bootstrap', '/ip4/127.0.0.1/tcp/3/p2p/xyz'], /^gossamer: --bootstrap .*: xyz is not a peer id$/],
    [[...local], /^gossamer: --swarm-key is required/],
    [['--swarm-key', join(dir, 'missing.key'), ...local], /^gossamer: cannot read swarm key .*missing\.key: ENOENT/],
    [['--swarm-key', dir, ...local], /^gossamer: cannot read swarm key .*: EISDIR/],
    [['--swarm-key', notKey, ...local], /^gossamer: swarm key .*not-a-key is not a swarm key/],
  ];
  let results: Array<{ code: number | null; stderr: string }>;
  try {
    results = await Promise.all(cases.map(([args]) => peer([...base, ...args])));
  } finally {
    busy.close();
  }
  for (const [k, [args, message]] of cases.entries()) {
    const r = results[k];
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n').filter((l) => !l.includes('native engine backend unavailable'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], message);
  }
});
