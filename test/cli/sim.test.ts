import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gossamer } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-sim-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('gossamer sim --json prints one summary object and writes metrics and a plot', () => {
  const out = join(dir, 'run');
  const r = gossamer(['sim', '--problem', 'quadratic', '--algo', 'acid', '--topology', 'ring', '--workers', '32', '--rate', '1', '--time', '100', '--seed', '1', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  const s = JSON.parse(lines[0]);
  for (const key of ['consensus', 'optimality', 'steadyOptimality', 'gradients', 'communications', 'events']) assert.equal(typeof s[key], 'number', key);
  assert.ok(s.gradients > 2500 && s.communications > 1200);
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, 201);
  assert.equal(rows[0].t, 0);
  assert.ok(existsSync(join(out, 'metrics.svg')) && readFileSync(join(out, 'metrics.svg'), 'utf8').startsWith('<svg'));
  // Same seed, same metrics file.
  const again = gossamer(['sim', '--problem', 'quadratic', '--algo', 'acid', '--workers', '32', '--time', '100', '--seed', '1', '--out', join(dir, 'again'), '--no-plot', '--json']);
  assert.equal(readFileSync(join(dir, 'again', 'metrics.jsonl'), 'utf8'), readFileSync(join(out, 'metrics.jsonl'), 'utf8'));
  assert.equal(again.code, 0);
});

const bad: Array<[string, string[], RegExp]> = [
  ['unknown algorithm', ['--algo', 'sgd'], /algo/],
  ['unknown problem', ['--problem', 'cifar'], /unknown problem "cifar"/],
  ['A2CiD2 on the complete graph', ['--topology', 'complete'], /complete/],
  ['non-positive rate', ['--rate', '0'], /positive/],
  ['bad worker count', ['--workers', 'many'], /integer/],
  ['half of the faithful-mode link', ['--latency', '1'], /bandwidth/],
  ['bad speed distribution', ['--speed-distribution', 'pareto:2'], /speed distribution/],
  ['streaming inner steps not a multiple of the fragments', ['--algo', 'streaming-diloco', '--inner-steps', '10', '--fragments', '3'], /inner steps per round \(10\) must be a multiple of the number of fragments \(3\)/],
  ['a streaming overlap as long as H/P', ['--algo', 'streaming-diloco', '--inner-steps', '12', '--fragments', '3', '--overlap', '4'], /overlap \(4 steps\) must be shorter/],
  ['a mixing factor above 1', ['--algo', 'streaming-diloco', '--mix', '1.5'], /mixing factor must be in \[0, 1\]/],
  ['a streaming option with diloco', ['--algo', 'diloco', '--fragments', '2'], /--fragments applies to streaming-diloco, not to diloco/],
  ['--eager with streaming-diloco', ['--algo', 'streaming-diloco', '--eager'], /--eager applies to diloco, not to streaming-diloco/],
  ['a negative braking', ['--momentum', '0.9', '--braking', '-1'], /--braking.*at least 0/],
  ['braking without a momentum', ['--braking', '1'], /--braking.*momentum/],
  ['a uniform gradient delay whose bounds are reversed', ['--gradient-delay', 'uniform:5:2'], /--gradient-delay.*uniform:5:2.*a ≤ b/],
  ['a gradient delay that is no number of steps', ['--gradient-delay', '-3'], /--gradient-delay/],
  ['gradient delays with churn', ['--gradient-delay', '2', '--churn', '1@2'], /gradient-delay.*churn/],
  ['an outer braking without diloco', ['--outer-braking', '1'], /--outer-braking applies to diloco, not to acid/],
];
for (const [what, args, pattern] of bad) {
  test(`gossamer sim rejects ${what} with one line and exit code 2`, () => {
    const r = gossamer(['sim', '--time', '5', '--out', join(dir, 'bad'), '--no-plot', ...args]);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], pattern);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
}

test('a run whose models blow up says when, on stderr and in its summary (and still writes its results)', () => {
  const r = gossamer(['sim', '--problem', 'quadratic', '--workers', '4', '--lr', '50', '--time', '100', '--no-plot', '--out', join(dir, 'diverged'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.ok(s.divergedAt > 0 && s.divergedAt < 100, `diverged at ${s.divergedAt}`);
  assert.match(r.stderr, /^gossamer: the run diverged: its models were no longer finite at t = [\d.]+ \(try a smaller --lr\)\n$/);
  const ok = JSON.parse(gossamer(['sim', '--problem', 'quadratic', '--workers', '4', '--time', '10', '--no-plot', '--out', join(dir, 'finite'), '--json']).stdout);
  assert.equal(ok.divergedAt, null);
});
