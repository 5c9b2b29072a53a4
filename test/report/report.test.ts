import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gossamer } from '../cli/run.js';
import { rowPoints, runPoints } from '../../src/report/points.js';
import { reportCharts } from '../../src/report/report.js';
import { loadRuns } from '../../src/report/run-data.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-report-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const sim = join(dir, 'sim');
const one = join(dir, 'one');

before(() => {
  const s = gossamer(['sim', '--problem', 'quadratic', '--workers', '8', '--time', '10', '--no-plot', '--out', sim, '--json']);
  assert.equal(s.code, 0, s.stderr);
  const t = gossamer(['train', '--workers', '1', '--steps', '12', '--limit', '256', '--eval-limit', '100', '--eval-every', '4', '--log-every', '4', '--out', one, '--json']);
  assert.equal(t.code, 0, t.stderr);
});

test('gossamer report writes one self-contained page overlaying a simulated and a trained run', () => {
  // A run whose name needs escaping.
  const odd = join(dir, 'a<b>&"c');
  cpSync(sim, odd, { recursive: true });
  const out = join(dir, 'out', 'report.html');
  const r = gossamer(['report', sim, one, odd, '--out', out, '--title', 'runs <compared>', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).runs.length, 3);
  const html = readFileSync(out, 'utf8');
  // Self-contained: the chart library is inlined, no script or style comes from elsewhere.
  assert.doesNotMatch(html, /<script[^>]*\ssrc=/i);
  assert.doesNotMatch(html, /<link[^>]*href=["']?https?:/i);
  assert.match(html, /vegaLite/);
  // Run-provided text is escaped.
  assert.ok(!html.includes('a<b>'), 'raw run name in the page');
  assert.ok(html.includes('a&lt;b&gt;&amp;&quot;c'));
  assert.ok(html.includes('runs &lt;compared&gt;'));
  // The configuration table highlights what differs (the command, the worker counts) and not what agrees.
  assert.match(html, /<tr class="differs"><th>command<\/th>/);
  assert.match(html, /<tr><th>seed<\/th>/);
});

test('the report charts hold the points of every run; the consensus at the start is left out', () => {
  const runs = loadRuns([sim, one]);
  const charts = Object.fromEntries(reportCharts(runs).map((c) => [c.id, c.values as Array<Record<string, unknown>>]));
  assert.ok(charts['loss-steps'].some((p) => p.run === 'sim' && p.metric === 'objective'));
  assert.ok(charts['loss-steps'].some((p) => p.run === 'one' && p.metric === 'train loss'));
  assert.ok(charts['loss-steps'].some((p) => p.run === 'one' && p.metric === 'test loss'));
  assert.ok(charts['accuracy-steps'].every((p) => p.run === 'one'));
  assert.ok(charts['loss-seconds'].every((p) => p.run === 'one'), 'simulated runs have no wall-clock time');
  assert.ok(charts['loss-bytes'].length > 0 && charts['loss-bytes'].every((p) => p.run === 'sim'));
  assert.ok(charts['consensus-steps'].length > 0 && charts['consensus-steps'].every((p) => p.run === 'sim' && (p.step as number) > 0));
  // One worker has no consensus; the simulator's rounding noise at the start is no point of a log axis.
  assert.deepEqual(rowPoints('x', 'train', { t: 1, gradients: 1, consensus: 0, trainLoss: 1, communications: 0 }).map((p) => p.metric), ['train loss']);
  const noisy = runPoints('x', 'sim', [
    { t: 0.1, gradients: 1, consensus: 1e-31, objective: 1, communications: 1 },
    { t: 1, gradients: 8, consensus: 0.5, objective: 1, communications: 4 },
  ]);
  assert.deepEqual(noisy.filter((p) => p.metric === 'consensus').map((p) => p.value), [0.5]);
  // A cluster's rows hold a train and a test loss; files of older versions hold one `loss`, read by the run's kind.
  assert.deepEqual(rowPoints('x', 'cluster', { t: 1, gradients: 8, consensus: 0.5, trainLoss: 0.4, testLoss: 0.3, communications: 4 }).map((p) => p.metric), ['train loss', 'test loss', 'consensus']);
  assert.deepEqual(rowPoints('x', 'sim', { t: 1, gradients: 8, loss: 2, communications: 4 }).map((p) => p.metric), ['objective']);
  assert.deepEqual(rowPoints('x', 'peer', { t: 1, gradients: 8, loss: 2, communications: 4 }).map((p) => p.metric), ['train loss']);
  assert.deepEqual(rowPoints('x', 'cluster', { t: 1, gradients: 8, loss: 2, testLoss: 2, communications: 4 }).map((p) => p.metric), ['test loss']);
});

test('a one-worker run writes its plot, with its training and test losses named; a running run\'s cut last row is left out', () => {
  const svg = readFileSync(join(one, 'metrics.svg'), 'utf8');
  assert.ok(svg.startsWith('<svg'));
  assert.match(svg, /train loss, test loss \(log\)/);
  assert.match(svg, /wall-clock time \(s\)/);
  const running = join(dir, 'running');
  cpSync(one, running, { recursive: true });
  const text = readFileSync(join(running, 'metrics.jsonl'), 'utf8');
  writeFileSync(join(running, 'metrics.jsonl'), `${text}{"t":13,"consensus":0,"lo`);
  assert.equal(loadRuns([running])[0].rows.length, text.trim().split('\n').length);
});

test('gossamer report refuses what is not a run with one line and exit code 2', () => {
  const empty = join(dir, 'empty');
  mkdirSync(empty, { recursive: true });
  const broken = join(dir, 'broken');
  mkdirSync(broken, { recursive: true });
  writeFileSync(join(broken, 'run.json'), '[1, 2');
  for (const [args, pattern] of [
    [[empty], /holds no run/],
    [[join(dir, 'absent')], /no such directory/],
    [[broken], /not a run record/],
    [[sim, '--bogus'], /unknown option/],
  ] as Array<[string[], RegExp]>) {
    const r = gossamer(['report', ...args, '--out', join(dir, 'x.html')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
