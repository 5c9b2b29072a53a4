/**
 * `gossamer peer --algo async-diloco --codec i8 --error-feedback`: the pseudo-gradients pushed to the server travel
 * as 8-bit blocks (their steps and speed in a frame of their own), about a quarter of the float32 push's bytes, and
 * the cluster still learns.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressOf, finish, startPeer, testSwarm, type PeerEvent } from './peer-harness.js';

const { key } = testSwarm('gossamer-async-codec-');

const COMMON = [
  '--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, '--workers', '2', '--algo', 'async-diloco', '--inner-steps', '5',
  '--model', 'mlp', '--model-config', '{"hidden":[32]}', '--batch-size', '16', '--lr', '0.05', '--momentum', '0.9', '--limit', '512',
  '--eval-limit', '256', '--timeout', '8000', '--join-timeout', '60', '--barrier-timeout', '60', '--backend', 'js', '--steps', '60',
];

async function cluster(codec: string[]): Promise<PeerEvent[]> {
  const first = startPeer(0, [...COMMON, ...codec]);
  const addr = await addressOf(first);
  return finish([first, startPeer(1, [...COMMON, ...codec, '--bootstrap', addr])]);
}

type ServerSummary = { pushes: number; pushBytes: number };

describe('gossamer peer --algo async-diloco --codec', { timeout: 240_000 }, () => {
  it('i8 with error feedback: pushes of about a quarter of float32\'s bytes, and the cluster learns', async () => {
    const [f32, i8] = [await cluster([]), await cluster(['--codec', 'i8', '--error-feedback'])];
    // Worker 1 pushes over the network to worker 0, which holds the server (and serves its own pushes in place).
    const pushed = (s: PeerEvent[]) => s[1].server as ServerSummary;
    const perPush = (s: PeerEvent[]) => pushed(s).pushBytes / pushed(s).pushes;
    const ratio = perPush(f32) / perPush(i8);
    // (measured: f32 102 048 B, i8 26 498 B a push, ×3.85; test accuracy 0.82 both)
    const figures = `per push f32 ${perPush(f32)} B, i8 ${perPush(i8)} B (×${ratio.toFixed(2)}); accuracy f32 ${f32[0].testAccuracy}, i8 ${i8[0].testAccuracy}`;
    assert.ok(pushed(i8).pushes >= 10, `worker 1 pushed over the network (${pushed(i8).pushes})`);
    assert.ok(ratio > 3.5 && ratio < 4.1, `an i8 push takes about a quarter of a float32 one's bytes: ${figures}`);
    assert.ok((i8[1].bytesSent as number) < (f32[1].bytesSent as number), `the agent counts the encoded pushes: ${figures}`);
    for (const s of i8) {
      assert.equal(s.steps, 60);
      assert.ok((s.testAccuracy as number) > 0.5, `learned: ${figures}`);
      assert.ok((s.testAccuracy as number) > (f32[0].testAccuracy as number) - 0.1, `about as well as float32: ${figures}`);
    }
  });
});
