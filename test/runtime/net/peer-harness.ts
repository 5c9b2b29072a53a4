/**
 * Starting `gossamer peer` processes on 127.0.0.1 for the end-to-end tests: each peer's JSON events, its stderr, a
 * way to wait for an event, and its exit code.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after } from 'node:test';
import { writeSwarmKey } from '../../../src/runtime/net/swarm-key.js';

export type PeerEvent = Record<string, unknown>;

export interface Peer {
  index: number;
  proc: ChildProcess;
  events: PeerEvent[];
  stderr: string[];
  /** Resolves with the first event matching the predicate. */
  waitFor(pred: (e: PeerEvent) => boolean): Promise<PeerEvent>;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Kills every peer still running (for `after`). */
export function killAll(): void {
  for (const p of running) p.kill('SIGKILL');
}

/**
 * A test file's temporary directory with a swarm key in it; when the file's tests are over, the peers still running
 * are killed and the directory removed.
 */
export function testSwarm(prefix: string): { dir: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const key = join(dir, 'swarm.key');
  writeSwarmKey(key);
  after(() => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, key };
}

/** How to start a process: node's spawn by default, or e.g. a namespace cluster's. */
export type Spawner = (command: string, args: string[], options: SpawnOptions) => ChildProcess;

/** Starts `gossamer peer <args> --index <index>` with --json output. */
export function startPeer(index: number, args: string[], spawner: Spawner = spawn): Peer {
  return spawnPeer(index, [...args, '--index', String(index)], spawner);
}

/** Starts `gossamer peer <args>` in open mode (no --index, no --workers) with --json output; `label` names it in messages. */
export function startOpenPeer(label: number, args: string[], spawner: Spawner = spawn): Peer {
  return spawnPeer(label, args, spawner);
}

function spawnPeer(index: number, args: string[], spawner: Spawner): Peer {
  const proc = spawner(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'peer', ...args, '--json'], {
    env: { ...process.env, FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  const events: PeerEvent[] = [];
  const waiters: Array<{ pred: (e: PeerEvent) => boolean; resolve: (e: PeerEvent) => void }> = [];
  const stderr: string[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let e: PeerEvent;
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
      return new Promise((resolve, reject) => {
        waiters.push({ pred, resolve });
        // A peer that exits first never sends it: fail with its stderr rather than hang.
        void exited.then((code) => {
          if (!events.some(pred)) reject(new Error(`peer ${index} exited (${code}) before the awaited event:\n${stderr.join('\n')}`));
        });
      });
    },
  };
}

/** The first listening address of a peer (on 127.0.0.1 unless another host is given). */
export async function addressOf(peer: Peer, host = '127.0.0.1'): Promise<string> {
  const listening = await peer.waitFor((e) => e.event === 'listening');
  const addr = (listening.addrs as string[])[0];
  assert.ok(addr.startsWith(`/ip4/${host}/tcp/`) && addr.includes('/p2p/'), `listening on ${host}: ${addr}`);
  return addr;
}

/** Waits for the peers to exit with 0 and returns their summaries. */
export async function finish(peers: Peer[]): Promise<PeerEvent[]> {
  const codes = await Promise.all(peers.map((p) => p.exited));
  codes.forEach((code, k) => assert.equal(code, 0, `peer ${peers[k].index} exited with ${code}:\n${peers[k].stderr.join('\n')}`));
  return peers.map((p) => {
    const s = p.events.find((e) => e.event === 'summary');
    assert.ok(s, `peer ${p.index} printed a summary`);
    return s;
  });
}

/** Largest distance between two workers' final models, relative to the norm of their mean. */
export function consensus(models: Float32Array[]): number {
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
