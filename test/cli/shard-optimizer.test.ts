/** --shard-optimizer on the command line: the same run as without it (but the bytes), and one-line refusals. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gossamer } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-shard-optimizer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('gossamer sim --algo acco --shard-optimizer: the unsharded run\'s values, the bytes of a reduce-scatter and an all-gather', () => {
  const run = (name: string, extra: string[]) => {
    const r = gossamer(['sim', '--problem', 'quadratic', '--algo', 'acco', '--workers', '4', '--time', '60', '--momentum', '0.9', '--seed', '2', '--out', join(dir, name), '--no-plot', '--json', ...extra]);
    assert.equal(r.code, 0, r.stderr);
    // What depends on the clock or the flags themselves aside.
    const { config: _c, metrics: _m, eventsPerSecond: _e, wallSeconds: _w, ...summary } = JSON.parse(r.stdout) as Record<string, unknown>;
    return summary;
  };
  const { bytesSent: plainBytes, ...plain } = run('plain', []);
  const { bytesSent: shardedBytes, ...sharded } = run('sharded', ['--shard-optimizer']);
  assert.deepEqual(sharded, plain);
  // The micro-batch count is not gathered back: 4 bytes × (n − 1) a round fewer.
  assert.equal((plainBytes as number) - (shardedBytes as number), (plain.outerSteps as number) * 3 * 4);
});

const bad: Array<[string, string[], RegExp]> = [
  ['another algorithm', ['sim', '--algo', 'allreduce', '--shard-optimizer', '--time', '5', '--out', join(dir, 'bad')], /^gossamer: --shard-optimizer applies to acco and dpu, not to allreduce$/],
  ['clipping in the simulator', ['sim', '--algo', 'acco', '--shard-optimizer', '--clip', '1', '--time', '5', '--out', join(dir, 'bad')], /^gossamer: --shard-optimizer .*global norm/],
  ['a cluster of another algorithm', ['train', '--workers', '3', '--algo', 'acid', '--shard-optimizer', '--steps', '10', '--out', join(dir, 'bad')], /^gossamer: --shard-optimizer applies to acco and dpu, not to acid$/],
  ['killed workers', ['train', '--workers', '3', '--algo', 'acco', '--shard-optimizer', '--kill', '1@5', '--steps', '10', '--out', join(dir, 'bad')], /^gossamer: --kill takes a worker away/],
  ['network peers', ['peer', '--listen', '/ip4/127.0.0.1/tcp/0', '--workers', '2', '--index', '0', '--algo', 'acco', '--shard-optimizer'], /^gossamer: --shard-optimizer runs in gossamer sim and in train's clusters/],
];
for (const [what, args, pattern] of bad) {
  test(`--shard-optimizer is refused with ${what} in one line, exit code 2`, () => {
    const r = gossamer(args);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], pattern);
  });
}
