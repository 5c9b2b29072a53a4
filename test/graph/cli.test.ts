import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { graphSummary } from '../../src/cli/graph.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `gossamer graph ...args` from the repository root, as a user would. */
function gossamer(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'graph', ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const tmp = mkdtempSync(join(tmpdir(), 'gossamer-graph-cli-'));
function file(name: string, text: string): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

const defaults = { rate: 1, seed: 0, method: 'auto' as const };

describe('gossamer graph', () => {
  it('prints one JSON object, a table, help, and reads edge files', async () => {
    const square = file('square.txt', '# a square\n0 1\n1 2\n2 3\n3 0\n');
    const [json, table, help, fromFile] = await Promise.all([
      gossamer('ring', '--workers', '32', '--json'),
      gossamer('torus', '-w', '16'),
      gossamer('--help'),
      gossamer(square, '--rate', '2', '--json'),
    ]);

    assert.equal(json.status, 0, json.stderr);
    assert.equal(json.stderr, '');
    const lines = json.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const s = JSON.parse(lines[0]);
    assert.equal(s.topology, 'ring');
    assert.equal(s.n, 32);
    assert.equal(s.edges, 32);
    assert.equal(s.rate, 1);
    assert.equal(s.degreeMin, 2);
    assert.equal(s.degreeMax, 2);
    assert.equal(s.method, 'closed-form');
    assert.equal(s.chi1.toPrecision(5), '52.043');
    assert.equal(s.chi2.toPrecision(5), '0.96875');
    assert.equal(s.eta.toPrecision(4), '0.07042');
    assert.equal(s.alphaTilde.toPrecision(5), '3.6648');
    assert.ok(Math.abs(s.gain - 2 * s.alphaTilde) < 1e-12);
    assert.equal(s.acidAllowed, true);
    for (const key of ['lambda2', 'lambdaMax', 'alpha']) assert.equal(typeof s[key], 'number', key);

    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^topology\s+torus$/m);
    assert.match(table.stdout, /^chi1\s+2$/m);
    assert.match(table.stdout, /^chi2\s+0\.9375$/m);
    assert.match(table.stdout, /^alphaTilde\s+0\.730297$/m);
    assert.match(table.stdout, /^rows\s+4$/m);

    assert.equal(help.status, 0);
    assert.match(help.stdout, /--workers/);
    assert.match(help.stdout, /exponential-official/);

    assert.equal(fromFile.status, 0, fromFile.stderr);
    const f = JSON.parse(fromFile.stdout);
    assert.equal(f.topology, 'square.txt');
    assert.equal(f.n, 4);
    assert.equal(f.edges, 4);
    assert.ok(Math.abs(f.chi2 - 3 / 8) < 1e-12);
  });

  it('refuses bad input with one line on stderr, exit code 2 and no stack trace', async () => {
    const cases: Array<[string, string[], RegExp]> = [
      ['unknown topology', ['moebius', '-w', '8'], /unknown topology "moebius"/],
      ['missing workers', ['ring'], /--workers is required/],
      ['too few workers', ['ring', '-w', '1'], /workers.*must be at least 2/],
      ['not a number', ['ring', '-w', 'many'], /workers.*expected an integer/],
      ['non-positive rate', ['ring', '-w', '8', '--rate', '0'], /rate.*must be positive/],
      ['bad rate', ['ring', '-w', '8', '--rate', 'fast'], /rate.*expected a number/],
      ['hypercube size', ['hypercube', '-w', '12'], /power of two workers, got 12/],
      ['torus size', ['torus', '-w', '14'], /rows x cols/],
      ['p elsewhere', ['ring', '-w', '10', '--p', '0.5'], /--p applies to the erdos-renyi topology only/],
      ['unknown method', ['ring', '-w', '8', '--method', 'magic'], /expected one of auto, dense, iterative/],
      ['unknown option', ['ring', '-w', '8', '--colour'], /unknown option/],
      ['self loop', [file('loop.txt', '0 1\n1 1\n')], /self loop at node 1/],
      ['node out of range', [file('range.json', '{"n": 3, "edges": [[0, 1], [1, 3]]}')], /outside 0\.\.2/],
      ['disconnected file', [file('split.txt', '0 1\n2 3\n')], /disconnected \(2 components\)/],
      ['malformed file', [file('junk.txt', '0 1\nhello world\n')], /line 2: expected two node numbers/],
    ];
    const runs = await Promise.all(cases.map(([, args]) => gossamer(...args)));
    cases.forEach(([what, , re], k) => {
      const r = runs[k];
      assert.equal(r.status, 2, `${what}: exit ${r.status}, ${r.stderr}`);
      assert.equal(r.stdout, '', what);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `${what}: ${r.stderr}`);
      assert.match(lines[0], re, what);
      assert.doesNotMatch(r.stderr, /\bat .*:\d+:\d+/, what);
    });
  });

  it('summarises graphs the same way in-process', () => {
    const e = graphSummary('exponential-official', { ...defaults, workers: 32 });
    assert.equal(e.chi1.toPrecision(4), '2.500');
    assert.equal(e.chi2.toPrecision(5), '1.0229');
    assert.equal(e.eta.toPrecision(5), '0.31266');
    assert.equal(e.alphaTilde.toPrecision(4), '0.7817');
    const a = graphSummary('erdos-renyi', { ...defaults, workers: 40, p: 0.2, seed: 3 });
    const b = graphSummary('erdos-renyi', { ...defaults, workers: 40, p: 0.2, seed: 3 });
    assert.deepEqual(a, b);
    assert.equal(a.seed, 3);
    assert.equal(a.p, 0.2);
    const c = graphSummary('complete', { ...defaults, workers: 6 });
    assert.equal(c.acidAllowed, false);
    assert.ok(Math.abs(c.chi1 - c.chi2) < 1e-12);
    assert.throws(() => graphSummary(join(tmp, 'square.txt'), { ...defaults, workers: 5 }), /has 4 nodes but 5 workers/);
    assert.throws(() => graphSummary(join(tmp, 'square.txt'), { ...defaults, radius: 0.5 }), /apply to built-in topologies/);
    assert.throws(() => graphSummary('geometric', { ...defaults, workers: 10, rows: 3 }), /--rows applies to the torus/);
  });
});
