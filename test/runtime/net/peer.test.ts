/**
 * `gossamer peer` end to end: four processes on 127.0.0.1 train a small model together over the network transport
 * and agree on the final model; killing one mid-training leaves the others training to the end.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { readCheckpoint } from '../../../src/engine/checkpoint.js';
import { parseSwarmKey, writeSwarmKey } from '../../../src/runtime/net/swarm-key.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-peer-'));
const key = join(dir, 'swarm.key');
writeSwarmKey(key);
const running = new Set<ChildProcess>();
after(() => {
  for (const p of running) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A small, fast run: an MLP with one hidden layer of 32 on synthetic 16 × 16 images, 4 workers on a ring. */
const COMMON = [
  '--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, '--workers', '4', '--topology', 'ring', '--algo', 'acid',
  '--model', 'mlp', '--model-config', '{"hidden":[32]}', '--batch-size', '16', '--lr', '0.05', '--limit', '512',
  '--eval-limit', '256', '--final-exchanges', '15', '--timeout', '10000', '--join-timeout', '60', '--barrier-timeout', '90',
  '--backend', 'js', '--json',
];

interface Peer {
  index: number;
  proc: ChildProcess;
  events: Array<Record<string, unknown>>;
  stderr: string[];
  /** Resolves with the first event matching the predicate. */
  waitFor(pred: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function startPeer(index: number, args: string[]): Peer {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'peer', ...COMMON, '--index', String(index), ...args], {
    env: { ...process.env, FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  const events: Array<Record<string, unknown>> = [];
  const waiters: Array<{ pred: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }> = [];
  const stderr: string[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line);
    } catch {
      throw new Error(`peer ${index} printed a non-JSON line: ${line}`);
    }
    events.push(e);
    for (const w of [...waiters]) {
      if (w.pred(e)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  });
  createInterface({ input: proc.stderr! }).on('line', (line) => stderr.push(line));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => {
    running.delete(proc);
    resolve(code);
  }));
  return {
    index, proc, events, stderr, exited,
    waitFor: (pred) => {
      const found = events.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
  };
}

async function startCluster(name: string, steps: number): Promise<Peer[]> {
  const out = (i: number) => ['--out', join(dir, name, `p${i}`), '--steps', String(steps)];
  const first = startPeer(0, out(0));
  const listening = await first.waitFor((e) => e.event === 'listening');
  const addr = (listening.addrs as string[])[0];
  assert.match(addr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//);
  return [first, ...[1, 2, 3].map((i) => startPeer(i, [...out(i), '--bootstrap', addr]))];
}

/** Largest distance between two workers' final models, relative to the norm of their mean. */
function consensus(models: Float32Array[]): number {
  const n = models[0].length;
  const mean = new Float64Array(n);
  for (const m of models) for (let k = 0; k < n; k++) mean[k] += m[k] / models.length;
  let norm = 0;
  for (let k = 0; k < n; k++) norm += mean[k] * mean[k];
  let worst = 0;
  for (let a = 0; a < models.length; a++) {
    for (let b = a + 1; b < models.length; b++) {
      let d = 0;
      for (let k = 0; k < n; k++) d += (models[a][k] - models[b][k]) ** 2;
      worst = Math.max(worst, Math.sqrt(d / norm));
    }
  }
  return worst;
}

async function finish(peers: Peer[]): Promise<Array<Record<string, unknown>>> {
  const codes = await Promise.all(peers.map((p) => p.exited));
  codes.forEach((code, k) => assert.equal(code, 0, `peer ${peers[k].index} exited with ${code}:\n${peers[k].stderr.join('\n')}`));
  return peers.map((p) => {
    const s = p.events.find((e) => e.event === 'summary');
    assert.ok(s, `peer ${p.index} printed a summary`);
    return s;
  });
}

describe('gossamer peer', { timeout: 240_000 }, () => {
  it('four processes train together over the network and agree on the final model', async () => {
    const peers = await startCluster('together', 30);
    const summaries = await finish(peers);
    for (const s of summaries) {
      assert.equal(s.steps, 30);
      assert.deepEqual(s.finished, [0, 1, 2, 3]);
      assert.ok((s.exchanges as number) > 0, 'exchanged parameters');
      assert.ok((s.bytesReceived as number) > 0);
      assert.ok((s.testAccuracy as number) > 0.2, `learned something (accuracy ${s.testAccuracy})`);
      assert.deepEqual(s.rejected, {});
    }
    assert.equal(new Set(summaries.map((s) => s.layoutHash)).size, 1);
    const models = summaries.map((s) => readCheckpoint(s.checkpoint as string).params);
    const c = consensus(models);
    assert.ok(c < 1e-3, `final models agree (relative distance ${c})`);
  });

  it('killing one worker mid-training leaves the others training to the end', async () => {
    const peers = await startCluster('killed', 100);
    await peers[3].waitFor((e) => e.event === 'progress' && e.phase === 'train' && (e.steps as number) >= 15);
    peers[3].proc.kill('SIGKILL');
    assert.equal(await peers[3].exited, null);
    const summaries = await finish(peers.slice(0, 3));
    for (const s of summaries) {
      assert.equal(s.steps, 100, 'trained to the end');
      assert.deepEqual(s.finished, [0, 1, 2]);
    }
    const c = consensus(summaries.map((s) => readCheckpoint(s.checkpoint as string).params));
    assert.ok(c < 1e-3, `the survivors agree (relative distance ${c})`);
  });
});

describe('gossamer peer: keys and bad input', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'peer', ...args], { encoding: 'utf8', timeout: 60_000 });

  it('keygen writes a swarm key and refuses to overwrite it', () => {
    const file = join(dir, 'new.key');
    const first = cli(['keygen', file]);
    assert.equal(first.status, 0, first.stderr);
    assert.ok(existsSync(file));
    parseSwarmKey(readFileSync(file));
    const again = cli(['keygen', file]);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /already exists/);
  });

  it('a missing or malformed swarm key is a one-line usage error', () => {
    const missing = cli(['--index', '0', '--workers', '2']);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /--swarm-key is required/);
    const bad = cli(['--index', '0', '--workers', '2', '--swarm-key', join(dir, 'nope.key')]);
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  });
});
